package statuspage

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"strings"
	"time"
)

// tagBucket is how long an answer whose inputs did not change stays
// current: its figures over sliding windows (pass rates, "3 min ago")
// drift with the clock alone.
const tagBucket = time.Minute

// pageTag is the ETag of a page of flows: a hash of everything the answer
// is made of, computed before any run is read, so that a client whose
// copy is current costs the flows' states (from Options.States, else one
// FlowStates query) and one IncidentStates read.
// extra are the inputs only the caller knows (e.g. the label options).
func (s *server) pageTag(r *http.Request, now time.Time, p flowsPage, extra ...string) string {
	h := sha256.New()
	store, _ := json.Marshal(s.storeState())
	fmt.Fprintf(h, "%x|%s|%s|%d|%s|%d|%d|%q|%q\n", s.tagSalt, r.URL.Path, r.URL.RawQuery, now.Truncate(tagBucket).Unix(),
		store, p.total, openIncidents(p.incs.decoded), cursor(p.prev), cursor(p.next))
	for _, k := range []string{StateFailing, StateWarning, StateUnknown, StatePaused, StatePassing} {
		fmt.Fprintf(h, "%d,", p.counts[k])
	}
	for _, l := range p.page {
		writeRowInputs(h, l, p.incs.raw[l.ref.info.Name])
	}
	for _, e := range extra {
		fmt.Fprintf(h, "%q\n", e)
	}
	return `W/"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`
}

// writeRowInputs writes what a row is made of: the flow's configuration,
// its state (its run counter changes with every recorded run, so do the
// figures read from its history) and its incident state as stored.
func writeRowInputs(h hash.Hash, l *listed, inc []byte) {
	fi := l.ref.info
	fmt.Fprintf(h, "%q|%q|%v|%d|%v|%+v|", fi.Name, fi.Schedule, fi.Paused, fi.Every, l.ref.hasState, l.ref.state)
	for _, kv := range sortedLabels(fi.Labels) {
		fmt.Fprintf(h, "%q=%q,", kv.K, kv.V)
	}
	fmt.Fprintf(h, "|%d|", len(inc))
	h.Write(inc)
	h.Write([]byte{'\n'})
}

// notModified sets the validator headers and, when the request's
// If-None-Match holds tag, answers 304 and returns true.
func notModified(w http.ResponseWriter, r *http.Request, tag string) bool {
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "private, no-cache")
	if !matchesTag(r.Header.Get("If-None-Match"), tag) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// matchesTag is If-None-Match's weak comparison (RFC 9110, 13.1.2).
func matchesTag(header, tag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	opaque := strings.TrimPrefix(tag, "W/")
	return slices.ContainsFunc(strings.Split(header, ","), func(c string) bool {
		return strings.TrimPrefix(strings.TrimSpace(c), "W/") == opaque
	})
}
