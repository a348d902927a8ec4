#!/usr/bin/env bash
# The HTTP benchmarks of issue 12 (weft-http, examples/http_server.c), side
# by side with Go's net/http, and a table of medians.
#
#   bench/http.sh               every row
#   bench/http.sh REGEX         only the rows whose id matches REGEX (grep -E):
#                               http_get, wrk/c50, wrk/c256
#
# Rows:
#   http_get   the client: N GETs of examples/www/PAGE, 200 in flight
#              (bench/http_get.c on weft-http, i.e. libcurl's multi-socket
#              interface on weft's reactor; bench/peers/go/cmd/http_get on
#              net/http), against the SAME server every time: weft's
#              examples/http_server, a fresh one per run.  Key metric
#              ns_per_op (wall time / N).  Every response is checked (status
#              200, exact body length) by the client.
#   wrk/c50, wrk/c256
#              the server: `wrk -t1 -cC -dWRK_SECS --latency` on PAGE against
#              weft's examples/http_server (one thread, a task per
#              connection) and against bench/peers/go/cmd/http_server (the
#              same static-file serving on net/http), a fresh server per
#              run.  Key metric: requests/s.  Also: wrk's mean and p99
#              latency, the server's CPU time (all its threads, from
#              /proc/PID/stat) per request, its peak RSS, and wrk's own CPU
#              use (near 100 %: wrk, not the server, is the limit).  A curl
#              of PAGE checks each server's answer first; a run with non-2xx
#              answers or socket errors counts as failed.
#   Runtimes: weft (one thread), go1 and go2 (GOMAXPROCS=1 and 2).
#
# CPU placement (2 CPUs or more; PIN=0 turns it off): weft's server and the
# go1 server run on CPU 1 (taskset -c 1), wrk and the weft and go1 clients
# on CPU 0 (taskset -c 0).  go2, client or server, is not pinned: it may use
# both CPUs, sharing them with the other side.
#
# Environment:
#   ROUNDS=3        runs of every configuration, the starting runtime rotated
#                   every round (the table shows medians)
#   QUICK=1         smoke test: N/10 and WRK_SECS=1
#   N=40000         requests of an http_get run
#   WRK_SECS=5      duration of a wrk run
#   PAGE=index.html the page of examples/www fetched (302 bytes)
#   NOBUILD=1       skip the builds (weft's bench tree and the Go programs)
#   BUILD_DIR       weft's bench tree (default build/bench)
#   RAW=FILE        also keep every raw result line there (default
#                   build/http/raw-<UTC time>.txt)
#   RUN_TIMEOUT=S   kill a single client or wrk run after S seconds
#                   (default 120); every server also runs under timeout
#
# What it does:
#   1. Checks for wrk, Go, GNU time, curl, gcc, cmake and the weft-http
#      libraries (libcurl, gumbo, http_parser); missing ones are installed
#      with apt-get when run as root, else the apt-get line is printed and
#      the script exits 1.
#   2. Builds weft's bench tree (bench/run.sh: Release, LTO; it builds
#      http_get and, from examples/http_server.c, http_server there) and the
#      Go programs (GOPROXY=off).
#   3. For each row, ROUNDS times, each runtime in turn; prints the raw
#      lines as they come, then the tables.  Every server is stopped
#      (SIGTERM, then SIGKILL) after its run and on any exit (trap).
#   Loopback only (127.0.0.1).  A default run takes about 2.5 minutes.
#
# Exit status: 0 when every run succeeded, 1 when a build or a run failed
# (2: bad arguments).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=$root/bench/peers
build=${BUILD_DIR:-$root/build/bench}
www=$root/examples/www
filter=${1:-}
rounds=${ROUNDS:-3}
quick=${QUICK:-0}
[[ $quick == 1 ]] || quick=0
n_get=${N:-40000}
wrk_secs=${WRK_SECS:-5}
page=${PAGE:-index.html}
run_timeout=${RUN_TIMEOUT:-120}

say() { echo "# $*"; }
die() {
    echo "http.sh: $*" >&2
    exit 1
}
usage() {
    echo "http.sh: $*" >&2
    exit 2
}

