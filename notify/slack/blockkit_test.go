package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
)

// checkBlockKit validates an incoming-webhook payload as Slack does, for
// what this kind sends: Block Kit's documented limits
// (https://api.slack.com/reference/block-kit/blocks) and keys, and mrkdwn
// text in which every "<" opens a token authwatch wrote (a link or a
// date), never one an event's text formed (a mention, a fake link).
func checkBlockKit(body []byte) error {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var errs []error
	if err := keys(m, "message", "text", "blocks", "channel", "username"); err != nil {
		errs = append(errs, err)
	}
	if s, ok := m["text"].(string); !ok || strings.TrimSpace(s) == "" || units(s) > maxFallback {
		errs = append(errs, fmt.Errorf("text: must be 1..%d characters", maxFallback))
	}
	blocks, ok := m["blocks"].([]any)
	if !ok || len(blocks) == 0 || len(blocks) > maxBlocks {
		return errors.Join(append(errs, fmt.Errorf("blocks: must be 1..%d blocks", maxBlocks))...)
	}
	for i, b := range blocks {
		if err := checkBlock(b); err != nil {
			errs = append(errs, fmt.Errorf("blocks[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func checkBlock(v any) error {
	b, ok := v.(map[string]any)
	if !ok {
		return errors.New("not an object")
	}
	switch b["type"] {
	case "header":
		if err := keys(b, "header", "type", "text", "block_id"); err != nil {
			return err
		}
		return checkText(b["text"], maxHeader, "plain_text")
	case "section":
		if err := keys(b, "section", "type", "text", "fields", "block_id"); err != nil {
			return err
		}
		if b["text"] == nil && b["fields"] == nil {
			return errors.New("section: needs text or fields")
		}
		if b["text"] != nil {
			if err := checkText(b["text"], maxSection, "plain_text", "mrkdwn"); err != nil {
				return err
			}
		}
		return checkList(b["fields"], b["text"] != nil, maxFields, maxField)
	case "context":
		if err := keys(b, "context", "type", "elements", "block_id"); err != nil {
			return err
		}
		return checkList(b["elements"], false, maxContext, maxSection)
	case "divider":
		return keys(b, "divider", "type", "block_id")
	}
	return fmt.Errorf("unknown block type %v", b["type"])
}

func checkList(v any, optional bool, maxItems, maxLen int) error {
	if v == nil && optional {
		return nil
	}
	items, ok := v.([]any)
	if !ok || len(items) == 0 || len(items) > maxItems {
		return fmt.Errorf("must have 1..%d items", maxItems)
	}
	for i, it := range items {
		if err := checkText(it, maxLen, "plain_text", "mrkdwn"); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	return nil
}

// slackToken is what may follow a "<" in mrkdwn authwatch writes.
var slackToken = regexp.MustCompile(`^<(https?://[^|<>\s]+\|[^<>]+|!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]+)>`)

func checkText(v any, maxLen int, types ...string) error {
	t, ok := v.(map[string]any)
	if !ok {
		return errors.New("text object: not an object")
	}
	if err := keys(t, "text object", "type", "text", "emoji", "verbatim"); err != nil {
		return err
	}
	typ, _ := t["type"].(string)
	if !slices.Contains(types, typ) {
		return fmt.Errorf("text object: type %q, want one of %v", typ, types)
	}
	if _, ok := t["emoji"]; ok && typ != "plain_text" {
		return errors.New("text object: emoji is for plain_text only")
	}
	s, _ := t["text"].(string)
	if strings.TrimSpace(s) == "" || units(s) > maxLen {
		return fmt.Errorf("text object: %d characters, must be 1..%d", units(s), maxLen)
	}
	if typ == "mrkdwn" {
		for i := strings.IndexByte(s, '<'); i >= 0; i = next(s, i) {
			if !slackToken.MatchString(s[i:]) {
				return fmt.Errorf("mrkdwn: unescaped %q", s[i:min(i+40, len(s))])
			}
		}
	}
	return nil
}

func next(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '<')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func keys(m map[string]any, what string, allowed ...string) error {
	for k := range m {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("%s: unknown key %q", what, k)
		}
	}
	return nil
}

func units(s string) int { return len(utf16.Encode([]rune(s))) }
