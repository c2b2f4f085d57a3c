package flows

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/authwatch/authwatch/internal/challenge"
	"github.com/authwatch/authwatch/internal/conf"
)

// DPoPOptions make a token request ask for a sender-constrained token
// (RFC 9449): every request to the token endpoint carries a DPoP proof
// signed with the run's key, and the token must come back bound to it.
type DPoPOptions struct {
	DPoP    bool          `yaml:"dpop,omitempty" json:"dpop,omitempty" jsonschema:"description=Ask for a DPoP-bound token (RFC 9449): a proof signed with the run's DPoP key on every token request (one retry on use_dpop_nonce); the token must come back as token_type DPoP and\\, when a JWT\\, with cnf.jkt of that key. Call APIs with auth.dpop."`
	DPoPKey conf.Template `yaml:"dpop_key,omitempty" json:"dpop_key,omitempty" jsonschema:"description=The DPoP private key (PEM or JWK; EC P-256\\, RSA or Ed25519) from a secret reference only\\, e.g. ${file:/etc/authwatch/dpop.key}. Default: a P-256 key generated for each run. Needed when a DPoP-bound refresh token outlives the run (a public client's)."`
	DPoPAlg string        `yaml:"dpop_alg,omitempty" json:"dpop_alg,omitempty" jsonschema:"enum=ES256,enum=ES384,enum=ES512,enum=RS256,enum=PS256,enum=EdDSA,description=Signing algorithm of the proofs (default: from the key; ES256 for the generated key)."`
}

var dpopAlgs = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}

// dpopJWTType is the typ header of a proof (RFC 9449 §4.2).
const dpopJWTType = "dpop+jwt"

func (o DPoPOptions) validate() []error {
	var errs []error
	if !o.DPoP && !o.DPoPKey.IsZero() {
		errs = append(errs, conf.FieldErrorf("dpop_key", "goes with dpop: true"))
	}
	if !o.DPoP && o.DPoPAlg != "" {
		errs = append(errs, conf.FieldErrorf("dpop_alg", "goes with dpop: true"))
	}
	if !o.DPoPKey.IsZero() {
		errs = append(errs, validateSecretKeyRef("dpop_key", o.DPoPKey))
	}
	if o.DPoP && o.DPoPKey.IsZero() && o.DPoPAlg != "" && o.DPoPAlg != string(jose.ES256) {
		errs = append(errs, conf.FieldErrorf("dpop_alg", "%s needs dpop_key: the key authwatch generates is EC P-256 (ES256)", o.DPoPAlg))
	}
	if o.DPoPAlg != "" && !containsStr(dpopAlgs, o.DPoPAlg) {
		errs = append(errs, conf.FieldErrorf("dpop_alg", "must be one of %s, got %q", strings.Join(dpopAlgs, ", "), o.DPoPAlg))
	}
	return compact(errs)
}

// validateSecretKeyRef: a private key comes only from one secret reference,
// never from the flow file itself.
func validateSecretKeyRef(field string, t conf.Template) error {
	refs := t.Refs()
	switch {
	case t.LoadErr() != nil:
		return nil // reported with the template's own error
	case len(refs) == 0:
		return conf.FieldErrorf(field, "a private key is never written into a flow file: give a secret reference such as ${file:/etc/authwatch/private.key}, ${env:NAME} or ${credential:NAME}")
	case len(refs) != 1 || t.String() != refs[0].String():
		return conf.FieldErrorf(field, "must be exactly one secret reference such as ${file:/etc/authwatch/private.key}, with nothing around it")
	case !refs[0].IsSecret():
		return conf.FieldErrorf(field, "must come from a secret reference (${file:...}, ${env:...}, ${credential:...}), not from %s", refs[0])
	}
	return nil
}

// dpopKey is a key that signs proofs, with its public JWK and RFC 7638
// thumbprint (the jkt a bound token carries: safe to show).
type dpopKey struct {
	signer crypto.Signer
	alg    jose.SignatureAlgorithm
	jwk    jose.JSONWebKey
	jkt    string
}

func newDPoPKey(signer crypto.Signer, alg jose.SignatureAlgorithm) (*dpopKey, error) {
	k := assertionKey{signer: signer}
	if alg == "" {
		alg = k.defaultAlg()
	}
	if !k.fits(alg) {
		return nil, fmt.Errorf("dpop_alg %s does not fit the key (%s)", alg, k.describe())
	}
	return &dpopKey{signer: signer, alg: alg, jwk: jose.JSONWebKey{Key: signer.Public()}, jkt: k.thumbprint()}, nil
}

