// Package all registers every notifier kind in the one kinds table
// (notify.Register); cmd/authwatch imports it for that side effect:
//
//	import _ "github.com/authwatch/authwatch/notify/all"
//
// A new kind's package is added here, and to the list in all_test.go.
package all

import (
	_ "github.com/authwatch/authwatch/notify/log"     // kind "log"
	_ "github.com/authwatch/authwatch/notify/slack"   // kind "slack"
	_ "github.com/authwatch/authwatch/notify/teams"   // kind "teams"
	_ "github.com/authwatch/authwatch/notify/webhook" // kind "webhook"

	_ "github.com/authwatch/authwatch/notify/alertmanager" // kind "alertmanager"
	_ "github.com/authwatch/authwatch/notify/email"        // kind "email"
	_ "github.com/authwatch/authwatch/notify/opsgenie"     // kind "opsgenie"
	_ "github.com/authwatch/authwatch/notify/pagerduty"    // kind "pagerduty"
)
