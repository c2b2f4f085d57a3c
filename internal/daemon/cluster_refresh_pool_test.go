package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/postgres"
	"github.com/authwatch/authwatch/internal/testenv"
)

// hangingTokenEndpoint answers refresh requests with a rotated token
// ("rotated-" + the one sent), but only once released is closed: until
// then every request hangs, as at an IdP that stopped answering. Each
// arrival is announced on arrived.
type hangingTokenEndpoint struct {
	arrived  chan string
	released chan struct{}
}

func (h *hangingTokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	h.arrived <- rt
	select {
	case <-h.released:
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + rt, "token_type": "Bearer",
		"expires_in": 300, "refresh_token": "rotated-" + rt})
}

// TestClusterRefreshHangingIdPKeepsLeases: a cluster node whose store
// pool has 2 connections (pool_max_conns=2) runs three persist: true
// refreshes at once against a token endpoint that hangs. Each refresh
// holds its token's lock through the IdP call; the locks must not take
// the pool's connections, so the node still renews its leases and
// records runs while all three wait on the IdP, and every refresh then
// stores its rotated token. Before the locks had their own connections,
// two refreshes took both and the lease renewal waited until it failed.
func TestClusterRefreshHangingIdPKeepsLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "hangingidp") + " pool_max_conns=2"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	key, _ := postgres.ParseSecretKey(strings.Repeat("ab", 32))
	s, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	idp := &hangingTokenEndpoint{arrived: make(chan string, 3), released: make(chan struct{})}
	srv := httptest.NewServer(idp)
	t.Cleanup(srv.Close)

	const refreshes = 3
	var fs []*flows.Flow
	for i := range refreshes {
		name := fmt.Sprintf("hang%d", i)
		set, err := flows.LoadBytes(flows.LoadOptions{}, name+".yaml", []byte(fmt.Sprintf(`name: %s
every: 1m
timeout: 2m
steps:
  - id: refresh
    kind: refresh
    token_url: %q
    client_id: c
    client_secret: s
    refresh_token: never-used-seed
    persist: true
`, name, srv.URL+"/token")))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := set.Flow(name)
		fs = append(fs, f)
		if err := s.SaveSecret(ctx, "refresh_token/"+name+"/refresh", "rt-"+name); err != nil {
			t.Fatal(err)
		}
	}

	results := make([]*flows.Result, refreshes)
	var wg sync.WaitGroup
	defer wg.Wait()
	var release sync.Once
	releaseIdP := func() { release.Do(func() { close(idp.released) }) }
	defer releaseIdP() // before wg.Wait, also when the test fails
	for i, f := range fs {
		r := flows.NewRunner()
		r.Tokens = lockingTokens{TokenStore: s, locker: s}
		wg.Go(func() { results[i] = r.Run(ctx, f) })
	}
	awaitArrival := func(n int) {
		t.Helper()
		select {
		case <-idp.arrived:
		case <-ctx.Done():
			t.Fatalf("only %d of %d refreshes reached the IdP", n, refreshes)
		}
	}
	// A deadline as a lease's: a renewal that must wait for a connection
	// until then has cost the node its leases.
	renew := func(when string) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		g, err := s.RenewLeases(rctx, postgres.LeaseRequest{Node: "n1", Location: "default", Shards: 4,
			Lease: 15 * time.Second, Live: 15 * time.Second})
		if err != nil {
			t.Fatalf("lease renewal %s: %v", when, err)
		}
		if len(g.Held) != 4 {
			t.Fatalf("lease renewal %s: holds shards %v, want all 4", when, g.Held)
		}
	}

	awaitArrival(0)
	awaitArrival(1)
	renew("while two refreshes wait on the IdP (as many as the pool's connections)")
	awaitArrival(2)
	renew("while three refreshes wait on the IdP")
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	_, err = s.RecordRun(rctx, store.Run{Flow: "other", Start: time.Now(), DurationMS: 1, OK: true})
	rcancel()
	if err != nil {
		t.Fatalf("RecordRun while three refreshes wait on the IdP: %v", err)
	}

	releaseIdP()
	wg.Wait()
	for i, res := range results {
		if !res.OK {
			t.Errorf("refresh %d: %+v", i, res.Failure())
		}
		name := fmt.Sprintf("hang%d", i)
		if v, ok, err := s.LoadSecret(ctx, "refresh_token/"+name+"/refresh"); err != nil || !ok || v != "rotated-rt-"+name {
			t.Errorf("stored token of %s: %q %v %v, want rotated-rt-%s", name, v, ok, err, name)
		}
	}
}

// TestClusterRefreshUnrotatedReleasesLock: when the IdP answers a
// persist: true refresh without rotating the refresh token, the token's
// lock is released with the answer, not after the step's checks: the
// access token's signature check fetches the JWKS, and at that moment
// another session finds the token's row free (FOR UPDATE NOWAIT).
func TestClusterRefreshUnrotatedReleasesLock(t *testing.T) {
	if testing.Short() {
		t.Skip("real PostgreSQL")
	}
	t.Parallel()
	pg := testenv.Postgres(t)
	dsn := pg.CreateDatabase(t, "unrotated")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key, _ := postgres.ParseSecretKey(strings.Repeat("ab", 32))
	s, err := postgres.Open(ctx, dsn, postgres.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const secret = "refresh_token/unrotated/refresh"
	if err := s.SaveSecret(ctx, secret, "rt-kept"); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close(context.Background()) })

	signing, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: signing, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu          sync.Mutex
		jwksFetches int
		lockedThen  []bool // whether the token's row was locked at each JWKS fetch
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{"sub": "svc", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
		sig, err := signer.Sign(claims)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		at, _ := sig.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 300,
			"refresh_token": r.PostFormValue("refresh_token")}) // not rotated
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		locked := false
		tx, err := other.Begin(r.Context())
		if err == nil {
			_, err = tx.Exec(r.Context(), `SELECT 1 FROM secrets WHERE key = $1 FOR UPDATE NOWAIT`, secret)
			var pgErr *pgconn.PgError
			locked = errors.As(err, &pgErr) && pgErr.Code == "55P03" // lock_not_available
			_ = tx.Rollback(r.Context())
		}
		mu.Lock()
		jwksFetches++
		lockedThen = append(lockedThen, locked)
		mu.Unlock()
		if err != nil && !locked {
			t.Errorf("checking the row lock: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: signing.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	set, err := flows.LoadBytes(flows.LoadOptions{}, "unrotated.yaml", []byte(fmt.Sprintf(`name: unrotated
every: 1m
timeout: 1m
steps:
  - id: refresh
    kind: refresh
    token_url: %q
    jwks_url: %q
    client_id: c
    client_secret: s
    refresh_token: never-used-seed
    persist: true
`, srv.URL+"/token", srv.URL+"/jwks")))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := set.Flow("unrotated")
	r := flows.NewRunner()
	r.Tokens = lockingTokens{TokenStore: s, locker: s}
	if res := r.Run(ctx, f); !res.OK {
		t.Fatalf("run: %+v", res.Failure())
	}
	mu.Lock()
	defer mu.Unlock()
	if jwksFetches == 0 {
		t.Fatal("the access token's signature check fetched no JWKS")
	}
	for i, locked := range lockedThen {
		if locked {
			t.Errorf("JWKS fetch %d: the refresh token's row was still locked, though the IdP did not rotate it", i)
		}
	}
	if v, ok, err := s.LoadSecret(ctx, secret); err != nil || !ok || v != "rt-kept" {
		t.Errorf("stored token: %q %v %v, want rt-kept", v, ok, err)
	}
}
