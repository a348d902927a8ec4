// spawn_join: start N goroutines that each hand back their index, then
// collect the results in index order.
//
// A goroutine has no join handle: goroutine i's handle is its own 1-slot
// channel.  The handle slice is made before timing; t0; N spawns
// (spawn_secs); N receives in order; secs = total, join_secs = the rest.
// ops = N.  Check: sum == N(N-1)/2.  minflt_per_task: minor page faults
// (harness.MinFlt) from t0 to the last receive, per goroutine;
// spawn_minflt_per_task: those of the spawns alone.
//
// usage: GOMAXPROCS=P spawn_join [N=1_000_000]
package main

import (
	"time"

	h "weftpeers/internal/harness"
)

func ret(out chan<- uint64, i uint64) { out <- i }

func main() {
	n, _ := h.Args(1_000_000)
	handles := make([]chan uint64, n)

	f0 := h.MinFlt()
	t0 := time.Now()
	for i := range handles {
		c := make(chan uint64, 1)
		handles[i] = c
		go ret(c, uint64(i))
	}
	spawnSecs := h.Secs(t0)
	f1 := h.MinFlt()
	var sum uint64
	for _, c := range handles {
		sum += <-c
	}
	secs := h.Secs(t0)
	f2 := h.MinFlt()

	if want := n * (n - 1) / 2; sum != want {
		h.Fail("sum = %d, expected %d", sum, want)
	}
	h.Report("spawn_join", n, secs, float64(n),
		h.F("spawn_secs", "%.6f", spawnSecs),
		h.F("join_secs", "%.6f", secs-spawnSecs),
		h.F("minflt_per_task", "%.3f", float64(f2-f0)/float64(n)),
		h.F("spawn_minflt_per_task", "%.3f", float64(f1-f0)/float64(n)))
}
