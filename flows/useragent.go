package flows

import (
	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/version"
)

// MaxUserAgentLength bounds a user_agent (browsers send about 150 bytes).
const MaxUserAgentLength = 512

// validateUserAgent checks a flow's or step's user_agent: HTTP must be
// able to carry it.
func validateUserAgent(path, ua string) error {
	if i := controlCharAt(ua); i >= 0 {
		return conf.FieldErrorf(path, "holds a control character (%U at byte %d), which an HTTP header cannot carry", rune(ua[i]), i)
	}
	if len(ua) > MaxUserAgentLength {
		return conf.FieldErrorf(path, "at most %d bytes, got %d", MaxUserAgentLength, len(ua))
	}
	return nil
}

// chosenUserAgent is the agent the flow file names for the current step:
// the step's user_agent, else the flow's; "" when neither is set.
func (st *State) chosenUserAgent() string {
	if ua := st.step.spec.UserAgent; ua != "" {
		return ua
	}
	return st.Flow.UserAgent
}

// userAgent is what the current step's requests say they are: the agent
// the flow file chose, or authwatch's own (version.UserAgent).
func (st *State) userAgent() string {
	if ua := st.chosenUserAgent(); ua != "" {
		return ua
	}
	return version.UserAgent()
}
