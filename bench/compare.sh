#!/usr/bin/env bash
# Run weft's benchmarks side by side with their Go and Tokio ports
# (bench/peers/) and print a table of medians.
#
#   bench/compare.sh               every workload
#   bench/compare.sh REGEX         only the rows whose id matches REGEX
#                                  (grep -E); ids are <bench>/<variant>,
#                                  e.g. pingpong, 'chan_throughput/4p$', skynet,
#                                  echo (the three echo rows)
#
# Environment:
#   ROUNDS=3       runs of every configuration (the table shows medians)
#   QUICK=1        every N divided by 10 (smoke test: about 40 s, figures
#                  too noisy to compare)
#   NOBUILD=1      skip every build (weft, Go, Tokio): reuse the last ones
#   CARGO=PATH     cargo to build the Tokio ports with (default: cargo on
#                  PATH, else /usr/bin/cargo; Debian's cargo 1.65 with its
#                  rustc 1.63 builds them too)
#   RAW=FILE       also keep every raw result line there (default
#                  build/compare/raw-<UTC time>.txt)
#   RUN_TIMEOUT=S  kill a single run after S seconds (default 300)
#   SCALE=1        add the rows sleepers/1M and sleepers/2M (minutes per run
#                  and up to ~9 GiB of memory; select one with the regex)
#
# What it does:
#   1. Checks for Go, GNU time, Debian's tokio and async-channel crates,
#      cargo, gcc and cmake.  Missing ones are installed with apt-get when
#      run as root; otherwise the exact apt-get line is printed and the
#      script exits 1.
#   2. Builds weft's benchmarks (bench/run.sh, which also runs a quick
#      pingpong as a smoke test), the Go ports (GOPROXY=off) and the Tokio
#      ports (cargo --offline against /usr/share/cargo/registry).
#   3. For each row (workload/variant), ROUNDS times: runs weft (bench/run.sh
#      with NOBUILD=1), go1, go2, tokio-ct and tokio-mt (and, for the echo
#      rows, weft-uring, c-epoll and c-uring) one after the other, rotating the
#      starting runtime every round, so that every runtime sees the same
#      machine conditions.
#   4. Before those runs, prints what a fresh page costs on this machine
#      (bench/pages over 16 MiB: one '# name=pages_...' line per figure, the
#      first with the CPU model and the hypervisor flag).
#   5. Prints the raw lines as they come, then the tables: the key metric of
#      every row (median over the rounds), the best peer and
#      weft / best peer (< 1: weft is better, whatever the metric's
#      direction), then wall time (secs), peak RSS (vmhwm_kib), minor page
#      faults per task (the task rows) and the timers' lateness percentiles,
#      and for the echo rows every runtime's round trips/s and server CPU
#      per round trip against issue 11's targets.
#   A full default run takes about 7 minutes of runs (2 without the echo
#   rows) plus the builds (about 1 minute for the Tokio ports from scratch)
#   on a 2-core machine.
#
# Rows and the peers' counterparts:
#   pingpong/unbounded   weft unbounded channel; Go make(chan, 0) "unbuf";
#                        Tokio mpsc::unbounded_channel
#   pingpong/buf1        capacity-1 channels everywhere (Tokio: mpsc::channel(1),
#                        a variant that /work/shared/peers does not have)
#   chan_throughput/1p, 4p              weft and Tokio unbounded; Go's
#                                       channel is always make(chan, 1024)
#   chan_throughput/1p-b1024, 4p-b1024  capacity 1024 everywhere
#   worker_pool          10,000 jobs (20 xorshift64 steps each), 8 workers
#                        sharing one job channel, results to one collector;
#                        both channels capacity 128.  weft: a cloned receiver
#                        per worker (weft_receiver_clone); Go: the one chan;
#                        Tokio: async_channel::bounded (a Receiver clone per
#                        worker; Debian's librust-async-channel-dev)
#   sleepers/100k        100,000 tasks that each sleep 200 ms, joined in
#                        order (Go: goroutines and a WaitGroup); the table
#                        gives ns per task (secs / N) and, below, KiB of
#                        peak RSS per task; sleepers/1M, sleepers/2M with
#                        SCALE=1 (issue 15's scale targets)
#   worker_pool/mutex    the same, the workers sharing one receiver behind a
#                        mutex held while waiting: weft_mutex, Tokio's
#                        Arc<tokio::sync::Mutex<mpsc::Receiver>>; Go has no
#                        such variant: its row shows the plain chan again
#   echo/c1, echo/c50, echo/c500
#                        TCP echo on 127.0.0.1 (issue 11), 512-byte messages,
#                        1, 50 or 500 connections, N round trips (50,000;
#                        200,000; 200,000) after a warm-up of N/10.  ONE load
#                        client for every runtime: bench/echo (a plain
#                        single-thread edge-triggered epoll loop, every
#                        connection always waiting for its echo); only the
#                        server differs, a child process of the client:
#                          weft        bench/echo's own weft server (a task
#                                      per connection, weft_read/weft_write),
#                                      WEFT_IO=epoll
#                          weft-uring  the same with WEFT_IO=uring (a run
#                                      whose server fell back to epoll fails)
#                          go1, go2    bench/peers/go/cmd/echo (net, a
#                                      goroutine per connection), GOMAXPROCS
#                                      1 and 2
#                          tokio-ct, tokio-mt
#                                      bench/peers/tokio/src/bin/echo.rs (a
#                                      task per connection; current_thread,
#                                      multi_thread with 2 workers)
#                          c-epoll     bench/echo_epoll.c: no runtime, one
#                                      level-triggered epoll loop, one read
#                                      and one write per message (the floor)
#                          c-uring     bench/echo_uring.c multishot: no
#                                      runtime, completion-based io_uring
#                                      (multishot recv, provided buffers,
#                                      sends batched into one io_uring_enter
#                                      per loop): the io_uring floor, shown
#                                      beside the targets, not one of them
#                        Key metric rt_per_sec: round trips per second
#                        (higher is better); also server_cpu_ns_per_rt: the
#                        server process's utime + stime (/proc/PID/stat, every
#                        thread; 10 ms ticks) over the measured part / N.
#                        The key metric's "best peer" is the best of Go and
#                        Tokio (issue 11's throughput target: weft >= 1.2x
#                        it at 50 and 500 connections); the echo table adds
#                        weft's CPU per round trip against the lowest peer's,
#                        c-epoll included (target: below every one), and
#                        weft-uring's against c-uring's (no target: how far
#                        from the io_uring floor).
#                        Client and server share the machine's CPUs
#                        (unpinned: /work/shared/docs/IO-ANCHORS.md 4.2 found
#                        pinning them apart 5x slower here), so round trips/s
#                        measure client + server; CPU per round trip is the
#                        server's alone.
#
# Raw lines carry maxrss_kib and minflt (GNU time's %M and %R: peak RSS and
# minor page faults of the whole process) too; for weft both are measured
# around bench/run.sh, so a few MiB of bash can show in maxrss_kib (the RSS
# table uses the programs' own vmhwm_kib), and weft's minflt is GNU time's
# count minus that of bench/run.sh matching no benchmark (measured once
# before the runs, about 4,000 faults of bash, grep and mktemp; kept as
# minflt_harness).
#
# Pages per task (issue 15): the spawn_join, skynet, timers and idle_tasks
# programs of every runtime print minflt_per_task (idle_tasks:
# minflt_per_parked), the minor page faults of their timed phase per task
# (getrusage ru_minflt; a page that MAP_POPULATE or MADV_POPULATE_WRITE
# makes present counts as a fault too).  The last table shows it beside
# GNU time's whole-process count divided by the tasks (tasks= of the
# result line, else n): what issue 15 calls distinct pages touched per task
# started and per task parked.
#
# Exit status: 0 when every run succeeded, 1 when a build or a run failed
# (2: bad arguments).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=$root/bench/peers
filter=${1:-}
rounds=${ROUNDS:-3}
quick=${QUICK:-0}
[[ $quick == 1 ]] || quick=0
run_timeout=${RUN_TIMEOUT:-300}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: ROUNDS must be a positive integer" >&2; exit 2; }

