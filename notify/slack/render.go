package slack

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/authwatch/authwatch/notify"
)

// Block Kit limits (https://api.slack.com/reference/block-kit/blocks), in
// characters; counted here in UTF-16 code units, as Slack's JavaScript
// clients count, which is never fewer than the characters.
const (
	maxHeader   = 150  // header block: plain_text
	maxSection  = 3000 // section block: text
	maxField    = 2000 // section block: each of fields
	maxFields   = 10   // section block: fields
	maxContext  = 10   // context block: elements
	maxBlocks   = 50   // a message
	maxFallback = 3000 // the top-level text (Slack allows more; a notification shows little)
)

// message is an incoming webhook's payload.
type message struct {
	Text     string  `json:"text"` // notification and fallback text
	Blocks   []block `json:"blocks"`
	Channel  string  `json:"channel,omitempty"`
	Username string  `json:"username,omitempty"`
}

// block is a header, section or context block.
type block struct {
	Type     string  `json:"type"`
	Text     *text   `json:"text,omitempty"`
	Fields   []*text `json:"fields,omitempty"`
	Elements []*text `json:"elements,omitempty"`
}

// text is a text object: plain_text or mrkdwn.
type text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func mrkdwnText(s string) *text { return &text{Type: "mrkdwn", Text: s} }

// render builds the message of ev: complete enough to act on while failing,
// short when resolved, unmistakable as a test.
func render(ev notify.Event, c Config) message {
	m := message{Text: fallback(ev), Channel: c.Channel, Username: c.Username}
	switch ev.Type {
	case notify.Resolved:
		m.Blocks = resolvedBlocks(ev)
	case notify.Test:
		m.Blocks = testBlocks(ev)
	default:
		m.Blocks = failingBlocks(ev)
	}
	return m
}

func fallback(ev notify.Event) string {
	s := ev.Title()
	if ev.Summary != "" {
		s += " — " + ev.Summary
	}
	return mrkdwn(s, maxFallback)
}

func header(ev notify.Event) block {
	return block{Type: "header", Text: &text{Type: "plain_text", Text: plain(emoji(ev)+" "+ev.Title(), maxHeader), Emoji: true}}
}

func emoji(ev notify.Event) string {
	switch ev.Type {
	case notify.Resolved:
		return ":white_check_mark:"
	case notify.Test:
		return ":test_tube:"
	case notify.Updated:
		return ":arrows_counterclockwise:"
	case notify.Reminder:
		return ":alarm_clock:"
	}
	switch ev.Severity {
	case notify.SeverityWarning:
		return ":warning:"
	case notify.SeverityInfo:
		return ":information_source:"
	}
	return ":rotating_light:"
}

func failingBlocks(ev notify.Event) []block {
	blocks := []block{header(ev), {Type: "section", Text: mrkdwnText(reasonText(ev))}}
	if f := facts(ev); len(f) > 0 {
		blocks = append(blocks, block{Type: "section", Fields: f})
	}
	if ev.NextStep != "" {
		blocks = append(blocks, block{Type: "section", Text: mrkdwnText(labelled("Next step", ev.NextStep, maxSection))})
	}
	if c := contextBlock(ev, true); c != nil {
		blocks = append(blocks, *c)
	}
	return blocks
}

// reasonText: the reason code in bold (with the previous one on updates),
// then the summary.
func reasonText(ev notify.Event) string {
	head := ""
	if strings.TrimSpace(ev.Reason) != "" {
		head = "*" + mrkdwn(ev.Reason, 100) + "*"
		if strings.TrimSpace(ev.PreviousReason) != "" {
			head += " (was " + mrkdwn(ev.PreviousReason, 100) + ")"
		}
	}
	summary := ev.Summary
	if strings.TrimSpace(summary) == "" {
		summary = "(no summary)"
	}
	if head == "" {
		return mrkdwn(summary, maxSection)
	}
	return head + "\n" + mrkdwn(summary, maxSection-width(head)-1)
}

func labelled(name, value string, limit int) string {
	head := "*" + name + "*\n"
	return head + mrkdwn(value, limit-width(head))
}

// facts are the section's fields: where it fails and for how long.
func facts(ev notify.Event) []*text {
	var out []*text
	add := func(name, value string) {
		if value != "" && len(out) < maxFields {
			out = append(out, mrkdwnText(labelled(name, value, maxField)))
		}
	}
	add("Flow", ev.Flow)
	add("Step", ev.Step)
	add("Layer", ev.Layer)
	add("Severity", string(ev.Severity))
	if !ev.FirstFailure.IsZero() {
		out = append(out, mrkdwnText("*Failing since*\n"+slackDate(ev.FirstFailure)+" ("+since(ev.Time, ev.FirstFailure)+")"))
	}
	add("Streak", streak(ev.Failures))
	return out
}

