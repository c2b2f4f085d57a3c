package jwtinspect

// FromClaims reads a claims set that did not come as a JWT (an RFC 7662
// introspection answer, a userinfo answer) into a Token with no header, so
// the same claim checks apply to it. Numbers should be json.Number (a
// decoder with UseNumber), as Parse gives them.
func FromClaims(claims map[string]any) *Token {
	if claims == nil {
		claims = map[string]any{}
	}
	t := &Token{Header: map[string]any{}, Claims: claims}
	t.fill()
	return t
}
