// Command checkbench times the state database's start-up check (PRAGMA
// quick_check, or integrity_check with --store-check full) on a database of
// a given size: the daemon runs it before every start, so its cost at the
// sizes a real installation reaches decides the default.
//
// It fills a database in -dir (default: a new temporary directory) with runs
// of about -blob bytes through the store's own RecordRun until the file
// reaches -size MiB, closes it, then opens it with each check -repeat times
// and prints the times. With -drop-caches (root), the page cache is dropped
// before each open, so that the figures are those of a cold start.
//
//	go run ./bench/cmd/checkbench -size 1024
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/authwatch/authwatch/internal/store"
	"github.com/authwatch/authwatch/internal/store/sqlite"
)

func main() {
	sizeMiB := flag.Int("size", 1024, "database size to reach, MiB")
	blob := flag.Int("blob", 2000, "approximate size of a run's steps JSON")
	dir := flag.String("dir", "", "directory of the database (kept; default a temporary one, removed)")
	repeat := flag.Int("repeat", 3, "opens per check")
	drop := flag.Bool("drop-caches", false, "drop the page cache before each open (root)")
	flag.Parse()
	if *sizeMiB < 1 || *sizeMiB > 64<<10 {
		fail(fmt.Errorf("-size must be 1..65536 MiB"))
	}
	path := databasePath(*dir)
	if err := fill(path, int64(*sizeMiB)<<20, *blob); err != nil {
		fail(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		fail(err)
	}
	fmt.Printf("database %s: %.0f MiB\n", path, float64(fi.Size())/(1<<20))
	for _, c := range []sqlite.Check{sqlite.CheckNone, sqlite.CheckQuick, sqlite.CheckFull} {
		for i := range *repeat {
			if *drop {
				dropCaches()
			}
			start := time.Now()
			st, err := sqlite.OpenWith(path, sqlite.Options{Check: c})
			if err != nil {
				fail(err)
			}
			took := time.Since(start)
			if err := st.Close(); err != nil {
				fail(err)
			}
			fmt.Printf("check=%-5s open %d: %s\n", c, i+1, took.Round(time.Millisecond))
		}
	}
}

func databasePath(dir string) string {
	if dir == "" {
		d, err := os.MkdirTemp("", "checkbench-")
		if err != nil {
			fail(err)
		}
		dir = d
		defer fmt.Printf("temporary directory %s (remove it when done)\n", d)
	}
	return filepath.Join(dir, "authwatch.db")
}

// fill records runs of 2,000 flows with 64 concurrent writers until the
// database file reaches size bytes.
func fill(path string, size int64, blob int) error {
	st, err := sqlite.OpenWith(path, sqlite.Options{Check: sqlite.CheckNone})
	if err != nil {
		return err
	}
	defer st.Close()
	steps, _ := json.Marshal([]map[string]any{{"id": "token", "kind": "client_credentials", "status": "failed",
		"detail": strings.Repeat("x", max(0, blob-120))}})
	base := time.Now().Add(-30 * 24 * time.Hour)
	ctx := context.Background()
	for batch := 0; ; batch++ {
		if fi, err := os.Stat(path); err == nil && fi.Size() >= size {
			return nil
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for w := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					n := batch*64*200 + w*200 + i
					r := store.Run{Flow: fmt.Sprintf("flow-%04d", n%2000), Start: base.Add(time.Duration(n) * time.Millisecond),
						DurationMS: 42, Reason: "invalid_client", Layer: "idp", Summary: "the token endpoint refused the client", Steps: steps}
					if _, err := st.RecordRun(ctx, r); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
	}
}

func dropCaches() {
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		fail(fmt.Errorf("dropping caches: %w", err))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "checkbench:", err)
	os.Exit(1)
}
