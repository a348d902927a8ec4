#!/usr/bin/env bash
# scripts/valgrind-test.sh — run one Criterion test executable (or any
# program) under valgrind memcheck, following every child process, and fail if
# valgrind found an error in ANY of them.
#
# usage: valgrind-test.sh [--valgrind PATH] [--suppressions FILE]
#                         [--log-dir DIR] -- PROGRAM [ARGS...]
#
# Why a wrapper: Criterion (BoxFort) runs every test in a worker that it
# forks and re-execs from /proc/self/exe, and the tests themselves fork and
# exec example programs.  So:
#   * --trace-children=yes, or valgrind only sees the runner, which does not
#     run a single test;
#     (not into /usr/bin/openssl, test_http's TLS server: not our code);
#   * one log file per process (%p.%n: a forked child gets its own file, and
#     an exec'd image its own sequence number), so that a child's report is
#     never mixed into output that a test captures and compares;
#   * --error-exitcode=1 is not enough: Criterion ignores how a worker exits
#     once its test has reported, so a leak found at a worker's exit would
#     pass.  This script reads every log's ERROR SUMMARY instead, prints the
#     logs that have errors, and exits 1.
# Environment: WEFT_VALGRIND_FLAGS adds valgrind options (e.g. --track-origins=yes).
set -uo pipefail

valgrind=valgrind
supp=
logdir=
while [ $# -gt 0 ]; do
    case "$1" in
    --valgrind)     valgrind=$2; shift 2 ;;
    --suppressions) supp=$2; shift 2 ;;
    --log-dir)      logdir=$2; shift 2 ;;
    --)             shift; break ;;
    -*)             echo "valgrind-test.sh: unknown option $1" >&2; exit 2 ;;
    *)              break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--valgrind V] [--suppressions F] [--log-dir D] -- PROGRAM [ARGS...]" >&2; exit 2; }

if [ -z "$logdir" ]; then
    logdir=$(mktemp -d "${TMPDIR:-/tmp}/weft-valgrind.XXXXXX")
fi
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd)
rm -f "$logdir"/vg.*.log

# shellcheck disable=SC2054  # the commas belong to valgrind options
opts=(
    --tool=memcheck
    --error-exitcode=1
    --leak-check=full
    --errors-for-leak-kinds=definite,indirect
    --show-leak-kinds=definite,indirect
    --trace-children=yes
    --trace-children-skip=*/openssl
    --num-callers=30
    "--log-file=$logdir/vg.%p.%n.log"
)
[ -n "$supp" ] && opts+=("--suppressions=$supp")
# shellcheck disable=SC2206
[ -n "${WEFT_VALGRIND_FLAGS:-}" ] && opts+=(${WEFT_VALGRIND_FLAGS})

"$valgrind" "${opts[@]}" "$@"
rc=$?

bad=0
nlogs=0
for log in "$logdir"/vg.*.log; do
    [ -e "$log" ] || continue
    nlogs=$((nlogs + 1))
    if grep -qE '== ERROR SUMMARY: [1-9]' "$log" ||
       grep -qE "valgrind: the 'impossible' happened|VALGRIND INTERNAL ERROR|Valgrind's memory management: out of memory" "$log"; then
        bad=$((bad + 1))
        echo "==== valgrind found errors: $log" >&2
        cat "$log" >&2
    fi
done

if [ "$nlogs" = 0 ]; then
    echo "valgrind-test.sh: valgrind wrote no log in $logdir (did it start?)" >&2
    exit 1
fi
if [ "$bad" != 0 ]; then
    echo "valgrind-test.sh: FAILED: valgrind errors in $bad of $nlogs processes of $1 (logs: $logdir)" >&2
    exit 1
fi
if [ "$rc" != 0 ]; then
    echo "valgrind-test.sh: $1 exited with $rc under valgrind (logs: $logdir)" >&2
    exit "$rc"
fi
echo "valgrind-test.sh: clean: $nlogs processes, 0 errors (logs: $logdir)"
exit 0
