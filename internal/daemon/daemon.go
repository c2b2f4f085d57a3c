// Package daemon is `authwatch run`: it wires the flow loader, the runner,
// the scheduler, the state store, metrics and the HTTP endpoints together,
// reloads on SIGHUP (or a changed flow file), and talks to systemd.
//
// Lifecycle: New validates the configuration and opens the store; Run
// loads the flows, starts the scheduler and the HTTP server, and blocks
// until its context ends; then it stops scheduling, lets running flows
// finish within the grace period, and closes the store. End-to-end tests
// start the real daemon on port 0 this way.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/browser"
	"github.com/authwatch/authwatch/internal/cluster"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/metrics"
	"github.com/authwatch/authwatch/internal/statuspage"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/buffered"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/store/sqlite"
	"github.com/authwatch/authwatch/scheduler"
	"golang.org/x/net/netutil"
)

// StopGrace is how long running flows may finish after a stop signal.
const StopGrace = 20 * time.Second

// storeCommitInterval spaces the state store's commits: the runs of one
// commit share its pages (the WAL frames written, then checkpointed), so
// the writer's CPU per run falls as more share it: at 1,000 runs/s 81 µs
// at 25 ms, 46 µs at 100 ms, no less at 250 ms (BenchmarkRecordRunPaced,
// docs/benchmarks.md). A run's record waits at most this long (a tenth of
// the shortest every:), and a lone run on a quiet daemon does not wait.
const storeCommitInterval = 100 * time.Millisecond

// Main is the daemon.
type Main struct {
	cfg *config.Config
	log *slog.Logger
	// store is the state store behind a memory buffer: a refused write is
	// kept and written later, so results still page (see storeguard.go).
	store   *buffered.Store
	db      stateBackend // behind store: its size, for the metrics
	lock    *stateLock   // one daemon per state directory
	runner  *flows.Runner
	sched   *scheduler.Scheduler
	metrics *metrics.Metrics
	notify  Notifier
	alert   *alerting
	// baselines compares passing runs with each flow's learned normal.
	baselines *baselines
	// cluster is nil unless cluster.enabled (cluster.go).
	cluster *cluster.Member
	// instance is the PostgreSQL instance lock (nil on SQLite), checked
	// by guardInstanceLock (instancelock.go).
	instance *postgres.InstanceLock
	cfgPath  string // reloaded on SIGHUP when set
	// fileRestartOnly is what the file last said of the settings that
	// apply only at a start, to warn when a reload finds them changed.
	fileRestartOnly string
	// lastState is each flow's state after its last run; the status page
	// reads the states from it, never from the store.
	lastState statuspage.LiveStates
	// restore holds the flows whose stored states a read failed to give
	// (retryRestore tries again).
	restore pendingRestore

	mu         sync.Mutex
	flows      []*flows.Flow
	flowInfos  []statuspage.FlowInfo // flows as the status page shows them
	configured map[string]bool       // names of the flows now scheduled
	lastReload error                 // nil when the last reload succeeded
	// loggedWarnings are the last load's flow warnings, logged once.
	loggedWarnings map[string]bool
	// deliveryTrouble names notifiers with refused or long-undelivered pages.
	deliveryTrouble []string
	// storeProbeFailures counts failed attempts to write what memory
	// holds; past watchdogStoreFailures the systemd watchdog starves.
	storeProbeFailures int
	// lastActivity is when the scheduler last started, skipped or
	// finished a run (Unix nanoseconds), for the heartbeat's health.
	lastActivity atomic.Int64
	// skips are recent overlap skips, for the log and /healthz (skips.go).
	skips skipWatch
	// late counts late runs, for the log and /healthz (lateness.go).
	late lateWatch
	// places are the flows' probe locations (locations.go).
	places flowPlaces
	// statusMu guards sentStatus, the status line the service manager
	// last heard (status.go).
	statusMu   sync.Mutex
	sentStatus string
	ready      bool
	addr       net.Addr
	started    chan struct{}
}

// Notifier tells the service manager about the daemon's state; the
// systemd implementation is sdNotifier, tests use a no-op.
type Notifier interface {
	// Starting says what a long start is doing and extends the manager's
	// start timeout by extend (the state database check).
	Starting(status string, extend time.Duration) error
	// Status says how the running daemon is ("42 flows, 3 failing, ...").
	Status(status string) error
	Ready() error
	Reloading() error
	Stopping() error
	Watchdog() error
	WatchdogInterval() time.Duration
}

