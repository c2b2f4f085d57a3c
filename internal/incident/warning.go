package incident

import (
	"slices"

	"github.com/authwatch/authwatch/notify"
)

// warning moves the warning incident after a recorded run: open on warning
// findings, resolve on a clean pass (or when the policy turned warnings
// off). A failed run proves nothing about warnings and changes nothing.
func (e *emitter) warning(p Policy, st State, obs Observation) State {
	if !obs.OK {
		return st
	}
	var w WarningState
	if st.Warning != nil {
		w = *st.Warning
	}
	has := p.Warnings && len(obs.Warnings) > 0
	switch {
	case has && !w.Open:
		w = WarningState{Open: true, Key: newKey(warningKeyPrefix(st.Flow), w.Key, e.now), OpenedAt: e.now, Suppressed: true}
		fallthrough
	case has:
		w.Reason, w.Findings = obs.Warnings[0].Reason, slices.Clone(obs.Warnings)
	case w.Open:
		if !w.Suppressed {
			e.sendAlways(e.warningEvent(st, w, notify.Resolved))
		}
		w.Open, w.Suppressed, w.MutedBy, w.NotifiedReason = false, false, "", ""
	default:
		return st
	}
	st.Warning = &w
	return st
}

// warningCatchUp sends the warning incident's withheld Opened, or an
// Updated when its primary warning changed.
func (e *emitter) warningCatchUp(st State) State {
	if st.Warning == nil || !st.Warning.Open {
		return st
	}
	w := *st.Warning
	var ev notify.Event
	switch {
	case w.Suppressed:
		ev = e.warningEvent(st, w, notify.Opened)
	case w.Reason != w.NotifiedReason:
		ev = e.warningEvent(st, w, notify.Updated)
		ev.PreviousReason = w.NotifiedReason
	default:
		return st
	}
	if sent, by := e.send(ev); sent {
		w.Suppressed, w.MutedBy, w.NotifiedReason = false, "", w.Reason
	} else {
		w.MutedBy = by
	}
	st.Warning = &w
	return st
}
