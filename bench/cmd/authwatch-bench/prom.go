package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is the daemon's /metrics at one moment.
type scrape struct {
	at      time.Time
	took    time.Duration
	bytes   int
	samples []sample
}

func getMetrics(ctx context.Context, base string) (*scrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	authorize(req)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	s := &scrape{at: t0, took: time.Since(t0), bytes: len(body)}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if x, ok := parseSample(sc.Text()); ok {
			s.samples = append(s.samples, x)
		}
	}
	return s, sc.Err()
}

// parseSample parses `name{a="b",c="d"} value`; label values with escaped
// quotes are handled, timestamps ignored.
func parseSample(line string) (sample, bool) {
	if line == "" || line[0] == '#' {
		return sample{}, false
	}
	var x sample
	rest := line
	if i := strings.IndexAny(line, "{ "); i < 0 {
		return sample{}, false
	} else {
		x.name = line[:i]
		rest = line[i:]
	}
	if strings.HasPrefix(rest, "{") {
		x.labels = map[string]string{}
		i := 1
		for i < len(rest) && rest[i] != '}' {
			eq := strings.IndexByte(rest[i:], '=')
			if eq < 0 {
				return sample{}, false
			}
			key := strings.TrimLeft(rest[i:i+eq], ", ")
			i += eq + 1
			if i >= len(rest) || rest[i] != '"' {
				return sample{}, false
			}
			i++
			var val strings.Builder
			for i < len(rest) && rest[i] != '"' {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				val.WriteByte(rest[i])
				i++
			}
			i++ // closing quote
			x.labels[key] = val.String()
			for i < len(rest) && rest[i] == ',' {
				i++
			}
		}
		if i >= len(rest) {
			return sample{}, false
		}
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return sample{}, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return sample{}, false
	}
	x.value = v
	return x, true
}

// sum adds the samples named name whose labels include match.
func (s *scrape) sum(name string, match map[string]string) float64 {
	if s == nil {
		return 0
	}
	var t float64
next:
	for _, x := range s.samples {
		if x.name != name {
			continue
		}
		for k, v := range match {
			if x.labels[k] != v {
				continue next
			}
		}
		t += x.value
	}
	return t
}

// by sums name by the value of label.
func (s *scrape) by(name, label string) map[string]float64 {
	out := map[string]float64{}
	if s == nil {
		return out
	}
	for _, x := range s.samples {
		if x.name == name {
			out[x.labels[label]] += x.value
		}
	}
	return out
}

// bucket is a cumulative histogram bucket.
type bucket struct {
	le    float64
	count float64
}

// histogram returns name's buckets (summed over label sets), sorted by le.
func (s *scrape) histogram(name string) []bucket {
	if s == nil {
		return nil
	}
	m := map[float64]float64{}
	for _, x := range s.samples {
		if x.name != name+"_bucket" {
			continue
		}
		le := math.Inf(1)
		if x.labels["le"] != "+Inf" {
			le, _ = strconv.ParseFloat(x.labels["le"], 64)
		}
		m[le] += x.value
	}
	out := make([]bucket, 0, len(m))
	for le, c := range m {
		out = append(out, bucket{le, c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].le < out[j].le })
	return out
}

// histDelta is end minus start, bucket by bucket (start may be nil).
func histDelta(end, start []bucket) []bucket {
	out := make([]bucket, len(end))
	for i, b := range end {
		out[i] = b
		for _, a := range start {
			if a.le == b.le {
				out[i].count -= a.count
			}
		}
	}
	return out
}

// quantile interpolates linearly inside the bucket that holds the q-th
// observation, like PromQL's histogram_quantile. The first bucket's lower
// bound is 0. Above the highest finite bound it returns that bound and
// over=true.
func quantile(q float64, bs []bucket) (v float64, over bool) {
	if len(bs) == 0 {
		return math.NaN(), false
	}
	total := bs[len(bs)-1].count
	if total <= 0 {
		return math.NaN(), false
	}
	rank := q * total
	prevLE, prevCount := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return prevLE, true
			}
			if b.count == prevCount {
				return b.le, false
			}
			return prevLE + (b.le-prevLE)*(rank-prevCount)/(b.count-prevCount), false
		}
		prevLE, prevCount = b.le, b.count
	}
	return prevLE, true
}

// bucketOf names the bucket a value falls in, e.g. "1–5 ms".
func bucketOf(v float64, bs []bucket) string {
	lo := 0.0
	for _, b := range bs {
		if v <= b.le {
			if math.IsInf(b.le, 1) {
				return fmt.Sprintf("> %s", fmtSec(lo))
			}
			return fmt.Sprintf("%s–%s", fmtSec(lo), fmtSec(b.le))
		}
		lo = b.le
	}
	return "?"
}

func fmtSec(s float64) string {
	if s < 1 {
		return strconv.FormatFloat(s*1000, 'f', -1, 64) + " ms"
	}
	return strconv.FormatFloat(s, 'f', -1, 64) + " s"
}
