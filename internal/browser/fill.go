package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// objectGroup holds the page objects Fill handles, released after it.
const objectGroup = "authwatch-fill"

// prepareJS focuses the element and clears it through the native value
// setter (the one a framework's own setter wraps), with an input event; it
// tells whether the element has the focus, so typing reaches it.
const prepareJS = `function() {
	if (this.type === 'checkbox' || this.type === 'radio') return false;
	const proto = this instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype
		: this instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
	const set = Object.getOwnPropertyDescriptor(proto, 'value').set;
	this.scrollIntoView({block: 'center'});
	this.focus();
	if (this.value !== '') {
		set.call(this, '');
		this.dispatchEvent(new Event('input', {bubbles: true}));
	}
	return document.activeElement === this && !(this instanceof HTMLSelectElement);
}`

// finishJS sets the value through the native setter when typing did not
// get it there, sends input and change events, and tells whether the
// element holds the value. A checkbox is checked instead, and of a radio
// group the button with the value, by a click, as a person would.
const finishJS = `function(v) {
	if (this.type === 'radio') {
		const group = this.form ? Array.from(this.form.elements) : [this];
		const r = group.find(e => e.type === 'radio' && e.name === this.name && e.value === v);
		if (r && !r.checked) r.click();
		return !!(r && r.checked);
	}
	if (this.type === 'checkbox') {
		if (!this.checked) this.click();
		return this.checked;
	}
	const proto = this instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype
		: this instanceof HTMLSelectElement ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
	const set = Object.getOwnPropertyDescriptor(proto, 'value').set;
	if (this.value !== v) {
		set.call(this, v);
		this.dispatchEvent(new Event('input', {bubbles: true}));
	}
	this.dispatchEvent(new Event('change', {bubbles: true}));
	return this.value === v;
}`

// Fill waits up to SessionOptions.FindWait for sel to match an input,
// textarea or select, clears it, and types value into it as text input
// (falling back to the native value setter), then sends input and change
// events, so that a framework's controlled input sees the value; a
// checkbox or radio button is checked. value may be a password: it
// appears in no error and no log.
func (s *Session) Fill(ctx context.Context, sel, value string) error {
	s.remember(value)
	what := fmt.Sprintf("fill %q", sel)
	switch ok, err := s.find(ctx, sel, false, s.findWait); {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case !ok:
		return fmt.Errorf("%s: %w (waited %s)", what, ErrNotFound, s.findWait)
	}
	return s.call(ctx, what, func(c context.Context) error {
		defer func() {
			_, _ = chromedp.Call(c, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: objectGroup})
		}()
		return fill(c, sel, value)
	})
}

// fill does Fill's work on the tab of c.
func fill(c context.Context, sel, value string) error {
	el, err := chromedp.Run(c, chromedp.Evaluate[*runtime.RemoteObject](
		`document.querySelector(`+jsString(sel)+`)`, chromedp.EvalObjectGroup(objectGroup)))
	if err != nil {
		return err
	}
	if el == nil || el.ObjectID == "" {
		return ErrNotFound // it went away since find saw it
	}
	focused, err := callOn[bool](c, el.ObjectID, prepareJS)
	if err != nil {
		return err
	}
	if focused && value != "" {
		if _, err := chromedp.Call(c, input.InsertText, input.InsertTextParams{Text: value}); err != nil {
			return errors.New("typing the value failed")
		}
	}
	arg, err := json.Marshal(value)
	if err != nil {
		return errors.New("encoding the value failed")
	}
	ok, err := callOn[bool](c, el.ObjectID, finishJS, &runtime.CallArgument{Value: arg})
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the element did not take the value (not an editable field, or the page changed it)")
	}
	return nil
}

// callOn calls the function decl with this set to the object id, and
// decodes its result.
func callOn[T any](c context.Context, id runtime.RemoteObjectID, decl string, args ...*runtime.CallArgument) (T, error) {
	var v T
	res, err := chromedp.Call(c, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
		FunctionDeclaration: decl, ObjectID: id, Arguments: args, ReturnByValue: new(true),
	})
	switch {
	case err != nil:
		return v, err
	case res.ExceptionDetails != nil:
		return v, fmt.Errorf("script error: %s", res.ExceptionDetails.Text)
	case res.Result == nil:
		return v, errors.New("script returned nothing")
	}
	if err := json.Unmarshal(res.Result.Value, &v); err != nil {
		return v, fmt.Errorf("script result: %w", err)
	}
	return v, nil
}
