package statuspage

import (
	"context"
	"slices"
	"sync"
	"unsafe"
)

// flowsPage is a page of the overview or of /api/v1/flows, decided from
// the flows' states (Options.States, else one FlowStates query) and one
// IncidentStates read: no run is read.
type flowsPage struct {
	flowList
	incs incidentSet
	listing
}

// listing is every flow shown, in the overview's order, and what the
// overview's filter form offers.
type listing struct {
	all    []*listed
	labels *labelSet
}

// labelSet is labelChoices(all), computed when first asked for.
type labelSet struct {
	once          sync.Once
	keys, options []string
}

func newListing(refs []flowRef, incs incidentSet) listing {
	all := make([]*listed, len(refs))
	for i, ref := range refs {
		all[i] = newListed(ref, incs.decoded[ref.info.Name])
	}
	slices.SortFunc(all, func(a, b *listed) int { return a.key.compare(b.key) })
	return listing{all: all, labels: &labelSet{}}
}

// labelChoices are labelChoices(l.all), shared by the requests that read
// the same listing: never append to them in place.
func (l listing) labelChoices() (keys, options []string) {
	l.labels.once.Do(func() {
		keys, options := labelChoices(l.all)
		l.labels.keys, l.labels.options = slices.Clip(keys), slices.Clip(options)
	})
	return l.labels.keys, l.labels.options
}

// listingCache keeps the listing built from Options.States while nothing
// that decides it changed: the configured flows (the slice Options.Flows
// returns), the place of each flow's state (LiveStates.placed) and the
// incident states. A run that leaves its flow where it was (a passing
// flow that passes again: nearly every run) changes none of these, so at
// 1,000 runs/s the overview neither rebuilds nor sorts 10,000 rows; the
// rows of its page take their flows' current states (liveRows).
type listingCache struct {
	mu    sync.Mutex
	key   listingKey
	valid bool
	listing
}

type listingKey struct {
	infos  *FlowInfo // the first element of the slice Options.Flows returned
	flows  int
	placed uint64
	incs   uint64
}

func (s *server) listPage(ctx context.Context, fq flowQuery) (flowsPage, error) {
	incs, err := s.readIncidents(ctx)
	if err != nil {
		return flowsPage{}, err
	}
	if s.opts.States != nil {
		return s.livePage(fq, incs), nil
	}
	refs, err := s.listFlows(ctx)
	if err != nil {
		return flowsPage{}, err
	}
	lst := newListing(refs, incs)
	s.forgetStatsExcept(lst.all)
	return flowsPage{flowList: selectFlows(lst.all, fq), incs: incs, listing: lst}, nil
}

// livePage is listPage from Options.States: the listing from the cache
// when it is current, the page's rows with their flows' current states.
// A row whose flow changed place since the listing was read (a run
// recorded meanwhile) rebuilds it once.
func (s *server) livePage(fq flowQuery, incs incidentSet) flowsPage {
	for attempt := 0; ; attempt++ {
		lst := s.liveListing(incs, attempt > 0)
		fl := selectFlows(lst.all, fq)
		page, placed := s.liveRows(fl.page)
		if placed || attempt > 0 {
			fl.page = page
			return flowsPage{flowList: fl, incs: incs, listing: lst}
		}
	}
}

// liveListing returns the cached listing, rebuilt when stale or asked to.
func (s *server) liveListing(incs incidentSet, rebuild bool) listing {
	c := &s.listings
	c.mu.Lock()
	defer c.mu.Unlock()
	// The placement is read before the states: a state set meanwhile can
	// only make the next request rebuild again.
	key := listingKey{placed: s.opts.States.placed.Load(), incs: incs.version}
	var infos []FlowInfo
	if s.opts.Flows != nil {
		infos = s.opts.Flows()
		key.infos, key.flows = unsafe.SliceData(infos), len(infos)
	}
	if c.valid && !rebuild && key == c.key {
		return c.listing
	}
	c.listing, c.key, c.valid = newListing(s.liveRefs(infos), incs), key, true
	s.forgetStatsExcept(c.all)
	return c.listing
}

// liveRows returns the page's rows with their flows' current states, and
// false when one's place changed since the listing was built.
func (s *server) liveRows(page []*listed) ([]*listed, bool) {
	out, placed := make([]*listed, len(page)), true
	for i, l := range page {
		st, ok := s.opts.States.Load(l.key.name)
		if ok == l.ref.hasState && st == l.ref.state {
			out[i] = l
			continue
		}
		row := *l // the listing's rows are shared: a copy
		row.ref.state, row.ref.hasState = st, ok
		if stateOf(row.ref) != l.key.state || placeOf(st) != placeOf(l.ref.state) {
			placed = false
		}
		out[i] = &row
	}
	return out, placed
}

// forgetStatsExcept drops the figures' caches of flows no longer shown.
func (s *server) forgetStatsExcept(all []*listed) {
	keep := make(map[string]bool, len(all))
	for _, l := range all {
		keep[l.key.name] = true
	}
	s.stats.forgetExcept(keep)
}
