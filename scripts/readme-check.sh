#!/usr/bin/env bash
# scripts/readme-check.sh — run the README's "Build, install, use" commands
# literally, as a new user would, and check what they print.  Used by
# `make test-readme` (a step of `make test`).
#
# usage: readme-check.sh [--keep] [README]     (default: README.md beside scripts/)
#   --keep   leave the temporary directory behind (its path is printed)
#
# The README marks what is checked with HTML comments (invisible on GitHub):
#   <!-- readme-check:app.c -->     the next ```c block is saved as app.c
#   <!-- readme-check:output -->    the next ``` block is what app prints
#   <!-- readme-check:begin -->     the ```sh block up to
#   <!-- readme-check:end -->       is run by bash -e, line by line as written
#
# The commands run in a copy of the working tree (the files git tracks or
# would track, uncommitted edits included, no build/) with HOME set to an
# empty directory, so "$HOME/weft" is a fresh prefix and no earlier build or
# install can help.  `cc` there is a wrapper adding -Wall -Wextra -Werror, so
# the README's compile lines must compile cleanly under the flags CI uses
# (CMake is given the real compiler through CC and keeps its own flags).
# Passes when the block succeeds, its standard output ends with the expected
# output, and every program the block's `cc ... -o NAME` lines built prints
# exactly the expected output when run again.
set -euo pipefail

keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --keep) keep=1; shift ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "readme-check: unknown option $1" >&2; exit 2 ;;
    *) break ;;
    esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
readme=$(realpath "${1:-$root/README.md}")

fail() { echo "readme-check: FAILED: $*" >&2; exit 1; }

# $(block MARKER): the fenced block after the line <!-- readme-check:MARKER -->
block() {
    awk -v m="<!-- readme-check:$1 -->" '
        $0 == m        { armed = 1; next }
        armed && !in_b && /^```/ { in_b = 1; next }
        in_b && /^```/ { exit }
        in_b           { print }' "$readme"
}
# The commands: the ```sh block between the begin and end markers.
commands() {
    awk '
        $0 == "<!-- readme-check:begin -->" { on = 1; next }
        $0 == "<!-- readme-check:end -->"   { on = 0 }
        on && /^```/ { in_b = !in_b; next }
        on && in_b   { print }' "$readme"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-readme.XXXXXX")
if [ $keep = 1 ]; then
    echo "readme-check: keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
mkdir -p "$tmp/src" "$tmp/home" "$tmp/bin"

block app.c >"$tmp/src/app.c"
block output >"$tmp/expected"
commands >"$tmp/commands.sh"
[ -s "$tmp/src/app.c" ] || fail "no <!-- readme-check:app.c --> block in $readme"
[ -s "$tmp/expected" ] || fail "no <!-- readme-check:output --> block in $readme"
[ -s "$tmp/commands.sh" ] || fail "no <!-- readme-check:begin/end --> commands in $readme"

# A copy of the tree as a clone would have it, with uncommitted edits.
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -xf - -C "$tmp/src"
rm -f "$tmp/src/app" # a stray build product would hide a failing compile

real_cc=$(command -v cc) || fail "no cc in PATH"
cat >"$tmp/bin/cc" <<EOF
#!/bin/sh
exec "$real_cc" -Wall -Wextra -Werror "\$@"
EOF
chmod +x "$tmp/bin/cc"

echo "readme-check: running the README's commands in $tmp/src (HOME=$tmp/home):"
sed 's/^/    /' "$tmp/commands.sh"
start=$(date +%s)
set +e
(cd "$tmp/src" && HOME="$tmp/home" CC="$real_cc" PATH="$tmp/bin:$PATH" \
    bash -e -o pipefail "$tmp/commands.sh") >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
set -e
if [ $rc != 0 ]; then
    echo "--- stdout (last 30 lines):" >&2; tail -30 "$tmp/stdout" >&2
    echo "--- stderr:" >&2; cat "$tmp/stderr" >&2
    fail "the commands exited with status $rc"
fi
# Only the build's chatter may reach stderr: any compiler or linker message
# on the README's own compile lines is a failure (a warning included).
if grep -Ev '^(-- |CMake Warning|$)' "$tmp/stderr" | grep -q .; then
    echo "--- stderr:" >&2; cat "$tmp/stderr" >&2
    fail "the commands printed on stderr"
fi

n=$(wc -l <"$tmp/expected")
if ! diff -u "$tmp/expected" <(tail -n "$n" "$tmp/stdout") >"$tmp/diff"; then
    cat "$tmp/diff" >&2
    fail "the commands' output does not end with the README's expected output"
fi

# Every program the compile lines built prints the same.
mapfile -t progs < <(grep -E '^\s*cc ' "$tmp/commands.sh" | grep -oE -- '-o +[^ ]+' | awk '{print $2}')
[ ${#progs[@]} -gt 0 ] || fail "no 'cc ... -o NAME' line in the commands"
for p in "${progs[@]}"; do
    [ -x "$tmp/src/$p" ] || fail "the commands did not build $p"
    if ! (cd "$tmp/src" && "./$p") | diff -u "$tmp/expected" - >"$tmp/diff"; then
        cat "$tmp/diff" >&2
        fail "./$p does not print the README's expected output"
    fi
    kind="statically linked"
    if readelf -l "$tmp/src/$p" | grep 'program interpreter' >/dev/null; then kind="dynamically linked"; fi
    echo "readme-check: ./$p ($kind): output as in the README ($n lines)"
done
echo "readme-check: ok: ${#progs[@]} programs built and run from an install in \$HOME/weft ($(($(date +%s) - start))s)"
