// Package harness holds what the Go ports of weft's benchmarks share:
// command-line parsing, the result line, /proc/self/status readings and
// the xorshift64 generator of the timers workload.
//
// A program is run as `<bench> [N] [variant]`; GOMAXPROCS (environment)
// picks the scheduler width and the runtime label: go1, go2, ...
package harness

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Args returns N (first argument, '_' separators allowed, default defN) and
// the variant (second argument, default variants[0]). A variant outside
// variants is a usage error (exit 2).
func Args(defN uint64, variants ...string) (uint64, string) {
	n := defN
	if len(os.Args) > 1 {
		v, err := strconv.ParseUint(strings.ReplaceAll(os.Args[1], "_", ""), 10, 64)
		if err != nil || v == 0 {
			usage(variants)
		}
		n = v
	}
	variant := ""
	if len(variants) > 0 {
		variant = variants[0]
	}
	if len(os.Args) > 2 {
		variant = os.Args[2]
		ok := false
		for _, v := range variants {
			ok = ok || v == variant
		}
		if !ok {
			usage(variants)
		}
	}
	if len(os.Args) > 3 {
		usage(variants)
	}
	return n, variant
}

func usage(variants []string) {
	fmt.Fprintf(os.Stderr, "usage: GOMAXPROCS=P %s [N] [%s]\n", os.Args[0],
		strings.Join(variants, "|"))
	os.Exit(2)
}

// Label is the runtime= field: "go" followed by GOMAXPROCS.
func Label() string { return "go" + strconv.Itoa(runtime.GOMAXPROCS(0)) }

// Secs is the time since t0 in seconds, from the monotonic reading that
// time.Now carries.
func Secs(t0 time.Time) float64 { return time.Since(t0).Seconds() }

// StatusKiB reads one "Key: value kB" field of /proc/self/status (0 if
// absent).
func StatusKiB(key string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	prefix := key + ":"
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			fields := strings.Fields(line[len(prefix):])
			if len(fields) > 0 {
				v, _ := strconv.ParseUint(fields[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

// MinFlt is the process's minor page faults so far (getrusage(RUSAGE_SELF)
// ru_minflt, every thread's): the delta around a phase counts the fresh
// pages it made present, as weft's bench_minflt does.
func MinFlt() uint64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return uint64(ru.Minflt)
}

// Field is one extra key=value pair of the result line.
type Field struct {
	Key   string
	Value string
}

// F formats one extra field: F("variant", "%s", v).
func F(key, format string, a ...interface{}) Field {
	return Field{key, fmt.Sprintf(format, a...)}
}

// Report prints the result line
//
//	name=<name> runtime=go<P> n=<n> secs=<s> ns_per_op=<ns> [extra...] vmhwm_kib=<KiB>
//
// with ns_per_op = secs * 1e9 / ops.
func Report(name string, n uint64, secs, ops float64, extra ...Field) {
	var b strings.Builder
	fmt.Fprintf(&b, "name=%s runtime=%s n=%d secs=%.6f ns_per_op=%.1f",
		name, Label(), n, secs, secs*1e9/ops)
	for _, f := range extra {
		fmt.Fprintf(&b, " %s=%s", f.Key, f.Value)
	}
	fmt.Fprintf(&b, " vmhwm_kib=%d\n", StatusKiB("VmHWM"))
	os.Stdout.WriteString(b.String())
}

// Fail reports a failed check on stderr and exits 1.
func Fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, os.Args[0]+": "+format+"\n", a...)
	os.Exit(1)
}

// Xorshift64 is Marsaglia's 13/7/17 generator; Next returns the new state.
type Xorshift64 uint64

func (s *Xorshift64) Next() uint64 {
	x := uint64(*s)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*s = Xorshift64(x)
	return x
}
