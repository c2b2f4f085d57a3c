package loginpage

import (
	"regexp"
	"strings"
)

var (
	usernameExact = regexp.MustCompile(`(?i)^(user(name)?|login|email|identifier|loginfmt|j_username|session\[username_or_email\]|uname)$`)
	usernameLoose = regexp.MustCompile(`(?i)user|login|email|ident`)
	notUsername   = regexp.MustCompile(`(?i)code`)
	otpName       = regexp.MustCompile(`(?i)otp|totp|otc|code|token|passcode|verification|mfa|2fa`)
	// otpNot are names that match otpName but are not one-time codes: the
	// password itself, the user code of the device flow, and the like.
	otpNot = regexp.MustCompile(`(?i)password|passwd|pwd|user_?code|device_?code|captcha|zip|postal|promo|coupon|country|area_?code`)
)

// textLike reports whether a person types a username into fields of type t.
func textLike(t string) bool {
	return t == "text" || t == "email" || t == "tel" || t == ""
}

// hasToken reports whether the space-separated autocomplete value has one
// of the tokens (it may also hold section-* and webauthn).
func hasToken(autocomplete string, tokens ...string) bool {
	for _, t := range strings.Fields(strings.ToLower(autocomplete)) {
		for _, want := range tokens {
			if t == want {
				return true
			}
		}
	}
	return false
}

// pick returns the first field that is typeable and matches.
func (f *Form) pick(ok func(*Field) bool) *Field {
	if f == nil {
		return nil
	}
	for i := range f.Fields {
		fd := &f.Fields[i]
		if !fd.Hidden && ok(fd) {
			return fd
		}
	}
	return nil
}

// UsernameField guesses the field for the username. In order: a text-like
// field with autocomplete=username or email; type=email; a name or id that
// is a common username name; one that mentions user, login, email or ident;
// and, like browsers' password managers, the last text-like field before
// the password field. Hidden fields are never picked. nil if none fits.
func (f *Form) UsernameField() *Field {
	tests := []func(*Field) bool{
		func(fd *Field) bool { return hasToken(fd.Autocomplete, "username", "email") },
		func(fd *Field) bool { return fd.Type == "email" },
		func(fd *Field) bool { return usernameExact.MatchString(fd.Name) || usernameExact.MatchString(fd.ID) },
		func(fd *Field) bool {
			// user_code is the device flow's code, not a username.
			loose := usernameLoose.MatchString(fd.Name) || usernameLoose.MatchString(fd.ID)
			return loose && !notUsername.MatchString(fd.Name) && !notUsername.MatchString(fd.ID)
		},
	}
	for _, t := range tests {
		if fd := f.pick(func(fd *Field) bool { return textLike(fd.Type) && t(fd) }); fd != nil {
			return fd
		}
	}
	return f.beforePassword()
}

func (f *Form) beforePassword() *Field {
	if f == nil {
		return nil
	}
	var last *Field
	for i := range f.Fields {
		fd := &f.Fields[i]
		if fd.Type == "password" {
			return last
		}
		if !fd.Hidden && textLike(fd.Type) {
			last = fd
		}
	}
	return nil
}

// PasswordField returns the password field to fill at login: the first
// with autocomplete=current-password, else the first not marked
// new-password (sign-up and change forms), else the first; nil if none.
func (f *Form) PasswordField() *Field {
	isPw := func(fd *Field) bool { return fd.Type == "password" }
	for _, t := range []func(*Field) bool{
		func(fd *Field) bool { return hasToken(fd.Autocomplete, "current-password") },
		func(fd *Field) bool { return !hasToken(fd.Autocomplete, "new-password") },
		func(*Field) bool { return true },
	} {
		if fd := f.any(func(fd *Field) bool { return isPw(fd) && t(fd) }); fd != nil {
			return fd
		}
	}
	return nil
}

// any is pick without the visibility test: password fields are sometimes
// styled hidden until a username step reveals them.
func (f *Form) any(ok func(*Field) bool) *Field {
	if f == nil {
		return nil
	}
	for i := range f.Fields {
		if ok(&f.Fields[i]) {
			return &f.Fields[i]
		}
	}
	return nil
}

// OTPField guesses the field for a one-time code. In order:
// autocomplete=one-time-code; a name or id like otp, code, token, passcode,
// verification, mfa or 2fa that is not the password or a device-flow user
// code; a text-like field with inputmode=numeric. Hidden fields are never
// picked. nil if none fits.
func (f *Form) OTPField() *Field {
	typed := func(fd *Field) bool {
		return textLike(fd.Type) || fd.Type == "number" || fd.Type == "password"
	}
	for _, t := range []func(*Field) bool{
		func(fd *Field) bool { return hasToken(fd.Autocomplete, "one-time-code") },
		func(fd *Field) bool {
			named := otpName.MatchString(fd.Name) || otpName.MatchString(fd.ID)
			return named && !otpNot.MatchString(fd.Name) && !otpNot.MatchString(fd.ID)
		},
		func(fd *Field) bool { return strings.EqualFold(fd.InputMode, "numeric") && fd.Type != "password" },
	} {
		if fd := f.pick(func(fd *Field) bool { return typed(fd) && t(fd) }); fd != nil {
			return fd
		}
	}
	return nil
}
