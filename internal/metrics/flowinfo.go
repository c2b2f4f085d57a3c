package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authwatch/authwatch/flows"
)

// flowInfoName is one series per flow, value 1, labelled with the flow's
// name and its labels (team, severity, ...), for joins:
//
//	authwatch_flow_up == 0
//	  * on (flow) group_left (team, severity) authwatch_flow_info
const flowInfoName = "authwatch_flow_info"

const flowInfoHelp = "1 for each flow, labelled with its name and its labels (team, severity, ...): join on flow to group by them."

// flowInfo is a collector: flows carry different label names, which a
// GaugeVec cannot (kube-state-metrics' *_labels series do the same). It
// keeps each flow's label values and one Desc per set of label names, and
// builds the series at each scrape: a Desc and a series made for every
// flow kept about 600 bytes per flow live.
type flowInfo struct {
	mu     sync.Mutex
	series []infoSeries
}

type infoSeries struct {
	desc   *prometheus.Desc
	values []string
}

// Describe sends nothing: the collector is unchecked, as its label names
// vary with the flows.
func (*flowInfo) Describe(chan<- *prometheus.Desc) {}

func (c *flowInfo) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	series := c.series
	c.mu.Unlock()
	for _, s := range series {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, 1, s.values...)
	}
}

func (c *flowInfo) set(fs []*flows.Flow) {
	series := make([]infoSeries, 0, len(fs))
	descs := map[string]*prometheus.Desc{} // by label names
	for _, f := range fs {
		names, values := flowInfoLabels(f)
		key := strings.Join(names, "\x00")
		desc := descs[key]
		if desc == nil {
			desc = prometheus.NewDesc(flowInfoName, flowInfoHelp, names, nil)
			descs[key] = desc
		}
		series = append(series, infoSeries{desc, slices.Clip(values)})
	}
	c.mu.Lock()
	c.series = series
	c.mu.Unlock()
}

// flowInfoLabels are flow="name" and each of the flow's labels, in key
// order, under a valid Prometheus label name (PromLabelName).
func flowInfoLabels(f *flows.Flow) (names, values []string) {
	names, values = []string{"flow"}, []string{f.Name}
	taken := map[string]bool{"flow": true}
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		name := PromLabelName(k)
		if taken[name] {
			continue // two keys that sanitize alike: the first in order stays
		}
		taken[name] = true
		names, values = append(names, name), append(values, f.Labels[k])
	}
	return names, values
}

// PromLabelName is a flow label's key as a Prometheus label name: every
// character but ASCII letters, digits and _ becomes _, and a name that
// would start with a digit, be empty, collide with flow or be reserved
// (__…) is prefixed with label_.
func PromLabelName(key string) string {
	var b strings.Builder
	for _, r := range key {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name == "" || name == "flow" || strings.HasPrefix(name, "__") || name[0] >= '0' && name[0] <= '9' {
		name = "label_" + name
	}
	return name
}
