package oautherr

import (
	"net/url"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that every string it returns is
// bounded, valid UTF-8 and free of control characters, that only
// allow-listed names reach Extra, and that parsing is deterministic.
func FuzzParse(f *testing.F) {
	seeds := []struct{ ct, body string }{
		{"application/json", `{"error":"invalid_grant","error_description":"x","error_uri":"u"}`},
		{"text/html", `{"error":"invalid_client","error_codes":[7000215,1],"trace_id":"t","correlation_id":"c"}`},
		{"application/x-www-form-urlencoded", "error=bad_verification_code&error_description=a+b"},
		{"", `{"error":{"code":401,"message":"m","status":"UNAUTHENTICATED"}}`},
		{"application/json", `{"error":{"code":"InvalidAuthenticationToken","innerError":{"request-id":"r"}}}`},
		{"application/json", `{"errorCode":"E0000011","errorSummary":"s","errorId":"i"}`},
		{"application/json", `{"message":"m"}`},
		{"text/plain", "error=%zz&error=x"},
		{"application/problem+json", `[1,2]`},
		{"text/html", "<html>error=x</html>"},
		{"application/json", "{\"error\":\"\\u202e\\u0000x\"}"},
	}
	for _, s := range seeds {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		e, ok := Parse(ct, body)
		if !ok {
			if !isZero(e) {
				t.Fatalf("not ok but returned %#v", e)
			}
			return
		}
		checkError(t, e)
		if again, ok2 := Parse(ct, body); !ok2 || again.Error() != e.Error() {
			t.Fatalf("second parse differs: %#v", again)
		}
		q := url.Values{"error": {e.Code}, "error_description": {e.Description}}
		if back, ok := ParseQuery(q); !ok || back.Code != e.Code || back.Description != e.Description {
			t.Fatalf("cleaned output is not stable through ParseQuery: %#v", back)
		}
	})
}

func isZero(e Error) bool {
	return e.Code == "" && e.Description == "" && e.URI == "" && e.Extra == nil
}

func checkError(t *testing.T, e Error) {
	t.Helper()
	if e.Code == "" {
		t.Fatal("ok with an empty code")
	}
	checkString(t, "code", e.Code, MaxCode)
	checkString(t, "description", e.Description, MaxDescription)
	checkString(t, "uri", e.URI, MaxDescription)
	allowed := map[string]bool{"status": true, "code": true}
	for _, k := range extraKeys {
		allowed[k] = true
	}
	for k, v := range e.Extra {
		if !allowed[k] {
			t.Fatalf("Extra holds %q, which is not allow-listed", k)
		}
		checkString(t, k, v, MaxExtra)
	}
}

func checkString(t *testing.T, field, s string, max int) {
	t.Helper()
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		t.Fatalf("%s %q: invalid UTF-8 or longer than %d", field, s, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			t.Fatalf("%s %q holds control character %U", field, s, r)
		}
	}
}