say() { echo "# $*"; }
die() { echo "compare.sh: $*" >&2; exit 1; }

# ------------------------------------------------------------------ rows
# id  bench  N  weft-run.sh-id  go-variant  tokio-variant  metric
# metric: the key field of the result line.
rows=(
    "pingpong/unbounded       pingpong         1000000  pingpong                  unbuf  unbounded  ns_per_op"
    "pingpong/buf1            pingpong         1000000  pingpong/buf1             buf1   buf1       ns_per_op"
    "spawn_join               spawn_join       1000000  spawn_join                -      -          ns_per_op"
    "chan_throughput/1p       chan_throughput  10000000 chan_throughput/1p        1p     1p         msgs_per_sec"
    "chan_throughput/4p       chan_throughput  10000000 chan_throughput/4p        4p     4p         msgs_per_sec"
    "chan_throughput/1p-b1024 chan_throughput  10000000 chan_throughput/1p-b1024  1p     1p-b1024   msgs_per_sec"
    "chan_throughput/4p-b1024 chan_throughput  10000000 chan_throughput/4p-b1024  4p     4p-b1024   msgs_per_sec"
    "timers                   timers           100000   timers                    -      -          late_mean_ms"
    "skynet                   skynet           1000000  skynet                    -      -          ns_per_op"
    "idle_tasks               idle_tasks       100000   idle_tasks                -      -          kib_per_task"
    "worker_pool              worker_pool      10000    worker_pool               clone  clone      ns_per_op"
    "worker_pool/mutex        worker_pool      10000    worker_pool/mutex         clone  mutex      ns_per_op"
    "sleepers/100k            sleepers         100000   sleepers                  -      -          ns_per_op"
    "echo/c1                  echo             50000    echo/conns1               conns1   conns1   rt_per_sec"
    "echo/c50                 echo             200000   echo/conns50              conns50  conns50  rt_per_sec"
    "echo/c500                echo             200000   echo/conns500             conns500 conns500 rt_per_sec"
)
# The scale rows (issue 15): minutes each and GiBs of memory, so only with
# SCALE=1.
if [[ ${SCALE:-0} == 1 ]]; then
    rows+=(
    "sleepers/1M              sleepers         1000000  sleepers/1M               -      -          ns_per_op"
    "sleepers/2M              sleepers         2000000  sleepers/2M               -      -          ns_per_op"
    )