// dpopRun is a run's DPoP state: its generated key, the key each bound
// token was issued to, and the latest nonce of each server (§8, §9).
type dpopRun struct {
	mu        sync.Mutex
	generated *dpopKey
	bound     map[string]*dpopKey // access or refresh token -> its key
	nonces    map[string]string   // origin -> DPoP-Nonce
}

func (st *State) dpopState() *dpopRun {
	if st.dpop == nil {
		st.dpop = &dpopRun{bound: map[string]*dpopKey{}, nonces: map[string]string{}}
	}
	return st.dpop
}

// dpopKeyOf resolves the key a step's proofs are signed with: dpop_key, or
// the run's generated key.
func (st *State) dpopKeyOf(o DPoPOptions) (*dpopKey, error) {
	if o.DPoPKey.IsZero() {
		return st.generatedDPoPKey(jose.SignatureAlgorithm(o.DPoPAlg))
	}
	text, err := st.Expand(o.DPoPKey)
	if err != nil {
		return nil, err
	}
	st.Secrets.Add(keySecretForms(text)...)
	key, err := parseAssertionKey(text)
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "dpop_key %s: %v", o.DPoPKey, err).With(F("field", "dpop_key"))
	}
	k, err := newDPoPKey(key.signer, jose.SignatureAlgorithm(o.DPoPAlg))
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "%v", err).With(F("field", "dpop_alg"))
	}
	return k, nil
}

func (st *State) generatedDPoPKey(alg jose.SignatureAlgorithm) (*dpopKey, error) {
	d := st.dpopState()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.generated == nil || (alg != "" && d.generated.alg != alg) {
		if alg != "" && alg != jose.ES256 {
			return nil, Fail(ReasonConfigInvalid, "dpop_alg %s needs dpop_key: the key authwatch generates is EC P-256 (ES256)", alg).With(F("field", "dpop_alg"))
		}
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		k, err := newDPoPKey(priv, jose.ES256)
		if err != nil {
			return nil, err
		}
		d.generated = k
	}
	return d.generated, nil
}

// bind remembers which key a token was issued to, for later API calls.
func (d *dpopRun) bind(key *dpopKey, tokens ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range tokens {
		if t != "" {
			d.bound[t] = key
		}
	}
}

func (d *dpopRun) keyFor(token string) *dpopKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bound[token]
}

func (d *dpopRun) nonce(origin string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nonces[origin]
}

func (d *dpopRun) setNonce(origin, nonce string) {
	if nonce == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nonces[origin] = nonce
}

// proof signs one DPoP proof JWT (RFC 9449 §4.2) for a request: htm, htu
// without query and fragment, iat, a fresh jti, the nonce when the server
// gave one, and ath when the request carries an access token.
func (k *dpopKey) proof(method string, u *url.URL, now time.Time, nonce, accessToken string) (string, error) {
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(dpopJWTType)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.signer}, opts)
	if err != nil {
		return "", err
	}
	htu := *u
	htu.RawQuery, htu.Fragment, htu.RawFragment, htu.User, htu.ForceQuery = "", "", "", nil, false
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": htu.String(), "iat": now.Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if accessToken != "" {
		claims["ath"] = accessTokenHash(accessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// accessTokenHash is ath: base64url of the SHA-256 of the token's ASCII.
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// dpopTransport adds a DPoP proof to each request it carries and retries a
// request once when the server asks for a nonce (use_dpop_nonce, §8 for
// the IdP, §9 for resource servers), as the RFC prescribes. accessToken is
// the token whose hash goes in ath (empty at the token endpoint).
type dpopTransport struct {
	next        http.RoundTripper
	st          *State
	key         *dpopKey
	accessToken string
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.accessToken != "" && !strings.HasPrefix(req.Header.Get("Authorization"), "DPoP ") {
		// A redirect to another origin lost the Authorization header: no
		// proof of the token goes there either.
		return t.next.RoundTrip(req)
	}
	resp, err := t.send(req)
	// At a token endpoint the retry is the token request's own (a client
	// assertion in the body must be signed afresh): see TokenRequest.fetch.
	rewindable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if err != nil || t.accessToken == "" || !rewindable || !asksForNonce(resp) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBodySize))
	resp.Body.Close()
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		if retry.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return t.send(retry)
}

