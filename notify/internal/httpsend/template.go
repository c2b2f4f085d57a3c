package httpsend

// Checks and resolution of settings that reference secrets: URLs holding a
// token, header values, keys.

import (
	"fmt"
	"strings"

	"github.com/authwatch/authwatch/internal/conf"
)

// refHint is how to write a secret reference.
const refHint = "write ${env:NAME}, ${file:/absolute/path} or ${credential:NAME}, and $${ for a literal ${"

// CheckTemplate checks a setting that may reference secrets, without
// resolving it and without echoing it (it may be a literal secret): no step
// outputs (there are none outside flows), no malformed reference, and
// present when required.
func CheckTemplate(path string, t conf.Template, required bool) error {
	switch {
	case t.IsZero() && required:
		return conf.FieldErrorf(path, "required: %s", refHint)
	case t.HasStepRefs():
		return conf.FieldErrorf(path, "step outputs (${steps.ID.NAME}) are not available in notifier settings; %s", refHint)
	case len(t.Refs()) == 0:
		// No reference: expanding reads nothing, and reports a parse error.
		if _, err := t.ExpandSecrets(conf.SecretSource{}); err != nil {
			return conf.FieldErrorf(path, "malformed reference: %s", refHint)
		}
	}
	return nil
}

// CheckURLTemplate checks a URL setting: a valid template (CheckTemplate)
// and, as far as it can be known before the secrets are read, a URL that
// CheckURL accepts. A URL written whole is checked whole; one that starts
// with a literal scheme has its scheme checked; the rest is checked on
// every send, once resolved.
func CheckURLTemplate(path string, t conf.Template, allowHTTP bool) error {
	if err := CheckTemplate(path, t, true); err != nil {
		return err
	}
	if len(t.Refs()) == 0 {
		u, _ := t.ExpandSecrets(conf.SecretSource{})
		if err := CheckURL(u, allowHTTP); err != nil {
			return conf.FieldError{Path: path, Err: err}
		}
		return nil
	}
	prefix, _, _ := strings.Cut(t.String(), "${")
	scheme, _, ok := strings.Cut(prefix, "://")
	if !ok {
		return nil
	}
	if err := CheckURL(scheme+"://localhost", allowHTTP); err != nil {
		return conf.FieldError{Path: path, Err: err}
	}
	return nil
}

// ResolveURL expands a URL setting's secrets and checks the result
// (CheckURL). Errors never show the value: the URL is named by its
// references. A secret that cannot be read may be there on the next attempt
// (a file being rotated), so retry is true; a resolved value that is not a
// usable URL is a configuration to fix, so retry is false.
func ResolveURL(kind, path string, t conf.Template, src conf.SecretSource, allowHTTP bool) (u string, retry bool, err error) {
	u, err = t.ExpandSecrets(src)
	if err != nil {
		return "", true, fmt.Errorf("%s: %s: %w", kind, path, err)
	}
	if err := CheckURL(u, allowHTTP); err != nil {
		return "", false, fmt.Errorf("%s: %s%s %w", kind, path, describeRefs(t), err)
	}
	return u, false, nil
}

// ResolveSecret expands a secret setting (a header value, a key); the
// error names the kind and the setting. Whether a secret that cannot be
// read is worth another attempt is the kind's choice.
func ResolveSecret(kind, path string, t conf.Template, src conf.SecretSource) (string, error) {
	v, err := t.ExpandSecrets(src)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", kind, path, err)
	}
	return v, nil
}

// describeRefs names a template by its references (never its text, which
// may hold a literal secret): " (from ${env:SLACK_URL})".
func describeRefs(t conf.Template) string {
	refs := t.Refs()
	if len(refs) == 0 {
		return ""
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
	}
	return " (from " + strings.Join(names, ", ") + ")"
}