[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage "ROUNDS must be a positive integer"
[[ $n_get =~ ^[1-9][0-9]*$ ]] || usage "N must be a positive integer"
[[ $wrk_secs =~ ^[1-9][0-9]*$ ]] || usage "WRK_SECS must be a positive integer"
[[ $run_timeout =~ ^[1-9][0-9]*$ ]] || usage "RUN_TIMEOUT must be a positive integer"
if [[ $quick == 1 ]]; then
    n_get=$((n_get / 10))
    wrk_secs=1
fi
[[ -f $www/$page ]] || usage "no page $www/$page (PAGE=...)"
page_len=$(stat -c %s "$www/$page")

# id  kind  conns  metric
rows=(
    "http_get  client  200  ns_per_op"
    "wrk/c50   wrk     50   req_per_sec"
    "wrk/c256  wrk     256  req_per_sec"
)
runtimes=(weft go1 go2)
selected=()
for r in "${rows[@]}"; do
    read -r id _ <<<"$r"
    if [[ -z $filter ]] || grep -qE -- "$filter" <<<"$id"; then
        selected+=("$r")
    fi
done
[[ ${#selected[@]} -gt 0 ]] || usage "no row matches '$filter'"

# ------------------------------------------------------------------ deps
installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}
deb_pkgs=(gcc make cmake pkg-config libc6-dev golang-go wrk time curl
    libcurl4-openssl-dev libgumbo-dev libhttp-parser-dev)
missing=()
for p in "${deb_pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    line="apt-get install -y --no-install-recommends ${missing[*]}"
    if [[ $(id -u) != 0 ]]; then
        echo "http.sh: missing packages: ${missing[*]}" >&2
        echo "http.sh: not root; run:" >&2
        echo "    sudo apt-get update && sudo $line" >&2
        exit 1
    fi
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && $line; } >&2 || die "apt-get failed"
fi
go_bin=$(command -v go || echo /usr/lib/go/bin/go)
[[ -x $go_bin ]] || die "no go (Debian golang-go)"

# ------------------------------------------------------------------ build
if [[ ${NOBUILD:-} != 1 ]]; then
    say "building weft's bench tree (bench/run.sh; a quick pingpong as smoke test)"
    if ! out=$(env -u NOBUILD QUICK=1 REPS=1 BUILD_DIR="$build" \
        "$root/bench/run.sh" '^pingpong$' 2>&1); then
        echo "$out" >&2
        die "weft benchmark build (bench/run.sh) failed"
    fi
    say "building the Go programs ($("$go_bin" version))"
    mkdir -p "$peers/go/bin"
    for b in http_get http_server; do
        (cd "$peers/go" &&
            GOPROXY=off GOFLAGS=-mod=mod GOCACHE=${GOCACHE:-$root/build/go-cache} \
                "$go_bin" build -o "bin/$b" "./cmd/$b") || die "go build $b failed"
    done
fi
for f in "$build/http_get" "$build/http_server"; do
    [[ -x $f ]] || die "missing $f: weft-http or http_parser was not found when \
bench/CMakeLists.txt was configured (see its messages; run without NOBUILD)"
done
for b in http_get http_server; do
    [[ -x $peers/go/bin/$b ]] || die "missing $peers/go/bin/$b (run without NOBUILD)"
done

# ------------------------------------------------------------------ placement
pin_server=() pin_client=()
if [[ ${PIN:-1} == 1 && $(nproc) -ge 2 ]]; then
    pin_server=(taskset -c 1)
    pin_client=(taskset -c 0)
    placement="servers weft/go1 on CPU 1, wrk and clients weft/go1 on CPU 0, go2 unpinned"
else
    placement="nothing pinned"
fi
# Loopback only: no proxy may take the requests.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy=127.0.0.1 NO_PROXY=127.0.0.1

# ------------------------------------------------------------------ servers
tmp=$(mktemp -d)
srv_tpid= # the timeout process wrapping the running server
srv_pid=  # the server itself
srv_port=
stop_server() {
    [[ -n $srv_tpid ]] || return 0
    local rc=0 i
    kill -TERM "$srv_tpid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$srv_tpid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$srv_tpid" 2>/dev/null; then
        echo "http.sh: server $srv_pid ignored SIGTERM for 5 s: SIGKILL" >&2
        kill -KILL "$srv_pid" "$srv_tpid" 2>/dev/null || true
    fi
    wait "$srv_tpid" 2>/dev/null || rc=$?
    srv_tpid='' srv_pid='' srv_port=''
    return "$rc"
}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    stop_server || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server weft|go1|go2: starts it, sets srv_tpid, srv_pid, srv_port.
start_server() {
    local cmd i
    case $1 in
    weft) cmd=("${pin_server[@]}" "$build/http_server" "$www" 0) ;;
    go1) cmd=(env GOMAXPROCS=1 "${pin_server[@]}" "$peers/go/bin/http_server" "$www" 0) ;;
    go2) cmd=(env GOMAXPROCS=2 "$peers/go/bin/http_server" "$www" 0) ;;
    esac
    : >"$tmp/srv.out"
    # The server outlives no run by much: a run is at most run_timeout.
    timeout $((run_timeout + 60)) "${cmd[@]}" >"$tmp/srv.out" 2>"$tmp/srv.err" &
    srv_tpid=$!
    for ((i = 0; i < 100; i++)); do
        srv_port=$(head -n 1 "$tmp/srv.out")
        [[ -n $srv_port ]] && break
        kill -0 "$srv_tpid" 2>/dev/null || break
        sleep 0.05
    done
    srv_pid=$(ps -o pid= --ppid "$srv_tpid" | tr -d ' ' || true)
    if ! [[ $srv_port =~ ^[0-9]+$ && -n $srv_pid ]]; then
        echo "http.sh: the $1 server did not start: $(tr '\n' ' ' <"$tmp/srv.err")" >&2
        stop_server || true
        return 1
    fi
}

