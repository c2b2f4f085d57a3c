package daemon

import (
	"strings"
	"testing"
	"time"
)

// TestE2EWarningsLoggedOncePerChange: a flow warning is logged when it
// first appears, not again on every reload while it stays the same (36
// lines after two reloads before); a new one is logged at the reload that
// brings it, and one that went away and came back is logged again.
func TestE2EWarningsLoggedOncePerChange(t *testing.T) {
	t.Parallel()
	d := e2eStart(t, map[string]string{
		"keep.yaml":  e2eHTTPFlow("keep", "1h", "http://127.0.0.1:1/", 200),
		"notes.yaml": "# a file without flows: a warning\n",
	}, e2eOptions{})
	count := func(file string) int {
		return strings.Count(d.log.String(), file+": this file defines no flows")
	}
	reload := func() {
		before := len(d.notify.Calls())
		d.reload <- struct{}{}
		e2eWaitFor(t, 10*time.Second, "the reload", func() bool { return len(d.notify.Calls()) >= before+2 })
	}
	reload()
	reload()
	if n := count("notes.yaml"); n != 1 {
		t.Errorf("an unchanged warning was logged %d times over a start and two reloads, want once", n)
	}
	e2eWrite(t, d.flowsDir, "more.yaml", "# another file without flows\n")
	reload()
	if n, m := count("notes.yaml"), count("more.yaml"); n != 1 || m != 1 {
		t.Errorf("after adding a file: the old warning logged %d times (want 1), the new one %d (want 1)", n, m)
	}
	e2eWrite(t, d.flowsDir, "notes.yaml", e2eHTTPFlow("notes", "1h", "http://127.0.0.1:1/", 200))
	reload()
	e2eWrite(t, d.flowsDir, "notes.yaml", "# without flows again\n")
	reload()
	if n := count("notes.yaml"); n != 2 {
		t.Errorf("a warning that went away and came back was logged %d times in all, want 2", n)
	}
}
