/*
 * alloc.h - the library's allocations and the system calls that can fail
 * for lack of resources, behind one set of names so that a test build can
 * make them fail (Lua's failing allocator, neco's fault counters).
 *
 * Normal builds: the names are the libc functions themselves.
 * WEFT_FAULT_INJECTION builds: each call first counts itself and fails
 * (NULL / -1 with errno ENOMEM, or EAGAIN for pthread_create, EMFILE for
 * eventfd, epoll_create1, socket, accept4 and the io_uring ring) when the
 * countdown set by weft_fault_fail_at() reaches it; allocations are counted
 * so a test can check that nothing is left once weft_run has returned.
 * Memory handed to the user (weft_read_to_string's buffer) is released from
 * the count with weft__alloc_handoff().
 */
#ifndef WEFT_ALLOC_H
#define WEFT_ALLOC_H

#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The largest stack, and the largest channel buffer (capacity times item
 * size), weft accepts, in bytes: 1 TiB, as include/weft.h documents for
 * weft_run_with, weft_spawn_with, weft_async_with and weft_channel_with.
 * Beyond it a size is taken for a mistake (a negative number converted to
 * size_t, an overflowed product), not a request: -EINVAL. */
#define WEFT__SIZE_LIMIT ((size_t)1 << 40)

#ifdef WEFT_FAULT_INJECTION

#include "weft.h"

void *weft__malloc(size_t n);
void *weft__calloc(size_t n, size_t size);
void *weft__realloc(void *p, size_t n);
char *weft__strdup(const char *s);
void weft__free(void *p);
void weft__alloc_handoff(void *p);
void *weft__mmap(void *addr, size_t len, int prot, int flags, int fd,
                 off_t off);
int weft__mprotect(void *addr, size_t len, int prot);
int weft__eventfd(unsigned int initval, int flags);
int weft__pthread_create(pthread_t *th, const pthread_attr_t *attr,
                         void *(*fn)(void *), void *arg);
/* The reactor's (src/io/): injected failures are EMFILE for the calls that
 * make an fd, ENOMEM for epoll_ctl. */
struct epoll_event;
struct sockaddr;
int weft__epoll_create1(int flags);
int weft__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int weft__socket(int domain, int type, int protocol);
int weft__accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/* Counted before the io_uring ring is set up (uring.c): -1 with errno
 * EMFILE when the failure is injected there, else 0. */
int weft__uring_setup_fault(void);

/* Test hooks (fault-injection builds only).  [any thread] */
/* Fail the k-th injectable call from now (k >= 1); 0 disarms. */
WEFT_API void weft_fault_fail_at(unsigned long k);
/* Injectable calls made since the last weft_fault_fail_at. */
WEFT_API unsigned long weft_fault_calls(void);
/* 1 if the armed failure has been injected. */
WEFT_API int weft_fault_injected(void);
/* Library allocations not yet freed. */
WEFT_API long weft_fault_live_allocations(void);

#else

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#define weft__malloc              malloc
#define weft__calloc              calloc
#define weft__realloc             realloc
#define weft__strdup              strdup
#define weft__free                free
#define weft__alloc_handoff(p)    ((void)(p))
#define weft__mmap                mmap
#define weft__mprotect            mprotect
#define weft__eventfd             eventfd
#define weft__pthread_create      pthread_create
#define weft__epoll_create1       epoll_create1
#define weft__epoll_ctl           epoll_ctl
#define weft__socket              socket
#define weft__accept4             accept4
#define weft__uring_setup_fault() 0

#endif
#endif
