package browser

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// The login walker finds forms in a snapshot of the page (document order,
// as document.forms lists them); SubmitForm acts on the same form in the
// live page by marking it, so that fields and buttons are addressed by
// plain CSS selectors and filled through Fill (typed, with input events).

const (
	formMark   = "data-authwatch-form"
	submitMark = "data-authwatch-submit"
)

// markJS marks document.forms[index] and its button-th submit button (in
// the order an HTML parser lists them: button elements of type submit,
// input type=submit|image); it tells how many forms and buttons it saw.
const markJS = `(() => {
	document.querySelectorAll('[` + formMark + `],[` + submitMark + `]').forEach(e => { e.removeAttribute('` + formMark + `'); e.removeAttribute('` + submitMark + `'); });
	const f = document.forms[%d];
	if (!f) return -1;
	f.setAttribute('` + formMark + `', '1');
	const buttons = Array.from(f.elements).filter(e =>
		(e instanceof HTMLButtonElement && (e.getAttribute('type') || 'submit').toLowerCase() === 'submit') ||
		(e instanceof HTMLInputElement && (e.type === 'submit' || e.type === 'image')));
	const b = buttons[%d];
	if (b) b.setAttribute('` + submitMark + `', '1');
	return buttons.length;
})()`

// requestSubmitJS submits the marked form as its default button would.
const requestSubmitJS = `(() => {
	const f = document.querySelector('form[` + formMark + `]');
	if (!f) return false;
	if (f.requestSubmit) f.requestSubmit(); else f.submit();
	return true;
})()`

// SubmitForm fills the named fields of the page's index-th form and
// submits it with its button-th submit button (-1: as pressing Enter
// would). It does not wait for what the submission causes: see Settle.
// Values may be secrets: they appear in no error.
func (s *Session) SubmitForm(ctx context.Context, index int, fields map[string]string, button int) error {
	n, err := evalBounded[int](ctx, s, fmt.Sprintf(markJS, index, max(button, 0)))
	if err != nil {
		return fmt.Errorf("finding form %d: %w", index, err)
	}
	if n < 0 {
		return fmt.Errorf("form %d: %w (the page changed since it was read)", index, ErrNotFound)
	}
	form := `form[` + formMark + `]`
	for name, v := range fields {
		if err := s.Fill(ctx, form+` [name=`+cssString(name)+`]`, v); err != nil {
			return err
		}
	}
	defer s.net.touch()
	if button >= 0 && button < n {
		return s.Click(ctx, form+` [`+submitMark+`]`)
	}
	ok, err := evalBounded[bool](ctx, s, requestSubmitJS)
	if err != nil {
		return fmt.Errorf("submitting form %d: %w", index, err)
	}
	if !ok {
		return fmt.Errorf("submitting form %d: %w", index, ErrNotFound)
	}
	return nil
}

// cssString quotes s as a CSS string (CSS Syntax §4.3.5).
func cssString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\` + strconv.FormatInt(int64(r), 16) + ` `)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