fi
runtimes=(weft go1 go2 tokio-ct tokio-mt)
# Only the echo rows have these servers; other rows show n/a for them.
echo_runtimes=(weft-uring c-epoll c-uring)
benches="pingpong spawn_join chan_throughput timers skynet idle_tasks worker_pool sleepers echo"
bench_build=${BUILD_DIR:-$root/build/bench}

selected=()
for r in "${rows[@]}"; do
    read -r id _ <<<"$r"
    if [[ -z $filter ]] || grep -qE -- "$filter" <<<"$id"; then
        selected+=("$r")
    fi
done
[[ ${#selected[@]} -gt 0 ]] || { echo "compare.sh: no row matches '$filter'" >&2; exit 2; }
for r in "${selected[@]}"; do
    read -r _ b _ <<<"$r"
    if [[ $b == echo ]]; then
        runtimes+=("${echo_runtimes[@]}")
        break
    fi
done

# ------------------------------------------------------------------ deps
find_cargo() {
    if [[ -n ${CARGO:-} ]]; then
        command -v "$CARGO" && return 0
        return 1
    fi
    command -v cargo && return 0
    [[ -x ${HOME:-/root}/.cargo/bin/cargo ]] && { echo "${HOME:-/root}/.cargo/bin/cargo"; return 0; }
    [[ -x /usr/bin/cargo ]] && { echo /usr/bin/cargo; return 0; }
    return 1
}

installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

# Real packages are asked of dpkg; the librust-tokio+<feature>-dev ones are
# virtual (provided by librust-tokio-dev), so the crates they stand for are
# looked for in the registry directory itself.
deb_pkgs=(gcc make cmake libc6-dev golang-go time pkg-config liburing-dev)
tokio_pkgs=(librust-tokio-dev librust-tokio+rt-dev librust-tokio+rt-multi-thread-dev
    librust-tokio+sync-dev librust-tokio+time-dev librust-tokio+net-dev
    librust-tokio+io-util-dev)
# worker_pool's MPMC job channel (a real package, with its own crates).
async_pkgs=(librust-async-channel-dev)
registry=/usr/share/cargo/registry
missing=()
for p in "${deb_pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done
if ! installed librust-tokio-dev || ! compgen -G "$registry/tokio-1.*" >/dev/null ||
    ! compgen -G "$registry/num_cpus-*" >/dev/null ||
    ! compgen -G "$registry/mio-*" >/dev/null ||
    ! compgen -G "$registry/socket2-*" >/dev/null; then
    missing+=("${tokio_pkgs[@]}")
fi
if ! installed librust-async-channel-dev || ! compgen -G "$registry/async-channel-1.*" >/dev/null; then
    missing+=("${async_pkgs[@]}")
fi
# Debian's own cargo (and rustc) only when there is no cargo at all.
find_cargo >/dev/null || missing+=(cargo)
if [[ ${#missing[@]} -gt 0 ]]; then
    line="apt-get install -y --no-install-recommends ${missing[*]}"
    if [[ $(id -u) != 0 ]]; then
        echo "compare.sh: missing packages: ${missing[*]}" >&2
        echo "compare.sh: not root; run:" >&2
        echo "    sudo apt-get update && sudo $line" >&2
        exit 1
    fi
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && $line; } >&2 || die "apt-get failed"
fi
cargo_bin=$(find_cargo) || die "no cargo (set CARGO=...)"
# Debian's cargo must use Debian's rustc, not a rustup proxy found on PATH.
if [[ $cargo_bin == /usr/bin/cargo && -z ${RUSTC:-} ]]; then
    export RUSTC=/usr/bin/rustc
fi
go_bin=$(command -v go || echo /usr/lib/go/bin/go)

# ------------------------------------------------------------------ build
if [[ ${NOBUILD:-} != 1 ]]; then
    say "building weft's benchmarks (bench/run.sh; a quick pingpong as smoke test)"
    if ! out=$(env -u NOBUILD QUICK=1 REPS=1 "$root/bench/run.sh" '^pingpong$' 2>&1); then
        echo "$out" >&2
        die "weft benchmark build (bench/run.sh) failed"
    fi

    say "building the Go ports ($("$go_bin" version))"
    mkdir -p "$peers/go/bin"
    for b in $benches; do
        (cd "$peers/go" &&
            GOPROXY=off GOFLAGS=-mod=mod GOCACHE=${GOCACHE:-$root/build/go-cache} \
                "$go_bin" build -o "bin/$b" "./cmd/$b") || die "go build $b failed"
    done

    say "building the Tokio ports ($("$cargo_bin" --version), ${RUSTC:-rustc} $("${RUSTC:-rustc}" --version 2>/dev/null | awk '{print $2}'))"
    # Cargo.lock is git-ignored and pins nothing (the Debian registry holds
    # one version of each crate); a stale one written by another cargo
    # version may not parse, so it is regenerated every time.
    rm -f "$peers/tokio/Cargo.lock"
    (cd "$peers/tokio" && CARGO_TARGET_DIR="$peers/tokio/target" \
        "$cargo_bin" build --release --offline --bins -q) ||
        die "cargo build failed"
fi
for b in $benches; do
    [[ -x $peers/go/bin/$b ]] || die "missing $peers/go/bin/$b (run without NOBUILD)"
    [[ -x $peers/tokio/target/release/$b ]] || die "missing $peers/tokio/target/release/$b (run without NOBUILD)"
done
for b in echo echo_epoll echo_uring; do
    [[ -x $bench_build/$b ]] || die "missing $bench_build/$b (run without NOBUILD; echo_uring also needs pkg-config and liburing-dev)"
done

# ------------------------------------------------------------------ run
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
raw=${RAW:-$root/build/compare/raw-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$raw")"
: >"$raw"
failed=0

# run_one ROW-ID RUNTIME BENCH N WEFT-ID GO-VARIANT TOKIO-VARIANT
# Appends "ROW-ID RUNTIME <result line> maxrss_kib=... minflt=..." to the raw
# file.  The echo rows run bench/echo (the load client) with each server;
# their maxrss_kib and minflt are the client's, vmhwm_kib the server's.
run_one() {
    local id=$1 rt=$2 b=$3 n=$4 wid=$5 gv=$6 tv=$7 cmd out rc line
    [[ $gv == - ]] && gv=
    [[ $tv == - ]] && tv=
    if [[ $b == echo ]]; then
        local client=("$bench_build/echo" "$n" "$gv")
        case $rt in
        weft) cmd=(env WEFT_IO=epoll "${client[@]}" weft) ;;
        weft-uring) cmd=(env WEFT_IO=uring "${client[@]}" weft-uring) ;;
        go1 | go2)
            cmd=(env -u GOGC -u GOMEMLIMIT -u GODEBUG GOMAXPROCS="${rt#go}"
                "${client[@]}" "$rt" "$peers/go/bin/echo") ;;
        tokio-ct | tokio-mt)
            cmd=("${client[@]}" "$rt" "$peers/tokio/target/release/echo" "${rt#tokio-}") ;;
        c-epoll) cmd=("${client[@]}" c-epoll "$bench_build/echo_epoll") ;;
        c-uring) cmd=("${client[@]}" c-uring "$bench_build/echo_uring" multishot) ;;
        esac
    else
        case $rt in
        weft-uring | c-epoll | c-uring) return 0 ;; # echo rows only
        weft)
            # bench/run.sh divides N itself when QUICK is set (to anything).
            if [[ $quick == 1 ]]; then
                cmd=(env NOBUILD=1 REPS=1 QUICK=1 "$root/bench/run.sh" "^$wid\$")
            else
                cmd=(env -u QUICK NOBUILD=1 REPS=1 "$root/bench/run.sh" "^$wid\$")
            fi ;;
        go1 | go2)
            cmd=(env -u GOGC -u GOMEMLIMIT -u GODEBUG GOMAXPROCS="${rt#go}"
                "$peers/go/bin/$b" "$n" ${gv:+"$gv"}) ;;
        tokio-ct | tokio-mt)
            cmd=("$peers/tokio/target/release/$b" "${rt#tokio-}" "$n" ${tv:+"$tv"}) ;;
        esac
    fi
    out=$(timeout "$run_timeout" /usr/bin/time -f '%M %R' -o "$tmp/rss" "${cmd[@]}" 2>"$tmp/err")
    rc=$?
    line=$(grep -m1 -E '^name=' <<<"$out")
    # weft's note when io_uring is unavailable: the figures would be epoll's.
    if [[ $rt == weft-uring ]] && grep -q "using epoll" "$tmp/err"; then
        rc=1
    fi
    if [[ $rc -ne 0 || -z $line ]]; then
        echo "# FAIL $id $rt (exit $rc): $(tail -n 3 "$tmp/err" | tr '\n' ' ')"
        echo "$id $rt failed" >>"$raw"
        failed=1
    else
        read -r rss flt < <(tail -n 1 "$tmp/rss")
        if [[ $rt == weft ]]; then
            line="$line maxrss_kib=$rss minflt=$((flt - harness_flt)) minflt_harness=$harness_flt"
        else
            line="$line maxrss_kib=$rss minflt=$flt"
        fi
        echo "$line"
        echo "$id $rt $line" >>"$raw"
    fi
}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$root" status --porcelain -- src include 2>/dev/null) ]] && commit="$commit+dirty"
say "compare: rounds=$rounds quick=$quick filter='$filter' nproc=$(nproc) commit=$commit date=$(date -u +%Y-%m-%dT%H:%MZ)"
say "raw lines: $raw"
say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
# The minor faults of bench/run.sh itself, subtracted from weft's minflt.
/usr/bin/time -f %R -o "$tmp/harness" env NOBUILD=1 "$root/bench/run.sh" \
    '^no benchmark has this id$' >/dev/null 2>&1
