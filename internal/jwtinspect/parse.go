package jwtinspect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// Errors returned by Parse. They never quote the token.
var (
	// ErrTooLong: the token is longer than MaxToken.
	ErrTooLong = errors.New("jwtinspect: token longer than 64 KiB")
	// ErrEncrypted: a five-part JWE (RFC 7516 §7.1) cannot be read without
	// the recipient's key.
	ErrEncrypted = errors.New("jwtinspect: encrypted token (JWE): claims cannot be inspected")
	// ErrMalformed: not a JWS-compact JWT (RFC 7515 §7.1, RFC 7519 §7.2).
	ErrMalformed = errors.New("jwtinspect: not a JWT")
)

// LooksLikeJWT reports whether s has the shape of a JWS-compact JWT: three
// base64url segments whose first decodes to a JSON object with a string
// "alg" (RFC 7515 §4.1.1), and whose second decodes. A JWE (five parts) is
// not one. Surrounding whitespace is ignored.
func LooksLikeJWT(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) > MaxToken || strings.Count(s, ".") != 2 {
		return false
	}
	head, payload, _ := strings.Cut(s, ".")
	payload, _, _ = strings.Cut(payload, ".")
	h, err := decodeObject(head)
	if err != nil {
		return false
	}
	_, hasAlg := h["alg"].(string)
	_, err = decodeSegment(payload)
	return hasAlg && err == nil && payload != ""
}

// Parse decodes the header and claims of a JWS-compact JWT without
// verifying anything. Surrounding whitespace is ignored; the signature
// segment is skipped, never decoded or kept.
func Parse(s string) (*Token, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxToken {
		return nil, ErrTooLong
	}
	switch strings.Count(s, ".") {
	case 2:
	case 4:
		return nil, ErrEncrypted
	default:
		return nil, ErrMalformed
	}
	head, rest, _ := strings.Cut(s, ".")
	payload, _, _ := strings.Cut(rest, ".")
	h, err := decodeObject(head)
	if err != nil {
		return nil, errors.Join(ErrMalformed, errors.New("header: "+err.Error()))
	}
	if _, ok := h["alg"].(string); !ok {
		return nil, errors.Join(ErrMalformed, errors.New(`header: no "alg"`))
	}
	c, err := decodeObject(payload)
	if err != nil {
		return nil, errors.Join(ErrMalformed, errors.New("claims: "+err.Error()))
	}
	t := &Token{Header: h, Claims: c}
	t.fill()
	return t, nil
}

// decodeSegment decodes unpadded base64url (RFC 7515 §2), tolerating the
// padding some issuers add anyway.
func decodeSegment(seg string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
}

// decodeObject decodes a segment that must hold exactly one JSON object.
// Its errors are fixed strings, so no token content leaks into them.
func decodeObject(seg string) (map[string]any, error) {
	raw, err := decodeSegment(seg)
	if err != nil {
		return nil, errors.New("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	// Into an interface, not a map: encoding/json then builds the map
	// without reflection, a third of the allocations.
	var v any
	if dec.Decode(&v) != nil {
		return nil, errors.New("not a JSON object")
	}
	m, _ := v.(map[string]any)
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return m, nil
}
