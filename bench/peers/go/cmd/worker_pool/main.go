// worker_pool: a feeder goroutine sends N jobs over one job channel that 8
// worker goroutines share; each worker does the job and sends its result
// over one result channel to the collector (the main goroutine).
//
//	job j (0 <= j < N): x = j + 1; 20 times { x ^= x << 13; x ^= x >> 7;
//	                    x ^= x << 17 } (xorshift64); the result is x
//	feeder:    sends 0..N-1 in order on the job channel, closes it
//	worker w:  for j := range jobs { results <- job(j) }; reports its count
//	collector: receives until the result channel is closed (a closer
//	           goroutine closes it once every worker is done), adding the
//	           results (mod 2^64) and counting them
//
// Both channels are make(chan uint64, 128), as in every port.  Timed from
// just before the workers start (then the feeder) until the result channel
// is drained and every worker's count is in; ops = N jobs.  Check:
// count == N, sum == the sum of the N results computed again afterwards,
// the workers' counts add up to N.  jobs_min/jobs_max: the fewest and most
// jobs one worker did.  One variant, clone: a Go channel is MPMC already,
// so it is also the counterpart of weft's mutex variant.
//
// usage: GOMAXPROCS=P worker_pool [N=10_000] [clone]
package main

import (
	"sync"
	"time"

	h "weftpeers/internal/harness"
)

const (
	workers   = 8
	capacity  = 128
	jobRounds = 20
)

// job is jobRounds steps of Marsaglia's xorshift64 (13/7/17) from j + 1.
func job(j uint64) uint64 {
	x := j + 1
	for i := 0; i < jobRounds; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func main() {
	n, variant := h.Args(10_000, "clone")
	jobs := make(chan uint64, capacity)
	results := make(chan uint64, capacity)
	var done [workers]uint64
	var working sync.WaitGroup
	working.Add(workers)

	t0 := time.Now()
	for w := 0; w < workers; w++ {
		go func(w int) {
			defer working.Done()
			var d uint64
			for j := range jobs {
				results <- job(j)
				d++
			}
			done[w] = d
		}(w)
	}
	go func() {
		for j := uint64(0); j < n; j++ {
			jobs <- j
		}
		close(jobs)
	}()
	go func() {
		working.Wait()
		close(results)
	}()
	var sum, count uint64
	for r := range results {
		sum += r
		count++
	}
	// The closer saw every worker done: their counts are written.
	var total, lo, hi uint64 = 0, ^uint64(0), 0
	for _, d := range done {
		total += d
		if d < lo {
			lo = d
		}
		if d > hi {
			hi = d
		}
	}
	secs := h.Secs(t0)

	var want uint64
	for j := uint64(0); j < n; j++ {
		want += job(j)
	}
	if count != n || sum != want || total != n {
		h.Fail("count = %d sum = %d jobs = %d, expected %d, %d and %d",
			count, sum, total, n, want, n)
	}
	h.Report("worker_pool", n, secs, float64(n),
		h.F("variant", "%s", variant),
		h.F("workers", "%d", workers),
		h.F("jobs_min", "%d", lo),
		h.F("jobs_max", "%d", hi))
}
