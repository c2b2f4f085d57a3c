package sqlite

import (
	"context"
	"testing"
)

// TestRunsBefore: pages of a flow's history follow one another without a
// gap or a repeat, in the order of Runs, also across runs that share a
// start; a cursor of another flow or a pruned run gives nothing.
func TestRunsBefore(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for i := range 10 {
		record(t, s, sampleRun("a", i/2)) // pairs of runs share a start
		record(t, s, sampleRun("b", i))
	}
	all, err := s.Runs(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	var paged []int64
	page, err := s.Runs(ctx, "a", 3)
	for err == nil && len(page) > 0 {
		for _, r := range page {
			paged = append(paged, r.ID)
		}
		page, err = s.RunsBefore(ctx, "a", page[len(page)-1].ID, 3)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(paged) != len(all) {
		t.Fatalf("paged %d runs, want %d", len(paged), len(all))
	}
	for i, r := range all {
		if paged[i] != r.ID {
			t.Fatalf("page order %v differs from Runs at %d", paged, i)
		}
	}
	other, _ := s.Runs(ctx, "b", 1)
	if got, err := s.RunsBefore(ctx, "a", other[0].ID, 3); err != nil || len(got) != 0 {
		t.Errorf("a cursor of flow b: %d runs, %v", len(got), err)
	}
	if got, err := s.RunsBefore(ctx, "a", 1<<40, 3); err != nil || len(got) != 0 {
		t.Errorf("a cursor of no run: %d runs, %v", len(got), err)
	}
}
