package demo

import (
	_ "embed"
	"os"
	"strings"

	"github.com/authwatch/authwatch/internal/demo/idp"
)

//go:embed flows.yaml
var flowsYAML string

// FlowsFile is the name the demo's flows are reported under.
const FlowsFile = "demo/flows.yaml"

// Flows returns the demo's flow file with the environment's URLs filled in.
func (e *Env) Flows() []byte {
	r := strings.NewReplacer("{{issuer}}", e.IdP.Issuer(), "{{api}}", e.API.URL())
	return []byte(r.Replace(flowsYAML))
}

// staleSecret is what a flow holds after the IdP rotated the orders
// client's secret: the demo's rotated-secret flow sends it.
const staleSecret = "demo-only-secret-before-rotation"

// stalePassword is what the monitor holds after the synthetic user's
// password was changed in the IdP.
const stalePassword = "demo-only-password-before-change"

// LookupEnv resolves the demo flows' ${env:...} secret references to the
// demo-only client secrets and the key clients' private keys (generated in
// memory when first needed), and anything else from the process.
func LookupEnv(name string) (string, bool) {
	switch name {
	case "DEMO_KEY_CLIENT_KEY":
		key, err := idp.KeyClientPrivateKeyPEM()
		return key, err == nil
	case "DEMO_DPOP_CLIENT_KEY":
		key, err := idp.DPoPClientPrivateKeyPEM()
		return key, err == nil
	case "DEMO_ORDERS_CLIENT_SECRET":
		return idp.OrdersClientSecret, true
	case "DEMO_BILLING_CLIENT_SECRET":
		return idp.BillingClientSecret, true
	case "DEMO_READER_CLIENT_SECRET":
		return idp.ReaderClientSecret, true
	case "DEMO_LEGACY_CLIENT_SECRET":
		return idp.LegacyClientSecret, true
	case "DEMO_DRIFT_CLIENT_SECRET":
		return idp.DriftClientSecret, true
	case "DEMO_STALE_CLIENT_SECRET":
		return staleSecret, true
	case "DEMO_WEB_CLIENT_SECRET":
		return idp.WebClientSecret, true
	case "DEMO_USER":
		return idp.UserName, true
	case "DEMO_USER_PASSWORD":
		return idp.UserPassword, true
	case "DEMO_STALE_USER_PASSWORD":
		return stalePassword, true
	}
	return os.LookupEnv(name)
}