// New opens the state store and prepares the daemon.
func New(cfg *config.Config, log *slog.Logger, notify Notifier) (*Main, error) {
	// An auth monitor must not leak its own status: beyond loopback the
	// status page needs authentication.
	if err := cfg.StatusPage.CheckListen(cfg.Listen); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	check, err := sqlite.ParseCheck(cfg.StoreCheck)
	if err != nil {
		return nil, err
	}
	lock, err := lockStateDir(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	m, err := newMain(cfg, log, notify, check, lock)
	if err != nil {
		_ = lock.release()
		return nil, err
	}
	return m, nil
}

// newMain opens the state store and prepares the daemon; New holds the
// state directory's lock.
func newMain(cfg *config.Config, log *slog.Logger, notify Notifier, check sqlite.Check, lock *stateLock) (*Main, error) {
	db, err := openBackend(cfg, check, notify, log)
	if err != nil {
		return nil, fmt.Errorf("opening the state store: %w", err)
	}
	st := buffered.New(context.Background(), db, buffered.Options{Logger: log.With("component", "store")})
	m := &Main{cfg: cfg, log: log, store: st, db: db, lock: lock, metrics: metrics.New(metrics.WithStepHistograms(cfg.Metrics.StepHistograms), metrics.WithLocation(recordedLocation(cfg))), notify: notify, started: make(chan struct{})}
	m.lastActivity.Store(time.Now().UnixNano())
	m.metrics.SchedulerHealth(func() bool { ok, _ := m.schedulerHealthy(time.Now()); return ok })
	if err := m.setupAlerting(cfg); err != nil {
		st.Close()
		return nil, err
	}
	if err := m.setupCluster(); err != nil {
		st.Close()
		return nil, err
	}
	if err := m.lockInstance(); err != nil {
		st.Close()
		return nil, err
	}
	m.baselines = newBaselines(db, log.With("component", "baseline"))
	m.baselines.batched = true // written by the flusher (startBackground)
	m.runner = flows.NewRunner()
	m.runner.Tokens = m.refreshTokenStore()
	m.runner.FailedEvidenceOnly = true
	m.runner.Browsers = browser.NewPool(browser.PoolOptions{Max: cfg.Browsers})
	// A daemon killed with SIGKILL leaves its browsers' profile folders.
	if n, err := m.runner.Browsers.RemoveStale(time.Minute); err == nil && n > 0 {
		log.Info("removed the profile folders of browsers from an earlier run", "count", n)
	}
	m.runner.TLSExpiryWarning = cfg.Defaults.TLSExpiryWarning.Std()
	m.sched, err = scheduler.New(m.runner.Run, scheduler.Options{
		MaxConcurrent: cfg.MaxConcurrent,
		Logger:        log,
		Admit:         m.admitRun,
		Hooks: scheduler.Hooks{
			OnResult:  m.onResult,
			OnSkip:    m.onSkip,
			OnRevoked: m.onRevoked,
			OnLateness: func(_ string, d time.Duration) {
				m.markActivity()
				m.metrics.ObserveLateness(d)
				m.late.observe(d, time.Now())
			},
		},
	})
	if err != nil {
		_ = m.releaseInstance()
		st.Close()
		return nil, err
	}
	m.metrics.SchedulerLoad(metrics.SchedulerLoadFuncs{Limit: func() int { return m.sched.Load().Limit },
		Waiting: func() int { return m.sched.Load().Waiting }, Late: m.late.warned.Load})
	return m, nil
}

// startExtension is how much longer systemd waits, told every half of it,
// while the state database is checked: PRAGMA quick_check reads the whole
// file (1 GB: about 4 s from the page cache, up to 100 s from a cold
// virtual disk; docs/benchmarks.md), and a start that outlives
// TimeoutStartSec would be killed and retried for ever.
const startExtension = 20 * time.Second

// openStore opens (and checks) the state database, keeping the service
// manager informed while the check runs.
func openStore(path string, check sqlite.Check, ret store.Retention, notify Notifier, log *slog.Logger) (*sqlite.Store, error) {
	done := make(chan struct{})
	defer close(done)
	status := fmt.Sprintf("checking the state database (store_check: %s)", check)
	_ = notify.Starting(status, startExtension)
	go func() {
		ticker := time.NewTicker(startExtension / 2)
		defer ticker.Stop()
		for waited := startExtension / 2; ; waited += startExtension / 2 {
			select {
			case <-done:
				return
			case <-ticker.C:
				log.Info(status, "for", waited.String())
				_ = notify.Starting(status, startExtension)
			}
		}
	}()
	return sqlite.OpenWith(path, sqlite.Options{Check: check, Logger: log.With("component", "store"), Retention: ret})
}

// SetConfigPath makes Reload re-read the configuration file too (its
// alerting sections and defaults; state_dir and listen need a restart).
func (m *Main) SetConfigPath(path string) {
	m.cfgPath = path
	if c, err := config.Load(path, true); err == nil {
		m.fileRestartOnly = restartOnly(c)
	}
}

// restartOnly renders the settings that apply only at a start.
func restartOnly(c *config.Config) string {
	hb := ""
	if c.Heartbeat != nil {
		hb = fmt.Sprintf("%s %s %s %s", c.Heartbeat.URL, c.Heartbeat.Every, c.Heartbeat.Method, c.Heartbeat.Timeout)
	}
	pg := ""
	if p := c.Store.Postgres; p != nil {
		// The references as written (a literal DSN holds no password: the
		// load refuses one), hashed all the same: this string is kept.
		sum := sha256.Sum256([]byte(p.DSN.String() + "\x00" + p.SecretKey.String()))
		pg = hex.EncodeToString(sum[:8])
	}
	return fmt.Sprintf("state_dir=%s listen=%s store_check=%s store_postgres=%v/%s cluster=%+v http=%+v metrics=%+v heartbeat=%s",
		c.StateDir, c.Listen, c.StoreCheck, c.UsesPostgres(), pg, c.Cluster, c.HTTP, c.Metrics, hb)
}

// Addr is the HTTP listener's address once Run has started it.
func (m *Main) Addr() net.Addr {
	<-m.started
	return m.addr
}

// Run runs the daemon until ctx ends. The first load of the flows must
// succeed; later reloads that fail keep the old flows running.
func (m *Main) Run(ctx context.Context, reload <-chan struct{}) error {
	set, err := m.loadFlows()
	if err != nil {
		return m.failStart(err)
	}
	if _, _, _, err := m.sched.Apply(scheduled(set.Flows)); err != nil {
		return m.failStart(err)
	}
	m.setFlows(set.Flows)
	m.restoreFlowStates(set.Flows)
	m.metrics.Reloaded(true, time.Now()) // the first load counts as a successful one
	ln, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return m.failStart(fmt.Errorf("listen %s: %w", m.cfg.Listen, err))
	}
	m.addr = ln.Addr()
	close(m.started)
	srv := m.httpServer()
	ln = netutil.LimitListener(ln, m.cfg.HTTP.MaxConnections)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("http server stopped", "err", err)
		}
	}()
	if err := m.alert.load(ctx); err != nil {
		m.log.Error("loading incident states failed; incidents start afresh", "err", err)
	}
	m.alert.setFlows(set.Flows)
	stopBackground := m.startBackground(ctx)
	m.joinCluster(ctx)
	m.sched.Start()
	m.setReady(true)
	m.log.Info("authwatch started", "flows", len(set.Flows), "listen", m.addr.String(), "config", m.cfg.String())
	_ = m.notify.Ready()
	m.updateStatus()
	m.loop(ctx, reload)
	return m.shutdown(srv, stopBackground)
}

