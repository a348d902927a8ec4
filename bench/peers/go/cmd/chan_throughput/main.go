// chan_throughput: P producer goroutines send 0..N-1 over one
// make(chan uint64, 1024) to one consumer, which sums and counts until the
// channel is closed.
//
// Producer k sends k*(N/P) .. (k+1)*(N/P)-1 (the last one also the
// remainder up to N-1).  A closer goroutine waits for all producers and
// closes the channel.  Timed from just before the consumer starts (first,
// then the producers) until the consumer is done.  ops = N;
// msgs_per_sec = N / secs.  Check: count == N and sum == N(N-1)/2.
// Variants: 1p (P = 1), 4p (P = 4).  A Go channel is always bounded, so
// these are also the counterparts of weft's 1p-b1024 / 4p-b1024.
//
// usage: GOMAXPROCS=P chan_throughput [N=10_000_000] [1p|4p]
package main

import (
	"sync"
	"time"

	h "weftpeers/internal/harness"
)

func main() {
	n, variant := h.Args(10_000_000, "1p", "4p")
	producers := uint64(1)
	if variant == "4p" {
		producers = 4
	}
	ch := make(chan uint64, 1024)
	var sum, count uint64
	consumed := make(chan struct{})
	var sending sync.WaitGroup
	sending.Add(int(producers))
	share := n / producers

	t0 := time.Now()
	go func() {
		var s, c uint64
		for v := range ch {
			s += v
			c++
		}
		sum, count = s, c
		close(consumed)
	}()
	for k := uint64(0); k < producers; k++ {
		lo, hi := k*share, (k+1)*share
		if k == producers-1 {
			hi = n
		}
		go func(lo, hi uint64) {
			defer sending.Done()
			for v := lo; v < hi; v++ {
				ch <- v
			}
		}(lo, hi)
	}
	go func() {
		sending.Wait()
		close(ch)
	}()
	<-consumed
	secs := h.Secs(t0)

	if want := n * (n - 1) / 2; count != n || sum != want {
		h.Fail("count = %d sum = %d, expected %d and %d", count, sum, n, want)
	}
	h.Report("chan_throughput", n, secs, float64(n),
		h.F("variant", "%s", variant),
		h.F("msgs_per_sec", "%.0f", float64(n)/secs))
}
