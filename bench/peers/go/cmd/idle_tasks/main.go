// idle_tasks: what a parked goroutine costs in memory.
//
//  1. rss0 = VmRSS (nothing started yet).
//  2. t0; for i < N: make channel i (unbuffered), start goroutine i
//     (parked++, then v = <-channel i, store v in slot i); the parent keeps
//     the channels and the result slots in slices made here.
//  3. Wait until parked == N (1 ms sleeps), then 50 ms more (untimed).
//  4. rss1 = VmRSS; kib_per_task = (rss1 - rss0) / N.
//  5. t1; send i on channel i; wait for all (WaitGroup).
//     Check: sum of the slots == N(N-1)/2.
//
// secs = spawn_secs + wake_secs; ops = N.
// minflt_per_parked: minor page faults (harness.MinFlt) from step 2 to step
// 4, per goroutine; minflt_per_wake: those of step 5, per goroutine.
//
// usage: GOMAXPROCS=P idle_tasks [N=100_000]
package main

import (
	"sync"
	"sync/atomic"
	"time"

	h "weftpeers/internal/harness"
)

func main() {
	n, _ := h.Args(100_000)
	var parked uint64
	var woken sync.WaitGroup

	rss0 := h.StatusKiB("VmRSS")
	f0 := h.MinFlt()
	t0 := time.Now()
	chans := make([]chan uint64, n)
	slots := make([]uint64, n)
	woken.Add(int(n))
	for i := range chans {
		c := make(chan uint64)
		chans[i] = c
		go func(c <-chan uint64, slot *uint64) {
			atomic.AddUint64(&parked, 1)
			*slot = <-c
			woken.Done()
		}(c, &slots[i])
	}
	spawnSecs := h.Secs(t0)

	for atomic.LoadUint64(&parked) < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	rss1 := h.StatusKiB("VmRSS")
	f1 := h.MinFlt()

	t1 := time.Now()
	for i, c := range chans {
		c <- uint64(i)
	}
	woken.Wait()
	wakeSecs := h.Secs(t1)
	f2 := h.MinFlt()

	var sum uint64
	for _, v := range slots {
		sum += v
	}
	if want := n * (n - 1) / 2; sum != want {
		h.Fail("sum = %d, expected %d", sum, want)
	}
	var delta uint64
	if rss1 > rss0 {
		delta = rss1 - rss0
	}
	h.Report("idle_tasks", n, spawnSecs+wakeSecs, float64(n),
		h.F("kib_per_task", "%.3f", float64(delta)/float64(n)),
		h.F("rss_before_kib", "%d", rss0),
		h.F("rss_parked_kib", "%d", rss1),
		h.F("spawn_secs", "%.6f", spawnSecs),
		h.F("wake_secs", "%.6f", wakeSecs),
		h.F("minflt_per_parked", "%.3f", float64(f1-f0)/float64(n)),
		h.F("minflt_per_wake", "%.3f", float64(f2-f1)/float64(n)))
}
