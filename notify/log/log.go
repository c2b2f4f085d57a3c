package lognotify

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// Notifier writes events to a logger.
type Notifier struct {
	log *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// Notify writes ev as one line and never fails: it returns (false, nil)
// even when ctx is done, since writing a log line takes no time worth
// cancelling.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) (bool, error) {
	n.log.LogAttrs(context.WithoutCancel(ctx), level(ev.Type), ev.Title(), attrs(ev)...)
	return false, nil
}

// level is the level of an event's line: WARN while a flow fails (opened,
// updated, reminder), INFO otherwise (resolved, test).
func level(t notify.EventType) slog.Level {
	switch t {
	case notify.Opened, notify.Updated, notify.Reminder:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// attrs are an event's fields as log attributes, empty ones left out.
func attrs(ev notify.Event) []slog.Attr {
	attrs := []slog.Attr{slog.String("event", string(ev.Type))}
	for _, kv := range [][2]string{
		{"id", ev.ID}, {"incident_key", ev.IncidentKey}, {"severity", string(ev.Severity)},
		{"flow", ev.Flow}, {"step", ev.Step}, {"reason", ev.Reason}, {"layer", ev.Layer},
		{"summary", ev.Summary}, {"next_step", ev.NextStep}, {"previous_reason", ev.PreviousReason},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if !ev.FirstFailure.IsZero() {
		attrs = append(attrs, slog.String("first_failure", ev.FirstFailure.UTC().Format(time.RFC3339)))
	}
	if ev.Failures > 0 {
		attrs = append(attrs, slog.Int("consecutive_failures", ev.Failures))
	}
	for _, kv := range [][2]string{{"host", ev.Host}, {"region", ev.Region}, {"status_url", ev.StatusURL}} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	attrs = appendGroup(attrs, "labels", ev.Labels)
	if len(ev.Evidence) > 0 {
		facts := make([]any, 0, len(ev.Evidence))
		for _, f := range ev.Evidence {
			facts = append(facts, slog.String(f.Name, f.Value))
		}
		attrs = append(attrs, slog.Group("evidence", facts...))
	}
	return appendGroup(attrs, "request_ids", ev.RequestIDs)
}

func appendGroup(attrs []slog.Attr, name string, m map[string]string) []slog.Attr {
	if len(m) == 0 {
		return attrs
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	group := make([]any, len(keys))
	for i, k := range keys {
		group[i] = slog.String(k, m[k])
	}
	return append(attrs, slog.Group(name, group...))
}
