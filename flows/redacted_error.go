package flows

import "github.com/authwatch/authwatch/internal/redact"

// redactedError is a Failure's library error as a person may print it
// (%v, %+v): its text passes the value net, so an IdP's answer echoing a
// secret (a RetrieveError's body, a url.Error's URL) does not show it. It
// unwraps to the error itself, so errors.As still finds every type.
type redactedError struct {
	err     error
	secrets *redact.Secrets
}

func redactError(err error, secrets *redact.Secrets) error {
	if err == nil {
		return nil
	}
	if _, done := err.(redactedError); done {
		return err
	}
	return redactedError{err: err, secrets: secrets}
}

func (e redactedError) Error() string { return e.secrets.String(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }
