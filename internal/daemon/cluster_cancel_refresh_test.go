package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authwatch/authwatch/internal/conf"
	"github.com/authwatch/authwatch/internal/config"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// rotatingEndpoint answers a refresh with a rotated token ("rotated-" +
// the one sent) once answer is closed; it announces each arrival, and a
// request whose context ended before the answer (the client gave up).
type rotatingEndpoint struct {
	arrived, gaveUp chan struct{}
	answer          chan struct{}
}

func (h *rotatingEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	h.arrived <- struct{}{}
	select {
	case <-h.answer:
	case <-r.Context().Done():
		h.gaveUp <- struct{}{}
		return
	case <-time.After(2 * time.Minute):
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + rt, "token_type": "Bearer",
		"expires_in": 300, "refresh_token": "rotated-" + rt})
}

// TestClusterRefreshFinishesRotationWhenShardLost: a cluster node's
// persist: true refresh holds its token's lock and waits for the IdP when
// another node claims the flow's shard. The node revokes the run but
// does not cut the exchange while the lock is held: an IdP that rotates
// the token as the run is cut would leave the next holder the old, dead
// token (refresh_token_rejected, and reuse detection revokes the grant).
// The request stays open after the node's lease cycle that lost the shard
// (OnLose has run: the cycle logs its leases after it), the IdP's rotated
// token is stored, and only then is the run cancelled and discarded.
// Without the deferral the request's context ends at that cycle.
func TestClusterRefreshFinishesRotationWhenShardLost(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "cancelrefresh")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	keyHex := strings.Repeat("cd", 32)
	keyFile := filepath.Join(t.TempDir(), "pg_key")
	if err := os.WriteFile(keyFile, []byte(keyHex), 0o600); err != nil {
		t.Fatal(err)
	}
	idp := &rotatingEndpoint{arrived: make(chan struct{}, 10), gaveUp: make(chan struct{}, 10), answer: make(chan struct{})}
	srv := httptest.NewServer(idp)
	t.Cleanup(srv.Close)
	flow := fmt.Sprintf(`name: rot
every: 2s
timeout: 2m
steps:
  - id: refresh
    kind: refresh
    token_url: %q
    client_id: app-client
    client_secret: app-secret
    refresh_token: seed-rt
    persist: true
`, srv.URL+"/token")
	d := e2eStart(t, map[string]string{"rot.yaml": flow}, e2eOptions{configure: func(c *config.Config) {
		c.Store.Postgres = &config.PostgresConfig{DSN: conf.NewTemplate(dsn), SecretKey: conf.NewTemplate("${file:" + keyFile + "}")}
		c.Cluster.Enabled = true
	}})
	answered := false
	t.Cleanup(func() {
		if !answered {
			close(idp.answer)
		}
	})
	select {
	case <-idp.arrived:
	case <-ctx.Done():
		t.Fatal("the refresh did not reach the IdP")
	}

	cyclesBefore := strings.Count(d.log.String(), "live_nodes=2")
	_, shard := claimShardFrom(t, ctx, dsn, d, "rot")
	e2eWaitFor(t, 60*time.Second, "the node's lease cycle that lost the shard", func() bool {
		return strings.Count(d.log.String(), "live_nodes=2") > cyclesBefore
	})
	select {
	case <-idp.gaveUp:
		t.Fatal("the refresh was cut while it held the token's lock: a rotation at that moment would be lost")
	default:
	}

	close(idp.answer)
	answered = true
	want := fmt.Sprintf("run of rot cancelled: shard %d lost", shard)
	e2eWaitFor(t, 60*time.Second, "the log line "+want, func() bool { return strings.Contains(d.log.String(), want) })
	key, _ := postgres.ParseSecretKey(keyHex)
	keyed, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer keyed.Close()
	if v, ok, err := keyed.LoadSecret(ctx, "refresh_token/rot/refresh"); err != nil || !ok || v != "rotated-seed-rt" {
		t.Errorf("the stored refresh token: %q, %v, %v; want the one the IdP rotated in", v, ok, err)
	}
	if runs, err := keyed.Runs(ctx, "rot", 0); err != nil || len(runs) != 0 {
		t.Errorf("runs of rot: %d, %v; want none (the run was revoked)", len(runs), err)
	}
}
