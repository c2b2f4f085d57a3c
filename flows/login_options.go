package flows

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/loginpage"
)

// UserCredentials are the synthetic user's: always secret references.
type UserCredentials struct {
	Username   conf.Template `yaml:"username" json:"username" jsonschema:"required,description=The synthetic user's login name."`
	Password   conf.Template `yaml:"password" json:"password" jsonschema:"required,description=A secret reference such as ${env:SYNTHETIC_PASSWORD}."`
	TOTPSecret conf.Template `yaml:"totp_secret,omitempty" json:"totp_secret,omitempty" jsonschema:"description=Base32 TOTP secret (RFC 6238) for a second factor\\, as a secret reference; the code is computed on each run."`
	// OTP is a one-time code used as it is, for test IdPs whose second
	// factor accepts a fixed code.
	OTP conf.Template `yaml:"otp,omitempty" json:"otp,omitempty" jsonschema:"description=A static one-time code for a second factor\\, used as it is (a test tenant's fixed code)\\, as a secret reference; instead of totp_secret."`
}

func (c *UserCredentials) validate() []error {
	var errs []error
	if c.Username.IsZero() {
		errs = append(errs, conf.FieldErrorf("username", "required"))
	}
	if c.Password.IsZero() {
		errs = append(errs, conf.FieldErrorf("password", "required (a secret reference such as ${env:SYNTHETIC_PASSWORD})"))
	}
	if !c.OTP.IsZero() && !c.TOTPSecret.IsZero() {
		errs = append(errs, conf.FieldErrorf("otp", "give totp_secret (a code computed on each run) or otp (a static code), not both"))
	}
	return errs
}

// LoginForm says how to find and fill the IdP's pages. The defaults fit
// common IdPs: the form with a password field, the username field found by
// its autocomplete attribute or name, the first submit button.
type LoginForm struct {
	Selector      string                   `yaml:"selector,omitempty" json:"selector,omitempty" jsonschema:"description=CSS selector of the login form (or of an element inside it)."`
	UsernameField string                   `yaml:"username_field,omitempty" json:"username_field,omitempty" jsonschema:"description=Name of the username input (default: found by autocomplete=username or a name like username/login/email)."`
	PasswordField string                   `yaml:"password_field,omitempty" json:"password_field,omitempty" jsonschema:"description=Name of the password input (default: the type=password input)."`
	OTPField      string                   `yaml:"otp_field,omitempty" json:"otp_field,omitempty" jsonschema:"description=Name of the one-time code input (default: autocomplete=one-time-code or a name like otp/code/totp)."`
	Submit        string                   `yaml:"submit,omitempty" json:"submit,omitempty" jsonschema:"description=Regular expression matched against the submit button's text or value (default: the form's first submit button)."`
	Consent       string                   `yaml:"consent,omitempty" json:"consent,omitempty" jsonschema:"enum=approve,enum=fail,description=What to do on a consent page: approve it (press the button matching consent_button) or fail as mfa_required (default fail; device_code steps always approve)."`
	ConsentButton string                   `yaml:"consent_button,omitempty" json:"consent_button,omitempty" jsonschema:"description=Regular expression for the approve button or link (default: Allow|Accept|Approve|Authorize|Continue|Yes|Confirm|Grant)."`
	Errors        LoginPatterns            `yaml:"errors,omitempty" json:"errors,omitempty" jsonschema:"description=Extra regular expressions recognising the IdP's messages\\, added to the defaults."`
	MaxPages      int                      `yaml:"max_pages,omitempty" json:"max_pages,omitempty" jsonschema:"description=Most pages and redirects walked before giving up (default 30)."`
	Actions       []BrowserAction          `yaml:"actions,omitempty" json:"actions,omitempty" jsonschema:"description=Browser mode only: steps run in order on the first page\\, before the automatic walk takes over (for pages whose buttons are scripts). Each is one of fill\\, click\\, wait_for\\, expect_text\\, bounded by the step's timeout."`
	ErrorSelector string                   `yaml:"error_selector,omitempty" json:"error_selector,omitempty" jsonschema:"description=CSS selector of the element in which the login page shows a refusal; a visible match after a submission is login_rejected (account_locked or mfa_required when its text says so)\\, quoting the text."`
	Fields        map[string]conf.Template `yaml:"fields,omitempty" json:"fields,omitempty" jsonschema:"description=More fields of the login form to set\\, by name (a tenant\\, remember=on); values may be secret references. In browser mode a checkbox is checked."`

	submit, consentButton *regexp.Regexp
	patterns              loginpage.Patterns
}

// BrowserAction is one step of form.actions: exactly one of its fields.
type BrowserAction struct {
	Fill       *FillAction `yaml:"fill,omitempty" json:"fill,omitempty" jsonschema:"description=Type a value into the element the selector matches."`
	Click      string      `yaml:"click,omitempty" json:"click,omitempty" jsonschema:"description=CSS selector of an element to click (a script-driven button)."`
	WaitFor    string      `yaml:"wait_for,omitempty" json:"wait_for,omitempty" jsonschema:"description=CSS selector of an element to wait for until it is visible."`
	ExpectText string      `yaml:"expect_text,omitempty" json:"expect_text,omitempty" jsonschema:"description=Text the page must show (assertion_failed when it does not)."`
}

