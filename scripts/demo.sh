#!/usr/bin/env bash
# scripts/demo.sh — run the chapter 17 listings (DIR/listing_17_*), sorted,
# each under a "=== Listing 17-08 ===" header.  Used by `make demo`.
#
# usage: demo.sh --dir DIR [--timeout SECS] [--expect-fail "17_10 17_11"]
#                [--endless "17_36 ..." --endless-secs SECS] [LISTING...]
#   LISTING     17_08, 17-08 or listing_17_08: run only these (in sorted order)
#   --expect-fail  listings that end with a deadlock report and a non-zero
#                  exit: reported, not a failure
#   --endless      listings that never end by design: stopped (SIGINT, then
#                  SIGKILL) after --endless-secs, not a failure
# Any other non-zero exit, or a run longer than --timeout, fails the demo.
set -uo pipefail

dir='' timeout=120 expect_fail='' endless='' endless_secs=5
want=()
while [ $# -gt 0 ]; do
    case "$1" in
    --dir)          dir=$2; shift 2 ;;
    --timeout)      timeout=$2; shift 2 ;;
    --expect-fail)  expect_fail=$2; shift 2 ;;
    --endless)      endless=$2; shift 2 ;;
    --endless-secs) endless_secs=$2; shift 2 ;;
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

failed=()
for prog in "${run[@]}"; do
    id=${prog#listing_}                 # 17_08
    printf '\n=== Listing %s ===\n' "${id//_/-}"
    if in_list "$id" "$endless"; then
        timeout -s INT -k 2 "$endless_secs" "$dir/$prog" </dev/null
        rc=$?
        if [ $rc = 124 ] || [ $rc = 130 ] || [ $rc = 137 ]; then
            echo "--- (stopped after ${endless_secs}s: this listing never ends)"
            continue
        fi
    else
        timeout -k 5 "$timeout" "$dir/$prog" </dev/null
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