// startBackground starts the outbox sender, the store guard, the
// baselines' flusher and the heartbeat; the function it returns stops them and waits for them.
func (m *Main) startBackground(ctx context.Context) (stop func()) {
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(7)
	go func() { defer wg.Done(); m.retryRestore(bg) }()
	go func() { defer wg.Done(); m.baselines.runFlusher(bg) }()
	go func() { defer wg.Done(); m.guardInstanceLock(bg) }()
	go func() { defer wg.Done(); m.runClusterView(bg) }()
	go func() { defer wg.Done(); m.runCluster(bg) }()
	go func() { defer wg.Done(); m.alert.sender.Run(bg) }()
	go func() { defer wg.Done(); m.guardStore(bg) }()
	if hb := m.heartbeat(); hb != nil {
		wg.Add(1)
		go func() { defer wg.Done(); hb.Run(bg) }()
	}
	return func() { cancel(); wg.Wait() }
}

// failStart releases what New acquired when Run cannot start.
func (m *Main) failStart(err error) error {
	close(m.started)
	ctx, cancel := context.WithTimeout(context.Background(), StopGrace)
	defer cancel()
	return errors.Join(err, m.sched.Shutdown(ctx), m.closeState())
}

// closeState closes the store, then releases the state directory.
func (m *Main) closeState() error {
	err := m.releaseInstance()
	err = errors.Join(err, m.store.Close())
	return errors.Join(err, m.lock.release())
}