harness_flt=$(tail -n 1 "$tmp/harness")
[[ $harness_flt =~ ^[0-9]+$ ]] || harness_flt=0
say "minor faults of bench/run.sh alone (subtracted from weft's minflt): $harness_flt"
# What a fresh page costs here (bench/pages, 16 MiB, medians of 5): the
# figure that decides the task rows on a VM (issue 15), kept beside the run.
pages_bin=${BUILD_DIR:-$root/build/bench}/pages
if [[ -x $pages_bin ]]; then
    "$pages_bin" 4096 2>&1 | sed 's/^/# /'
else
    say "no $pages_bin: page costs not measured"
fi
t_start=$(date +%s)
for r in "${selected[@]}"; do
    read -r id b n wid gv tv metric <<<"$r"
    [[ $quick == 1 ]] && n=$((n / 10))
    for ((round = 0; round < rounds; round++)); do
        k=${#runtimes[@]}
        for ((j = 0; j < k; j++)); do
            rt=${runtimes[$(((j + round) % k))]}
            run_one "$id" "$rt" "$b" "$n" "$wid" "$gv" "$tv"
        done
    done
done
say "runs took $(($(date +%s) - t_start)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ tables
# The raw file: "<row> <runtime> <line>" or "<row> <runtime> failed".
metric_of() {
    local r
    for r in "${selected[@]}"; do
        read -r id _ _ _ _ _ metric <<<"$r"
        echo "$id $metric"
    done
}
metric_of >"$tmp/metrics"

echo
echo "## Medians of $rounds rounds$([[ $quick == 1 ]] && echo ' (QUICK=1: N/10)')"
echo
echo "Key metric per row; ratio = weft / best peer for lower-is-better metrics and"
echo "best peer / weft for higher-is-better ones (msgs/s, round trips/s), so ratio < 1"
echo "always means weft is better.  The best peer is the best of Go and Tokio (not"
echo "weft-uring, not c-epoll, not c-uring)."
echo
awk -v runtimes="${runtimes[*]}" '
    FNR == NR { metric[$1] = $2; rows[++nrows] = $1; next }
    {
        id = $1; r = $2
        if ($3 == "failed") { status[id, r] = $3; next }
        for (i = 3; i <= NF; i++) {
            eq = index($i, "=")
            k = substr($i, 1, eq - 1); v = substr($i, eq + 1)
            if (k == metric[id]) { c = ++cnt[id, r, "m"]; val[id, r, "m", c] = v + 0 }
            if (k == "secs") { c = ++cnt[id, r, "s"]; val[id, r, "s", c] = v + 0 }
            if (k == "server_cpu_ns_per_rt") { c = ++cnt[id, r, "c"]; val[id, r, "c", c] = v + 0 }
            if (k == "vmhwm_kib") { c = ++cnt[id, r, "r"]; val[id, r, "r", c] = v + 0 }
            if (k ~ /^late_(p50|p99|max)_ms$/) { c = ++cnt[id, r, k]; val[id, r, k, c] = v + 0 }
            if (k == "minflt_per_task" || k == "minflt_per_parked") { c = ++cnt[id, r, "p"]; val[id, r, "p", c] = v + 0 }
            if (k == "n") n = v + 0
            if (k == "tasks") tasks = v + 0
            if (k == "minflt") flt = v + 0
            if (k == "kib_per_task" && id ~ /^sleepers/) { c = ++cnt[id, r, "k"]; val[id, r, "k", c] = v + 0 }
        }
        if (flt != "" && (tasks > 0 || n > 0)) {
            c = ++cnt[id, r, "w"]; val[id, r, "w", c] = flt / (tasks > 0 ? tasks : n)
        }
        n = 0; tasks = 0; flt = ""
    }
    function median(id, rt, f,    c, a, j, k, t) {
        c = cnt[id, rt, f]
        for (j = 1; j <= c; j++) a[j] = val[id, rt, f, j]
        for (j = 2; j <= c; j++)
            for (k = j; k > 1 && a[k - 1] > a[k]; k--) { t = a[k]; a[k] = a[k - 1]; a[k - 1] = t }
        return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    function unit(m) {
        if (m == "ns_per_op") return "ns/op"
        if (m == "msgs_per_sec") return "M msgs/s (higher is better)"
        if (m == "rt_per_sec") return "K round trips/s (higher is better)"
        if (m == "late_mean_ms") return "mean lateness, ms"
        if (m == "kib_per_task") return "KiB per parked task"
        return m
    }
    function show(m, v) {
        if (m == "msgs_per_sec") return sprintf("%.2f", v / 1e6)
        if (m == "rt_per_sec") return sprintf("%.1f", v / 1e3)
        if (m == "ns_per_op") return sprintf("%.1f", v)
        return sprintf("%.3f", v)
    }
    # The peers of the key metric: Go and Tokio.
    function peer(r) { return r ~ /^(go|tokio)/ }
    function cell(id, rt, f, m) {
        if (cnt[id, rt, f] > 0) return show(m, median(id, rt, f))
        if ((id, rt) in status) return status[id, rt]
        return "n/a"
    }
    # The echo rows: round trips/s and server CPU per round trip of every
    # runtime, then the targets of issue 11: weft >= 1.2x the best of Go and Tokio in
    # round trips/s at 50 and 500 connections; the server CPU per round
    # trip of weft below that of every other server, c-epoll included.
    function echo_tables(nrt,    i, j, id, line, hdr, sep, w, v, bv, best, tput, cpu, ucpu, floor) {
        ne = 0
        for (i = 1; i <= nrows; i++) if (metric[rows[i]] == "rt_per_sec") erows[++ne] = rows[i]
        if (ne == 0) return
        print ""
        print "Echo: round trips/s (K) | server CPU per round trip (ns), medians:"
        print ""
        hdr = "| row |"; sep = "|---|"
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " K rt/s |"; sep = sep "---:|" }
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " ns |"; sep = sep "---:|" }
        print hdr; print sep
        for (i = 1; i <= ne; i++) {
            id = erows[i]; line = "| " id " |"
            for (j = 1; j <= nrt; j++) line = line " " cell(id, rt[j], "m", "rt_per_sec") " |"
            for (j = 1; j <= nrt; j++)
                line = line " " (cnt[id, rt[j], "c"] ? sprintf("%.0f", median(id, rt[j], "c")) : cell(id, rt[j], "c", "")) " |"
            print line
        }
        print ""
        print "Echo against the targets of issue 11 (weft = WEFT_IO=epoll; throughput target at c50 and c500 only):"
        print ""
        print "| row | weft / best Go-Tokio rt/s (target >= 1.20) | weft CPU / lowest other server CPU (target < 1) | weft-uring CPU / lowest other (target < 1) | weft-uring CPU / c-uring (the io_uring floor, no target) |"
        print "|---|---|---|---|---|"
        for (i = 1; i <= ne; i++) {
            id = erows[i]
            tput = "n/a"; best = ""; bv = 0
            for (j = 1; j <= nrt; j++) {
                if (!peer(rt[j]) || !cnt[id, rt[j], "m"]) continue
                v = median(id, rt[j], "m")
                if (best == "" || v > bv) { best = rt[j]; bv = v }
            }
            if (best != "" && cnt[id, "weft", "m"] && bv > 0) {
                w = median(id, "weft", "m") / bv
                tput = sprintf("%.2f (%s)", w, best)
                if (id ~ /c1$/) tput = tput ", no target"
                else tput = tput (w >= 1.2 ? " met" : " NOT met")
            }
            cpu = cpu_ratio(id, "weft", nrt)
            ucpu = cpu_ratio(id, "weft-uring", nrt)
            floor = "n/a"
            if (cnt[id, "weft-uring", "c"] && cnt[id, "c-uring", "c"] && median(id, "c-uring", "c") > 0)
                floor = sprintf("%.2f", median(id, "weft-uring", "c") / median(id, "c-uring", "c"))
            print "| " id " | " tput " | " cpu " | " ucpu " | " floor " |"
        }
    }
    # Server CPU per round trip of X / the lowest of the other servers (weft
    # and weft-uring are not "other" to each other, and c-uring is the floor
    # shown beside the targets: only go, tokio, c-epoll).
    function cpu_ratio(id, x, nrt,    j, lo, lr, v, r) {
        if (!cnt[id, x, "c"]) return "n/a"
        lo = -1; lr = ""
        for (j = 1; j <= nrt; j++) {
            if (rt[j] ~ /^(weft|c-uring)/ || !cnt[id, rt[j], "c"]) continue
            v = median(id, rt[j], "c")
            if (lo < 0 || v < lo) { lo = v; lr = rt[j] }
        }
        if (lo <= 0) return "n/a"
        r = median(id, x, "c") / lo
        return sprintf("%.2f (%s)", r, lr) (r < 1 ? " met" : " NOT met")
    }
    END {
        nrt = split(runtimes, rt, " ")
        hdr = "| row | metric |"; sep = "|---|---|"
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " |"; sep = sep "---:|" }
        print hdr " best peer | weft / best peer |"
        print sep "---|---:|"
        for (i = 1; i <= nrows; i++) {
            id = rows[i]; m = metric[id]; hib = (m == "msgs_per_sec" || m == "rt_per_sec")
            line = "| " id " | " unit(m) " |"
            best = ""; bv = 0
            for (j = 1; j <= nrt; j++) {
                line = line " " cell(id, rt[j], "m", m) " |"
                if (!peer(rt[j]) || cnt[id, rt[j], "m"] == 0) continue
                v = median(id, rt[j], "m")
                if (best == "" || (hib ? v > bv : v < bv)) { best = rt[j]; bv = v }
            }
            ratio = "n/a"
            if (best != "" && cnt[id, "weft", "m"] > 0) {
                w = median(id, "weft", "m")
                if (hib && w > 0) ratio = sprintf("%.2f", bv / w)
                else if (!hib && bv > 0) ratio = sprintf("%.2f", w / bv)
            }
            print line " " (best == "" ? "n/a" : best " " show(m, bv)) " | " ratio " |"
        }
        print ""
        print "Wall time of the measured part (secs, median) | peak RSS (MiB, median of vmhwm_kib):"
        print ""
        hdr = "| row |"; sep = "|---|"
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " s |"; sep = sep "---:|" }
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " MiB |"; sep = sep "---:|" }
        print hdr; print sep
        for (i = 1; i <= nrows; i++) {
            id = rows[i]; line = "| " id " |"
            for (j = 1; j <= nrt; j++)
                line = line " " (cnt[id, rt[j], "s"] ? sprintf("%.3f", median(id, rt[j], "s")) : "n/a") " |"
            for (j = 1; j <= nrt; j++)
                line = line " " (cnt[id, rt[j], "r"] ? sprintf("%.1f", median(id, rt[j], "r") / 1024) : "n/a") " |"
            print line
        }
        pages = 0
        for (i = 1; i <= nrows; i++)
            for (j = 1; j <= nrt; j++)
                if (cnt[rows[i], rt[j], "p"]) pages = 1
        if (pages) {
            print ""
            print "Minor page faults per task (medians): in the program over its timed phase"
            print "(minflt_per_task; idle_tasks: minflt_per_parked, spawned and parked) /"
            print "whole process (GNU time %R / tasks):"
            print ""
            hdr = "| row |"; sep = "|---|"
            for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " |"; sep = sep "---:|" }
            print hdr; print sep
            for (i = 1; i <= nrows; i++) {
                id = rows[i]; any = 0
                for (j = 1; j <= nrt; j++) if (cnt[id, rt[j], "p"]) any = 1
                if (!any) continue
                line = "| " id " |"
                for (j = 1; j <= nrt; j++)
                    line = line " " (cnt[id, rt[j], "p"] ? sprintf("%.3f", median(id, rt[j], "p")) : "n/a") \
                        " / " (cnt[id, rt[j], "w"] ? sprintf("%.3f", median(id, rt[j], "w")) : "n/a") " |"
                print line
            }
        }
        sl = 0
        for (i = 1; i <= nrows; i++)
            for (j = 1; j <= nrt; j++)
                if (cnt[rows[i], rt[j], "k"]) sl = 1
        if (sl) {
            print ""
            print "sleepers, medians: ns per task (secs / N) / KiB of peak RSS per task"
            print ""
            hdr = "| row |"; sep = "|---|"
            for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " |"; sep = sep "---:|" }
            print hdr; print sep
            for (i = 1; i <= nrows; i++) {
                id = rows[i]
                if (id !~ /^sleepers/) continue
                line = "| " id " |"
                for (j = 1; j <= nrt; j++)
                    line = line " " (cnt[id, rt[j], "m"] ? sprintf("%.1f", median(id, rt[j], "m")) : cell(id, rt[j], "m", "ns_per_op")) \
                        " / " (cnt[id, rt[j], "k"] ? sprintf("%.3f", median(id, rt[j], "k")) : "n/a") " |"
                print line
            }
        }
        echo_tables(nrt)
        if (!cnt["timers", "weft", "late_p50_ms"] && !cnt["timers", "tokio-ct", "late_p50_ms"]) exit
        print ""
        print "timers, lateness in ms (medians): p50 / p99 / max"
        print ""
        hdr = "| row |"; sep = "|---|"
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " |"; sep = sep "---:|" }
        print hdr; print sep
        line = "| timers |"
        for (j = 1; j <= nrt; j++) {
            c = ""
            split("late_p50_ms late_p99_ms late_max_ms", ks, " ")
            for (q = 1; q <= 3; q++)
                c = c (q > 1 ? " / " : "") (cnt["timers", rt[j], ks[q]] ? sprintf("%.2f", median("timers", rt[j], ks[q])) : "n/a")
            line = line " " c " |"
        }
        print line
    }' "$tmp/metrics" "$raw"

[[ $failed == 0 ]] || echo "# some runs FAILED (see above)"
exit $failed
