package teams

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authwatch/authwatch/notify"
)

// Adaptive Card constants.
const (
	cardSchema  = "http://adaptivecards.io/schemas/adaptive-card.json"
	cardVersion = "1.4" // every Teams client renders 1.4
	contentType = "application/vnd.microsoft.card.adaptive"
)

// Length limits, in runes: Teams refuses a message over about 28 KB, and a
// chat card is for a person to start from (the webhook kind has it all).
const (
	maxTitle   = 200
	maxSummary = 2000
	maxNext    = 1000
	maxFact    = 300
	maxIDs     = 5
)

// message is the Workflows webhook payload: a message with one Adaptive
// Card attachment.
type message struct {
	Type        string       `json:"type"` // "message"
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"` // null
	Content     card    `json:"content"`
}

type card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"` // "AdaptiveCard"
	Version string    `json:"version"`
	Body    []element `json:"body"`
	Actions []action  `json:"actions,omitempty"`
	MSTeams msteams   `json:"msteams"`
}

// msteams: Teams-specific card options.
type msteams struct {
	Width string `json:"width"` // "Full": use the channel's width
}

// element is a TextBlock or a FactSet.
type element struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Size     string `json:"size,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	Facts    []fact `json:"facts,omitempty"`
}

type fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

type action struct {
	Type  string `json:"type"` // "Action.OpenUrl"
	Title string `json:"title"`
	URL   string `json:"url"`
}

// render builds the card of ev: enough to act on while failing, short when
// resolved, unmistakable as a test.
func render(ev notify.Event) message {
	c := card{Schema: cardSchema, Type: "AdaptiveCard", Version: cardVersion, MSTeams: msteams{Width: "Full"}}
	switch ev.Type {
	case notify.Resolved:
		c.Body = resolvedBody(ev)
	case notify.Test:
		c.Body = testBody(ev)
	default:
		c.Body = failingBody(ev)
	}
	if u := statusURL(ev.StatusURL); u != "" && ev.Type != notify.Test {
		c.Actions = []action{{Type: "Action.OpenUrl", Title: "Open status page", URL: u}}
	}
	return message{Type: "message", Attachments: []attachment{{ContentType: contentType, Content: c}}}
}

func title(ev notify.Event) element {
	return element{Type: "TextBlock", Text: clean(ev.Title(), maxTitle), Wrap: true, Weight: "Bolder", Size: "Medium", Color: color(ev)}
}

func color(ev notify.Event) string {
	switch {
	case ev.Type == notify.Resolved:
		return "Good"
	case ev.Type == notify.Test:
		return "Accent"
	case ev.Severity == notify.SeverityCritical:
		return "Attention"
	}
	return "Warning"
}

func text(s string) element { return element{Type: "TextBlock", Text: s, Wrap: true} }

func small(s string) element {
	return element{Type: "TextBlock", Text: s, Wrap: true, Size: "Small", IsSubtle: true, Spacing: "Small"}
}

func failingBody(ev notify.Event) []element {
	body := []element{title(ev)}
	if reason := clean(ev.Reason, 100); reason != "" {
		r := "**" + reason + "**"
		if prev := clean(ev.PreviousReason, 100); prev != "" {
			r += " (was " + prev + ")"
		}
		body = append(body, text(r))
	}
	if s := clean(ev.Summary, maxSummary); s != "" {
		body = append(body, text(s))
	}
	if f := facts(ev); len(f) > 0 {
		body = append(body, element{Type: "FactSet", Facts: f})
	}
	if s := clean(ev.NextStep, maxNext); s != "" {
		body = append(body, text("**Next step:** "+s))
	}
	if ids := requestIDs(ev.RequestIDs); ids != "" {
		body = append(body, small(ids))
	}
	return appendHost(body, ev)
}

func facts(ev notify.Event) []fact {
	var out []fact
	add := func(name, value string) {
		if v := clean(value, maxFact); v != "" {
			out = append(out, fact{Title: name, Value: v})
		}
	}
	add("Flow", ev.Flow)
	add("Step", ev.Step)
	add("Layer", ev.Layer)
	add("Severity", string(ev.Severity))
	if !ev.FirstFailure.IsZero() {
		add("Failing since", when(ev.Time, ev.FirstFailure))
	}
	switch {
	case ev.Failures == 1:
		add("Streak", "1 failure")
	case ev.Failures > 1:
		add("Streak", fmt.Sprintf("%d consecutive failures", ev.Failures))
	}
	return out
}

func resolvedBody(ev notify.Event) []element {
	s := clean(ev.Summary, maxSummary)
	if s == "" {
		s = clean(ev.Flow+" passes again.", maxSummary)
	}
	body := []element{title(ev), text(s)}
	if !ev.FirstFailure.IsZero() {
		body = append(body, small("Failing since "+when(ev.Time, ev.FirstFailure)))
	}
	return appendHost(body, ev)
}

func testBody(ev notify.Event) []element {
	body := []element{title(ev), text("**This is a test notification: no action needed.**")}
	if s := clean(ev.Summary, maxSummary); s != "" {
		body = append(body, text(s))
	}
	return appendHost(body, ev)
}

func appendHost(body []element, ev notify.Event) []element {
	if ev.Host == "" {
		return body
	}
	where := "authwatch on " + ev.Host
	if ev.Region != "" {
		where += " (" + ev.Region + ")"
	}
	return append(body, small(clean(where, maxFact)))
}

// requestIDs lists up to maxIDs of the target's request ids, by name.
func requestIDs(ids map[string]string) string {
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names[:min(len(names), maxIDs)] {
		if v := clean(ids[n], 100); v != "" {
			parts = append(parts, clean(n, 60)+": "+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	s := "Request ids: " + strings.Join(parts, ", ")
	if len(names) > maxIDs {
		s += fmt.Sprintf(" (and %d more)", len(names)-maxIDs)
	}
	return s
}

// when is t in UTC with how long before now it was.
func when(now, t time.Time) string {
	d := now.Sub(t)
	var ago string
	switch {
	case d < time.Minute:
		ago = "under a minute"
	case d < time.Hour:
		ago = fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		ago = fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		ago = fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") + " (" + ago + ")"
}

// statusURL returns raw if it is an absolute http(s) URL, else "".
func statusURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(raw) > 2000 {
		return ""
	}
	return u.String()
}

// linkBreaker keeps an event's text from forming a Markdown link (a
// zero-width space between "]" and "(") or a Teams mention tag.
var linkBreaker = strings.NewReplacer("](", "]\u200b(", "<at>", "<\u200bat>")

// clean makes an event's text safe for a card: no link or mention it could
// form, one paragraph, at most limit runes (a cut marked "…").
func clean(s string, limit int) string {
	s = linkBreaker.Replace(strings.Join(strings.Fields(s), " "))
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit-1]) + "…"
	}
	return s
}
