# Cross-compile weft for aarch64 Linux with Debian's gcc-aarch64-linux-gnu and
# run its tests under qemu-aarch64 (qemu-user).
#
#   scripts/deps.sh aarch64          # packages, arm64 sysroot, binfmt (root)
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#   cmake --build build/aarch64 -j2 && ctest --test-dir build/aarch64
#
# Criterion for arm64.  Debian multiarch cannot install libcriterion-dev:arm64
# beside the amd64 one that native builds need: libnanomsg5, libnanomsg-dev
# and libhttp-parser-dev are not "Multi-Arch: same", so apt refuses.  Instead
# scripts/deps.sh unpacks the arm64 packages of Criterion and of its runtime
# closure (libc6, libgit2, nanomsg, ...) with `apt-get download` +
# `dpkg-deb -x` into a private sysroot, WEFT_AARCH64_SYSROOT (environment or
# -D; default /opt/weft-sysroot-aarch64), and trims Requires.private from its
# criterion.pc so that pkg-config works without the arm64 -dev packages of
# libgit2 & co.  The cross compiler keeps its own libc (/usr/aarch64-linux-gnu);
# the sysroot only adds Criterion at link time and the arm64 runtime under qemu.
#
# qemu.  Criterion re-execs the test binary for every test (and tests exec
# the examples), which only works when the kernel can run an aarch64 ELF by
# itself: binfmt_misc with qemu-user-binfmt's qemu-aarch64 entry (deps.sh
# enables it).  QEMU_LD_PREFIX, inherited by every process of the test, makes
# each of those qemu instances use the sysroot, as -L does for the first one.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(WEFT_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER   ${WEFT_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${WEFT_CROSS_TRIPLE}-gcc)

if(NOT WEFT_AARCH64_SYSROOT)
    if(DEFINED ENV{WEFT_AARCH64_SYSROOT} AND NOT "$ENV{WEFT_AARCH64_SYSROOT}" STREQUAL "")
        set(WEFT_AARCH64_SYSROOT "$ENV{WEFT_AARCH64_SYSROOT}")
    else()
        set(WEFT_AARCH64_SYSROOT /opt/weft-sysroot-aarch64)
    endif()
endif()
set(WEFT_AARCH64_SYSROOT "${WEFT_AARCH64_SYSROOT}" CACHE PATH
    "arm64 runtime sysroot with Criterion (made by scripts/deps.sh aarch64)")
# try_compile() projects re-read this file: hand them the same sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES WEFT_AARCH64_SYSROOT)

set(_weft_libdirs
    "${WEFT_AARCH64_SYSROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}"
    "${WEFT_AARCH64_SYSROOT}/lib/${CMAKE_LIBRARY_ARCHITECTURE}")

# Headers and libraries: the cross compiler's own tree, then the sysroot.
set(CMAKE_FIND_ROOT_PATH "/usr/${WEFT_CROSS_TRIPLE}" "${WEFT_AARCH64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config: only the arm64 .pc files, paths rewritten into the sysroot.
set(ENV{PKG_CONFIG_LIBDIR} "${WEFT_AARCH64_SYSROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${WEFT_AARCH64_SYSROOT}")
unset(ENV{PKG_CONFIG_PATH})

# libcriterion.so's own dependencies (libgit2, nanomsg, ...) live only in the
# sysroot: let the linker find them to check the link.
list(JOIN _weft_libdirs ":" _weft_rpath_link)
set(CMAKE_EXE_LINKER_FLAGS_INIT    "-Wl,-rpath-link,${_weft_rpath_link}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${_weft_rpath_link}")

find_program(WEFT_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static
    PATHS /usr/bin /usr/local/bin NO_CMAKE_FIND_ROOT_PATH)
if(WEFT_QEMU_AARCH64)
    set(CMAKE_CROSSCOMPILING_EMULATOR
        /usr/bin/env "QEMU_LD_PREFIX=${WEFT_AARCH64_SYSROOT}"
        "${WEFT_QEMU_AARCH64}" -L "${WEFT_AARCH64_SYSROOT}")
endif()

# Emulated tests are several times slower.
set(WEFT_TEST_TIMEOUT 900 CACHE STRING "CTest timeout of one test executable, in seconds")

get_property(_weft_in_try_compile GLOBAL PROPERTY IN_TRY_COMPILE)
if(NOT _weft_in_try_compile)
    if(NOT EXISTS "${WEFT_AARCH64_SYSROOT}/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/libcriterion.so")
        message(WARNING "weft: no arm64 Criterion in ${WEFT_AARCH64_SYSROOT}: "
                        "run scripts/deps.sh aarch64 (or -DWEFT_BUILD_TESTS=OFF)")
    endif()
    if(NOT WEFT_QEMU_AARCH64)
        message(WARNING "weft: qemu-aarch64 not found (apt-get install qemu-user): tests cannot run")
    elseif(NOT EXISTS /proc/sys/fs/binfmt_misc/qemu-aarch64)
        message(WARNING "weft: binfmt_misc has no qemu-aarch64 entry: Criterion's re-exec'd "
                        "workers will fail ('Could not spawn test instance'). "
                        "Run scripts/deps.sh aarch64 as root (update-binfmts --enable qemu-aarch64).")
    endif()
endif()
