package oautherr

import (
	"bytes"
	"mime"
	"net/url"
	"strings"
)

// Parse reads an OAuth error from a response body. It is lenient about the
// content type, since many IdPs send JSON as text/html or text/plain: a
// body that starts with "{" is read as JSON whatever its type, and any body
// that is neither declared JSON nor markup is tried as form-urlencoded
// (GitHub's token endpoint answers "error=bad_verification_code&...").
//
// It reports false when the body holds no error code: {"message":"..."}
// alone is an API error, not an OAuth one (RFC 6749 §5.2 makes "error"
// REQUIRED).
func Parse(contentType string, body []byte) (Error, bool) {
	if len(body) > MaxBody {
		body = body[:MaxBody]
	}
	body = bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf"))
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0, body[0] == '<', body[0] != '{' && isJSON(contentType):
		return Error{}, false
	case body[0] == '{':
		return parseJSON(body)
	}
	q, _ := url.ParseQuery(string(body)) // keep the pairs that did parse
	return ParseQuery(q)
}

// ParseQuery reads an OAuth error from the query of an authorization
// redirect (RFC 6749 §4.1.2.1: error, error_description, error_uri), or from
// a form-encoded body. It reports false when "error" is absent or empty.
// Only the allow-listed fields are read, so an authorization "code" in the
// same query never reaches the result.
func ParseQuery(q url.Values) (Error, bool) {
	e := Error{
		Code:        clean(q.Get("error"), MaxCode),
		Description: clean(q.Get("error_description"), MaxDescription),
		URI:         clean(q.Get("error_uri"), MaxDescription),
	}
	if e.Code == "" {
		return Error{}, false
	}
	for _, k := range extraKeys {
		if v := q.Get(k); v != "" {
			e.setExtra(k, v)
		}
	}
	return e, true
}

// isJSON reports whether the media type is JSON (application/json, or any
// "+json" suffix such as application/problem+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// setExtra stores a cleaned vendor value, allocating Extra on first use so
// that an error without vendor fields compares equal to a literal.
func (e *Error) setExtra(k, v string) {
	v = clean(v, MaxExtra)
	if v == "" {
		return
	}
	if e.Extra == nil {
		e.Extra = make(map[string]string)
	}
	e.Extra[k] = v
}
