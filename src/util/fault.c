/*
 * fault.c - the fault-injecting, counting wrappers of alloc.h, compiled in
 * WEFT_FAULT_INJECTION builds only (see alloc.h).
 */
#ifdef WEFT_FAULT_INJECTION
#include "util/alloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

static atomic_ulong countdown; /* 0: disarmed */
static atomic_ulong calls;
static atomic_int injected;
static atomic_long live;

/* 1 if this call must fail. */
static int fail_now(void)
{
    atomic_fetch_add(&calls, 1);
    unsigned long c = atomic_load(&countdown);
    while (c != 0) {
        if (atomic_compare_exchange_weak(&countdown, &c, c - 1)) {
            if (c == 1) {
                atomic_store(&injected, 1);
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

void weft_fault_fail_at(unsigned long k)
{
    atomic_store(&calls, 0);
    atomic_store(&injected, 0);
    atomic_store(&countdown, k);
}

unsigned long weft_fault_calls(void) { return atomic_load(&calls); }
int weft_fault_injected(void) { return atomic_load(&injected); }
long weft_fault_live_allocations(void) { return atomic_load(&live); }

static void *counted(void *p)
{
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

void *weft__malloc(size_t n)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return counted(malloc(n));
}

void *weft__calloc(size_t n, size_t size)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return counted(calloc(n, size));
}

void *weft__realloc(void *p, size_t n)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = realloc(p, n);
    return p ? q : counted(q);
}

char *weft__strdup(const char *s)
{
    if (fail_now()) {
        errno = ENOMEM;
        return NULL;
    }
    return counted(strdup(s));
}

void weft__free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}

void weft__alloc_handoff(void *p)
{
    if (p)
        atomic_fetch_sub(&live, 1);
}

void *weft__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (fail_now()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    return mmap(addr, len, prot, flags, fd, off);
}

int weft__mprotect(void *addr, size_t len, int prot)
{
    if (fail_now()) {
        errno = ENOMEM;
        return -1;
    }
    return mprotect(addr, len, prot);
}

int weft__eventfd(unsigned int initval, int flags)
{
    if (fail_now()) {
        errno = EMFILE;
        return -1;
    }
    return eventfd(initval, flags);
}

int weft__epoll_create1(int flags)
{
    if (fail_now()) {
        errno = EMFILE;
        return -1;
    }
    return epoll_create1(flags);
}

int weft__uring_setup_fault(void)
{
    if (fail_now()) {
        errno = EMFILE;
        return -1;
    }
    return 0;
}

int weft__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (fail_now()) {
        errno = ENOMEM;
        return -1;
    }
    return epoll_ctl(epfd, op, fd, ev);
}

int weft__socket(int domain, int type, int protocol)
{
    if (fail_now()) {
        errno = EMFILE;
        return -1;
    }
    return socket(domain, type, protocol);
}

int weft__accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (fail_now()) {
        errno = EMFILE;
        return -1;
    }
    return accept4(fd, addr, len, flags);
}

int weft__pthread_create(pthread_t *th, const pthread_attr_t *attr,
                         void *(*fn)(void *), void *arg)
{
    if (fail_now())
        return EAGAIN;
    return pthread_create(th, attr, fn, arg);
}
#else
typedef int weft__fault_unused; /* ISO C: no empty translation unit */
#endif
