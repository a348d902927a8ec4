/*
 * uring_off.c - a build without the io_uring backend (CMake option
 * WEFT_IO_URING off: cross builds, or liburing missing).  WEFT_IO=uring
 * then falls back to epoll with a note on stderr (reactor.c).
 */
#include "io/io.h"

const weft__io_backend *weft__io_uring_backend(const char **why)
{
    *why = "this build has no io_uring backend (built without liburing)";
    return NULL;
}
