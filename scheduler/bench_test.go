package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authwatch/authwatch/flows"
	"github.com/authwatch/authwatch/internal/conf"
)

func noop(_ context.Context, f *flows.Flow) *flows.Result {
	return &flows.Result{Flow: f.Name, OK: true}
}

func thousandFlows(digest string) []*flows.Flow {
	fs := make([]*flows.Flow, 1000)
	for i := range fs {
		if i%10 == 9 {
			fs[i] = &flows.Flow{Name: fmt.Sprintf("flow-%d", i), Cron: "*/5 * * * *", Digest: digest}
			continue
		}
		fs[i] = &flows.Flow{Name: fmt.Sprintf("flow-%d", i), Every: conf.Dur(time.Hour), Digest: digest}
	}
	return fs
}

// BenchmarkApply1000 applies 1,000 flows (900 every, 100 cron) to a
// running scheduler: all new, all unchanged (a reload that changed
// nothing), and all changed.
func BenchmarkApply1000(b *testing.B) {
	start := func(b *testing.B) *Scheduler {
		s, err := New(noop, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Start()
		return s
	}
	b.Run("new", func(b *testing.B) {
		fs := thousandFlows("v1")
		for b.Loop() {
			b.StopTimer()
			s := start(b)
			b.StartTimer()
			if added, _, _, err := s.Apply(fs); err != nil || added != 1000 {
				b.Fatal(added, err)
			}
			b.StopTimer()
			_ = s.Shutdown(context.Background())
			b.StartTimer()
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		s := start(b)
		defer s.Shutdown(context.Background())
		if _, _, _, err := s.Apply(thousandFlows("v1")); err != nil {
			b.Fatal(err)
		}
		fs := thousandFlows("v1")
		for b.Loop() {
			if _, _, kept, err := s.Apply(fs); err != nil || kept != 1000 {
				b.Fatal(kept, err)
			}
		}
	})
	b.Run("changed", func(b *testing.B) {
		s := start(b)
		defer s.Shutdown(context.Background())
		sets := [2][]*flows.Flow{thousandFlows("v1"), thousandFlows("v2")}
		if _, _, _, err := s.Apply(sets[0]); err != nil {
			b.Fatal(err)
		}
		i := 1
		for b.Loop() {
			if added, _, _, err := s.Apply(sets[i%2]); err != nil || added != 1000 {
				b.Fatal(added, err)
			}
			i++
		}
	})
}
