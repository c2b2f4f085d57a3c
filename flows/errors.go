package flows

import "errors"

// joinErrs joins validation errors: nil for none, the error itself for one.
func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
