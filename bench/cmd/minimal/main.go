// Command minimal is the baseline of the authwatch benchmark: the least a
// Go program can do to make the same HTTP exchanges as the benchmark's
// flows, with one shared http.Client.
//
// Flow i (0 <= i < -flows) runs every -interval, its start spread evenly
// over the interval (phase i*interval/flows). Even flows are a
// client-credentials token request (POST, client_secret_basic, the same
// resource and scope as the daemon's flows) followed by a GET of the API
// with the token as bearer; odd flows are a plain GET of the API. Each run
// is a goroutine, like the daemon's, and the same two policies bound it:
// a flow whose previous run is still in progress skips (counted), and at
// most -max-concurrent runs execute at once (the others wait, which shows
// as lateness). Nothing is checked beyond the status codes and the
// presence of access_token, nothing is recorded.
//
// It runs for -warmup plus -duration, then waits (at most 30 s) for the
// runs in progress (and, with -linger, for SIGTERM) and prints one JSON object on stdout with the counts
// and start lateness of the runs planned inside the measurement window
// (after the warm-up). authwatch-bench starts it and measures its CPU from
// /proc.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	Flows          int     `json:"flows"`
	IntervalS      float64 `json:"interval_s"`
	WindowS        float64 `json:"window_s"`
	Planned        int64   `json:"planned"`
	Runs           int64   `json:"runs"`
	Failed         int64   `json:"failed"`
	TokenRequests  int64   `json:"token_requests"`
	APIRequests    int64   `json:"api_requests"`
	LatenessP50MS  float64 `json:"lateness_p50_ms"`
	LatenessP99MS  float64 `json:"lateness_p99_ms"`
	LatenessMaxMS  float64 `json:"lateness_max_ms"`
	DurationP50MS  float64 `json:"duration_p50_ms"`
	DurationP99MS  float64 `json:"duration_p99_ms"`
	MaxInFlight    int64   `json:"max_in_flight"`
	Unfinished     int64   `json:"unfinished"`
	Skipped        int64   `json:"skipped"`
	FirstError     string  `json:"first_error,omitempty"`
	DispatchLagMax float64 `json:"dispatch_lag_max_ms"`
}

type prober struct {
	shared   string // with -shared-token: the one token every token flow uses
	client   *http.Client
	tokenURL string
	apiURL   string
	form     string
	id, sec  string
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}

func (p *prober) do(ctx context.Context, req *http.Request) ([]byte, error) {
	resp, err := p.client.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	return body, nil
}

func (p *prober) token(ctx context.Context) (string, error) {
	req, err := http.NewRequest(http.MethodPost, p.tokenURL, strings.NewReader(p.form))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(p.id), url.QueryEscape(p.sec))
	body, err := p.do(ctx, req)
	if err != nil {
		return "", err
	}
	var t tokenAnswer
	if err := json.Unmarshal(body, &t); err != nil {
		return "", fmt.Errorf("token answer: %w", err)
	}
	if t.AccessToken == "" {
		return "", errors.New("token answer without access_token")
	}
	return t.AccessToken, nil
}

func (p *prober) api(ctx context.Context, path, bearer string) error {
	req, err := http.NewRequest(http.MethodGet, p.apiURL+path, nil)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	_, err = p.do(ctx, req)
	return err
}

// run is one run of flow i; tok reports whether a token was requested.
func (p *prober) run(ctx context.Context, i int) (tok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if i%2 == 0 && p.shared != "" {
		return false, p.api(ctx, "/cc/"+pad(i), p.shared)
	}
	if i%2 == 0 {
		t, err := p.token(ctx)
		if err != nil {
			return true, err
		}
		return true, p.api(ctx, "/cc/"+pad(i), t)
	}
	return false, p.api(ctx, "/plain/"+pad(i), "")
}

func pad(i int) string {
	s := strconv.Itoa(i)
	if len(s) < 5 {
		s = strings.Repeat("0", 5-len(s)) + s
	}
	return s
}

