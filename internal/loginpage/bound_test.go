package loginpage

import (
	"strings"
	"testing"
	"time"
)

// TestBoundedWork feeds pages built to make per-element work add up:
// costly labels shared by many fields, nested message and onclick elements,
// the parser's own slow path (<p><b> repeated). Each must stay well under
// a second normally; the limit is loose for -race.
func TestBoundedWork(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	big := strings.Repeat("<i>x</i>", 2000)
	tests := []struct{ name, body string }{
		{"label for", `<label for=x>` + big + `</label><form>` + strings.Repeat(`<input id=x name=n>`, 80000)},
		{"enclosing label", `<form><label>` + big + strings.Repeat(`<input name=n>`, 80000)},
		{"aria-labelledby", `<p id=a>` + big + `</p><form>` + strings.Repeat(`<input aria-labelledby="a a a a a a a a" name=n>`, 20000)},
		{"buttons", `<form>` + strings.Repeat(`<button>`+strings.Repeat("<i>y</i>", 100)+`</button>`, 1200)},
		{"nested onclick", strings.Repeat(`<div onclick="location.href='/x'">`+strings.Repeat("<i>y</i>", 50), 500)},
		{"nested messages", strings.Repeat(`<div class=error>`, 500) + strings.Repeat("<i></i>", 100000)},
		{"adoption agency", strings.Repeat("<p><b>", 170000)},
		{"options", `<form>` + strings.Repeat(`<select name=s>`+strings.Repeat("<option>", 1000)+`</select>`, 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p, err := Parse(mustURL(t, pageURL), []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			DefaultPatterns().Judge(p)
			if _, err := p.FormBySelector("input"); err != nil {
				t.Fatal(err)
			}
			// A hang guard, not a speed test: 0.7 s plain on a quiet machine,
			// 27 s under -race on a loaded one; a superlinear parse of this
			// 1 MiB page would take hours.
			d := time.Since(start)
			t.Logf("took %v", d)
			if d > 5*time.Minute {
				t.Errorf("took %v", d)
			}
		})
	}
}
