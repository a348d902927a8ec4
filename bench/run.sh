#!/usr/bin/env bash
# Build the weft benchmarks (Release, -O2, LTO) into build/bench and run them.
#
#   bench/run.sh               every benchmark, one line each
#   bench/run.sh REGEX         only those whose id matches REGEX (grep -E);
#                              ids are <bench>[/<variant>], e.g. pingpong,
#                              chan_throughput/4p, micro ('^micro' for it alone),
#                              pages (what a fresh 4 KiB page costs here: its
#                              N is pages per mapping; see bench/pages.c),
#                              stackcopy (issue 15's prototype: a stack each
#                              against one shared stack copied out; x86-64)
#
# Environment:
#   QUICK=1        every N divided by 10 (smoke test)
#   SCALE=1        also sleepers/1M and sleepers/2M (1M and 2M tasks that
#                  each sleep 200 ms: minutes and up to ~9 GiB each)
#   REPS=R         run each configuration R times (default 1); with R > 1 the
#                  output ends with one 'stat=median reps=R' line per result
#                  line name (micro: per operation), each numeric field the
#                  median of that field over the R runs, field by field
#   NOBUILD=1      skip configure + build
#   CMAKE_ARGS     added to the configure (e.g. -DBENCH_LTO=OFF)
#   BUILD_DIR      build tree (default build/bench)
#
# http_get and http_server (built here when weft-http is) need a server and
# wrk: bench/http.sh runs them, not this script.
#
# Output: the benchmarks' own lines (format of /work/shared/peers/README.md,
# runtime=weft) and '# FAIL <id> (exit <code>)' for a benchmark that crashed
# or failed its check (stderr passes through).  Exits non-zero if any failed.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build/bench}
filter=${1:-}

if [[ -z ${NOBUILD:-} ]]; then
    log=$(mktemp)
    # shellcheck disable=SC2086
    if ! { cmake -S "$root/bench" -B "$build" ${CMAKE_ARGS:-} &&
           cmake --build "$build" -j"${JOBS:-2}"; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "# FAIL build (see above)"
        exit 1
    fi
    rm -f "$log"
fi

# id  program  N  [variant]
configs=(
    "pingpong                pingpong         1000000"
    "pingpong/buf1           pingpong         1000000   buf1"
    "spawn_join              spawn_join       1000000"
    "chan_throughput/1p      chan_throughput  10000000  1p"
    "chan_throughput/4p      chan_throughput  10000000  4p"
    "chan_throughput/1p-b1024 chan_throughput 10000000  1p-b1024"
    "chan_throughput/4p-b1024 chan_throughput 10000000  4p-b1024"
    "timers                  timers           100000"
    "skynet                  skynet           1000000"
    "idle_tasks              idle_tasks       100000"
    "micro                   micro            1000000"
    "echo/conns1             echo             50000     conns1"
    "echo/conns50            echo             200000    conns50"
    "echo/conns500           echo             200000    conns500"
    "trace                   trace            1000000"
    "worker_pool             worker_pool      10000     clone"
    "worker_pool/mutex       worker_pool      10000     mutex"
    "pages                   pages            16384"
    "sleepers                sleepers         100000"
    "stackcopy               stackcopy        100000"
)
# Scale (issue 15): minutes each and GiBs of memory, so only with SCALE=1.
if [[ ${SCALE:-0} == 1 ]]; then
    configs+=(
    "sleepers/1M             sleepers         1000000"
    "sleepers/2M             sleepers         2000000"
    )
fi

reps=${REPS:-1}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "REPS must be a positive integer" >&2; exit 2; }
all=$(mktemp)
trap 'rm -f "$all"' EXIT

failed=0
ran=0
for c in "${configs[@]}"; do
    read -r id prog n variant <<<"$c"
    if [[ -n $filter ]] && ! grep -qE -- "$filter" <<<"$id"; then
        continue
    fi
    [[ -n ${QUICK:-} ]] && n=$((n / 10))
    ran=$((ran + 1))
    for ((r = 0; r < reps; r++)); do
        "$build/$prog" "$n" ${variant:+"$variant"} | tee -a "$all"
        rc=$?
        if [[ $rc -ne 0 ]]; then
            echo "# FAIL $id (exit $rc)"
            failed=1
        fi
    done
done
if [[ $ran -eq 0 ]]; then
    echo "# no benchmark matches '$filter'" >&2
    exit 2
fi

# Medians: lines grouped by name= and variant=, numeric fields (except n)
# replaced by their median (lower middle for an even count).
if [[ $reps -gt 1 ]]; then
    echo "# medians of $reps runs"
    grep '^name=' "$all" | awk -v reps="$reps" '
        {
            key = $1
            for (i = 2; i <= NF; i++) if ($i ~ /^variant=/) key = key " " $i
            if (!(key in count)) { order[++nkeys] = key; nf[key] = NF }
            c = ++count[key]
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                name[key, i] = kv[1]
                val[key, i, c] = substr($i, length(kv[1]) + 2)
            }
        }
        function median(key, i, c,    a, j, k, t) {
            for (j = 1; j <= c; j++) a[j] = val[key, i, j] + 0
            for (j = 2; j <= c; j++)   # insertion sort: c is small
                for (k = j; k > 1 && a[k - 1] > a[k]; k--) {
                    t = a[k]; a[k] = a[k - 1]; a[k - 1] = t
                }
            return a[int((c + 1) / 2)]
        }
        END {
            for (o = 1; o <= nkeys; o++) {
                key = order[o]; c = count[key]; line = ""
                for (i = 1; i <= nf[key]; i++) {
                    v = val[key, i, 1]
                    if (name[key, i] != "n" && v ~ /^-?[0-9]+(\.[0-9]+)?$/) {
                        m = median(key, i, c)
                        if (v ~ /\./) {
                            split(v, parts, ".")
                            v = sprintf("%." length(parts[2]) "f", m)
                        } else {
                            v = sprintf("%.0f", m)
                        }
                    }
                    line = line (i > 1 ? " " : "") name[key, i] "=" v
                }
                print line " stat=median reps=" c
            }
        }'
fi
exit $failed
