package flows

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/loginpage"
)

// Browser actions (form.actions): the flow's own script for pages the
// automatic walker cannot pass, such as a "Continue" or "Grant access"
// button that is a script, not a form. They run in order on the first
// page; the walker then takes over from whatever page they left, with the
// credentials counted as submitted.

// actionWaitFallback bounds one action's wait when the step has no
// deadline (it always has one when run by the runner).
const actionWaitFallback = 10 * time.Second

// actionWait is how long one action may wait for its element or text: the
// step's remaining time, less a reserve to report what was missing before
// the deadline turns it into a timeout.
func actionWait(ctx context.Context) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return actionWaitFallback
	}
	left := time.Until(d)
	return max(left-max(left/10, 500*time.Millisecond), 0)
}

// runActions runs form.actions in the open session. It reports whether the
// browser reached the redirect_uri (the login is over).
func runActions(ctx context.Context, st *State, sess *browser.Session, pol walkPolicy) (bool, error) {
	for i := range pol.form.Actions {
		a := &pol.form.Actions[i]
		if err := runAction(ctx, st, sess, pol, i, a); err != nil {
			return false, err
		}
		if err := sess.Settle(ctx, settleQuiet); err != nil {
			return false, browserError(ctx, err, fmt.Sprintf("waiting for the page after form.actions[%d]", i))
		}
		if _, ok := sess.Stopped(); ok {
			if rest := len(pol.form.Actions) - i - 1; rest > 0 {
				st.Note("browser: the login reached the redirect_uri after form.actions[%d]; %d actions after it not run", i, rest)
			}
			return true, nil
		}
		if f := shownError(ctx, sess, pol); f != nil {
			return false, f
		}
	}
	return false, nil
}

// runAction runs one action; a missing element is login_form_changed, a
// missing text assertion_failed, unless the page shows a refusal.
func runAction(ctx context.Context, st *State, sess *browser.Session, pol walkPolicy, i int, a *BrowserAction) error {
	what := fmt.Sprintf("form.actions[%d] (%s %q)", i, a.kind(), a.selector())
	if a.ExpectText != "" {
		ok, err := sess.WaitText(ctx, a.ExpectText, actionWait(ctx))
		if err != nil {
			return browserError(ctx, err, "running "+what)
		}
		if !ok {
			return actionMissed(ctx, sess, pol, func(where string) *Failure {
				return Fail(ReasonAssertionFailed, "form.actions[%d] (expect_text): %s does not show %q", i, where, truncate(a.ExpectText, 100))
			})
		}
		return nil
	}
	found, err := sess.Exists(ctx, a.selector(), actionWait(ctx))
	if err != nil {
		return browserError(ctx, err, "running "+what)
	}
	if !found {
		return actionMissed(ctx, sess, pol, func(where string) *Failure {
			return Fail(ReasonLoginFormChanged, "%s: no visible element matches %q on %s (waited until shortly before the step's deadline)", what, a.selector(), where).
				With(F("action", fmt.Sprintf("form.actions[%d]", i)), F("selector", a.selector()))
		})
	}
	switch {
	case a.Fill != nil:
		v, err := st.Expand(a.Fill.Value)
		if err != nil {
			return err
		}
		// Whatever is typed (a password, a one-time code) may come back in
		// the page's text, which a failure quotes.
		st.Secrets.Add(v)
		err = sess.Fill(ctx, a.Fill.Selector, v)
		if err != nil {
			return actionError(ctx, err, what)
		}
	case a.Click != "":
		if err := sess.Click(ctx, a.Click); err != nil {
			return actionError(ctx, err, what)
		}
	}
	return nil
}

// actionError explains a fill or click that found its element and failed.
func actionError(ctx context.Context, err error, what string) error {
	if errors.Is(err, browser.ErrNotFound) && ctx.Err() == nil {
		return Fail(ReasonLoginFormChanged, "%s: the element went away or cannot take the action: %v", what, err).Wrap(err)
	}
	return browserError(ctx, err, "running "+what)
}

// actionMissed explains an action whose element or text did not come: the
// page's refusal when it shows one (form.error_selector, or a message the
// patterns know), else miss, told where the browser was.
func actionMissed(ctx context.Context, sess *browser.Session, pol walkPolicy, miss func(where string) *Failure) error {
	if f := shownError(ctx, sess, pol); f != nil {
		return f
	}
	where := "the page"
	if snap, err := sess.Snapshot(ctx); err == nil {
		u, _ := url.Parse(snap.URL)
		page, perr := loginpage.Parse(u, []byte(snap.HTML))
		if perr == nil {
			if f := judgeMessages(page, pol.form.patterns); f != nil {
				return f
			}
			where = pageName(page)
		}
	}
	return miss(where)
}

// shownError is a refusal (login_rejected, or account_locked or
// mfa_required when the message patterns say so) when form.error_selector
// matches a visible element with text.
func shownError(ctx context.Context, sess *browser.Session, pol walkPolicy) *Failure {
	sel := pol.form.ErrorSelector
	if sel == "" {
		return nil
	}
	text, ok, err := sess.VisibleText(ctx, sel)
	if err != nil || !ok || text == "" {
		return nil
	}
	where := "the page"
	if snap, err := sess.Snapshot(ctx); err == nil {
		where = redactURL(snap.URL)
	}
	return errorSelectorFailure(sel, text, where, pol.form.patterns)
}
