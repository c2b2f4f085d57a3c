package report

import (
	"fmt"
	"io"
	"sort"

	"github.com/authwatch/authwatch/internal/diagnose"
)

// Diagnosis prints the checklist of `authwatch diagnose`, one line per
// check, then the decoded token and the conclusion.
func Diagnosis(w io.Writer, r *diagnose.Report, style Style) {
	fmt.Fprintf(w, "diagnose %s\n\n", Printable(r.URL))
	for _, c := range r.Checks {
		reason := ""
		if c.Reason != "" {
			reason = " [" + string(c.Reason) + "]"
		}
		fmt.Fprintf(w, "  %s %-18s %s%s\n", checkMark(style, c.Status), Printable(c.Name), Printable(c.Detail), Printable(reason))
	}
	if t := r.Token; t != nil {
		fmt.Fprintf(w, "\ntoken %s (%s; signature not shown)\n", Printable(t.Fingerprint), Printable(t.Kind))
		keys := make([]string, 0, len(t.Claims))
		for k := range t.Claims {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-10s %s\n", Printable(k), Printable(claimValue(k, t.Claims[k])))
		}
	}
	if r.OK() {
		fmt.Fprintf(w, "\n%s no failure found\n", style.paint("32", "✓"))
		return
	}
	fmt.Fprintf(w, "\n%s %s (%s)\n  %s\n  next: %s\n", style.paint("31;1", "✗"), style.paint("1", Printable(string(r.Reason))), r.Layer,
		Printable(r.Summary), Printable(r.NextStep))
}

func checkMark(style Style, s diagnose.Status) string {
	switch s {
	case diagnose.Pass:
		return style.paint("32", "pass")
	case diagnose.Warn:
		return style.paint("33", "warn")
	case diagnose.Fail:
		return style.paint("31;1", "FAIL")
	}
	return style.paint("2", "skip")
}
