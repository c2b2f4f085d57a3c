package flows_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
)

// Runs in flight at once (the adaptive limit lets hundreds run) keep their
// connections for the next runs: a second burst as wide as the first one
// dials nothing. With 16 idle connections per host, 24 of 40 were closed
// after each burst and dialled again, a TCP handshake and two goroutines
// per run at 1,000 runs/s.
func TestTransportKeepsConnectionsOfABurst(t *testing.T) {
	const burst = 40
	var dialled atomic.Int64
	arrived := make(chan struct{}, burst)
	var release atomic.Pointer[chan struct{}] // closed when a burst is all in flight
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select { // held until the whole burst is in flight, so each has its own connection
		case <-*release.Load():
		case <-r.Context().Done():
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: flows.NewTransport()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for round := range 2 {
		next := make(chan struct{})
		release.Store(&next)
		var wg sync.WaitGroup
		for range burst {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		for range burst {
			select {
			case <-arrived:
			case <-ctx.Done():
				t.Fatal("the burst did not arrive")
			}
		}
		close(next)
		wg.Wait()
		if round == 0 && dialled.Load() != burst {
			t.Fatalf("first burst: %d connections, want %d", dialled.Load(), burst)
		}
	}
	if n := dialled.Load() - burst; n != 0 {
		t.Errorf("second burst dialled %d new connections, want 0", n)
	}
}
