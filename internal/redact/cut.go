package redact

import "strings"

// StringCut is String for a text that was cut short before it was
// redacted, at each occurrence of mark (e.g. "…" after a quoted error
// description): a cut may have kept only the start of a secret, which
// String does not recognise. The end of the text before each mark is
// replaced by a secret's marker when it is that secret's start (at least
// minSecretLen bytes of it).
func (s *Secrets) StringCut(text, mark string) string {
	text = s.String(text)
	if s == nil || mark == "" || !strings.Contains(text, mark) {
		return text
	}
	s.rlock()
	markers := map[string]string{} // every form of every secret → its secret's marker
	for _, e := range s.made {
		for _, form := range e.forms {
			if _, dup := markers[form]; !dup && len(form) >= minSecretLen {
				markers[form] = e.marker
			}
		}
	}
	s.mu.RUnlock()
	var b strings.Builder
	for {
		i := strings.Index(text, mark)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(withoutSecretStart(text[:i], markers))
		b.WriteString(mark)
		text = text[i+len(mark):]
	}
}

// withoutSecretStart replaces the longest end of text that is the start of
// a form of a secret by that secret's marker.
func withoutSecretStart(text string, markers map[string]string) string {
	best, cut := "", len(text)
	for form := range markers {
		if at := secretStartAt(text, form); at < cut || (at == cut && at < len(text) && form < best) {
			best, cut = form, at
		}
	}
	if best == "" {
		return text
	}
	return text[:cut] + markers[best]
}

// secretStartAt is where the longest end of text that is a proper start of
// v (at least minSecretLen bytes) begins, or len(text).
func secretStartAt(text, v string) int {
	head := v[:min(len(v), minSecretLen)]
	for j := max(0, len(text)-len(v)+1); j <= len(text)-minSecretLen; {
		k := strings.Index(text[j:], head)
		if k < 0 {
			break
		}
		j += k
		if strings.HasPrefix(v, text[j:]) {
			return j
		}
		j++
	}
	return len(text)
}