# CPU time (utime + stime, every thread) of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# ------------------------------------------------------------------ runs
raw=${RAW:-$root/build/http/raw-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$raw")"
: >"$raw"
failed=0
fail() { # fail ROW RUNTIME MESSAGE
    echo "# FAIL $1 $2: $3"
    echo "$1 $2 failed" >>"$raw"
    failed=1
}
# wrk's durations ("812.00us", "1.46ms", "2.01s") in ms.
to_ms() {
    awk -v d="$1" 'BEGIN {
        v = d + 0
        if (d ~ /us$/) v /= 1000; else if (d ~ /ms$/) v += 0
        else if (d ~ /m$/) v *= 60000; else if (d ~ /s$/) v *= 1000
        printf "%.3f", v }'
}

# run_client ROW RUNTIME: the client against weft's server.
run_client() {
    local id=$1 rt=$2 cmd line t0 t1 rc=0
    start_server weft || { fail "$id" "$rt" "server start"; return; }
    case $rt in
    weft) cmd=("${pin_client[@]}" "$build/http_get" "$n_get") ;;
    go1) cmd=(env GOMAXPROCS=1 "${pin_client[@]}" "$peers/go/bin/http_get" "$n_get") ;;
    go2) cmd=(env GOMAXPROCS=2 "$peers/go/bin/http_get" "$n_get") ;;
    esac
    t0=$(cpu_ticks "$srv_pid")
    HTTP_GET_URL=http://127.0.0.1:$srv_port/$page HTTP_GET_LEN=$page_len \
        timeout "$run_timeout" /usr/bin/time -f '%e %U %S' -o "$tmp/time" \
        "${cmd[@]}" >"$tmp/out" 2>"$tmp/err" || rc=$?
    t1=$(cpu_ticks "$srv_pid")
    stop_server || { fail "$id" "$rt" "weft's server exited $?: $(tail -n 2 "$tmp/srv.err" | tr '\n' ' ')"; return; }
    line=$(grep -m1 -E '^name=' "$tmp/out" || true)
    if [[ $rc -ne 0 || -z $line ]]; then
        fail "$id" "$rt" "exit $rc: $(tail -n 3 "$tmp/err" | tr '\n' ' ')"
        return
    fi
    # The client's CPU time (GNU time: user + system, every thread) and the
    # server's, per request; the client's covers its start and exit too.
    line+=" cli_cpu_us_per_req=$(awk -v n="$n_get" '{ printf "%.2f", ($2 + $3) * 1e6 / n }' "$tmp/time")"
    line+=" srv_cpu_us_per_req=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n_get" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
    echo "$line"
    echo "$id $rt $line" >>"$raw"
}

