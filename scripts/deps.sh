#!/usr/bin/env bash
# scripts/deps.sh — install what building and testing weft need, from
# Debian's archive.  Idempotent and quick: it asks dpkg (and the filesystem)
# what is already there and runs apt-get update/install only for what is
# missing.
#
# usage: scripts/deps.sh [GROUP...]        (default: all)
#   build     gcc, make, cmake                          make build, make demo
#   native    build + pkg-config + Criterion, libcurl, gumbo, http_parser (weft-http),
#             openssl (test_http's TLS server), liburing (the io_uring backend)
#                                                       make test-native, test-uring, test-ucontext
#   asan      native (gcc brings libasan and libubsan)  make test-asan
#   valgrind  native + valgrind                         make test-valgrind
#   aarch64   native + the arm64 cross compiler, qemu-user with its binfmt_misc
#             entry, and an arm64 sysroot holding Criterion   make test-aarch64
#   all       all of the above                          make test
#
# The arm64 sysroot: libcriterion-dev:arm64 cannot be installed through
# multiarch next to the amd64 one (libnanomsg5, libnanomsg-dev and
# libhttp-parser-dev are not Multi-Arch: same), so the arm64 .debs of
# Criterion and of its runtime closure are unpacked with dpkg-deb -x into
# $WEFT_AARCH64_SYSROOT (default /opt/weft-sysroot-aarch64); the arm64
# architecture is still added to dpkg so that apt can fetch them.
#
# Not root and something is missing: prints the exact commands and exits 1.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SYSROOT=${WEFT_AARCH64_SYSROOT:-/opt/weft-sysroot-aarch64}
SYSROOT_STAMP_VERSION=1
here=$(cd "$(dirname "$0")" && pwd)

[ $# -gt 0 ] || set -- all

pkgs=()
aarch64=0
base=(gcc make cmake libc6-dev)
native=("${base[@]}" pkg-config libcriterion-dev libcurl4-openssl-dev libgumbo-dev libhttp-parser-dev openssl liburing-dev)
cross=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-user-binfmt binfmt-support)
lint=(clang-format clang-tidy cppcheck)
fuzz=(clang libclang-rt-14-dev)
for group in "$@"; do
    case "$group" in
    build)    pkgs+=("${base[@]}") ;;
    native)   pkgs+=("${native[@]}") ;;
    asan)     pkgs+=("${native[@]}") ;;
    valgrind) pkgs+=("${native[@]}" valgrind) ;;
    aarch64)  pkgs+=("${native[@]}" "${cross[@]}"); aarch64=1 ;;
    lint)     pkgs+=("${base[@]}" "${lint[@]}") ;;
    fuzz)     pkgs+=("${base[@]}" "${fuzz[@]}") ;;
    all)      pkgs+=("${native[@]}" valgrind "${cross[@]}" "${lint[@]}" "${fuzz[@]}"); aarch64=1 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deps.sh: unknown group '$group' (build native asan valgrind aarch64 lint fuzz all)" >&2; exit 2 ;;
    esac
done

# Deduplicate, keep order.
want=()
for p in "${pkgs[@]}"; do
    case " ${want[*]} " in *" $p "*) ;; *) want+=("$p") ;; esac
done

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${want[@]}"; do
    installed "$p" || missing+=("$p")
done

