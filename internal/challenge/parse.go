package challenge

import "fmt"

// SyntaxError describes the first malformed part of the header values.
// Parse still returns the challenges it could read around it.
type SyntaxError struct {
	Header int    // index of the header value in the slice given to Parse
	Offset int    // byte offset within that value
	Msg    string // what was wrong; never echoes the input
}

// Error implements error.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("www-authenticate: header %d, byte %d: %s", e.Header, e.Offset, e.Msg)
}

// Parse parses every WWW-Authenticate value of a response (RFC 9110
// §11.6.1: a response may repeat the header, and one value may list several
// challenges). It returns the challenges it could read, in order, and a
// *SyntaxError for the first malformed part, if any.
//
// Each value is parsed on its own rather than joined with commas as RFC 9110
// §5.3 allows: an unterminated quoted-string in one header must not swallow
// the challenges of the next. Values past MaxInput bytes in total are cut.
func Parse(values []string) ([]Challenge, error) {
	p := parser{}
	budget := MaxInput
	for i, v := range values {
		if p.stop {
			break
		}
		cut := len(v) > budget
		if cut {
			v = v[:budget]
		}
		budget -= len(v)
		p.header = i
		p.value(v)
		if cut {
			p.failAt(len(v), "input longer than 64 KiB: rest ignored")
			break
		}
	}
	return p.out, p.err
}

type parser struct {
	out    []Challenge
	err    error
	header int
	stop   bool // set once MaxChallenges is reached
}

func (p *parser) failAt(offset int, msg string) {
	if p.err == nil {
		p.err = &SyntaxError{Header: p.header, Offset: offset, Msg: msg}
	}
}

// value parses one header value: a comma-separated list whose elements are
// either a new challenge or one more auth-param of the current challenge.
func (p *parser) value(s string) {
	sc := &scanner{s: s}
	cur := -1 // index in p.out of the challenge that owns the next auth-param
	for !p.stop {
		sc.skipSeparators()
		if sc.eof() {
			return
		}
		if sc.atParam() {
			p.paramElement(sc, cur)
		} else if i := p.challengeElement(sc); i >= 0 {
			cur = i
		}
		p.endElement(sc)
	}
}

// endElement requires the element to end at a comma or at the end, and
// otherwise reports the leftover and skips it.
func (p *parser) endElement(sc *scanner) {
	sc.skipOWS()
	if !sc.eof() && sc.peek() != ',' {
		p.failAt(sc.pos, "unexpected character")
		sc.skipElement()
	}
}

// paramElement reads an auth-param that follows a comma.
func (p *parser) paramElement(sc *scanner, cur int) {
	switch {
	case cur < 0:
		p.failAt(sc.pos, "auth-param without a preceding auth-scheme")
		sc.skipElement()
	case p.out[cur].Token68 != "":
		p.failAt(sc.pos, "auth-param after a token68")
		sc.skipElement()
	default:
		p.param(sc, &p.out[cur])
	}
}
