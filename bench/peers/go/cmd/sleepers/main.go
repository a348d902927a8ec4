// sleepers: scale, N goroutines that each sleep 200 ms (issue 15; Go port of
// weft's bench/sleepers.c).
//
//  1. rss0 = VmRSS (nothing started yet); the WaitGroup is made untimed.
//  2. t0; start N goroutines (spawn_secs); goroutine i: time.Sleep(200 ms),
//     counter++ (atomic), Done.  The parent waits on the WaitGroup.
//     secs = t0 .. all done (ideal: 0.2 s plus the starts).
//  3. peak = VmHWM after the wait.
//
// ns_per_op = secs / N (time per goroutine); over_ns_per_task = (secs -
// 0.2 s) / N; kib_per_task = (VmHWM - rss0) / N; minflt_per_task = minor
// page faults (harness.MinFlt) from t0 to all done, per goroutine.
// Check: counter == N.
//
// usage: GOMAXPROCS=P sleepers [N=100_000]
package main

import (
	"sync"
	"sync/atomic"
	"time"

	h "weftpeers/internal/harness"
)

const sleep = 200 * time.Millisecond

func main() {
	n, _ := h.Args(100_000)
	var counter uint64
	var all sync.WaitGroup
	all.Add(int(n))

	rss0 := h.StatusKiB("VmRSS")
	f0 := h.MinFlt()
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		go func() {
			time.Sleep(sleep)
			atomic.AddUint64(&counter, 1)
			all.Done()
		}()
	}
	spawnSecs := h.Secs(t0)
	all.Wait()
	secs := h.Secs(t0)
	flt := h.MinFlt() - f0

	if counter != n {
		h.Fail("counter = %d, expected %d", counter, n)
	}
	var delta uint64
	if hwm := h.StatusKiB("VmHWM"); hwm > rss0 {
		delta = hwm - rss0
	}
	h.Report("sleepers", n, secs, float64(n),
		h.F("over_ns_per_task", "%.1f", (secs-sleep.Seconds())*1e9/float64(n)),
		h.F("spawn_secs", "%.6f", spawnSecs),
		h.F("kib_per_task", "%.3f", float64(delta)/float64(n)),
		h.F("minflt_per_task", "%.3f", float64(flt)/float64(n)))
}
