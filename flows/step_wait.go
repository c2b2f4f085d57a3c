package flows

import (
	"context"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
)

// KindWait is the wait step's kind: its time counts in the run's duration
// but is no latency figure (StepResult.IsLatency).
const KindWait = "wait"

// WaitStep pauses the run between two steps, e.g. past a token's lifetime
// to check that an API then refuses it. It sends nothing.
type WaitStep struct {
	Wait conf.Duration `yaml:"wait" json:"wait" jsonschema:"required,description=How long to wait (e.g. 6s). The waits of a flow must end within its timeout."`
}

var _ Step = (*WaitStep)(nil)

// maxWait bounds a single wait whatever the flow's timeout says.
const maxWait = time.Hour

// Validate implements Step. The flow's timeout is checked by the loader,
// which knows it (and the daemon's default).
func (s *WaitStep) Validate() error {
	switch d := s.Wait.Std(); {
	case s.Wait.LoadErr() != nil:
		return nil // already reported as a bad duration
	case d <= 0:
		return conf.FieldErrorf("wait", "required: a positive duration such as 5s")
	case d > maxWait:
		return conf.FieldErrorf("wait", "must be at most %s, got %s", maxWait, s.Wait)
	}
	return nil
}

// pause is how long the step waits, for the loader's timeout check.
func (s *WaitStep) pause() time.Duration { return s.Wait.Std() }

// Run implements Step. A wait that cannot end before the run's deadline
// fails at once rather than sleep into a timeout; a cancelled run (the
// daemon stopping) ends it at once.
func (s *WaitStep) Run(ctx context.Context, st *State) error {
	d := s.Wait.Std()
	if dl, ok := ctx.Deadline(); ok {
		if left := dl.Sub(st.Now()); left < d {
			return Fail(ReasonTimeout, "the wait of %s cannot end within the deadline: %s of it are left (the steps before took longer than the timeout allows); raise the flow's (or the step's) timeout",
				s.Wait, roundDur(max(left, 0))).With(F("wait", s.Wait.String()), F("left", roundDur(max(left, 0)).String()))
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return Fail(ReasonTimeout, "the deadline passed during the wait of %s", s.Wait).Wrap(ctx.Err())
		}
		return Fail(ReasonInternalError, "the run was cancelled during the wait of %s (authwatch is stopping)", s.Wait).Wrap(ctx.Err())
	}
}
