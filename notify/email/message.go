package email

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/authwatch/authwatch/internal/version"
	"github.com/authwatch/authwatch/notify"
)

// message builds the mail: subject = prefix + Event.Title(), a text/plain
// body with every field and an HTML alternative. All mails of one incident
// share a thread (References the opening mail's Message-ID).
func (n *Notifier) message(ev notify.Event) (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(n.cfg.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := m.To(n.cfg.To...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	m.Subject(n.cfg.SubjectPrefix + subject(ev))
	m.SetDateWithValue(cmpTime(ev.Time, n.now()))
	m.SetUserAgent(version.UserAgent())
	headers(m, ev)
	c := contentOf(ev)
	m.SetBodyString(mail.TypeTextPlain, c.text())
	html, err := c.html()
	if err != nil {
		return nil, err
	}
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

func subject(ev notify.Event) string {
	s := ev.Title()
	if ev.Type == notify.Updated && ev.PreviousReason != "" {
		s += " (was " + ev.PreviousReason + ")"
	}
	return strings.Join(strings.Fields(s), " ") // one line
}

// headers thread the incident and let mail rules filter on flow and reason.
func headers(m *mail.Msg, ev notify.Event) {
	root := threadID(ev.IncidentKey)
	id := root
	if ev.Type != notify.Opened {
		id = strings.Replace(root, "incident-", "event-"+safeID(ev)+"-", 1)
	}
	m.SetMessageIDWithValue(id)
	if ev.Type != notify.Opened && ev.Type != notify.Test && ev.IncidentKey != "" {
		m.SetGenHeader(mail.HeaderInReplyTo, "<"+root+">")
		m.SetGenHeader(mail.HeaderReferences, "<"+root+">")
	}
	m.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	m.SetGenHeader("X-Authwatch-Event", string(ev.Type))
	set := func(h, v string) {
		if v != "" {
			m.SetGenHeader(mail.Header(h), oneLine(v))
		}
	}
	set("X-Authwatch-Flow", ev.Flow)
	set("X-Authwatch-Reason", ev.Reason)
	set("X-Authwatch-Severity", string(ev.Severity))
	set("X-Authwatch-Incident", ev.IncidentKey)
	if ev.Severity == notify.SeverityCritical && ev.Type != notify.Resolved {
		m.SetImportance(mail.ImportanceHigh)
	}
}

// threadID is the opening mail's Message-ID (without brackets).
func threadID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "incident-" + hex.EncodeToString(sum[:12]) + "@authwatch"
}

// safeID is the event id, kept usable inside a Message-ID (a hash of the
// event's type and time when it has none).
func safeID(ev notify.Event) string {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return -1
	}, ev.ID)
	sum := sha256.Sum256([]byte(string(ev.Type) + ev.Time.String()))
	return cmp.Or(id, hex.EncodeToString(sum[:8]))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cmpTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// content is the mail's body, shared by the text and HTML parts.
type content struct {
	Headline string
	Intro    string // what this mail is (for tests and resolutions)
	Summary  string
	NextStep string
	Fields   [][2]string // name, value
	Evidence [][2]string
	Requests [][2]string
	Labels   [][2]string
	Status   string
	Host     string
}

func contentOf(ev notify.Event) content {
	c := content{Headline: subject(ev), Summary: ev.Summary, NextStep: ev.NextStep, Status: ev.StatusURL, Host: ev.Host}
	switch ev.Type {
	case notify.Test:
		c.Intro = "This is a test sent by `authwatch notify test` to check that this route reaches people. No action needed."
	case notify.Resolved:
		c.Intro = "The flow passes again."
	case notify.Reminder:
		c.Intro = "Still failing."
	}
	add := func(k, v string) {
		if v != "" {
			c.Fields = append(c.Fields, [2]string{k, v})
		}
	}
	add("Flow", ev.Flow)
	add("Step", ev.Step)
	add("Reason", ev.Reason)
	add("Layer", ev.Layer)
	add("Previous reason", ev.PreviousReason)
	add("Severity", string(ev.Severity))
	if !ev.FirstFailure.IsZero() {
		add("Failing since", ev.FirstFailure.UTC().Format(time.RFC3339))
	}
	if ev.Failures > 0 {
		add("Consecutive failures", strconv.Itoa(ev.Failures))
	}
	add("Region", ev.Region)
	add("Incident", ev.IncidentKey)
	for _, f := range ev.Evidence {
		c.Evidence = append(c.Evidence, [2]string{f.Name, f.Value})
	}
	c.Requests = pairs(ev.RequestIDs)
	c.Labels = pairs(ev.Labels)
	return c
}

func pairs(m map[string]string) [][2]string {
	var out [][2]string
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

func (c content) text() string {
	var b strings.Builder
	b.WriteString(c.Headline + "\n\n")
	para := func(s string) {
		if s != "" {
			b.WriteString(s + "\n\n")
		}
	}
	para(c.Intro)
	para(c.Summary)
	if c.NextStep != "" {
		para("Next step: " + c.NextStep)
	}
	section := func(title string, kv [][2]string) {
		if len(kv) == 0 {
			return
		}
		if title != "" {
			b.WriteString(title + ":\n")
		}
		for _, p := range kv {
			fmt.Fprintf(&b, "  %s: %s\n", p[0], p[1])
		}
		b.WriteString("\n")
	}
	section("", c.Fields)
	section("Evidence", c.Evidence)
	section("Request ids", c.Requests)
	section("Labels", c.Labels)
	if c.Status != "" {
		para("Status: " + c.Status)
	}
	b.WriteString("-- \nauthwatch")
	if c.Host != "" {
		b.WriteString(" on " + c.Host)
	}
	b.WriteString("\n")
	return b.String()
}

var htmlBody = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>{{.Headline}}</h2>
{{if .Intro}}<p>{{.Intro}}</p>{{end}}
{{if .Summary}}<p>{{.Summary}}</p>{{end}}
{{if .NextStep}}<p><strong>Next step:</strong> {{.NextStep}}</p>{{end}}
{{define "table"}}<table>{{range .}}<tr><th align="left">{{index . 0}}</th><td><code>{{index . 1}}</code></td></tr>{{end}}</table>{{end}}
{{if .Fields}}{{template "table" .Fields}}{{end}}
{{if .Evidence}}<h3>Evidence</h3>{{template "table" .Evidence}}{{end}}
{{if .Requests}}<h3>Request ids</h3>{{template "table" .Requests}}{{end}}
{{if .Labels}}<h3>Labels</h3>{{template "table" .Labels}}{{end}}
{{if .Status}}<p><a href="{{.Status}}">Status of this flow</a></p>{{end}}
<p style="color: #777">authwatch{{if .Host}} on {{.Host}}{{end}}</p>
</body></html>
`))

func (c content) html() (string, error) {
	var b bytes.Buffer
	if err := htmlBody.Execute(&b, c); err != nil {
		return "", fmt.Errorf("rendering the HTML part: %w", err)
	}
	return b.String(), nil
}