// contextBlock: request ids, the status page, the monitor's host.
func contextBlock(ev notify.Event, withIDs bool) *block {
	var elems []*text
	if withIDs && len(ev.RequestIDs) > 0 {
		elems = append(elems, mrkdwnText(requestIDs(ev.RequestIDs)))
	}
	if link := statusLink(ev.StatusURL); link != "" {
		elems = append(elems, mrkdwnText(link))
	}
	if ev.Host != "" {
		where := "authwatch on " + ev.Host
		if ev.Region != "" {
			where += " (" + ev.Region + ")"
		}
		elems = append(elems, mrkdwnText(mrkdwn(where, 300)))
	}
	if len(elems) == 0 {
		return nil
	}
	return &block{Type: "context", Elements: elems[:min(len(elems), maxContext)]}
}

// requestIDs lists the target's request ids for a support ticket, in
// name order, within one context element.
func requestIDs(ids map[string]string) string {
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		v := strings.ReplaceAll(ids[n], "`", "'")
		parts = append(parts, n+" `"+strings.Join(strings.Fields(v), " ")+"`")
	}
	return mrkdwn("Request ids: "+strings.Join(parts, ", "), maxField)
}

// statusLink is a mrkdwn link to an http(s) status page, or "".
func statusLink(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	s := u.String()
	if width(s) > 1000 {
		return ""
	}
	// Inside <url|text>, |, < and > would end the link, whitespace breaks
	// it (url.Parse keeps a raw query as given); & is an entity.
	s = strings.NewReplacer("&", "&amp;", "<", "%3C", ">", "%3E", "|", "%7C",
		" ", "%20", "\t", "%09", "\n", "%0A", "\r", "%0D", "\v", "%0B", "\f", "%0C").Replace(s)
	return "<" + s + "|Status page>"
}

func resolvedBlocks(ev notify.Event) []block {
	body := ev.Summary
	if strings.TrimSpace(body) == "" {
		body = ev.Flow + " passes again."
	}
	s := mrkdwn(body, maxSection-200)
	if !ev.FirstFailure.IsZero() {
		s += "\nFailing since " + slackDate(ev.FirstFailure) + " (" + since(ev.Time, ev.FirstFailure) + ")"
	}
	blocks := []block{header(ev), {Type: "section", Text: mrkdwnText(s)}}
	if c := contextBlock(ev, false); c != nil {
		blocks = append(blocks, *c)
	}
	return blocks
}

func testBlocks(ev notify.Event) []block {
	s := "*This is a test notification: no action needed.*"
	if strings.TrimSpace(ev.Summary) != "" {
		s += "\n" + mrkdwn(ev.Summary, maxSection-width(s)-1)
	}
	blocks := []block{header(ev), {Type: "section", Text: mrkdwnText(s)}}
	if c := contextBlock(ev, false); c != nil {
		blocks = append(blocks, *c)
	}
	return blocks
}

// slackDate shows t in each reader's time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// since is how long before now t was, e.g. "17m", "3h 5m", "2d 4h".
func since(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

func streak(n int) string {
	switch {
	case n <= 0:
		return ""
	case n == 1:
		return "1 failure"
	}
	return fmt.Sprintf("%d consecutive failures", n)
}

// mrkdwn escapes s for a mrkdwn text (&, < and >: so that no text of an
// event can form a link or a mention) and fits it to limit.
func mrkdwn(s string, limit int) string { return fit(s, limit, true) }

// plain fits s to limit, on one line.
func plain(s string, limit int) string {
	return fit(strings.Join(strings.Fields(s), " "), limit, false)
}

// fit cuts s to at most limit UTF-16 units after escaping, never inside an
// entity, marking a cut with "…".
func fit(s string, limit int, escape bool) string {
	full := s
	if escape {
		full = escaper.Replace(s)
	}
	if width(full) <= limit {
		return full
	}
	if limit <= 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		piece := string(r)
		if escape {
			piece = escaper.Replace(piece)
		}
		if n+width(piece) > limit-1 {
			break
		}
		b.WriteString(piece)
		n += width(piece)
	}
	return b.String() + "…"
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// width is s's length in UTF-16 code units.
func width(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
