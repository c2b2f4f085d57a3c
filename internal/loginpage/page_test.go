package loginpage

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, body string) *Page {
	t.Helper()
	p, err := Parse(mustURL(t, pageURL), []byte(body))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestFormAction(t *testing.T) {
	tests := []struct {
		name, html, want string
	}{
		{"relative", `<form action="login">`, "https://idp.example.test/path/login"},
		{"parent", `<form action="../up">`, "https://idp.example.test/up"},
		{"absolute path", `<form action="/a/b?c=d">`, "https://idp.example.test/a/b?c=d"},
		{"query only", `<form action="?step=2">`, "https://idp.example.test/path/page?step=2"},
		{"scheme relative", `<form action="//other.example.test/x">`, "https://other.example.test/x"},
		{"white space", "<form action=\" /sp\nace \">", "https://idp.example.test/space"},
		{"empty", `<form action="">`, pageURL},
		{"absent", `<form>`, pageURL},
		{"base", `<base href="https://cdn.example.test/app/"><form action="login">`, "https://cdn.example.test/app/login"},
		{"relative base", `<base href="/sub/"><form action="login">`, "https://idp.example.test/sub/login"},
		{"base ignores empty action", `<base href="https://cdn.example.test/app/"><form action="">`, pageURL},
		{"second base ignored", `<base href="/one/"><base href="/two/"><form action="x">`, "https://idp.example.test/one/x"},
		{"base without href skipped", `<base target="_top"><base href="/two/"><form action="x">`, "https://idp.example.test/two/x"},
		{"bad URL kept raw", `<form action="http://[::1">`, "http://[::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parse(t, tt.html)
			if len(p.Forms) != 1 {
				t.Fatalf("got %d forms", len(p.Forms))
			}
			if got := p.Forms[0].Action; got != tt.want {
				t.Errorf("Action = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNilURL(t *testing.T) {
	p, err := Parse(nil, []byte(`<form action="login"></form><form></form><a href="/x">x</a><form action="y"><base href="https://b.example.test/"></form>`))
	if err != nil {
		t.Fatal(err)
	}
	// The <base> is absolute, so it applies even without a page URL.
	want := []string{"https://b.example.test/login", "", "https://b.example.test/y"}
	for i, f := range p.Forms {
		if f.Action != want[i] {
			t.Errorf("form %d Action = %q, want %q", i, f.Action, want[i])
		}
	}
	p, _ = Parse(nil, []byte(`<form action="login"></form><a href="/x">x</a>`))
	if p.Forms[0].Action != "login" || p.Actions[0].URL != "/x" {
		t.Errorf("relative references changed without a base: %q, %+v", p.Forms[0].Action, p.Actions)
	}
}

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{
		`<form>`: "GET", `<form method="post">`: "POST", `<form method=" PoSt ">`: "POST",
		`<form method="get">`: "GET", `<form method="put">`: "GET", `<form method="dialog">`: "DIALOG",
	} {
		if got := parse(t, in).Forms[0].Method; got != want {
			t.Errorf("%s: Method = %q, want %q", in, got, want)
		}
	}
}

func TestFormAttribute(t *testing.T) {
	p := parse(t, `
<input name="before" form="f1" value="0">
<form id="f1" action="/one"><input name="a" value="1"></form>
<input name="outside" form="f1" value="2">
<form id="f2" action="/two">
  <input name="b" value="3">
  <input name="stolen" form="f1" value="4">
  <input name="nowhere" form="missing" value="5">
</form>
<button form="f1" name="go" value="yes">Go</button>
<input name="orphan" value="6">`)
	if len(p.Forms) != 2 {
		t.Fatalf("got %d forms", len(p.Forms))
	}
	if got := p.Forms[0].Values(p.Forms[0].SubmitButton(nil)).Encode(); got != "a=1&before=0&go=yes&outside=2&stolen=4" {
		t.Errorf("f1 values = %s", got)
	}
	var names []string
	for _, f := range p.Forms[0].Fields {
		names = append(names, f.Name)
	}
	if want := []string{"before", "a", "outside", "stolen"}; !reflect.DeepEqual(names, want) {
		t.Errorf("f1 fields = %q, want document order %q", names, want)
	}
	if got := p.Forms[1].Values(nil).Encode(); got != "b=3" {
		t.Errorf("f2 values = %s", got)
	}
	f, err := p.FormBySelector(`[name=outside]`)
	if err != nil || f != p.Forms[0] {
		t.Errorf("FormBySelector(outside control) = %v, %v; want f1", f, err)
	}
}

func TestValues(t *testing.T) {
	tests := []struct {
		name, html, button, want string
	}{
		{"hidden and text", `<input type=hidden name=h value=1><input name=t value="a b">`, "", "h=1&t=a+b"},
		{"unnamed skipped", `<input value=x><input name="" value=y>`, "", ""},
		{"disabled", `<input name=a value=1 disabled><input name=b value=2>`, "", "b=2"},
		{"disabled fieldset", `<fieldset disabled><input name=a value=1><fieldset><input name=c value=3></fieldset></fieldset><input name=b value=2>`, "", "b=2"},
		{"checkboxes", `<input type=checkbox name=c1 checked><input type=checkbox name=c2 value=yes checked><input type=checkbox name=c3 value=no>`, "", "c1=on&c2=yes"},
		{"radios", `<input type=radio name=r value=a><input type=radio name=r value=b checked>`, "", "r=b"},
		{"select selected", `<select name=s><option value=a>A<option value=b selected>B</select>`, "", "s=b"},
		{"select first", `<select name=s><option value=a>A<option value=b>B</select>`, "", "s=a"},
		{"select skips disabled", `<select name=s><option value=a disabled>A<optgroup disabled><option value=b>B</optgroup><option value=c>C</select>`, "", "s=c"},
		{"select text as value", `<select name=s><option>  Two   words </option></select>`, "", "s=Two+words"},
		{"select last selected wins", `<select name=s><option value=a selected><option value=b selected></select>`, "", "s=b"},
		{"select multiple", `<select name=m multiple><option value=a selected><option value=b><optgroup label=g><option value=c selected></optgroup></select>`, "", "m=a&m=c"},
		{"select multiple none", `<select name=m multiple><option value=a></select>`, "", ""},
		{"select empty", `<select name=s></select>`, "", ""},
		{"textarea", "<textarea name=t>\nline1\nline2</textarea>", "", "t=line1%0Aline2"},
		{"charset", `<input type=hidden name=_charset_>`, "", "_charset_=UTF-8"},
		{"unknown type is text", `<input type=fancy name=f value=v>`, "", "f=v"},
		{"buttons are not fields", `<input type=submit name=s value=S><input type=reset name=r><input type=button name=b><button type=button name=bb>x</button>`, "", ""},
		{"named submit", `<button name=action value=login>Log in</button><button name=action value=cancel>Cancel</button>`, "Cancel", "action=cancel"},
		{"unnamed submit", `<input name=a value=1><button>Go</button>`, "Go", "a=1"},
		{"image submit", `<input type=image name=go alt="Sign in" src=x.png>`, "Sign in", "go.x=0&go.y=0"},
		{"input submit", `<input type=submit name=op value="Sign In">`, "Sign In", "op=Sign+In"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parse(t, "<form>"+tt.html+"</form>")
			f := p.Forms[0]
			var b *Button
			if tt.button != "" {
				b = f.SubmitButton(regexp.MustCompile("^" + regexp.QuoteMeta(tt.button) + "$"))
				if b == nil {
					t.Fatalf("no button %q in %+v", tt.button, f.Buttons)
				}
			}
			if got := f.Values(b).Encode(); got != tt.want {
				t.Errorf("Values = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFieldsAndButtons(t *testing.T) {
	p := parse(t, `<form id=f>
  <label for=u>User name</label><input id=u name=user Type=EMAIL autocomplete=username placeholder="you@example">
  <label>Secret <input type=password name=pw></label>
  <input name=code aria-label="  One-time   code " inputmode=numeric>
  <span id=l1>Pick</span><select name=s aria-labelledby=l1><option value=1>One<option value=2>Two</select>
  <input name=h style="display: none">
  <button type=submit name=b value=v formaction="/other" formmethod=post disabled><b>Sign</b>   in</button>
  <button type=reset>Reset</button><button type=button>Show</button>
  <input type=submit>
</form>`)
	f := p.Forms[0]
	want := []Field{
		{Name: "user", Type: "email", ID: "u", Autocomplete: "username", Placeholder: "you@example", Label: "User name"},
		{Name: "pw", Type: "password", Label: "Secret"},
		{Name: "code", Type: "text", InputMode: "numeric", Label: "One-time code"},
		{Name: "s", Type: "select", Value: "1", Label: "Pick", Options: []string{"1", "2"}},
		{Name: "h", Type: "text", Hidden: true},
	}
	if !reflect.DeepEqual(f.Fields, want) {
		t.Errorf("Fields =\n%+v\nwant\n%+v", f.Fields, want)
	}
	wantB := []Button{
		{Name: "b", Value: "v", Text: "Sign in", Type: "submit", Action: "https://idp.example.test/other", Method: "POST", Disabled: true},
		{Text: "Submit", Type: "submit"},
	}
	if !reflect.DeepEqual(f.Buttons, wantB) {
		t.Errorf("Buttons =\n%+v\nwant\n%+v", f.Buttons, wantB)
	}
	// The disabled button is never pressed: browsers do not submit by it.
	if b := f.SubmitButton(regexp.MustCompile(`(?i)sign in`)); b != nil {
		t.Errorf("SubmitButton(sign in) chose the disabled button: %+v", b)
	}
	if b := f.SubmitButton(nil); b == nil || b.Text != "Submit" {
		t.Errorf("SubmitButton(nil) = %+v, want the enabled Submit", b)
	}
	enabled := parse(t, `<form><button name=b value=v>Sign in</button></form>`).Forms[0]
	if b := enabled.SubmitButton(regexp.MustCompile(`(?i)sign in`)); b == nil || b.Name != "b" {
		t.Errorf("SubmitButton(sign in) = %+v", b)
	}
	if b := enabled.SubmitButton(regexp.MustCompile(`^v$`)); b == nil || b.Name != "b" {
		t.Errorf("SubmitButton matches Value: %+v", b)
	}
	if b := f.SubmitButton(regexp.MustCompile(`nope`)); b != nil {
		t.Errorf("SubmitButton(nope) = %+v", b)
	}
	if f.Field("pw") != &f.Fields[1] || f.Field("nope") != nil {
		t.Error("Field lookup")
	}
}

func TestHeuristics(t *testing.T) {
	tests := []struct {
		name, html    string
		user, pw, otp string
	}{
		{"autocomplete beats order", `<input name=a><input name=b autocomplete="section-x username">`, "b", "", ""},
		{"email type", `<input name=a><input name=b type=email>`, "b", "", ""},
		{"exact name", `<input name=nickname><input name=loginfmt>`, "loginfmt", "", ""},
		{"exact id", `<input name=x id=j_username>`, "x", "", ""},
		{"twitter", `<input name="session[username_or_email]">`, "session[username_or_email]", "", ""},
		{"loose", `<input name=first><input name=user_login_name>`, "user_login_name", "", ""},
		{"before password", `<input name=first><input name=who><input type=password name=p>`, "who", "p", ""},
		{"hidden skipped", `<input type=hidden name=username><input name=username hidden><input name=login>`, "login", "", ""},
		{"not checkbox", `<input type=checkbox name=remember_username><input name=q>`, "", "", ""},
		{"user code is not a username", `<input name=user_code>`, "", "", ""},
		{"current password", `<input type=password name=new autocomplete=new-password><input type=password name=cur autocomplete=current-password>`, "", "cur", ""},
		{"not new password", `<input type=password name=new autocomplete=new-password><input type=password name=old>`, "", "old", ""},
		{"only new password", `<input type=password name=new autocomplete=new-password>`, "", "new", ""},
		{"otp autocomplete", `<input name=a><input name=b autocomplete=one-time-code>`, "", "", "b"},
		{"otp name", `<input name=username><input name=totp_value>`, "username", "", "totp_value"},
		{"okta passcode", `<input name="credentials.passcode" type=password>`, "", "credentials.passcode", "credentials.passcode"},
		{"otp not csrf token", `<input type=hidden name=csrf_token><input name=x>`, "", "", ""},
		{"otp not password", `<input type=password name=password_code>`, "", "password_code", ""},
		{"otp numeric", `<input name=pin inputmode=numeric>`, "", "", "pin"},
		{"otp not device code", `<input name=device_code>`, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parse(t, "<form>"+tt.html+"</form>").Forms[0]
			got := [3]string{fieldName(f.UsernameField()), fieldName(f.PasswordField()), fieldName(f.OTPField())}
			if want := [3]string{tt.user, tt.pw, tt.otp}; got != want {
				t.Errorf("username, password, otp = %q, want %q", got, want)
			}
		})
	}
}

func TestFormBySelector(t *testing.T) {
	p := parse(t, `<h1 id=top>Hi</h1>
<form id=search action=/s><input name=q></form>
<form id=login-form class="login x" action=/l><div><input id=username name=u></div><button>Go</button></form>
<template><form id=tpl><input id=intpl></form></template>`)
	tests := []struct {
		css  string
		want int // form index, -1 for none
	}{
		{"#login-form", 1},
		{"form.login", 1},
		{"#username", 1},
		{"form button", 1},
		{"input[name=q]", 0},
		{"h1, #username", 1}, // h1 has no form: the next match does
		{"#top", -1},
		{".nothing", -1},
		{"#tpl, #intpl", -1}, // template content is inert
	}
	for _, tt := range tests {
		f, err := p.FormBySelector(tt.css)
		if err != nil {
			t.Errorf("%s: %v", tt.css, err)
			continue
		}
		switch {
		case tt.want < 0 && f != nil:
			t.Errorf("%s: got %s, want none", tt.css, f.Describe())
		case tt.want >= 0 && f != p.Forms[tt.want]:
			t.Errorf("%s: got %v, want form %d", tt.css, f, tt.want)
		}
	}
	for _, bad := range []string{"[[", "", "form >", "#"} {
		if f, err := p.FormBySelector(bad); err == nil {
			t.Errorf("%q: want an error, got %v", bad, f)
		}
	}
	if len(p.Forms) != 2 {
		t.Errorf("template form counted: %s", p.DescribeForms())
	}
	if f := p.PasswordForm(); f != nil {
		t.Errorf("PasswordForm = %s", f.Describe())
	}
}

func TestMessages(t *testing.T) {
	tests := []struct {
		name, html string
		want       []string
	}{
		{"role alert", `<div role=alert> Bad   thing </div>`, []string{"Bad thing"}},
		{"role status", `<p role="status">Saved</p>`, []string{"Saved"}},
		{"aria-live", `<span aria-live=polite>Checking</span><span aria-live=off>Quiet</span>`, []string{"Checking"}},
		{"class words", `<div class="has-error">E</div><div id="flashMessages">F</div><div class="Notice">N</div><div class="x-feedback">B</div><div class="text-danger">D</div><div class="warning-box">W</div>`, []string{"E", "F", "N", "B", "D", "W"}},
		{"zitadel red", `<p style="color:red; min-height: 1rem;">wrong</p><p style="background-color: red">not</p><p style="font-weight:bold;COLOR: Red">also</p>`, []string{"wrong", "also"}},
		{"empty dropped", `<div class=error>  </div><div role=alert></div>`, nil},
		{"de-duplicated", `<div class=alert><span class=error-text>Same</span></div><p role=alert>Same</p>`, []string{"Same"}},
		{"hidden dropped", `<div class=error hidden>H1</div><div class=error style="display:none">H2</div><div class="error d-none">H3</div><div style="visibility: hidden"><p role=alert>H4</p></div><div class=error>shown</div>`, []string{"shown"}},
		{"noscript dropped", `<body><p>x</p><noscript><div class=alert>Enable JavaScript</div></noscript>`, nil},
		{"script text skipped", `<div class=error><script>var x = "no";</script>yes</div>`, []string{"yes"}},
		{"inputs are not messages", `<form><input class=is-invalid value=v><button class=alert>b</button></form>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, tt.html).Messages; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Messages = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("caps", func(t *testing.T) {
		var b strings.Builder
		for i := range 20 {
			b.WriteString(`<div class=error>message ` + strings.Repeat("x", i) + `</div>`)
		}
		b.WriteString(`<div class=error>` + strings.Repeat("é", 400) + `</div>`)
		p := parse(t, b.String())
		if len(p.Messages) != maxMessages {
			t.Errorf("%d messages, want %d", len(p.Messages), maxMessages)
		}
		p = parse(t, `<div class=error>`+strings.Repeat("é ", 400)+`</div>`)
		if n := len([]rune(p.Messages[0])); n != maxMessage {
			t.Errorf("message of %d runes, want %d", n, maxMessage)
		}
	})
}

func TestText(t *testing.T) {
	p := parse(t, `<html><head><title> A
  title </title><style>p{}</style></head><body>
<h1>Sign</h1><p>in <b>now</b><br>please</p>
<script>alert(1)</script><noscript>Enable JS</noscript><template>tpl</template>
<div hidden>secret</div><select><option>Opt</option></select><textarea>typed</textarea>
</body></html>`)
	if p.Title != "A title" {
		t.Errorf("Title = %q", p.Title)
	}
	if want := "Sign in now please typed"; p.Text != want {
		t.Errorf("Text = %q, want %q", p.Text, want)
	}
	p = parse(t, strings.Repeat("<p>word</p>", 5000))
	if len(p.Text) > maxText || len(p.Text) < maxText-10 {
		t.Errorf("Text is %d bytes, want about %d", len(p.Text), maxText)
	}
}

func TestActions(t *testing.T) {
	p := parse(t, `<head><meta http-equiv="refresh" content="0;url=/next"><meta http-equiv=REFRESH content="5; URL='/quoted'">
<meta http-equiv=refresh content="10"><meta http-equiv=refresh content='0;URL="dq"'></head>
<a href="/a">A <i>link</i></a><a href="#top">skip</a><a href="javascript:void(0)">skip</a><a href="mailto:x@y">skip</a><a>no href</a>
<a href="/icon" aria-label="Help"><svg></svg></a>
<button onclick="window.location = '/w'">W</button>
<button onclick="location.assign(&quot;/as&quot;)">Assign</button>
<div onclick="document.location.href='/div';return false">D</div>
<button onclick="doSomething()">none</button>
<button onclick="relocation='/no'">no</button>
<input type=button value="Back" onclick="location.replace('..\/back')">
<template><a href="/tpl">tpl</a></template>`)
	want := []Action{
		{URL: "https://idp.example.test/next", Kind: "refresh"},
		{URL: "https://idp.example.test/quoted", Kind: "refresh"},
		{URL: "https://idp.example.test/path/dq", Kind: "refresh"},
		{Text: "A link", URL: "https://idp.example.test/a", Kind: "link"},
		{Text: "Help", URL: "https://idp.example.test/icon", Kind: "link"},
		{Text: "W", URL: "https://idp.example.test/w", Kind: "button"},
		{Text: "Assign", URL: "https://idp.example.test/as", Kind: "button"},
		{Text: "D", URL: "https://idp.example.test/div", Kind: "button"},
		{Text: "Back", URL: "https://idp.example.test/back", Kind: "button"},
	}
	if !reflect.DeepEqual(p.Actions, want) {
		t.Errorf("Actions =\n%+v\nwant\n%+v", p.Actions, want)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, html, forms string
	}{
		{"unclosed", `<form action=/a method=post><input name=u><input type=password name=p`, "1 form: form[0] (POST /a; fields u)"},
		{"nested form ignored", `<form id=outer action=/o><form id=inner action=/i><input name=x></form></form>`, "1 form: form#outer (GET /o; fields x)"},
		{"stray end tags", `</form></div><form action=/b></p><input name=y></td></form></form>`, "1 form: form[0] (GET /b; fields y)"},
		{"no html at all", `just text`, "no forms"},
		{"binary", "\x00\xff\xfe<form><input name=\"\xff\"></form>", "1 form: form[0] (GET /path/page; fields ?)"},
		{"control chars in names", "<form id=\"a\nb\"><input name=\"x\ry\"></form>", "1 form: form#a?b (GET /path/page; fields x?y)"},
		{"svg form is not a form", `<svg><form><input name=z></form></svg>`, "no forms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(t, tt.html).DescribeForms(); got != tt.forms {
				t.Errorf("DescribeForms = %q, want %q", got, tt.forms)
			}
		})
	}
}

func TestHugeInput(t *testing.T) {
	t.Run("capped", func(t *testing.T) {
		body := []byte(`<form id=first><input name=a></form>` + strings.Repeat("<p>filler</p>", MaxInput/13) + `<form id=late><input name=b></form>`)
		start := time.Now()
		p, err := Parse(mustURL(t, pageURL), body)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Forms) != 1 || p.Forms[0].ID != "first" {
			t.Errorf("forms past %d bytes were read: %s", MaxInput, p.DescribeForms())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("many controls", func(t *testing.T) {
		body := strings.Repeat(`<form><input name=a><select name=s>`+strings.Repeat(`<option>o`, 600)+`</select></form>`, 60) +
			`<form>` + strings.Repeat(`<input name=x><button>b</button>`, 1000) + `</form>` + strings.Repeat(`<a href=/x>x</a>`, 1000)
		p := parse(t, body)
		if len(p.Forms) != maxForms || len(p.Forms[0].Fields[1].Options) != maxOptions || len(p.Actions) != maxActions {
			t.Errorf("caps not applied: %d forms, %d options, %d actions", len(p.Forms), len(p.Forms[0].Fields[1].Options), len(p.Actions))
		}
	})
	t.Run("too deep", func(t *testing.T) {
		_, err := Parse(nil, bytes.Repeat([]byte("<div>"), 10000))
		if err == nil {
			t.Error("want an error for nesting beyond the parser's limit")
		}
	})
}

func TestZeroValues(t *testing.T) {
	var p Page
	if f, err := p.FormBySelector("form"); f != nil || err != nil {
		t.Errorf("zero Page FormBySelector = %v, %v", f, err)
	}
	var np *Page
	if np.PasswordForm() != nil || np.DescribeForms() != "no forms" {
		t.Error("nil Page")
	}
	var f *Form
	if f.Field("x") != nil || f.UsernameField() != nil || f.PasswordField() != nil || f.OTPField() != nil ||
		f.SubmitButton(nil) != nil || len(f.Values(nil)) != 0 || f.Describe() != "no form" {
		t.Error("nil Form")
	}
	if v, ev := DefaultPatterns().Judge(nil); v != None || ev != "" {
		t.Error("Judge(nil)")
	}
}

func TestDescribe(t *testing.T) {
	p := parse(t, `<form name=n action="/p/a?code=SECRET#frag" method=post>`+strings.Repeat(`<input name=f>`, 10)+`<input type=hidden name=h></form>`+
		`<form action="https://x.example.test"></form>`)
	want := "2 forms: form[name=n] (POST /p/a; fields f, f, f, f, f, f, f, f, ...; 1 hidden); form[1] (GET /; no fields)"
	if got := p.DescribeForms(); got != want {
		t.Errorf("DescribeForms =\n %s\nwant\n %s", got, want)
	}
	if strings.Contains(p.DescribeForms(), "SECRET") {
		t.Error("query string leaked")
	}
}

func TestScriptBuilt(t *testing.T) {
	for _, tc := range []struct {
		name, html string
		want       bool
	}{
		{"spa loading", `<html><head><script src=/app.js></script></head><body><div id=root>Loading...</div></body></html>`, true},
		{"noscript only", `<body><div id=app></div><noscript>Enable JavaScript</noscript></body>`, true},
		{"a form", `<body><script>x()</script><form><input name=u></form></body>`, false},
		{"no script", `<body><p>Loading...</p></body>`, false},
		{"long text", `<body><script>x()</script><p>` + strings.Repeat("An error page that explains itself. ", 10) + `</p></body>`, false},
	} {
		p, err := Parse(nil, []byte(tc.html))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ScriptBuilt(); got != tc.want {
			t.Errorf("%s: ScriptBuilt %v (scripts %d, noscript %v, text %q), want %v", tc.name, got, p.Scripts, p.Noscript, p.Text, tc.want)
		}
	}
}
