package statuspage

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

// realm names the protection space in challenges.
const realm = "authwatch"

// Protect puts h behind the status page's authentication (h itself when
// cfg has none), for other endpoints served on the same listener, such as
// /metrics: Prometheus scrapes with basic_auth or authorization
// credentials. Unauthenticated requests get 401 with WWW-Authenticate.
func Protect(h http.Handler, cfg Config, secrets conf.SecretSource, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return (&authenticator{cfg: cfg.Auth, secrets: secrets, log: log}).wrap(h)
}

// ProtectOr serves h to authenticated requests and public to requests that
// carry no credentials at all (a load balancer's health check); wrong
// credentials get 401 as with Protect. Without configured credentials, h
// serves everyone.
func ProtectOr(h, public http.Handler, cfg Config, secrets conf.SecretSource, log *slog.Logger) http.Handler {
	protected := Protect(h, cfg, secrets, log)
	if cfg.Auth == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			public.ServeHTTP(w, r)
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// authenticator checks a request's credentials against the configured
// ones, resolving their secret references on every request.
type authenticator struct {
	cfg     *AuthConfig
	secrets conf.SecretSource
	log     *slog.Logger
}

// wrap returns next behind authentication, or next itself when no
// credentials are configured (a loopback listener; see CheckListen).
func (a *authenticator) wrap(next http.Handler) http.Handler {
	if a.cfg == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, badToken, err := a.check(r)
		if err != nil {
			// Fail closed, without details: the log has them (secret
			// errors name the reference, never a value).
			a.log.Error("status page: reading its credentials failed", "err", err)
			http.Error(w, "the status page's credentials cannot be read; see the authwatch log", http.StatusServiceUnavailable)
			return
		}
		if !ok {
			a.challenge(w, r, badToken)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check reports whether r carries valid credentials, and whether it
// carried a bearer token that was wrong (for the challenge's error=).
func (a *authenticator) check(r *http.Request) (ok, badToken bool, err error) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case strings.EqualFold(scheme, "Basic") && a.cfg.Basic != nil:
		user, pass, ok := decodeBasic(cred)
		if !ok {
			return false, false, nil
		}
		want, err := a.cfg.Basic.Password.ExpandSecrets(a.secrets)
		if err != nil {
			return false, false, err
		}
		// Both halves are always compared: no early exit on a wrong user.
		match := secretEqual(user, a.cfg.Basic.Username) & secretEqual(pass, want)
		return match == 1, false, nil
	case strings.EqualFold(scheme, "Bearer") && !a.cfg.Bearer.IsZero():
		want, err := a.cfg.Bearer.ExpandSecrets(a.secrets)
		if err != nil {
			return false, false, err
		}
		ok := cred != "" && secretEqual(cred, want) == 1
		return ok, !ok && cred != "", nil
	}
	return false, false, nil
}

func decodeBasic(cred string) (user, pass string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// secretEqual compares in constant time, whatever the lengths: both sides
// are hashed first, so neither the content nor the length of the expected
// value shows in the timing. It returns 1 when equal, 0 otherwise.
func secretEqual(got, want string) int {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:])
}

// challenge answers 401 with one WWW-Authenticate per accepted scheme
// (Basic first: browsers prompt for it).
func (a *authenticator) challenge(w http.ResponseWriter, r *http.Request, badToken bool) {
	h := w.Header()
	if a.cfg.Basic != nil {
		h.Add("WWW-Authenticate", `Basic realm="`+realm+`", charset="UTF-8"`)
	}
	if !a.cfg.Bearer.IsZero() {
		c := `Bearer realm="` + realm + `"`
		if badToken {
			c += `, error="invalid_token"`
		}
		h.Add("WWW-Authenticate", c)
	}
	if isAPI(r) {
		writeJSON(w, http.StatusUnauthorized, errorJSON{Error: "authentication required"})
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("authentication required\n"))
}
