/*
 * loop.h - the loop (loop/): what weft_run offers the modules beside it
 * (weft-http's end-of-runtime hook) and the deadlock report.
 */
#ifndef WEFT_LOOP_LOOP_H
#define WEFT_LOOP_LOOP_H

#include "sched/core.h"

/* ---- end-of-runtime hooks ----------------------------------------------- */

/* A node a module (weft-http's libcurl driver) links into its runtime so
 * that run() is called once when that runtime ends: after every task has
 * returned and the blocking pool has stopped, before the reactor is
 * destroyed (so run() may still forget fds with weft__io_forget and close
 * them).  No task runs then: run() must not suspend.  The node is owned by
 * its module; run() may free it.  Hooks run last-registered first. */
typedef struct weft__exit_hook {
    struct weft__exit_hook *next;
    void (*run)(weft__rt *rt, struct weft__exit_hook *h);
} weft__exit_hook;

/* Registers h to run when rt ends (see weft__exit_hook).  [rt's thread]
 * (loop/loop.c) */
void weft__rt_on_exit(weft__rt *rt, weft__exit_hook *h);

/* The deadlock report (loop/report.c): every task and what it waits on, on
 * stderr. */
void weft__report_deadlock(weft__rt *rt);

#endif
