package flows

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// assertionKey is a client_key parsed for signing client assertions.
type assertionKey struct {
	signer crypto.Signer
	kid    string // from a JWK; client_key_id overrides it
}

// errKeyFormat never quotes the key: its text is a secret.
var errKeyFormat = errors.New("not a private key in PEM (PKCS#8, PKCS#1 RSA or SEC 1 EC) or JWK form")

// parseAssertionKey reads a private key from PEM (PKCS#8, PKCS#1, SEC 1
// EC) or a JWK. Its errors describe the form, never the content.
func parseAssertionKey(text string) (assertionKey, error) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "{") {
		return parseJWKKey(text)
	}
	for rest := []byte(text); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return assertionKey{}, errKeyFormat
		}
		switch block.Type {
		case "CERTIFICATE":
			continue // a combined certificate and key file
		case "ENCRYPTED PRIVATE KEY":
			return assertionKey{}, errors.New("an encrypted private key: authwatch cannot ask for its passphrase; store it decrypted (openssl pkcs8 -nocrypt) with tight permissions, or as a systemd credential")
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			return assertionKey{}, errors.New("a public key: client_key must be the private key (the IdP holds the public one)")
		}
		key, err := parsePEMKey(block)
		if err != nil {
			return assertionKey{}, err
		}
		return assertionKey{signer: key}, nil
	}
}

func parsePEMKey(block *pem.Block) (crypto.Signer, error) {
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q: want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		// x509's messages name the structure, not the bytes.
		return nil, fmt.Errorf("a %s PEM block that does not parse: %v", block.Type, err)
	}
	return signerOf(key)
}

func parseJWKKey(text string) (assertionKey, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal([]byte(text), &jwk); err != nil {
		// go-jose's errors name fields, not values; keep only the gist.
		return assertionKey{}, errors.New("a JWK that does not parse (want a private RSA, EC or OKP key in JSON)")
	}
	if jwk.IsPublic() {
		return assertionKey{}, errors.New("a public JWK: client_key must be the private key (with d)")
	}
	signer, err := signerOf(jwk.Key)
	if err != nil {
		return assertionKey{}, err
	}
	return assertionKey{signer: signer, kid: jwk.KeyID}, nil
}

func signerOf(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA key of %d bits: IdPs require at least 2048", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("a %T key: want RSA, EC (P-256, P-384, P-521) or Ed25519", key)
}

// matches reports whether cert is the certificate of the key.
func (k assertionKey) matches(cert *x509.Certificate) bool {
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(k.signer.Public())
}

// defaultAlg is the signing algorithm a key type implies.
func (k assertionKey) defaultAlg() jose.SignatureAlgorithm {
	switch pub := k.signer.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P384():
			return jose.ES384
		case elliptic.P521():
			return jose.ES512
		}
		return jose.ES256
	case ed25519.PublicKey:
		return jose.EdDSA
	}
	return jose.RS256
}

// fits reports whether alg can be used with the key.
func (k assertionKey) fits(alg jose.SignatureAlgorithm) bool {
	switch k.signer.Public().(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return alg == k.defaultAlg()
}

// describe names the key's type and size, for errors and evidence.
func (k assertionKey) describe() string {
	switch pub := k.signer.Public().(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", pub.N.BitLen())
	case *ecdsa.PublicKey:
		return "EC " + pub.Curve.Params().Name
	}
	return "Ed25519"
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of the public key: safe to
// show, and what IdPs list beside a registered key.
func (k assertionKey) thumbprint() string {
	jwk := jose.JSONWebKey{Key: k.signer.Public()}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// parseClientCertificate reads the first certificate of a PEM text and
// returns it with its x5t#S256 (SHA-256 of the DER, base64url): what Entra
// ID matches a certificate credential by.
func parseClientCertificate(text string) (*x509.Certificate, string, error) {
	for rest := []byte(strings.TrimSpace(text)); ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, "", errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, "", fmt.Errorf("a certificate that does not parse: %v", err)
		}
		sum := sha256.Sum256(cert.Raw)
		return cert, base64.RawURLEncoding.EncodeToString(sum[:]), nil
	}
}

// keySecretForms are the forms of a key's text the redactor must know:
// the text, and a PEM body on one line.
func keySecretForms(text string) []string {
	forms := []string{text, strings.TrimSpace(text)}
	if block, _ := pem.Decode([]byte(strings.TrimSpace(text))); block != nil {
		forms = append(forms, base64.StdEncoding.EncodeToString(block.Bytes))
		for _, line := range strings.Split(text, "\n") {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
				forms = append(forms, line) // a body line is 64 characters of key
			}
		}
	}
	var jwk struct{ D, P, Q, DP, DQ, QI string }
	if json.Unmarshal([]byte(text), &jwk) == nil {
		forms = append(forms, jwk.D, jwk.P, jwk.Q, jwk.DP, jwk.DQ, jwk.QI)
	}
	return forms
}
