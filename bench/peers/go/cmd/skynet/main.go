// skynet: a tree of goroutines.  skynet(num, size) starts 10 children
// skynet(num + i*size/10, size/10) and sums their results; a leaf (size 1)
// reports num.  Every node, leaves included, is a goroutine.  Channel form:
// a parent makes one unbuffered channel, all 10 children send their result
// on it, the parent receives 10 values and sends the sum on its own
// parent's channel.
//
// The root is itself a goroutine.  Timed from just before it starts until
// its result arrives.  N = 10^6: 1,111,111 goroutines, result 499999500000.
// ops = number of nodes.  The check compares with the same recursion done
// as plain calls (which also counts the nodes).  minflt_per_task: minor
// page faults (harness.MinFlt) over the timed part, per node.
//
// usage: GOMAXPROCS=P skynet [N=1_000_000]
package main

import (
	"time"

	h "weftpeers/internal/harness"
)

const div = 10

func skynet(out chan<- uint64, num, size uint64) {
	if size == 1 {
		out <- num
		return
	}
	sub := size / div
	results := make(chan uint64)
	for i := uint64(0); i < div; i++ {
		go skynet(results, num+i*sub, sub)
	}
	var sum uint64
	for i := 0; i < div; i++ {
		sum += <-results
	}
	out <- sum
}

func plain(num, size uint64, nodes *uint64) uint64 {
	*nodes++
	if size == 1 {
		return num
	}
	sub := size / div
	var sum uint64
	for i := uint64(0); i < div; i++ {
		sum += plain(num+i*sub, sub, nodes)
	}
	return sum
}

func main() {
	n, _ := h.Args(1_000_000)
	var nodes uint64
	want := plain(0, n, &nodes)

	root := make(chan uint64)
	f0 := h.MinFlt()
	t0 := time.Now()
	go skynet(root, 0, n)
	sum := <-root
	secs := h.Secs(t0)
	flt := h.MinFlt() - f0

	if sum != want {
		h.Fail("sum = %d, expected %d", sum, want)
	}
	h.Report("skynet", n, secs, float64(nodes),
		h.F("tasks", "%d", nodes), h.F("sum", "%d", sum),
		h.F("minflt_per_task", "%.3f", float64(flt)/float64(nodes)))
}
