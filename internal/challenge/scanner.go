package challenge

import "strings"

// scanner walks one header value byte by byte. Every method checks bounds
// itself, so no input can make it index past the end.
type scanner struct {
	s   string
	pos int
}

func (sc *scanner) eof() bool { return sc.pos >= len(sc.s) }

// peek returns the next byte, or 0 at the end (0 is in no character class).
func (sc *scanner) peek() byte {
	if sc.eof() {
		return 0
	}
	return sc.s[sc.pos]
}

// skipOWS skips optional whitespace (RFC 9110 §5.6.3: SP / HTAB).
func (sc *scanner) skipOWS() {
	for c := sc.peek(); c == ' ' || c == '\t'; c = sc.peek() {
		sc.pos++
	}
}

// skipSeparators skips whitespace and commas: RFC 9110 §5.6.1 requires
// recipients to accept empty list elements such as "Basic, , Bearer".
func (sc *scanner) skipSeparators() {
	for c := sc.peek(); c == ' ' || c == '\t' || c == ','; c = sc.peek() {
		sc.pos++
	}
}

func (sc *scanner) token() string {
	start := sc.pos
	for isTchar(sc.peek()) {
		sc.pos++
	}
	return sc.s[start:sc.pos]
}

// token68 reads 1*token68-char *"=" (RFC 9110 §11.2).
func (sc *scanner) token68() string {
	start := sc.pos
	for isToken68Char(sc.peek()) {
		sc.pos++
	}
	if sc.pos == start {
		return ""
	}
	for sc.peek() == '=' {
		sc.pos++
	}
	return sc.s[start:sc.pos]
}

// atParam reports whether an auth-param (token BWS "=") starts here,
// without consuming anything. It is what tells "Basic realm=x, Bearer y=z"
// (the second element starts a challenge) from "realm=x, charset=y".
func (sc *scanner) atParam() bool {
	look := scanner{s: sc.s, pos: sc.pos}
	if look.token() == "" {
		return false
	}
	look.skipOWS()
	return look.peek() == '='
}

// quoted reads a quoted-string starting at '"' and resolves quoted-pairs
// (RFC 9110 §5.6.4). Control characters are dropped, and an unterminated
// string keeps what was read; both are reported as problems.
func (sc *scanner) quoted() (string, string) {
	sc.pos++ // opening quote
	var b strings.Builder
	problem := ""
	for !sc.eof() {
		c := sc.s[sc.pos]
		sc.pos++
		switch {
		case c == '"':
			return b.String(), problem
		case c == '\\' && !sc.eof():
			c = sc.s[sc.pos]
			sc.pos++
		case c == '\\':
			return b.String(), "unterminated quoted-string"
		}
		if !isQuotable(c) {
			problem = firstOf(problem, "control character in quoted-string")
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), "unterminated quoted-string"
}

// skipElement moves to the next top-level comma (or the end), stepping over
// quoted-strings, so that one malformed list element does not take the
// following challenges down with it.
func (sc *scanner) skipElement() {
	for !sc.eof() {
		switch sc.s[sc.pos] {
		case ',':
			return
		case '"':
			sc.quoted()
		default:
			sc.pos++
		}
	}
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
