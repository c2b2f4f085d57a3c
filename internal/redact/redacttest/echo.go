package redacttest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Echo is a target that shows every credential it received in every
// encoding of Encodings, as debug endpoints, chatty IdPs and gateways'
// error pages do: in its body (JSON by Go's encoder, JSON without HTML
// escaping for a path ending in .json-plain, HTML for .html, text for
// .txt), in a WWW-Authenticate error_description and in an X-Echo header.
// It answers Status (401 when zero) with an OAuth error body, so token
// endpoints and APIs refuse.
type Echo struct {
	Status int
}

// Received are the credentials of a request: the Authorization header
// (and a Basic credential's decoded parts), X-Api-Key, cookies, and every
// form and query value.
func Received(r *http.Request) []string {
	var out []string
	add := func(v string) {
		if len(v) >= 4 {
			out = append(out, v)
		}
	}
	add(r.Header.Get("Authorization"))
	if scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		add(cred)
		if strings.EqualFold(scheme, "basic") {
			if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
				user, pass, _ := strings.Cut(string(raw), ":")
				add(user)
				add(pass)
				if u, err := url.QueryUnescape(pass); err == nil {
					add(u)
				}
			}
		}
	}
	add(r.Header.Get("X-Api-Key"))
	for _, c := range r.Cookies() {
		add(c.Value)
	}
	_ = r.ParseForm()
	for _, vs := range r.Form {
		for _, v := range vs {
			add(v)
		}
	}
	return out
}

func (e Echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := Received(r)
	var all []string
	for _, v := range got {
		for _, enc := range Encodings(v) {
			all = append(all, enc.Text)
		}
	}
	first := ""
	if len(got) > 0 {
		first = got[len(got)-1]
	}
	status := e.Status
	if status == 0 {
		status = http.StatusUnauthorized
	}
	w.Header().Set("X-Echo", headerSafe(strings.Join(all, " ")))
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+headerSafe(url.QueryEscape(first)+" "+base64.StdEncoding.EncodeToString([]byte(first)))+`"`)
	body := map[string]any{"error": "invalid_client", "error_description": "credential " + first + " was refused", "echo": all}
	switch {
	case strings.HasSuffix(r.URL.Path, ".html"):
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body><h1>Refused</h1><p>" + strings.Join(all, "</p><p>") + "</p></body></html>"))
	case strings.HasSuffix(r.URL.Path, ".txt"):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("refused: " + strings.Join(all, "\n")))
	case strings.HasSuffix(r.URL.Path, ".json-plain"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(body)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

// headerSafe drops what a header value cannot carry (the canaries are
// printable, but a received value may not be).
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