func main() {
	flows := flag.Int("flows", 2000, "number of flows (even: token + API call, odd: API call)")
	interval := flag.Duration("interval", 10*time.Second, "interval of each flow")
	warmup := flag.Duration("warmup", 30*time.Second, "warm-up before the measurement window")
	duration := flag.Duration("duration", 3*time.Minute, "measurement window")
	tokenURL := flag.String("token-url", "", "token endpoint")
	apiURL := flag.String("api-url", "", "API base URL (flows call API/cc/NNNNN and API/plain/NNNNN)")
	clientID := flag.String("client-id", "cc-client", "client id")
	secretEnv := flag.String("secret-env", "AUTHWATCH_BENCH_SECRET", "environment variable holding the client secret")
	resource := flag.String("resource", "https://api.example.test/", "resource indicator")
	scope := flag.String("scope", "api:read", "scope")
	shared := flag.Bool("shared-token", false, "fetch one token at start and reuse it: token flows make only the API call (the baseline of the peer figures in shared/FACTS.md)")
	maxConc := flag.Int("max-concurrent", 64, "runs executing at once (authwatch's adaptive default max_concurrent ranges over 64..1024)")
	linger := flag.Bool("linger", false, "after the window, wait for SIGTERM (at most 5 minutes) before printing the results and exiting")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measurement window (after the warm-up) to this file")
	maxIdle := flag.Int("max-idle-per-host", 64, "idle connections kept per host, four times that in all (authwatch's transport keeps 64 and 256)")
	flag.Parse()
	if *flows < 1 || *interval <= 0 || *duration <= 0 || *tokenURL == "" || *apiURL == "" {
		fmt.Fprintln(os.Stderr, "minimal: need -flows >= 1, -interval, -duration, -token-url and -api-url")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = *maxIdle, 4**maxIdle
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {*resource}}
	if *scope != "" {
		form.Set("scope", *scope)
	}
	p := &prober{client: &http.Client{Transport: tr}, tokenURL: *tokenURL, apiURL: strings.TrimRight(*apiURL, "/"),
		form: form.Encode(), id: *clientID, sec: os.Getenv(*secretEnv)}

	if *shared {
		t, err := p.token(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "minimal: shared token:", err)
			os.Exit(1)
		}
		p.shared = t
	}
	var (
		mu                sync.Mutex
		late, dur         []time.Duration
		firstErr          string
		runs, failed      atomic.Int64
		tokens, apis      atomic.Int64
		inFlight, maxInFl atomic.Int64
		wg                sync.WaitGroup
		skipped           int64
		busy              = make([]atomic.Bool, *flows)
		sem               = make(chan struct{}, max(1, *maxConc))
		planned           int64
		dispatchLagMax    time.Duration
		start             = time.Now().Add(50 * time.Millisecond)
		winStart          = start.Add(*warmup)
		end               = winStart.Add(*duration)
		n                 = int64(*flows)
		every             = int64(*interval)
		capacityHint      = int(float64(*flows) * duration.Seconds() / interval.Seconds() * 1.05)
	)
	late = make([]time.Duration, 0, capacityHint)
	dur = make([]time.Duration, 0, capacityHint)
	if *cpuProfile != "" {
		stopProfile, err := profileWindow(*cpuProfile, winStart, end)
		if err != nil {
			fmt.Fprintln(os.Stderr, "minimal:", err)
			os.Exit(1)
		}
		defer stopProfile()
	}

dispatch:
	for k := int64(0); ; k++ {
		due := start.Add(time.Duration(k/n*every + (k%n)*every/n))
		if !due.Before(end) {
			break
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				break dispatch
			}
		}
		inWindow := !due.Before(winStart)
		if inWindow {
			planned++
			dispatchLagMax = max(dispatchLagMax, time.Since(due))
		}
		i := int(k % n)
		if !busy[i].CompareAndSwap(false, true) {
			if inWindow {
				skipped++
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer busy[i].Store(false)
			sem <- struct{}{}
			defer func() { <-sem }()
			began := time.Now()
			c := inFlight.Add(1)
			for {
				m := maxInFl.Load()
				if c <= m || maxInFl.CompareAndSwap(m, c) {
					break
				}
			}
			tok, err := p.run(context.Background(), i)
			inFlight.Add(-1)
			if !inWindow {
				return
			}
			took := time.Since(began)
			runs.Add(1)
			apis.Add(1)
			if tok {
				tokens.Add(1)
			}
			mu.Lock()
			late = append(late, began.Sub(due))
			dur = append(dur, took)
			if err != nil {
				failed.Add(1)
				if firstErr == "" {
					firstErr = err.Error()
				}
			}
			mu.Unlock()
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
	}
	// Stay alive (idle) until told to stop, so that whoever measures this
	// process can read its /proc files after the window; at most 5 minutes.
	if *linger {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Minute):
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res := result{Flows: *flows, IntervalS: interval.Seconds(), WindowS: duration.Seconds(), Planned: planned,
		Runs: runs.Load(), Failed: failed.Load(), TokenRequests: tokens.Load(), APIRequests: apis.Load(),
		MaxInFlight: maxInFl.Load(), Unfinished: inFlight.Load(), Skipped: skipped, FirstError: firstErr,
		DispatchLagMax: ms(dispatchLagMax)}
	res.LatenessP50MS, res.LatenessP99MS, res.LatenessMaxMS = quantiles(late)
	res.DurationP50MS, res.DurationP99MS, _ = quantiles(dur)
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

// profileWindow writes a CPU profile of [from, to) to path; the returned
// function waits for it to be written.
func profileWindow(path string, from, to time.Time) (wait func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		time.Sleep(time.Until(from))
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "minimal: cpu profile:", err)
			return
		}
		time.Sleep(time.Until(to))
		pprof.StopCPUProfile()
	}()
	return func() { <-done }, nil
}

func quantiles(d []time.Duration) (p50, p99, maxv float64) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) float64 { return ms(s[min(len(s)-1, int(q*float64(len(s))))]) }
	return at(0.50), at(0.99), ms(s[len(s)-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
