package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// Muter says whether events with these labels are muted at now, and by
// what (a silence or a maintenance window, for logs and the status page).
// The labels are the event's labels plus the pseudo-labels of MatchLabels.
type Muter interface {
	Muted(labels map[string]string, now time.Time) (muted bool, by string)
}

// Pseudo-labels that MatchLabels adds to an event's labels, so silences and
// routes can match on them. They replace flow labels of the same name.
const (
	LabelFlow     = "flow"
	LabelStep     = "step"
	LabelReason   = "reason"
	LabelLayer    = "layer"
	LabelSeverity = "severity"
	LabelEvent    = "event"
)

// MatchLabels returns the labels silences and routes match against: the
// event's labels plus flow, step, reason, layer, severity and event (the
// event type).
func MatchLabels(ev notify.Event) map[string]string {
	m := make(map[string]string, len(ev.Labels)+6)
	maps.Copy(m, ev.Labels)
	m[LabelFlow], m[LabelStep], m[LabelReason], m[LabelLayer] = ev.Flow, ev.Step, ev.Reason, ev.Layer
	m[LabelSeverity], m[LabelEvent] = string(ev.Severity), string(ev.Type)
	return m
}

// SeverityOf maps a flow's severity label to an event severity: page or
// critical → critical, ticket or warning → warning, info → info. Anything
// else, or no label, is critical: a monitor of authentication that fails
// should page unless told otherwise.
func SeverityOf(labels map[string]string) notify.Severity {
	switch strings.ToLower(strings.TrimSpace(labels["severity"])) {
	case "ticket", "warning":
		return notify.SeverityWarning
	case "info":
		return notify.SeverityInfo
	}
	return notify.SeverityCritical
}

// emitter collects the events of one Step or Tick, minus the muted ones.
type emitter struct {
	now    time.Time
	mute   Muter
	events []notify.Event
}

// send emits ev unless it is muted; it reports whether ev went out and, if
// not, what muted it.
func (e *emitter) send(ev notify.Event) (sent bool, mutedBy string) {
	if e.mute != nil {
		if muted, by := e.mute.Muted(MatchLabels(ev), e.now); muted {
			return false, by
		}
	}
	e.events = append(e.events, ev)
	return true, ""
}

// sendAlways emits ev whatever the mutes say: a Resolved for an incident
// whose Opened was delivered must reach the receiver, or its page stays
// open for ever; a resolution wakes nobody.
func (e *emitter) sendAlways(ev notify.Event) { e.events = append(e.events, ev) }

// failureEvent is an event about st's failure incident.
func (e *emitter) failureEvent(st State, typ notify.EventType) notify.Event {
	ev := notify.Event{
		IncidentKey:  st.Key,
		Type:         typ,
		Severity:     SeverityOf(st.Labels),
		Time:         e.now,
		Flow:         st.Flow,
		Labels:       maps.Clone(st.Labels),
		Reason:       st.Reason,
		FirstFailure: st.FirstFailure,
		Failures:     st.ConsecutiveFailures,
		Region:       st.Labels["region"],
	}
	if d := st.Last; d != nil {
		ev.Step, ev.Layer, ev.Summary, ev.NextStep = d.Step, d.Layer, d.Summary, d.NextStep
		ev.Evidence, ev.RequestIDs = slices.Clone(d.Evidence), maps.Clone(d.RequestIDs)
	}
	ev.ID = eventID(ev.IncidentKey, typ, e.now)
	return ev
}

// warningEvent is an event about st's warning incident.
func (e *emitter) warningEvent(st State, w WarningState, typ notify.EventType) notify.Event {
	ev := notify.Event{
		IncidentKey: w.Key,
		Type:        typ,
		Severity:    notify.SeverityWarning,
		Time:        e.now,
		Flow:        st.Flow,
		Labels:      maps.Clone(st.Labels),
		Reason:      w.Reason,
		Region:      st.Labels["region"],
	}
	for _, f := range w.Findings {
		ev.Evidence = append(ev.Evidence, notify.Fact{Name: f.Reason, Value: f.Summary})
	}
	if len(w.Findings) > 0 {
		ev.Summary = w.Findings[0].Summary
	}
	ev.ID = eventID(ev.IncidentKey, typ, e.now)
	return ev
}

// eventID is unique per event and the same when a State and clock are
// replayed: a hash of the incident key, the type and the time.
func eventID(key string, typ notify.EventType, now time.Time) string {
	sum := sha256.Sum256([]byte(key + "\x00" + string(typ) + "\x00" + strconv.FormatInt(now.UnixNano(), 10)))
	return hex.EncodeToString(sum[:16])
}

// newKey makes the key of an incident opened at now: prefix/<unix seconds>,
// bumped past prev's number, so a re-open within the same second still gets
// a new key.
func newKey(prefix, prev string, now time.Time) string {
	n := now.Unix()
	if rest, ok := strings.CutPrefix(prev, prefix+"/"); ok {
		if p, err := strconv.ParseInt(rest, 10, 64); err == nil && p >= n {
			n = p + 1
		}
	}
	return prefix + "/" + strconv.FormatInt(n, 10)
}

func failureKeyPrefix(flow string) string { return "authwatch/" + flow }
func warningKeyPrefix(flow string) string { return "authwatch/" + flow + "/warning" }

func flapSummary(f FlapPolicy, st State) string {
	s := fmt.Sprintf("flapping: %d pass/fail changes in the last %d runs; resolve and re-open are held until %d runs in a row agree",
		changes(last(st.Recent, f.Runs)), f.Runs, f.Runs)
	if st.Last != nil && st.Last.Summary != "" {
		s += "; last failure: " + st.Last.Summary
	}
	return s
}

func resolvedSummary(st State) string {
	s := fmt.Sprintf("passing again (%d in a row)", st.ConsecutivePasses)
	if st.Reason != "" {
		s += "; it failed with " + st.Reason
	}
	return s
}
