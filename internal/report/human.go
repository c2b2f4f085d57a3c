package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// Style says whether to colour the output (only on a terminal).
type Style struct{ Color bool }

func (s Style) paint(code, text string) string {
	if !s.Color {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s Style) status(st flows.StepStatus) string {
	switch st {
	case flows.StepPassed:
		return s.paint("32", "pass")
	case flows.StepWarned:
		return s.paint("33", "WARN")
	case flows.StepFailed:
		return s.paint("31;1", "FAIL")
	}
	return s.paint("2", "skip")
}

// Human writes a compact table of every step of every result, then, under
// it, the reason, summary and next step of each failure and warning.
func Human(w io.Writer, results []*flows.Result, style Style) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW\tSTEP\tKIND\tRESULT\tHTTP\tTIME\tREASON")
	for _, r := range results {
		for i, s := range r.Steps {
			name := ""
			if i == 0 {
				name = r.Flow
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", Printable(name), Printable(s.ID), Printable(s.Kind), style.status(s.Status),
				httpStatus(s.HTTPStatus), duration(s), Printable(stepReason(s)))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range results {
		details(w, r, style)
	}
	passed := 0
	for _, r := range results {
		if r.OK {
			passed++
		}
	}
	_, err := fmt.Fprintf(w, "\n%d of %d flows passed\n", passed, len(results))
	return err
}

func details(w io.Writer, r *flows.Result, style Style) {
	for _, s := range r.Steps {
		where := Printable(r.Flow + "/" + s.ID)
		if f := s.Failure; f != nil {
			fmt.Fprintf(w, "\n%s %s: %s (%s)\n", style.paint("31;1", "✗"), where, style.paint("1", Printable(string(f.Reason))), f.Reason.Layer())
			fmt.Fprintf(w, "  %s\n", Printable(f.Summary))
			fmt.Fprintf(w, "  next: %s\n", Printable(f.NextStep()))
			if ids := requestIDs(f.Evidence); ids != "" {
				fmt.Fprintf(w, "  request ids: %s\n", Printable(ids))
			}
		}
		for _, fd := range s.Findings {
			fmt.Fprintf(w, "%s %s: %s: %s\n", style.paint("33", "!"), where, Printable(string(fd.Reason)), Printable(fd.Summary))
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "%s %s: %s\n", style.paint("33", "note"), where, Printable(n))
		}
	}
}

func stepReason(s flows.StepResult) string {
	if s.Failure != nil {
		return string(s.Failure.Reason)
	}
	var codes []string
	for _, f := range s.Findings {
		codes = append(codes, string(f.Reason))
	}
	return strings.Join(codes, ",")
}

func httpStatus(code int) string {
	if code == 0 {
		return "-"
	}
	return fmt.Sprint(code)
}

func duration(s flows.StepResult) string {
	if s.Status == flows.StepSkipped {
		return "-"
	}
	if s.Duration < time.Millisecond {
		return s.Duration.Round(10 * time.Microsecond).String()
	}
	return s.Duration.Round(time.Millisecond).String()
}

func requestIDs(ev flows.Evidence) string {
	var parts []string
	for _, ex := range ev.Exchanges {
		for k, v := range ex.RequestIDs {
			parts = append(parts, k+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
