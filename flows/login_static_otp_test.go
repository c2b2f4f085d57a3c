package flows_test

import (
	"strings"
	"testing"

	"github.com/authwatch/authwatch/flows"
)

const (
	sotpCode  = "482913" // the IdP's fixed one-time code for carol (STATIC_OTP)
	sotpWrong = "100200"
)

// TestStaticOTPLogin: otp: is a one-time code used as it is, for a test
// tenant whose second factor takes a fixed code: the real IdP accepts it,
// refuses a wrong one (login_rejected), and the code appears nowhere in the
// result.
// proves: login_rejected
func TestStaticOTPLogin(t *testing.T) {
	t.Parallel()
	p := lopProvider(t, map[string]string{"STATIC_OTP": sotpCode})
	env := map[string]string{"CAROL_OTP": sotpCode, "WRONG_OTP": sotpWrong}
	for k, v := range lopSecretEnv {
		env[k] = v
	}
	r := itNewRunner(itLookupFrom(env, nil))
	secrets := []string{sotpCode, sotpWrong, "carol-password", "app-secret"}

	t.Run("accepted", func(t *testing.T) {
		t.Parallel()
		res := itRunYAML(t, r, lopLogin("carol-static-otp", p.Issuer, lopCarol+"    otp: ${env:CAROL_OTP}\n"))
		itMustPass(t, res)
		itAssertNoSecrets(t, secrets, res)
	})
	t.Run("wrong code", func(t *testing.T) {
		t.Parallel()
		res := itRunYAML(t, r, lopLogin("carol-wrong-static-otp", p.Issuer, lopCarol+"    otp: ${env:WRONG_OTP}\n"))
		f := itMustFail(t, res, "login", flows.ReasonLoginRejected)
		itSummaryHas(t, f, "Invalid code")
		itAssertNoSecrets(t, secrets, res)
	})
}

// TestStaticOTPLoad: totp_secret and otp exclude each other (an error at
// otp); a literal otp is a literal secret (a warning at its position).
func TestStaticOTPLoad(t *testing.T) {
	t.Parallel()
	const head = "name: o\nevery: 1m\nsteps:\n  - id: login\n    kind: login\n    issuer: https://idp.example.com\n" +
		"    redirect_uri: https://app.example.com/cb\n    client_id: c\n    client_auth: none\n    username: u\n    password: ${env:P}\n"
	_, err := flows.LoadBytes(flows.LoadOptions{}, "o.yaml", []byte(head+"    totp_secret: ${env:T}\n    otp: ${env:O}\n"))
	if want := "o.yaml:13:10: steps[0].otp: give totp_secret (a code computed on each run) or otp (a static code), not both"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant %q", err, want)
	}
	set, err := flows.LoadBytes(flows.LoadOptions{}, "o.yaml", []byte(head+"    otp: \"123456\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(set.Warnings.Error(), "o.yaml:12:10: steps[0].otp: a literal secret") {
		t.Errorf("warnings %v, want a literal-secret warning at otp", set.Warnings)
	}
}
