package teams

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// maxMessage is about what Teams accepts in one message.
const maxMessage = 28 << 10

// Adaptive Card properties by type (schema 1.5, the newest Teams renders),
// and the values of the enums this kind uses.
var (
	cardProps = []string{"type", "version", "body", "actions", "$schema", "fallbackText", "backgroundImage",
		"minHeight", "rtl", "speak", "lang", "verticalContentAlignment", "selectAction", "refresh", "authentication", "metadata", "msteams"}
	common       = []string{"type", "id", "isVisible", "separator", "spacing", "height", "requires", "fallback"}
	elementProps = map[string][]string{
		"TextBlock": append([]string{"text", "color", "fontType", "horizontalAlignment", "isSubtle", "maxLines", "size", "weight", "wrap", "style"}, common...),
		"FactSet":   append([]string{"facts"}, common...),
		"Container": append([]string{"items", "selectAction", "style", "verticalContentAlignment", "bleed", "backgroundImage", "minHeight", "rtl"}, common...),
		"ColumnSet": append([]string{"columns", "selectAction", "style", "bleed", "minHeight", "horizontalAlignment"}, common...),
		"Image":     append([]string{"url", "altText", "backgroundColor", "horizontalAlignment", "selectAction", "size", "style", "width"}, common...),
		"ActionSet": append([]string{"actions"}, common...),
	}
	actionProps = map[string][]string{
		"Action.OpenUrl":  {"type", "url", "title", "iconUrl", "id", "style", "fallback", "tooltip", "isEnabled", "mode", "requires"},
		"Action.ShowCard": {"type", "card", "title", "iconUrl", "id", "style", "fallback", "tooltip", "isEnabled", "mode", "requires"},
	}
	enums = map[string][]string{
		"size":    {"Default", "Small", "Medium", "Large", "ExtraLarge"},
		"weight":  {"Default", "Lighter", "Bolder"},
		"color":   {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"},
		"spacing": {"None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"},
	}
)

// checkWorkflowCard validates a Workflows webhook payload: the message
// envelope, the attachment, and an Adaptive Card whose elements, actions
// and property names are known to the schema, with text that forms no
// link and a size Teams accepts.
func checkWorkflowCard(body []byte) error {
	if len(body) > maxMessage {
		return fmt.Errorf("message of %d bytes, Teams accepts about %d", len(body), maxMessage)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := props(m, "message", []string{"type", "attachments"}); err != nil {
		return err
	}
	atts, _ := m["attachments"].([]any)
	if m["type"] != "message" || len(atts) != 1 {
		return fmt.Errorf("want type message with one attachment, got %v with %d", m["type"], len(atts))
	}
	att, _ := atts[0].(map[string]any)
	if err := props(att, "attachment", []string{"contentType", "contentUrl", "content"}); err != nil {
		return err
	}
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" || att["contentUrl"] != nil {
		return fmt.Errorf("attachment contentType %v contentUrl %v", att["contentType"], att["contentUrl"])
	}
	c, _ := att["content"].(map[string]any)
	return checkCard(c)
}

func checkCard(c map[string]any) error {
	if err := props(c, "card", cardProps); err != nil {
		return err
	}
	if c["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" || c["type"] != "AdaptiveCard" {
		return fmt.Errorf("card $schema %v type %v", c["$schema"], c["type"])
	}
	if v := c["version"]; v != "1.4" && v != "1.5" {
		return fmt.Errorf("card version %v: want 1.4 or 1.5 (Teams renders up to 1.5)", v)
	}
	body, _ := c["body"].([]any)
	if len(body) == 0 {
		return errors.New("card body is empty")
	}
	var errs []error
	for i, e := range body {
		if err := checkElement(e); err != nil {
			errs = append(errs, fmt.Errorf("body[%d]: %w", i, err))
		}
	}
	if c["actions"] != nil {
		acts, _ := c["actions"].([]any)
		for i, a := range acts {
			if err := checkAction(a); err != nil {
				errs = append(errs, fmt.Errorf("actions[%d]: %w", i, err))
			}
		}
	}
	return errors.Join(errs...)
}

func checkElement(v any) error {
	e, _ := v.(map[string]any)
	typ, _ := e["type"].(string)
	known, ok := elementProps[typ]
	if !ok {
		return fmt.Errorf("unknown element type %q", typ)
	}
	if err := props(e, typ, known); err != nil {
		return err
	}
	for k, values := range enums {
		if x, ok := e[k]; ok && !slices.Contains(values, x.(string)) {
			return fmt.Errorf("%s.%s = %v, not one of %v", typ, k, x, values)
		}
	}
	switch typ {
	case "TextBlock":
		s, _ := e["text"].(string)
		return checkText(s)
	case "FactSet":
		facts, _ := e["facts"].([]any)
		if len(facts) == 0 {
			return errors.New("FactSet without facts")
		}
		for _, f := range facts {
			fm, _ := f.(map[string]any)
			if err := props(fm, "fact", []string{"title", "value"}); err != nil {
				return err
			}
			t, _ := fm["title"].(string)
			val, _ := fm["value"].(string)
			if t == "" {
				return errors.New("fact without a title")
			}
			if err := checkText(val); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkText: not empty, and no Markdown link or mention an event formed.
func checkText(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return errors.New("empty text")
	case strings.Contains(s, "]("):
		return fmt.Errorf("text forms a Markdown link: %.80q", s)
	case strings.Contains(s, "<at>"):
		return fmt.Errorf("text forms a mention: %.80q", s)
	}
	return nil
}

func checkAction(v any) error {
	a, _ := v.(map[string]any)
	typ, _ := a["type"].(string)
	known, ok := actionProps[typ]
	if !ok {
		return fmt.Errorf("unknown action type %q", typ)
	}
	if err := props(a, typ, known); err != nil {
		return err
	}
	if typ == "Action.OpenUrl" {
		raw, _ := a["url"].(string)
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("Action.OpenUrl url %q is not an absolute http(s) URL", raw)
		}
		if t, _ := a["title"].(string); t == "" {
			return errors.New("Action.OpenUrl without a title")
		}
	}
	return nil
}

func props(m map[string]any, what string, known []string) error {
	if m == nil {
		return fmt.Errorf("%s: not an object", what)
	}
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s: unknown property %q", what, k)
		}
	}
	return nil
}
