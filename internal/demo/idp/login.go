package idp

import (
	"context"
	_ "embed"
	"html/template"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// loginHTML is zitadel's example login page (exampleop/templates/login.html,
// Apache-2.0), copied verbatim so flows written against the example UI work
// here: same path, same form fields, same error paragraph.
//
//go:embed login.html
var loginHTML string

var loginTemplate = template.Must(template.New("").Parse(loginHTML))

// loginPath is where the example storage's clients send users to log in.
const loginPath = "/login/username"

// passwordChecker is the part of the example storage the login needs.
type passwordChecker interface {
	CheckUsernamePassword(username, password, authRequestID string) error
}

// loginUI re-implements exampleop's small login handler rather than mounting
// exampleop.SetupServer: that one logs every request through the process-wide
// slog default (and may replace it), and calls log.Fatal on setup errors,
// which an embedded demo must not do to its host process.
type loginUI struct {
	users    passwordChecker
	callback func(ctx context.Context, authRequestID string) string
	issuer   *op.IssuerInterceptor
}

func (l *loginUI) register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+loginPath, l.form)
	mux.HandleFunc("POST "+loginPath, l.issuer.HandlerFunc(l.check))
}

func (l *loginUI) form(w http.ResponseWriter, r *http.Request) {
	l.render(w, r.URL.Query().Get("authRequestID"), "")
}

func (l *loginUI) check(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot parse form", http.StatusBadRequest)
		return
	}
	id := r.FormValue("id")
	if err := l.users.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err != nil {
		// 200 with the form and an error, as the example UI answers.
		l.render(w, id, err.Error())
		return
	}
	http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
}

func (l *loginUI) render(w http.ResponseWriter, id, errMsg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct{ ID, Error string }{ID: id, Error: errMsg}
	if err := loginTemplate.ExecuteTemplate(w, "login", data); err != nil {
		http.Error(w, "cannot render login page", http.StatusInternalServerError)
	}
}