func (t *dpopTransport) send(req *http.Request) (*http.Response, error) {
	d := t.st.dpopState()
	origin := req.URL.Scheme + "://" + req.URL.Host
	proof, err := t.key.proof(req.Method, req.URL, t.st.Now(), d.nonce(origin), t.accessToken)
	if err != nil {
		return nil, Fail(ReasonConfigInvalid, "cannot sign a DPoP proof: %v", err).Wrap(err)
	}
	// A proof is replayable by whoever reads it until it ages out.
	t.st.Secrets.Add(proof)
	req.Header.Set("DPoP", proof)
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		d.setNonce(origin, resp.Header.Get("DPoP-Nonce"))
	}
	return resp, err
}

// isUseDPoPNonce: a token endpoint's use_dpop_nonce (RFC 9449 §8).
func isUseDPoPNonce(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "use_dpop_nonce"
}

// asksForNonce: a 400 use_dpop_nonce from an IdP or a 401 DPoP challenge
// with error="use_dpop_nonce" from a resource server, with the nonce.
func asksForNonce(resp *http.Response) bool {
	if resp.Header.Get("DPoP-Nonce") == "" {
		return false
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		chs, _ := challenge.Parse(resp.Header.Values("WWW-Authenticate"))
		ch, ok := challenge.Find(chs, "DPoP")
		return ok && ch.Param("error") == "use_dpop_nonce"
	case http.StatusBadRequest:
		// Peek at the body without consuming it.
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		if err != nil {
			return false
		}
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(body, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}

// withDPoP wraps a step's client so that its requests carry proofs.
func withDPoP(st *State, c *http.Client, key *dpopKey, accessToken string) *http.Client {
	out := *c
	out.Transport = &dpopTransport{next: c.Transport, st: st, key: key, accessToken: accessToken}
	return &out
}

// dpopNotShared: a DPoP-bound token is bound to one run's key, so it
// cannot be handed to other flows from the shared cache.
func dpopNotShared(c SharedCache, o DPoPOptions) error {
	if c.sharesTokens() && o.DPoP {
		return conf.FieldErrorf("cache", "cannot go with dpop: true: a DPoP-bound token works only with the key of the run that asked for it")
	}
	return nil
}

// checkDPoPBinding checks that a token asked for with a proof came back
// bound to the proof's key: token_type DPoP (RFC 9449 §5) and, for a JWT
// access token, cnf.jkt the key's thumbprint (§6.1).
func (st *State) checkDPoPBinding(tok *oauth2.Token) error {
	if st.dpop == nil {
		return nil // no DPoP in this run
	}
	key := st.dpop.keyFor(tok.AccessToken)
	if key == nil {
		return nil // from a cache or an earlier run: nothing to compare
	}
	facts := []Fact{F("dpop_jkt", key.jkt), F("token_type", tok.Type())}
	if !strings.EqualFold(tok.Type(), "DPoP") {
		f := Fail(ReasonTokenBindingMismatch, "the token endpoint answered a DPoP token request with token_type %q, not DPoP: the access token is a plain bearer token that anyone holding it can use (RFC 9449 §5); the IdP ignored the proof", tok.Type()).With(facts...)
		f.Next = "Turn on DPoP-bound tokens for this client at the IdP (Okta: \"Require Demonstrating Proof of Possession\", Keycloak: \"OAuth 2.0 DPoP bound access tokens\", Auth0/oidc-provider: DPoP enabled); a monitor that asks for DPoP and gets Bearer shows the sender constraint is gone."
		return f
	}
	jwt := st.inspectJWT(tok.AccessToken)
	if jwt == nil {
		return nil // an opaque token: only the API or introspection can tell
	}
	cnf, _ := jwt.Claims["cnf"].(map[string]any)
	got, _ := cnf["jkt"].(string)
	switch {
	case got == "":
		return Fail(ReasonTokenBindingMismatch, "the DPoP access token (a JWT) carries no cnf.jkt (RFC 9449 §6.1): a resource server cannot check that the caller holds the key").With(facts...)
	case got != key.jkt:
		return Fail(ReasonTokenBindingMismatch, "the access token's cnf.jkt is %s, but the proof was signed with the key %s: the token is bound to another key", got, key.jkt).
			With(append(facts, F("cnf_jkt", got))...)
	}
	return nil
}
