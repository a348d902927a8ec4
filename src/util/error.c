/*
 * error.c - error strings and the version, as libuv's uv_strerror: one
 * table for the codes weft gives a meaning of its own, the C library's
 * description (strerrordesc_np: static, thread-safe) for the others, such
 * as the errors weft_read_to_string passes on; negative and positive codes
 * alike.  Resolver errors (WEFT_EAI(eai), below -WEFT_EAI_BASE) get
 * gai_strerror's text (static strings in glibc).
 */
#include "weft.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <string.h>

#define WEFT__STR2(x) #x
#define WEFT__STR(x)  WEFT__STR2(x)

const char *weft_version(void)
{
    return WEFT__STR(WEFT_VERSION_MAJOR) "." WEFT__STR(
        WEFT_VERSION_MINOR) "." WEFT__STR(WEFT_VERSION_PATCH);
}

#define WEFT__ERRORS(X)                                                        \
    X(0, "success")                                                            \
    X(EINVAL, "invalid argument")                                              \
    X(ENOMEM, "out of memory")                                                 \
    X(ECANCELED, "operation cancelled")                                        \
    X(ETIMEDOUT, "timed out")                                                  \
    X(EPIPE, "channel closed")                                                 \
    X(EDEADLK, "deadlock: no task can make progress")                          \
    X(EPERM, "not called from a task of a running runtime")                    \
    X(EAGAIN, "operation would block")                                         \
    X(EBUSY, "busy: a runtime runs on this thread, or another call waits")     \
    X(ENOTSUP, "not supported")                                                \
    X(ENOENT, "no such file or directory")                                     \
    X(EACCES, "permission denied")

const char *weft_strerror(int err)
{
    if (err == INT_MIN)
        return "unknown error"; /* -INT_MIN does not exist */
    if (err < 0)
        err = -err;
    if (err > WEFT_EAI_BASE && err <= WEFT_EAI_BASE + 1000)
        return gai_strerror(WEFT_EAI_BASE - err); /* WEFT_EAI(eai) */
    switch (err) {
#define WEFT__CASE(code, text)                                                 \
    case code:                                                                 \
        return text;
        WEFT__ERRORS(WEFT__CASE)
#undef WEFT__CASE
    }
    const char *libc = strerrordesc_np(err);
    return libc ? libc : "unknown error";
}
