#!/usr/bin/env bash
# scripts/demo.sh — run the chapter 17 listings (DIR/listing_17_*), sorted,
# each under a "=== Listing 17-08 ===" header.  Used by `make demo`.
#
# usage: demo.sh --dir DIR [--timeout SECS] [--expect-fail "17_10 17_11"]
#                [--endless "17_36 ..." --endless-secs SECS] [--www DIR]
#                [LISTING...]
#   LISTING     17_08, 17-08 or listing_17_08: run only these (in sorted order)
#   --expect-fail  listings that end with a deadlock report and a non-zero
#                  exit: reported, not a failure
#   --endless      listings that never end by design: stopped (SIGINT, then
#                  SIGKILL) after --endless-secs, not a failure unless they
#                  printed nothing; their output (stderr merged) is shown
#                  with runs of lines alike shortened (see excerpt below)
#   --www          the directory the 17.1 listings (17-1..17-5, HTTP) fetch
#                  from: DIR/http_server serves it on an ephemeral 127.0.0.1
#                  port for the demo's duration (no internet needed); when
#                  weft-http was not built they are skipped with a message
# Any other non-zero exit, or a run longer than --timeout, fails the demo.
set -uo pipefail

dir='' timeout=120 expect_fail='' endless='' endless_secs=5 www=''
here=$(cd "$(dirname "$0")" && pwd)
want=()
while [ $# -gt 0 ]; do
    case "$1" in
    --dir)          dir=$2; shift 2 ;;
    --timeout)      timeout=$2; shift 2 ;;
    --expect-fail)  expect_fail=$2; shift 2 ;;
    --endless)      endless=$2; shift 2 ;;
    --endless-secs) endless_secs=$2; shift 2 ;;
    --www)          www=$2; shift 2 ;;
    -*) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
    *)  for w in $1; do w=${w#listing_}; want+=("${w//-/_}"); done; shift ;;
    esac
done

mapfile -t all < <(find "$dir" -maxdepth 1 -type f -name 'listing_17_*' -perm -u+x -printf '%f\n' 2>/dev/null | LC_ALL=C sort)
if [ ${#all[@]} -eq 0 ]; then
    echo "demo.sh: no listing_17_* programs in $dir" >&2
    exit 1
fi

in_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

run=()
if [ ${#want[@]} -eq 0 ]; then
    run=("${all[@]}")
else
    for w in "${want[@]}"; do
        found=0
        for p in "${all[@]}"; do
            [ "$p" = "listing_$w" ] && found=1
        done
        [ $found = 1 ] || { echo "demo.sh: no listing $w in $dir (have: ${all[*]#listing_})" >&2; exit 1; }
    done
    for p in "${all[@]}"; do
        in_list "${p#listing_}" "${want[*]}" && run+=("$p")
    done
fi

[ -n "$www" ] || www="$here/../examples/www"

# The 17.1 listings (HTTP) need weft-http and a local server.
is_http() { case "$1" in 17_0[1-5]) return 0 ;; esac; return 1; }
server_pid='' base=''
stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=''
    fi
}
trap stop_server EXIT
if [ ! -x "$dir/listing_17_01" ] && [ ${#want[@]} -eq 0 ]; then
    echo "demo.sh: weft-http was not built (libcurl or gumbo missing): listings 17-1 to 17-5 skipped"
fi
for prog in "${run[@]}"; do
    is_http "${prog#listing_}" || continue
    if [ -x "$dir/http_server" ] && [ -d "$www" ]; then
        portfile=$(mktemp)
        "$dir/http_server" "$www" 0 >"$portfile" 2>/dev/null &
        server_pid=$!
        port=''
        for _ in $(seq 100); do   # its first line is the port (10 s at most)
            read -r port <"$portfile" || true
            [ -n "$port" ] && break
            sleep 0.1
        done
        rm -f "$portfile"
        if [ -n "$port" ]; then
            base="http://127.0.0.1:$port"
            echo "(the 17.1 listings fetch from http_server serving $www at $base)"
        fi
    fi
    break
done
http_args() {
    case "$1" in
    17_05) printf '%s\n' "$base/slow?ms=300" "$base/rust.html" ;;
    *)     printf '%s\n' "$base/" ;;
    esac
}

# The endless listings print thousands of near-identical lines (17-36 and
# 17-38: an `Interval: N` a millisecond).  Shown as they come, but a run of
# more than 3 lines that differ only in their numbers is shortened to its
# first line, a count and its last line; the messages between the runs are
# all shown.  Exits 3 when the listing printed nothing.
excerpt() {
    awk '
        function key(s) { gsub(/[0-9]+/, "N", s); return s }
        function end_run() {
            if (n > 3) {
                printf "    ... (%d more lines like this)\n", n - 2
                print last
            } else {
                for (i = 2; i <= n; i++) print buf[i]
            }
            n = 0
        }
        {
            total++
            k = key($0)
            if (n > 0 && k == run) {
                n++
                if (n <= 3) buf[n] = $0
                last = $0
                next
            }
            if (n > 0) end_run()
            run = k; n = 1; last = $0
            print
            fflush()
        }
        END {
            if (n > 0) end_run()
            printf "--- (%d lines in all; runs of lines alike shortened)\n", total
            exit total == 0 ? 3 : 0
        }'
}

failed=()
for prog in "${run[@]}"; do
    id=${prog#listing_}                 # 17_08
    printf '\n=== Listing %s ===\n' "${id//_/-}"
    args=()
    if is_http "$id"; then
        if [ -z "$base" ]; then
            echo "--- (skipped: the http_server example is not built or did not start)"
            continue
        fi
        mapfile -t args < <(http_args "$id")
        echo "\$ ${prog} ${args[*]}"
    fi
    if in_list "$id" "$endless"; then
        timeout -s INT -k 2 "$endless_secs" "$dir/$prog" </dev/null 2>&1 | excerpt
        rcs=("${PIPESTATUS[@]}")
        rc=${rcs[0]}
        if [ $rc = 124 ] || [ $rc = 130 ] || [ $rc = 137 ]; then
            if [ "${rcs[1]}" != 0 ]; then
                echo "--- FAILED: listing ${id//_/-} printed nothing in ${endless_secs}s" >&2
                failed+=("${id//_/-}")
            else
                echo "--- (stopped after ${endless_secs}s: this listing never ends; run $dir/$prog to see every line)"
            fi
            continue
        fi
    else
        timeout -k 5 "$timeout" "$dir/$prog" "${args[@]}" </dev/null
        rc=$?
    fi
    if [ $rc = 0 ]; then
        continue
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
        echo "--- FAILED: listing ${id//_/-} still running after ${timeout}s" >&2
        failed+=("${id//_/-}")
    elif in_list "$id" "$expect_fail"; then
        echo "--- (exit status $rc, as expected: the listing never finishes and ends with the deadlock report)"
    else
        echo "--- FAILED: listing ${id//_/-} exited with status $rc" >&2
        failed+=("${id//_/-}")
    fi
done

echo
if [ ${#failed[@]} -gt 0 ]; then
    echo "demo: ${#run[@]} listings run, ${#failed[@]} failed: ${failed[*]}" >&2
    exit 1
fi
echo "demo: ${#run[@]} listings run, all as expected"
