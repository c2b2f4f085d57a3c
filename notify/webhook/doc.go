// Package webhook is the generic notifier kind "webhook": every event is
// POSTed, complete, as versioned JSON to a URL, optionally signed, so that
// any system can act on the reason of a failure.
//
// # Settings
//
//	url: ${env:INCIDENT_BOT_URL}          # required; https (a secret: resolved on every send)
//	headers:                              # optional; values may reference secrets
//	  Authorization: Bearer ${credential:incident_bot_token}
//	hmac_secret: ${file:/etc/authwatch/webhook.key}   # optional; signs every request
//	timeout: 10s                          # optional; per attempt (default: the outbox's)
//	allow_http: false                     # true permits http:// to localhost and loopback only
//
// # Request
//
// POST with these headers:
//
//	Content-Type: application/json
//	User-Agent: authwatch/<version> (+https://github.com/authwatch/authwatch)
//	X-Authwatch-Event: opened | updated | reminder | resolved | test
//	X-Authwatch-Delivery: <event id>        the same on every retry of one event: deduplicate on it
//	X-Authwatch-Timestamp: <unix seconds>   with hmac_secret
//	X-Authwatch-Signature-256: sha256=<hex> with hmac_secret
//
// and this body (schema.json in this directory is its JSON Schema):
//
//	{
//	  "version": "1",
//	  "title": "FAILING okta-client-credentials: audience_mismatch",
//	  "text": "FAILING okta-client-credentials: audience_mismatch — the access token's aud is ...",
//	  "event": {
//	    "id": "01JPB6ZQ8K3N2W5X7Y9AOPENED",
//	    "incident_key": "authwatch/okta-client-credentials/1795826400",
//	    "type": "opened",
//	    "severity": "critical",
//	    "time": "2026-03-14T09:26:53Z",
//	    "flow": "okta-client-credentials",
//	    "step": "call_orders_api",
//	    "labels": {"env": "prod", "team": "identity"},
//	    "reason": "audience_mismatch",
//	    "layer": "token",
//	    "summary": "the access token's aud is [\"api://default\"] but the orders API expects ...",
//	    "next_step": "Request the token for the API's audience: ...",
//	    "evidence": [{"name": "status", "value": "401"}, {"name": "aud", "value": "[\"api://default\"]"}],
//	    "request_ids": {"x-request-id": "7d9c2b1e-4f3a-4e8b-9c1d-2a3b4c5d6e7f"},
//	    "first_failure": "2026-03-14T09:09:53Z",
//	    "consecutive_failures": 4,
//	    "host": "authwatch-1.eu-west-1.internal",
//	    "region": "eu-west-1",
//	    "status_url": "https://authwatch.example.com/flows/okta-client-credentials"
//	  }
//	}
//
// The event never holds a secret: evidence is redacted, tokens appear only
// as fingerprints. Version "1" only gains fields: ignore those you do not
// know. reason is a stable code of docs/reasons.md; incident_key is stable
// for the life of an incident, id is unique per event. A test event
// (`authwatch notify test`) has type "test" and needs no action.
//
// The receiver answers 2xx to accept. 408, 429 and 5xx are retried (at the
// time Retry-After names, when sent), as are network errors; other
// statuses, redirects included, are final. A retry sends the same body and
// delivery id.
//
// # Verifying a signature
//
// With hmac_secret set, X-Authwatch-Signature-256 is "sha256=" followed by
// the lowercase hex HMAC-SHA256, keyed with the secret, of
//
//	X-Authwatch-Timestamp + "." + the raw request body
//
// A receiver must: compute it over the body bytes exactly as received
// (before any JSON parsing), compare in constant time, reject a timestamp
// more than 5 minutes from its clock (a replayed request), and deduplicate
// on X-Authwatch-Delivery. To rotate the key, accept the old and the new
// one while the change rolls out. In Go, call Verify. In Python:
//
//	def verify(key: bytes, headers, body: bytes, tolerance=300):
//	    ts = headers["X-Authwatch-Timestamp"]
//	    if abs(time.time() - int(ts)) > tolerance:
//	        raise ValueError("stale or replayed")
//	    want = "sha256=" + hmac.new(key, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
//	    if not hmac.compare_digest(want, headers["X-Authwatch-Signature-256"]):
//	        raise ValueError("bad signature")
//
// With a shell, for a body saved in body.json:
//
//	{ printf '%s.' "$TS"; cat body.json; } | openssl dgst -sha256 -hmac "$KEY" | sed 's/^.*= /sha256=/'
package webhook
