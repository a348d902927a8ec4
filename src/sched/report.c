/*
 * report.c - faults that explain themselves: the stack-overflow report
 * (the deadlock report is loop/report.c).
 *
 * Overflow: every runtime thread gets an alternate signal stack, and a
 * process-wide SIGSEGV/SIGBUS handler checks whether the faulting address
 * lies in the guard region below the running coroutine's stack.  If so it
 * prints which task overflowed (id, name, stack size) with async-signal-safe
 * writes and aborts.  Any other fault is handed back to the previous
 * disposition: the handler restores it and returns, so the faulting
 * instruction runs again and faults as it would have without weft.
 */
#include "util/alloc.h"
#include "sched/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- stack overflow ----------------------------------------------------- */

#define ALTSTACK_SIZE ((size_t)64 * 1024)

static struct sigaction old_segv, old_bus;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static void put(const char *s)
{
    ssize_t n = write(2, s, strlen(s));
    (void)n;
}

static void put_num(unsigned long long v, int base)
{
    char buf[32];
    int i = sizeof buf;
    buf[--i] = 0;
    do {
        buf[--i] = "0123456789abcdef"[v % (unsigned)base];
        v /= (unsigned)base;
    } while (v);
    put(&buf[i]);
}

void weft__report_overflow(const weft__co *co, const void *addr)
{
    const weft_task *t = co->task;
    put("weft: stack overflow in task ");
    if (t) {
        put("'");
        put(weft__task_name(t));
        put("' (id ");
        put_num(t->id, 10);
        put(")");
    }
    if (t && co != &t->co) {
        put(" (in async block '");
        put(co->name ? co->name : "");
        put("')");
    }
    put(": stack size ");
    put_num(co->stack ? co->stack->size : 0, 10);
    put(" bytes");
    if (addr) {
        put(", fault at 0x");
        put_num((unsigned long long)(uintptr_t)addr, 16);
    } else {
        put(", canary overwritten");
    }
    put("; aborting\n");
    abort();
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    weft__rt *rt = weft__tls_rt;
    const weft__co *co = rt ? rt->current : NULL;
    if (co && co->stack && co->stack->guard) {
        const char *a = si->si_addr, *lo = co->stack->lo;
        if (a < lo && a >= lo - co->stack->guard)
            weft__report_overflow(co, a);
    }
    /* Not ours: the previous handler decides, and ours stays installed.
     * A default or ignored disposition is restored for the fault to
     * happen again as it would have without weft. */
    const struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
    if (old->sa_flags & SA_SIGINFO) {
        old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        sigaction(sig, old, NULL);
    }
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

int weft__fault_setup(weft__rt *rt)
{
    pthread_once(&handler_once, install_handler);
    rt->fault.altstack = weft__malloc(ALTSTACK_SIZE);
    if (!rt->fault.altstack)
        return -ENOMEM;
    stack_t ss = {.ss_sp = rt->fault.altstack, .ss_size = ALTSTACK_SIZE};
    if (sigaltstack(&ss, &rt->fault.old_altstack) != 0) {
        int err = errno;
        weft__free(rt->fault.altstack);
        rt->fault.altstack = NULL;
        return -err;
    }
    return 0;
}

void weft__fault_teardown(weft__rt *rt)
{
    if (!rt->fault.altstack)
        return;
    if (rt->fault.old_altstack.ss_flags & SS_DISABLE) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
    } else {
        sigaltstack(&rt->fault.old_altstack, NULL);
    }
    weft__free(rt->fault.altstack);
    rt->fault.altstack = NULL;
}