// FillAction types a value into an input.
type FillAction struct {
	Selector string        `yaml:"selector" json:"selector" jsonschema:"required,description=CSS selector of the input."`
	Value    conf.Template `yaml:"value" json:"value" jsonschema:"required,description=The value; may be a secret reference\\, which is never shown."`
}

// selector is what the action looks for on the page ("" for expect_text).
func (a *BrowserAction) selector() string {
	switch {
	case a.Fill != nil:
		return a.Fill.Selector
	case a.Click != "":
		return a.Click
	}
	return a.WaitFor
}

// kind names the action for messages.
func (a *BrowserAction) kind() string {
	switch {
	case a.Fill != nil:
		return "fill"
	case a.Click != "":
		return "click"
	case a.WaitFor != "":
		return "wait_for"
	}
	return "expect_text"
}

func (a *BrowserAction) validate(path string) []error {
	n := 0
	for _, set := range []bool{a.Fill != nil, a.Click != "", a.WaitFor != "", a.ExpectText != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return []error{conf.FieldErrorf(path, "give exactly one of fill, click, wait_for, expect_text (got %d)", n)}
	}
	if a.Fill != nil && a.Fill.Selector == "" {
		return []error{conf.FieldErrorf(path+".fill.selector", "required: the input's CSS selector")}
	}
	if sel := a.selector(); sel != "" {
		if err := loginpage.ValidSelector(sel); err != nil {
			return []error{conf.FieldErrorf(path+"."+a.kind(), "not a CSS selector: %v", err)}
		}
	}
	return nil
}

// validateBrowserOnly rejects form.actions on a step that walks without
// a browser.
func (f *LoginForm) validateBrowserOnly(browser bool) error {
	if len(f.Actions) == 0 || browser {
		return nil
	}
	return conf.FieldErrorf("form.actions", "needs browser: true: the actions drive headless Chromium")
}

// LoginPatterns are the IdP's wordings for each failure, case-insensitive
// regular expressions, added to authwatch's defaults.
type LoginPatterns struct {
	Rejected []string `yaml:"rejected,omitempty" json:"rejected,omitempty" jsonschema:"description=Wrong username or password."`
	Locked   []string `yaml:"locked,omitempty" json:"locked,omitempty" jsonschema:"description=Account locked\\, disabled or unlicensed."`
	MFA      []string `yaml:"mfa,omitempty" json:"mfa,omitempty" jsonschema:"description=A second factor or another interaction is required."`
}

const (
	consentApprove = "approve"
	consentFail    = "fail"
)

var defaultConsentButton = regexp.MustCompile(`(?i)^\s*(allow|accept|approve|authori[sz]e|continue|yes|confirm|grant|consent)\b`)

// defaultMaxPages bounds a login walk: requests, pages and redirects.
const defaultMaxPages = 30

// validate compiles the patterns; path is the field's YAML path.
func (f *LoginForm) validate(path string) []error {
	var errs []error
	compile := func(field, expr string) *regexp.Regexp {
		if expr == "" {
			return nil
		}
		re, err := regexp.Compile("(?i)" + expr)
		if err != nil {
			errs = append(errs, conf.FieldErrorf(path+"."+field, "not a regular expression: %v", err))
		}
		return re
	}
	f.submit = compile("submit", f.Submit)
	f.consentButton = compile("consent_button", f.ConsentButton)
	if f.consentButton == nil {
		f.consentButton = defaultConsentButton
	}
	switch f.Consent {
	case "", consentApprove, consentFail:
	default:
		errs = append(errs, conf.FieldErrorf(path+".consent", "must be approve or fail, got %q", f.Consent))
	}
	if f.MaxPages < 0 || f.MaxPages > 200 {
		errs = append(errs, conf.FieldErrorf(path+".max_pages", "must be between 1 and 200, got %d", f.MaxPages))
	}
	f.patterns = loginpage.DefaultPatterns()
	add := func(field string, exprs []string, to *[]*regexp.Regexp) {
		for i, e := range exprs {
			if re := compile(fmt.Sprintf("errors.%s[%d]", field, i), e); re != nil {
				*to = append(*to, re)
			}
		}
	}
	add("rejected", f.Errors.Rejected, &f.patterns.Rejected)
	add("locked", f.Errors.Locked, &f.patterns.Locked)
	add("mfa", f.Errors.MFA, &f.patterns.MFA)
	for i := range f.Actions {
		errs = append(errs, f.Actions[i].validate(fmt.Sprintf("%s.actions[%d]", path, i))...)
	}
	if f.ErrorSelector != "" {
		if err := loginpage.ValidSelector(f.ErrorSelector); err != nil {
			errs = append(errs, conf.FieldErrorf(path+".error_selector", "not a CSS selector: %v", err))
		}
	}
	for name := range f.Fields {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, conf.FieldErrorf(path+".fields", "a field name is empty"))
		}
	}
	if f.Selector != "" {
		// An empty page answers whether the selector parses.
		page, _ := loginpage.Parse(&url.URL{}, []byte("<form></form>"))
		if _, err := page.FormBySelector(f.Selector); err != nil {
			errs = append(errs, conf.FieldErrorf(path+".selector", "not a CSS selector: %v", err))
		}
	}
	return errs
}

func (f *LoginForm) maxPages() int {
	if f.MaxPages == 0 {
		return defaultMaxPages
	}
	return f.MaxPages
}
