package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// With a commit interval, runs that arrive together share commits; a lone
// run on a quiet store is committed at once (it would otherwise wait the
// hour set here and miss the context's deadline).
func TestCommitInterval(t *testing.T) {
	s, _ := openTemp(t)
	s.SetCommitInterval(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.RecordRun(ctx, sampleRun("lone", 0)); err != nil {
		t.Fatalf("a lone run on a quiet store: %v", err)
	}

	s.SetCommitInterval(500 * time.Millisecond)
	before := s.commits.Load()
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := s.RecordRun(ctx, sampleRun(fmt.Sprintf("flow-%d", i), i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := s.commits.Load() - before; got > n/5 {
		t.Errorf("%d runs arriving together took %d commits; want them batched", n, got)
	}
	runs, err := s.Runs(ctx, "flow-7", 10)
	if err != nil || len(runs) != 1 {
		t.Errorf("flow-7's runs: %d, %v", len(runs), err)
	}
}