need_arch=0 need_sysroot=0 need_binfmt=0
if [ "$aarch64" = 1 ]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || need_arch=1
    [ "$(cat "$SYSROOT/.weft-sysroot" 2>/dev/null || true)" = "$SYSROOT_STAMP_VERSION" ] || need_sysroot=1
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || need_binfmt=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_arch$need_sysroot$need_binfmt = 000 ]; then
    extra=
    [ "$aarch64" = 1 ] && extra=", arm64 sysroot $SYSROOT, binfmt qemu-aarch64"
    echo "deps.sh: ok: ${#want[@]} packages present ($*)$extra"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing:${missing[*]:+ packages ${missing[*]}}$( [ $need_arch = 1 ] && printf ' arm64-architecture')$( [ $need_sysroot = 1 ] && printf ' arm64-sysroot')$( [ $need_binfmt = 1 ] && printf ' binfmt-qemu-aarch64')" >&2
    echo "deps.sh: not root; run:" >&2
    [ $need_arch = 1 ] && echo "    sudo dpkg --add-architecture arm64" >&2
    if [ ${#missing[@]} -gt 0 ] || [ $need_arch = 1 ]; then
        echo "    sudo apt-get update" >&2
    fi
    [ ${#missing[@]} -gt 0 ] && echo "    sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    [ $need_binfmt = 1 ] && echo "    sudo update-binfmts --enable qemu-aarch64" >&2
    [ $need_sysroot = 1 ] && echo "    sudo WEFT_AARCH64_SYSROOT=$SYSROOT $here/deps.sh aarch64    # unpacks the arm64 Criterion sysroot" >&2
    exit 1
fi

if [ $need_arch$need_sysroot$need_binfmt != 000 ]; then
    echo "deps.sh: make test-aarch64 needs system-wide changes, made now:"
    [ $need_arch = 1 ] && echo "deps.sh:   dpkg --add-architecture arm64 (apt then fetches arm64 package lists too)"
    [ $need_binfmt = 1 ] && echo "deps.sh:   update-binfmts --enable qemu-aarch64 (the kernel runs arm64 programs through qemu)"
    [ $need_sysroot = 1 ] && echo "deps.sh:   an arm64 sysroot with Criterion unpacked in $SYSROOT"
    echo "deps.sh: (to avoid them: make test SKIP=aarch64)"
fi
if [ $need_arch = 1 ]; then
    echo "deps.sh: dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
fi
if [ ${#missing[@]} -gt 0 ] || [ $need_arch = 1 ]; then
    echo "deps.sh: apt-get update"
    apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "deps.sh: apt-get install ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ $need_binfmt = 1 ]; then
    # Mounts binfmt_misc if needed, then registers /usr/share/binfmts/qemu-aarch64.
    echo "deps.sh: update-binfmts --enable qemu-aarch64"
    update-binfmts --enable qemu-aarch64
    grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || {
        echo "deps.sh: binfmt_misc entry qemu-aarch64 could not be enabled" >&2; exit 1; }
fi

if [ $need_sysroot = 1 ]; then
    echo "deps.sh: unpacking arm64 Criterion and its runtime into $SYSROOT"
    # The arm64 package lists exist only after an update with arm64 enabled.
    if ! apt-cache show libcriterion3:arm64 >/dev/null 2>&1; then
        apt-get update -q
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # Runtime closure of libcriterion3 (libc6, libgit2, nanomsg, ssl, krb5 ...).
    mapfile -t debs < <(apt-cache depends --recurse --no-recommends --no-suggests \
            --no-conflicts --no-breaks --no-replaces --no-enhances libcriterion3:arm64 |
        grep -E '^[a-z0-9].*:arm64$' | sort -u)
    debs+=(libcriterion-dev:arm64)
    (cd "$work" && apt-get download -q -o APT::Sandbox::User=root "${debs[@]}")
    rm -rf "$SYSROOT.new"
    mkdir -p "$SYSROOT.new"
    for deb in "$work"/*.deb; do
        dpkg-deb -x "$deb" "$SYSROOT.new"
    done
    # We link dynamically: drop the private requirements whose arm64 -dev
    # packages (and .pc files) are not in the sysroot.
    sed -i -e '/^Requires.private:/d' -e '/^Libs.private:/d' \
        "$SYSROOT.new/usr/lib/aarch64-linux-gnu/pkgconfig/criterion.pc"
    printf '%s\n' "${debs[@]}" > "$SYSROOT.new/.weft-packages"
    echo "$SYSROOT_STAMP_VERSION" > "$SYSROOT.new/.weft-sysroot"
    rm -rf "$SYSROOT"
    mv "$SYSROOT.new" "$SYSROOT"
    echo "deps.sh: $SYSROOT: ${#debs[@]} packages"
fi
echo "deps.sh: done"
