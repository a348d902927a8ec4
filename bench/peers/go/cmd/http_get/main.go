// http_get: N HTTP GETs of one small page with net/http's client, 200 in
// flight at once (the Go port of bench/http_get.c).
//
// 200 goroutines each run N/200 GETs one after the other (the first N%200
// one more); each reads the whole body and closes it, so that the
// connection goes back to the pool.  One http.Client with its own
// Transport: up to 200 idle connections kept per host (net/http's default
// keeps 2, which would close and reopen most connections, where libcurl
// keeps them all), no proxy, no compression asked for (libcurl asks for
// none either).  Timed from before the first goroutine starts until all are
// done (WaitGroup): connection set-up is included.  ops = N.  Check: every
// response has status 200 and a body of exactly HTTP_GET_LEN bytes, else
// exit 1.
//
// usage: HTTP_GET_URL=http://127.0.0.1:PORT/index.html HTTP_GET_LEN=302 \
//
//	GOMAXPROCS=P http_get [N=20_000]
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	h "weftpeers/internal/harness"
)

const conc = 200

func needEnv(name string) string {
	v := os.Getenv(name)
	if v == "" {
		h.Fail("set %s (usage: HTTP_GET_URL=http://HOST:PORT/PAGE "+
			"HTTP_GET_LEN=BYTES http_get [N])", name)
	}
	return v
}

// getLoop runs n GETs of url; it returns the number of checked responses
// and the first failure (nil if none).
func getLoop(client *http.Client, url string, want int, n uint64) (uint64, error) {
	var ok uint64
	for i := uint64(0); i < n; i++ {
		resp, err := client.Get(url)
		if err != nil {
			return ok, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return ok, err
		}
		if resp.StatusCode != 200 || len(body) != want {
			return ok, fmt.Errorf("status %d, %d bytes (expected 200, %d bytes)",
				resp.StatusCode, len(body), want)
		}
		ok++
	}
	return ok, nil
}

func main() {
	n, _ := h.Args(20_000)
	url := needEnv("HTTP_GET_URL")
	lenStr := needEnv("HTTP_GET_LEN")
	want, err := strconv.Atoi(lenStr)
	if err != nil || want < 0 {
		h.Fail("HTTP_GET_LEN='%s' is not a byte count", lenStr)
	}

	client := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: conc,
		DisableCompression:  true,
	}}
	oks := make([]uint64, conc)
	errs := make([]error, conc)

	var done sync.WaitGroup
	done.Add(conc)
	t0 := time.Now()
	for i := 0; i < conc; i++ {
		m := n / conc
		if uint64(i) < n%conc {
			m++
		}
		go func(i int, m uint64) {
			defer done.Done()
			oks[i], errs[i] = getLoop(client, url, want, m)
		}(i, m)
	}
	done.Wait()
	secs := h.Secs(t0)

	var ok uint64
	failed := 0
	for i := range oks {
		ok += oks[i]
		if errs[i] != nil {
			if failed == 0 { // the first failure only
				fmt.Fprintf(os.Stderr, "http_get: GET %s: %v\n", url, errs[i])
			}
			failed++
		}
	}
	if failed > 0 || ok != n {
		h.Fail("%d of %d requests checked, %d goroutine(s) failed", ok, n, failed)
	}
	h.Report("http_get", n, secs, float64(n), h.F("conc", "%d", conc),
		h.F("req_per_sec", "%.0f", float64(n)/secs))
}
