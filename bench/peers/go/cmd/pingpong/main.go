// pingpong: two goroutines bounce a counter over two channels A and B.
//
//	pong: for v := range A { B <- v + 1 }      (exits when A is closed)
//	ping: v = 0; N times { A <- v; v = <-B }; close(A)
//
// Timed from just before the two goroutines start until both are done
// (WaitGroup); ops = N round trips.  Check: v == N.
// Variants: unbuf (make(chan uint64)) and buf1 (make(chan uint64, 1)).
//
// usage: GOMAXPROCS=P pingpong [N=1_000_000] [unbuf|buf1]
package main

import (
	"sync"
	"time"

	h "weftpeers/internal/harness"
)

func main() {
	n, variant := h.Args(1_000_000, "unbuf", "buf1")
	capacity := 0
	if variant == "buf1" {
		capacity = 1
	}
	a := make(chan uint64, capacity)
	b := make(chan uint64, capacity)

	var done sync.WaitGroup
	var final uint64
	done.Add(2)
	t0 := time.Now()
	go func() { // pong
		defer done.Done()
		for v := range a {
			b <- v + 1
		}
	}()
	go func() { // ping
		defer done.Done()
		var v uint64
		for i := uint64(0); i < n; i++ {
			a <- v
			v = <-b
		}
		close(a)
		final = v
	}()
	done.Wait()
	secs := h.Secs(t0)

	if final != n {
		h.Fail("v = %d, expected %d", final, n)
	}
	h.Report("pingpong", n, secs, float64(n), h.F("variant", "%s", variant))
}
