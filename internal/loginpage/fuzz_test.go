package loginpage

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary bytes and calls every method on the
// result: none may panic, and one page must stay fast.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.html"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "#username")
	}
	f.Add([]byte(`<base href="//x"><form id=a form=a><input form=a name=a><select multiple><option selected>`), "form, input")
	f.Add([]byte(`<meta http-equiv=refresh content="0;url='`), "[")
	u := mustURL(f, pageURL)
	pats := DefaultPatterns()
	anyRE := regexp.MustCompile(`.`)
	f.Fuzz(func(t *testing.T, body []byte, css string) {
		start := time.Now()
		for _, base := range []bool{true, false} {
			pu := u
			if !base {
				pu = nil
			}
			p, err := Parse(pu, body)
			if err != nil {
				continue
			}
			_, _ = p.FormBySelector(css)
			_ = p.PasswordForm()
			_ = p.FormWithField(func(*Field) bool { return false })
			_ = p.DescribeForms()
			_, _ = pats.Judge(p)
			for _, fm := range p.Forms {
				_ = fm.UsernameField()
				_ = fm.PasswordField()
				_ = fm.OTPField()
				_ = fm.Field("password")
				_ = fm.Values(fm.SubmitButton(nil))
				_ = fm.Values(fm.SubmitButton(anyRE))
				_ = fm.Describe()
			}
			if len(p.Text) > maxText || len(p.Messages) > maxMessages || len(p.Forms) > maxForms || len(p.Actions) > maxActions {
				t.Fatalf("caps exceeded: %d text, %d messages, %d forms, %d actions", len(p.Text), len(p.Messages), len(p.Forms), len(p.Actions))
			}
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}
