package lognotify

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/parser"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/notify"
	"github.com/authwatch/authwatch/notify/notifytest"
)

func newLog(t *testing.T) (notify.Notifier, *notifytest.Log) {
	t.Helper()
	k, ok := notify.Lookup("log")
	if !ok || k.Doc == "" {
		t.Fatal("kind log is not registered")
	}
	c := k.NewConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d, log := notifytest.Deps(t, nil)
	n, err := c.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return n, log
}

func TestSettings(t *testing.T) {
	for src, wantErr := range map[string]bool{"{}": false, "level: warn": true, "url: x": true} {
		f, err := parser.ParseBytes([]byte(src), 0)
		if err != nil {
			t.Fatal(err)
		}
		err = conf.DecodeNode(f.Docs[0].Body, &Config{})
		if (err != nil) != wantErr {
			t.Errorf("settings %q: %v, want error %v", src, err, wantErr)
		}
	}
}

func TestLines(t *testing.T) {
	wantLevel := map[notify.EventType]string{
		notify.Opened: "WARN", notify.Updated: "WARN", notify.Reminder: "WARN",
		notify.Resolved: "INFO", notify.Test: "INFO",
	}
	for _, typ := range notifytest.EventTypes {
		t.Run(string(typ), func(t *testing.T) {
			n, log := newLog(t)
			ev := notifytest.Event(typ)
			if retry, err := n.Notify(context.Background(), ev); retry || err != nil {
				t.Fatalf("Notify = (%v, %v)", retry, err)
			}
			lines := strings.Split(strings.TrimSpace(log.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d lines: %s", len(lines), log)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"level": wantLevel[typ], "msg": ev.Title(), "notifier": "log", "event": string(typ),
				"id": ev.ID, "incident_key": ev.IncidentKey, "flow": ev.Flow, "step": ev.Step,
				"reason": ev.Reason, "layer": ev.Layer, "summary": ev.Summary, "severity": string(ev.Severity),
				"first_failure": "2026-03-14T09:09:53Z", "consecutive_failures": float64(ev.Failures),
				"host": ev.Host, "region": ev.Region, "status_url": ev.StatusURL,
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			labels, _ := got["labels"].(map[string]any)
			evidence, _ := got["evidence"].(map[string]any)
			ids, _ := got["request_ids"].(map[string]any)
			if labels["team"] != "identity" || evidence["aud"] != `["api://default"]` || ids["x-request-id"] != ev.RequestIDs["x-request-id"] {
				t.Errorf("groups: labels %v evidence %v request_ids %v", labels, evidence, ids)
			}
			if (ev.NextStep != "") != (got["next_step"] != nil) || (ev.PreviousReason != "") != (got["previous_reason"] != nil) {
				t.Errorf("next_step %v previous_reason %v for %s", got["next_step"], got["previous_reason"], typ)
			}
			notifytest.CheckNoSecret(t, log.Bytes())
		})
	}
}

func TestTestAndResolvedDistinct(t *testing.T) {
	n, log := newLog(t)
	for _, typ := range []notify.EventType{notify.Test, notify.Resolved} {
		if _, err := n.Notify(context.Background(), notifytest.Event(typ)); err != nil {
			t.Fatal(err)
		}
	}
	out := log.String()
	if !strings.Contains(out, `"msg":"TEST authwatch notification (no action needed)"`) ||
		!strings.Contains(out, `"msg":"RESOLVED okta-client-credentials"`) {
		t.Errorf("log:\n%s", out)
	}
}

// TestOneLine: a hostile event (newlines, markup, 10k summary) is still
// one line with the text handler too, and a done context does not stop it.
func TestOneLine(t *testing.T) {
	var buf bytes.Buffer
	c := &Config{}
	n, err := c.New(notify.Deps{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if retry, err := n.Notify(ctx, notifytest.Hostile(notify.Opened)); retry || err != nil {
		t.Fatalf("Notify = (%v, %v)", retry, err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1 {
		t.Errorf("%d lines", lines)
	}
	if !strings.Contains(buf.String(), "level=WARN") {
		t.Errorf("line %.200s", buf.String())
	}
}

func TestDefaultLogger(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	n, err := (&Config{}).New(notify.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), notifytest.Event(notify.Resolved)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"level":"INFO","msg":"RESOLVED okta-client-credentials"`) {
		t.Errorf("default logger got %q", buf.String())
	}
}