// loop serves reloads, the watchdog and pruning until ctx ends. A reload
// runs beside it, one at a time (a request during one is kept for after),
// so that a stop signal is honoured even while a reload waits on a slow
// file.
func (m *Main) loop(ctx context.Context, reload <-chan struct{}) {
	watchdog := time.NewTicker(max(m.notify.WatchdogInterval(), time.Second))
	defer watchdog.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	alertTick := time.NewTicker(30 * time.Second)
	defer alertTick.Stop()
	m.prune(ctx)
	var reloading chan struct{} // closed when the reload in progress ends
	pending := false
	startReload := func() {
		reloading = make(chan struct{})
		go func(done chan struct{}) { m.Reload(); close(done) }(reloading)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			if reloading == nil {
				startReload()
			} else {
				pending = true
			}
		case <-reloading:
			reloading = nil
			if pending {
				pending = false
				startReload()
			}
		case <-watchdog.C:
			if m.notify.WatchdogInterval() > 0 && m.watchdogFed() {
				_ = m.notify.Watchdog()
			}
		case <-prune.C:
			m.prune(ctx)
		case <-alertTick.C:
			m.alert.tick(ctx)
			m.observeBacklog(ctx)
		}
	}
}

// shutdown stops scheduling and lets running flows finish within
// StopGrace, stops serving, stops the sender, guard and heartbeat, writes
// what memory holds if the store takes it, and closes the store.
func (m *Main) shutdown(srv *http.Server, stopBackground func()) error {
	m.setReady(false)
	_ = m.notify.Stopping()
	m.log.Info("authwatch stopping", "grace", StopGrace.String())
	ctx, cancel := context.WithTimeout(context.Background(), StopGrace)
	defer cancel()
	err := m.sched.Shutdown(ctx)
	_ = srv.Shutdown(ctx)
	stopBackground()
	m.baselines.saveAll(ctx, time.Now())
	m.flushBeforeExit()
	return errors.Join(err, m.closeState())
}

func (m *Main) prune(ctx context.Context) {
	retention := m.cfg.RetentionPolicy()
	if m.alert != nil {
		// Delivered and refused pages are kept a week for the status page.
		if _, err := m.alert.outbox.PruneOutbox(ctx, time.Now().Add(-7*24*time.Hour)); err != nil {
			m.log.Error("pruning the notification outbox failed", "err", err)
		}
	}
	sizer, bounded := m.db.(sizePruner)
	var before time.Time
	if bounded {
		before = sizer.LastSizePrune().At
	} else {
		retention.MaxBytes = 0 // a store that cannot prune by size: the metric shows no bound
	}
	n, err := m.store.Prune(ctx, time.Now(), retention)
	if err != nil {
		m.log.Error("pruning run history failed", "err", err)
	} else if n > 0 {
		m.log.Info("pruned run history", "runs", n)
	}
	if used, err := m.db.UsedBytes(ctx); err == nil {
		pruned := 0
		if bounded {
			if last := sizer.LastSizePrune(); !last.At.Equal(before) {
				pruned = last.Runs
			}
		}
		m.metrics.StoreSize(used, retention.MaxBytes, pruned)
	}
}

func (m *Main) setReady(ok bool) {
	m.mu.Lock()
	m.ready = ok
	m.mu.Unlock()
}

func (m *Main) setFlows(fs []*flows.Flow) {
	infos := statuspage.FlowInfos(fs)
	m.mu.Lock()
	m.flows, m.flowInfos, m.lastReload = fs, infos, nil
	m.configured = make(map[string]bool, len(fs))
	for _, f := range fs {
		m.configured[f.Name] = true
	}
	m.baselines.forgetExcept(m.configured)
	m.mu.Unlock()
	m.metrics.SetFlows(fs)
	m.late.setFlows(fs, m.sched.Interval)
	m.places.set(fs, m.sched.Interval)
}

// isConfigured reports whether a flow is still scheduled (a run of a flow
// removed by a reload may finish after the reload).
func (m *Main) isConfigured(flow string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.configured[flow]
}
