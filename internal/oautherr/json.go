package oautherr

import (
	"bytes"
	"encoding/json"
	"strings"
)

// object is a decoded JSON object; numbers stay json.Number so that large
// ids such as Entra error codes are not rounded through float64.
type object = map[string]any

func parseJSON(body []byte) (Error, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m object
	if dec.Decode(&m) != nil || m == nil {
		return Error{}, false
	}
	for _, shape := range []func(object) (Error, bool){rfcShape, nestedShape, oktaShape} {
		if e, ok := shape(m); ok {
			e.addExtras(m, extraKeys)
			return e, true
		}
	}
	return Error{}, false
}

// rfcShape is RFC 6749 §5.2: {"error":"invalid_client","error_description":
// "...","error_uri":"..."}, also used by Entra, Auth0, Keycloak and Okta's
// OAuth endpoints. "message" stands in for a missing description (Auth0's
// management API sends {"error":"Unauthorized","message":"..."}).
func rfcShape(m object) (Error, bool) {
	e := Error{
		Code:        clean(str(m["error"]), MaxCode),
		Description: clean(firstStr(m, "error_description", "message"), MaxDescription),
		URI:         clean(str(m["error_uri"]), MaxDescription),
	}
	return e, e.Code != ""
}

// nestedShape is Google's and Azure's {"error":{"code":...,"message":...}}.
// Azure's code is a string ("InvalidAuthenticationToken"); Google's is the
// HTTP status number, and its string "status" ("UNAUTHENTICATED") says more.
func nestedShape(m object) (Error, bool) {
	in, ok := m["error"].(object)
	if !ok {
		return Error{}, false
	}
	code := str(in["code"])
	if _, isNum := in["code"].(json.Number); isNum || code == "" {
		code = firstStr(in, "status", "code")
	}
	e := Error{
		Code:        clean(code, MaxCode),
		Description: clean(str(in["message"]), MaxDescription),
	}
	if e.Code == "" {
		return Error{}, false
	}
	e.addExtras(in, nestedKeys)
	e.addExtras(in, extraKeys)
	if inner, ok := innerError(in); ok {
		e.addExtras(inner, extraKeys)
	}
	return e, true
}

// oktaShape is Okta's management API: {"errorCode":"E0000011",
// "errorSummary":"Invalid token provided","errorId":"oae..."}.
func oktaShape(m object) (Error, bool) {
	e := Error{
		Code:        clean(str(m["errorCode"]), MaxCode),
		Description: clean(str(m["errorSummary"]), MaxDescription),
	}
	return e, e.Code != ""
}

// innerError finds Microsoft Graph's "innerError" (spelled "innererror" by
// other Azure APIs), which carries request-id and date.
func innerError(m object) (object, bool) {
	for k, v := range m {
		if strings.EqualFold(k, "innererror") {
			o, ok := v.(object)
			return o, ok
		}
	}
	return nil, false
}
