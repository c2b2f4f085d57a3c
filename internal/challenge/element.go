package challenge

import "strings"

// challengeElement reads auth-scheme [ 1*SP ( token68 / auth-param ) ] and
// returns the index of the new challenge, or -1 when there was none.
func (p *parser) challengeElement(sc *scanner) int {
	start := sc.pos
	scheme := sc.token()
	if scheme == "" {
		p.failAt(start, "expected an auth-scheme")
		sc.skipElement()
		return -1
	}
	if len(p.out) == MaxChallenges {
		p.failAt(start, "more than 64 challenges: rest ignored")
		p.stop = true
		return -1
	}
	p.out = append(p.out, Challenge{Scheme: scheme})
	idx := len(p.out) - 1
	if c := sc.peek(); c != ' ' && c != '\t' {
		return idx // end of element, or garbage that endElement reports
	}
	sc.skipOWS()
	if sc.eof() || sc.peek() == ',' {
		return idx
	}
	if t, ok := sc.wholeToken68(); ok {
		p.out[idx].Token68 = t
	} else if sc.atParam() {
		p.param(sc, &p.out[idx])
	}
	return idx
}

// wholeToken68 consumes a token68 only when it makes up the whole list
// element. Checking this before auth-param is what reads "Negotiate abc="
// as a token68 with padding rather than as a parameter without a value,
// while "Bearer realm=x" still reads as a parameter.
//
// One exception: in `Bearer realm=, error="invalid_token"` the grammar
// reads a token68 "realm=" followed by a forbidden auth-param, which would
// lose the error code. Both readings are invalid there, so the one that
// keeps the parameters wins.
func (sc *scanner) wholeToken68() (string, bool) {
	look := scanner{s: sc.s, pos: sc.pos}
	t := look.token68()
	look.skipOWS()
	if t == "" || (!look.eof() && look.peek() != ',') {
		return "", false
	}
	end := look.pos
	if strings.HasSuffix(t, "=") && !look.eof() {
		look.skipSeparators()
		if look.atParam() {
			return "", false
		}
	}
	sc.pos = end
	return t, true
}

// param reads token BWS "=" BWS ( token / quoted-string ) into ch.
// Duplicates keep the first value: RFC 9110 §11.2 allows each name only once
// per challenge, and a second "error" must not silently replace the first.
func (p *parser) param(sc *scanner, ch *Challenge) {
	name := asciiLower(sc.token())
	sc.skipOWS()
	sc.pos++ // the "=" that atParam saw
	sc.skipOWS()
	var val, problem string
	if sc.peek() == '"' {
		val, problem = sc.quoted()
	} else if val = sc.token(); val == "" {
		p.failAt(sc.pos, "auth-param without a value")
		return
	}
	if problem != "" {
		p.failAt(sc.pos, problem)
	}
	p.store(sc, ch, name, val)
}

func (p *parser) store(sc *scanner, ch *Challenge, name, val string) {
	if _, dup := ch.Params[name]; dup {
		p.failAt(sc.pos, "duplicate auth-param: first value kept")
		return
	}
	if len(ch.Params) == MaxParams {
		p.failAt(sc.pos, "more than 64 auth-params: rest ignored")
		return
	}
	if ch.Params == nil {
		ch.Params = make(map[string]string)
	}
	ch.Params[name] = val
}