# run_wrk ROW RUNTIME CONNS: wrk against the runtime's server.
run_wrk() {
    local id=$1 rt=$2 c=$3 url got t0 t1 rc=0 rps avg p99 reqs errs non2xx wcpu hwm line
    start_server "$rt" || { fail "$id" "$rt" "server start"; return; }
    url=http://127.0.0.1:$srv_port/$page
    got=$(timeout 10 curl -fsS "$url" | wc -c) || got=error
    if [[ $got != "$page_len" ]]; then
        stop_server || true
        fail "$id" "$rt" "curl $url: $got bytes, expected $page_len"
        return
    fi
    t0=$(cpu_ticks "$srv_pid")
    timeout "$run_timeout" /usr/bin/time -f '%e %U %S' -o "$tmp/time" \
        "${pin_client[@]}" wrk -t1 -c"$c" -d"${wrk_secs}s" --latency "$url" \
        >"$tmp/out" 2>"$tmp/err" || rc=$?
    t1=$(cpu_ticks "$srv_pid")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$srv_pid/status")
    stop_server || { fail "$id" "$rt" "server exited $?: $(tail -n 2 "$tmp/srv.err" | tr '\n' ' ')"; return; }
    if [[ $rc -ne 0 ]]; then
        fail "$id" "$rt" "wrk exit $rc: $(tail -n 3 "$tmp/err" | tr '\n' ' ')"
        return
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/out")
    avg=$(awk '$1 == "Latency" { print $2; exit }' "$tmp/out")
    p99=$(awk '$1 == "99%" { print $2 }' "$tmp/out")
    reqs=$(awk '/ requests in / { print $1 }' "$tmp/out")
    non2xx=$(awk -F: '/Non-2xx or 3xx responses/ { print $2 + 0 }' "$tmp/out")
    errs=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$tmp/out")
    if [[ -z $rps || -z $avg || -z $p99 || -z $reqs ]]; then
        fail "$id" "$rt" "unreadable wrk output: $(tr '\n' ' ' <"$tmp/out")"
        return
    fi
    wcpu=$(awk '{ printf "%.0f", ($2 + $3) / $1 * 100 }' "$tmp/time")
    line="name=wrk runtime=$rt conns=$c secs=$wrk_secs requests=$reqs req_per_sec=$rps"
    line+=" lat_avg_ms=$(to_ms "$avg") lat_p99_ms=$(to_ms "$p99")"
    line+=" srv_cpu_us_per_req=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')"
    line+=" srv_vmhwm_kib=$hwm wrk_cpu_pct=$wcpu"
    if [[ ${non2xx:-0} -ne 0 || ${errs:-0} -ne 0 ]]; then
        fail "$id" "$rt" "${non2xx:-0} non-2xx answers, ${errs:-0} socket errors: $line"
        return
    fi
    echo "$line"
    echo "$id $rt $line" >>"$raw"
}

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$root" status --porcelain -- src include examples bench 2>/dev/null) ]] &&
    commit="$commit+dirty"
