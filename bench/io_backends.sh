#!/usr/bin/env bash
# The echo benchmark (bench/echo.c) with its weft server on each reactor
# backend: WEFT_IO=epoll and WEFT_IO=uring (the server is a forked child and
# inherits the variable; the load client is a plain epoll loop either way).
#
#   bench/io_backends.sh            conns1, conns50, conns500
#   bench/io_backends.sh REGEX      only the variants matching REGEX
#
# Environment:
#   ROUNDS=R     rounds (default 5); in each round every variant runs once
#                per backend, the backends alternating (epoll first in odd
#                rounds, uring first in even ones) so that a drift of the
#                machine's load falls on both
#   QUICK=1      N divided by 10 (smoke test)
#   NOBUILD=1    skip configure + build of build/bench
#   BUILD_DIR    build tree (default build/bench)
#
# Output: every run's line, then a Markdown table of medians per variant and
# backend: round trips per second and server CPU per round trip (utime +
# stime of the server process, in us), and uring's ratio to epoll.  A run
# whose server wrote a fallback note ("using epoll") fails the script: the
# figures would not be io_uring's.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build/bench}
filter=${1:-}
rounds=${ROUNDS:-5}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "io_backends.sh: ROUNDS must be a positive integer" >&2; exit 2; }

if [[ -z ${NOBUILD:-} ]]; then
    log=$(mktemp)
    # shellcheck disable=SC2086
    if ! { cmake -S "$root/bench" -B "$build" ${CMAKE_ARGS:-} &&
           cmake --build "$build" -j"${JOBS:-2}" --target echo; } >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "# FAIL build (see above)"
        exit 1
    fi
    rm -f "$log"
fi

# variant  N  (as bench/run.sh)
configs=(
    "conns1    50000"
    "conns50   200000"
    "conns500  200000"
)

raw=$(mktemp)
err=$(mktemp)
trap 'rm -f "$raw" "$err"' EXIT
failed=0
echo "# $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cpus, $(uname -r), ROUNDS=$rounds${QUICK:+ QUICK=1}"
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=(epoll uring); else order=(uring epoll); fi
    for c in "${configs[@]}"; do
        read -r variant n <<<"$c"
        if [[ -n $filter ]] && ! grep -qE -- "$filter" <<<"$variant"; then
            continue
        fi
        [[ -n ${QUICK:-} ]] && n=$((n / 10))
        for be in "${order[@]}"; do
            line=$(WEFT_IO=$be "$build/echo" "$n" "$variant" 2>"$err")
            rc=$?
            if [[ $rc -ne 0 ]] || grep -q "using epoll" "$err"; then
                echo "# FAIL $variant $be (exit $rc): $(tr '\n' ' ' <"$err")"
                failed=1
                continue
            fi
            echo "round=$r backend=$be $line"
            echo "$variant $be $line" >>"$raw"
        done
    done
done

echo
echo "| variant | backend | round trips/s | server CPU us/rt | uring/epoll rt/s | uring/epoll CPU |"
echo "|---|---|---:|---:|---:|---:|"
awk '
    function field(name,    i, kv) {
        for (i = 3; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == name) return kv[2] + 0
        }
        return -1
    }
    {
        key = $1 " " $2
        if (!(key in cnt)) { if (!($1 in seen)) { seen[$1] = 1; vs[++nv] = $1 } }
        c = ++cnt[key]
        rt[key, c] = field("rt_per_sec")
        cpu[key, c] = field("server_cpu_us_per_rt")
    }
    function median(arr, key, c,    a, j, k, t) {
        for (j = 1; j <= c; j++) a[j] = arr[key, j]
        for (j = 2; j <= c; j++)
            for (k = j; k > 1 && a[k - 1] > a[k]; k--) { t = a[k]; a[k] = a[k - 1]; a[k - 1] = t }
        return a[int((c + 1) / 2)]
    }
    END {
        for (i = 1; i <= nv; i++) {
            v = vs[i]
            e = v " epoll"; u = v " uring"
            if (!(e in cnt) || !(u in cnt)) continue
            er = median(rt, e, cnt[e]); ec = median(cpu, e, cnt[e])
            ur = median(rt, u, cnt[u]); uc = median(cpu, u, cnt[u])
            printf "| %s | epoll | %.0f | %.2f | | |\n", v, er, ec
            printf "| %s | uring | %.0f | %.2f | %.2f | %.2f |\n", v, ur, uc,
                (er > 0 ? ur / er : 0), (ec > 0 ? uc / ec : 0)
        }
    }' "$raw"
exit $failed
