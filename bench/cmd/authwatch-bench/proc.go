package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports (getconf CLK_TCK).
const clockTicks = 100

// statFields are the fields of /proc/PID/stat after the command name:
// f[0] is field 3 (state), f[i] field i+3. The name is in parentheses and
// may hold spaces, so the line is split after its last ')'.
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// statSeconds sums fields a and b of /proc/PID/stat (clock ticks), in
// seconds.
func statSeconds(pid, a, b int) (float64, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	if len(f) <= max(a, b)-3 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	x, err1 := strconv.ParseFloat(f[a-3], 64)
	y, err2 := strconv.ParseFloat(f[b-3], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad fields %d and %d", pid, a, b)
	}
	return (x + y) / clockTicks, nil
}

// cpuSeconds is utime+stime of pid (fields 14 and 15: all its threads), in
// seconds.
func cpuSeconds(pid int) (float64, error) { return statSeconds(pid, 14, 15) }

// ppid is the parent of pid (field 4).
func ppid(pid int) int {
	f, err := statFields(pid)
	if err != nil || len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// children lists the direct children of pid (nginx's workers).
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid(n) == pid {
			out = append(out, n)
		}
	}
	return out
}

// groupCPU sums cpuSeconds over pids, skipping those that are gone.
func groupCPU(pids []int) float64 {
	var t float64
	for _, p := range pids {
		if c, err := cpuSeconds(p); err == nil {
			t += c
		}
	}
	return t
}

// memKB returns VmRSS and VmHWM of pid in KiB.
func memKB(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS", "VmHWM":
			f := strings.Fields(v)
			if len(f) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			if k == "VmRSS" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	return rss, hwm, nil
}

// threads is the number of OS threads of pid.
func threads(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return len(ents)
}

// openFDs counts /proc/PID/fd.
func openFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// machineCPU is the busy and total CPU time of the whole machine, in
// seconds summed over cores, from the first line of /proc/stat.
func machineCPU() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, s := range f[1:] {
		n, _ := strconv.ParseFloat(s, 64)
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy / clockTicks, total / clockTicks
}

// dirSize is the size of the files in dir whose names start with prefix.
func dirSize(dir, prefix string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, e.Name())); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// memSampler records VmRSS of a process every second.
type memSampler struct {
	pid  int
	stop chan struct{}
	once sync.Once
	done chan struct{}

	mu      sync.Mutex
	samples []memSample
}

type memSample struct {
	at  time.Time
	rss int64 // KiB
}

func sampleMemory(pid int, every time.Duration, limit int) *memSampler {
	m := &memSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for range limit {
			rss, _, err := memKB(pid)
			if err != nil {
				return
			}
			m.mu.Lock()
			m.samples = append(m.samples, memSample{time.Now(), rss})
			m.mu.Unlock()
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memSampler) finish() []memSample {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	return m.snapshot()
}

// snapshot is the samples so far; the sampler goes on.
func (m *memSampler) snapshot() []memSample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.samples)
}

// steadyRSS is the median VmRSS (KiB) of the samples in the second half of
// [from, to].
func steadyRSS(s []memSample, from, to time.Time) (median, maxv int64) {
	mid := from.Add(to.Sub(from) / 2)
	var v []int64
	for _, x := range s {
		if !x.at.Before(mid) && !x.at.After(to) {
			v = append(v, x.rss)
		}
	}
	if len(v) == 0 {
		return 0, 0
	}
	slices.Sort(v)
	return v[len(v)/2], v[len(v)-1]
}
