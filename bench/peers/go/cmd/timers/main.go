// timers: N goroutines each sleep d_i ms and measure how late they wake.
//
// d_i = 1 + (x_i mod 1000), x_i the i-th xorshift64 output seeded with 42,
// all drawn before timing (dur_sum_ms = 50,121,566 for N = 100,000).
// t0; start N goroutines; goroutine i: deadline = now + d_i ms;
// time.Sleep(time.Until(deadline)); late_i = now - deadline (signed);
// counter++ (atomic).  The parent waits on a WaitGroup.  secs = t0 .. all
// done (ideal ~1.0 s).  Check: counter == N.  Lateness mean/p50/p99/max/min
// in ms, percentile = sorted[round((N-1) q)].  minflt_per_task: minor page
// faults (harness.MinFlt) from t0 to all done, per goroutine.
//
// usage: GOMAXPROCS=P timers [N=100_000]
package main

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	h "weftpeers/internal/harness"
)

func main() {
	n, _ := h.Args(100_000)
	dur := make([]time.Duration, n)
	late := make([]int64, n)
	rng := h.Xorshift64(42)
	var durSum uint64
	for i := range dur {
		ms := 1 + rng.Next()%1000
		durSum += ms
		dur[i] = time.Duration(ms) * time.Millisecond
	}

	var counter uint64
	var all sync.WaitGroup
	all.Add(int(n))
	f0 := h.MinFlt()
	t0 := time.Now()
	for i := range dur {
		go func(i int) {
			deadline := time.Now().Add(dur[i])
			time.Sleep(time.Until(deadline))
			late[i] = int64(time.Since(deadline)) // negative: early
			atomic.AddUint64(&counter, 1)
			all.Done()
		}(i)
	}
	all.Wait()
	secs := h.Secs(t0)
	flt := h.MinFlt() - f0

	if counter != n {
		h.Fail("counter = %d, expected %d", counter, n)
	}
	var total float64
	for _, l := range late {
		total += float64(l)
	}
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	pct := func(q float64) float64 {
		return float64(late[int(math.Round(float64(n-1)*q))]) / 1e6
	}
	h.Report("timers", n, secs, float64(n),
		h.F("late_mean_ms", "%.3f", total/float64(n)/1e6),
		h.F("late_p50_ms", "%.3f", pct(0.5)),
		h.F("late_p99_ms", "%.3f", pct(0.99)),
		h.F("late_max_ms", "%.3f", float64(late[n-1])/1e6),
		h.F("late_min_ms", "%.3f", float64(late[0])/1e6),
		h.F("dur_sum_ms", "%d", durSum),
		h.F("minflt_per_task", "%.3f", float64(flt)/float64(n)))
}
