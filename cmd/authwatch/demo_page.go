package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/daemon"
	"github.com/authwatch/authwatch/internal/demo"
	"github.com/authwatch/authwatch/internal/incident"
	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

// demoPage is the demo's status page: the daemon's page over a throwaway
// state store that records the demo's runs, their baselines and their
// incidents (under demo.IncidentPolicy; nothing is sent).
type demoPage struct {
	URL       string
	store     *sqlite.Store
	srv       *http.Server
	dir       string
	flows     map[string]*flows.Flow
	baselines *daemon.Baselines
	incidents map[string]incident.State // by flow; only record, called by one loop, uses it
}

func startDemoStatusPage(ctx context.Context, fs []*flows.Flow, listen string) (*demoPage, error) {
	dir, err := os.MkdirTemp("", "authwatch-demo-")
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(filepath.Join(dir, "authwatch.db"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	var cfg statuspage.Config
	if err := cfg.CheckListen(listen); err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	handler := statuspage.New(st, statuspage.Options{Config: cfg, Title: "authwatch demo",
		Flows:          func() []statuspage.FlowInfo { return statuspage.FlowInfos(fs) },
		IncidentPolicy: func(string) incident.Policy { return demo.IncidentPolicy() }})
	byName := make(map[string]*flows.Flow, len(fs))
	for _, f := range fs {
		byName[f.Name] = f
	}
	p := &demoPage{URL: "http://" + ln.Addr().String() + "/", store: st, dir: dir, incidents: map[string]incident.State{},
		flows: byName, baselines: daemon.NewBaselines(st, slog.New(slog.DiscardHandler)),
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the demo goes on without its page
		}
	}()
	return p, nil
}

// record keeps the demo's runs and incidents for the page, as the daemon
// does (without notifiers: no event is queued). Like the daemon, it first
// compares each run with its flow's baseline, which may add a
// baseline_changed warning to the result before it is recorded and printed.
func (p *demoPage) record(results []*flows.Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	for _, r := range results {
		p.baselines.Check(ctx, p.flows[r.Flow], r)
		_, _ = p.store.RecordRun(ctx, daemon.RunRecord(r))
		next, _ := incident.Step(demo.IncidentPolicy(), p.incidents[r.Flow], incident.FromResult(r, nil, now), now, demo.NoReceivers{})
		p.incidents[r.Flow] = next
		if state, err := json.Marshal(next); err == nil {
			_ = p.store.CommitIncident(ctx, r.Flow, state, nil)
		}
	}
}

// Close stops the page and removes the throwaway store.
func (p *demoPage) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := errors.Join(p.srv.Shutdown(ctx), p.store.Close())
	return errors.Join(err, os.RemoveAll(p.dir))
}