say "http: rounds=$rounds quick=$quick filter='$filter' N=$n_get wrk=${wrk_secs}s page=$page ($page_len bytes) nproc=$(nproc) commit=$commit date=$(date -u +%Y-%m-%dT%H:%MZ)"
say "placement: $placement"
say "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2), $("$go_bin" version | cut -d' ' -f3), $(curl --version | head -n 1 | cut -d' ' -f1-2) (libcurl of weft-http)"
say "raw lines: $raw"
say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
t_start=$(date +%s)
for r in "${selected[@]}"; do
    read -r id kind conns _ <<<"$r"
    for ((round = 0; round < rounds; round++)); do
        k=${#runtimes[@]}
        for ((j = 0; j < k; j++)); do
            rt=${runtimes[$(((j + round) % k))]}
            if [[ $kind == client ]]; then
                run_client "$id" "$rt"
            else
                run_wrk "$id" "$rt" "$conns"
            fi
        done
    done
done
say "runs took $(($(date +%s) - t_start)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ tables
for r in "${selected[@]}"; do
    read -r id _ _ metric <<<"$r"
    echo "$id $metric"
done >"$tmp/metrics"

echo
echo "## Medians of $rounds rounds$([[ $quick == 1 ]] && echo ' (QUICK=1: N/10, wrk 1 s)')"
echo
echo "Key metric per row; ratio = weft / best peer for ns/op and best peer / weft"
echo "for requests/s, so ratio < 1 always means weft is better.  http_get: the"
echo "client differs, the server is weft's; wrk rows: the server differs."
echo
awk -v runtimes="${runtimes[*]}" '
    FNR == NR { metric[$1] = $2; rows[++nrows] = $1; next }
    {
        id = $1; r = $2
        if ($3 == "failed") { status[id, r] = "failed"; next }
        for (i = 3; i <= NF; i++) {
            eq = index($i, "=")
            k = substr($i, 1, eq - 1); v = substr($i, eq + 1)
            if (k == metric[id]) k = "key"
            c = ++cnt[id, r, k]; val[id, r, k, c] = v + 0
        }
    }
    function median(id, rt, f,    c, a, j, k, t) {
        c = cnt[id, rt, f]
        for (j = 1; j <= c; j++) a[j] = val[id, rt, f, j]
        for (j = 2; j <= c; j++)
            for (k = j; k > 1 && a[k - 1] > a[k]; k--) { t = a[k]; a[k] = a[k - 1]; a[k - 1] = t }
        return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    function show(m, v) {
        if (m == "req_per_sec") return sprintf("%.0f", v)
        return sprintf("%.1f", v)
    }
    function cell(id, rt, f, fmt) {
        if (cnt[id, rt, f] > 0) return sprintf(fmt, median(id, rt, f))
        if ((id, rt) in status) return status[id, rt]
        return "n/a"
    }
    END {
        nrt = split(runtimes, rt, " ")
        hdr = "| row | metric |"; sep = "|---|---|"
        for (j = 1; j <= nrt; j++) { hdr = hdr " " rt[j] " |"; sep = sep "---:|" }
        print hdr " best peer | weft / best peer |"
        print sep "---|---:|"
        for (i = 1; i <= nrows; i++) {
            id = rows[i]; m = metric[id]; hib = (m == "req_per_sec")
            line = "| " id " | " (hib ? "requests/s (higher is better)" : "ns/request") " |"
            best = ""; bv = 0
            for (j = 1; j <= nrt; j++) {
                line = line " " (cnt[id, rt[j], "key"] ? show(m, median(id, rt[j], "key")) : cell(id, rt[j], "key", "%s")) " |"
                if (rt[j] == "weft" || cnt[id, rt[j], "key"] == 0) continue
                v = median(id, rt[j], "key")
                if (best == "" || (hib ? v > bv : v < bv)) { best = rt[j]; bv = v }
            }
            ratio = "n/a"
            if (best != "" && cnt[id, "weft", "key"] > 0) {
                w = median(id, "weft", "key")
                if (hib && w > 0) ratio = sprintf("%.2f", bv / w)
                else if (!hib && bv > 0) ratio = sprintf("%.2f", w / bv)
            }
            print line " " (best == "" ? "n/a" : best " " show(m, bv)) " | " ratio " |"
        }
        for (i = 1; i <= nrows; i++) {
            id = rows[i]
            if (metric[id] != "ns_per_op") continue
            print ""
            print id ", medians: the CPU time of the client (user + system, all threads, from"
            print "GNU time, start-up included) and of weft'\''s server per request; peak RSS of the"
            print "client."
            print ""
            print "| runtime | requests/s | client CPU us/req | server CPU us/req | client peak RSS MiB |"
            print "|---|---:|---:|---:|---:|"
            for (j = 1; j <= nrt; j++) {
                r = rt[j]
                print "| " r " | " cell(id, r, "req_per_sec", "%.0f") " | " cell(id, r, "cli_cpu_us_per_req", "%.1f") \
                    " | " cell(id, r, "srv_cpu_us_per_req", "%.1f") " | " \
                    (cnt[id, r, "vmhwm_kib"] ? sprintf("%.1f", median(id, r, "vmhwm_kib") / 1024) : "n/a") " |"
            }
        }
        hdr = 0
        for (i = 1; i <= nrows; i++) {
            id = rows[i]
            if (metric[id] != "req_per_sec") continue
            if (!hdr++) {
                print ""
                print "wrk rows, medians: wrk'\''s latency, the server'\''s CPU time per request (all its"
                print "threads) and peak RSS, wrk'\''s own CPU use (100 % would make wrk the limit)."
                print ""
                print "| row | server | requests/s | mean ms | p99 ms | server CPU us/req | server peak RSS MiB | wrk CPU % |"
                print "|---|---|---:|---:|---:|---:|---:|---:|"
            }
            for (j = 1; j <= nrt; j++) {
                r = rt[j]
                print "| " id " | " r " | " cell(id, r, "key", "%.0f") " | " cell(id, r, "lat_avg_ms", "%.2f") \
                    " | " cell(id, r, "lat_p99_ms", "%.2f") " | " cell(id, r, "srv_cpu_us_per_req", "%.1f") \
                    " | " (cnt[id, r, "srv_vmhwm_kib"] ? sprintf("%.1f", median(id, r, "srv_vmhwm_kib") / 1024) : "n/a") \
                    " | " cell(id, r, "wrk_cpu_pct", "%.0f") " |"
            }
        }
    }' "$tmp/metrics" "$raw"

[[ $failed == 0 ]] || echo "# some runs FAILED (see above)"
exit $failed
