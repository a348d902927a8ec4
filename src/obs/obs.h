/*
 * obs.h - observability (obs/): task dumps (dump.c), the dump signal, the
 * trace-event timeline and the slow-poll warning (trace.c).
 *
 * One describer puts a task's wait into words for every report: weft_dump,
 * the signal dump and the deadlock report.  Leaves give their details
 * through weft__future_ops.describe; combinators are walked through the
 * weft__group_* accessors of future.c.
 *
 * The core (sched/) does not call obs/ by name: obs/ installs the hooks of
 * rt->hooks (sched/core.h) that record switches, wakes, blocking jobs and ask
 * for a pending dump.  Timing (trace slices, the slow-poll warning, the longest
 * run of weft_runtime_stats) exists only while rt->obs.state is set and
 * rt->hooks.on_switch with it: with it off, the scheduler pays one
 * predictable branch per switch.
 */
#ifndef WEFT_OBS_OBS_H
#define WEFT_OBS_OBS_H

#include "sched/core.h"
#include "util/fmt.h"

#include <stdio.h>

/* ---- words (dump.c) ----------------------------------------------------- */

/* Writes what co waits on.  inline_: everything on the current line (a
 * combinator's children in braces), else a combinator's children on their
 * own lines, indented by depth * 2 (the deadlock report).  Ends the line in
 * both styles. */
void weft__describe_co(FILE *out, weft__rt *rt, const weft__co *co, int depth,
                       int inline_);

/* Reads WEFT_DUMP_SIGNAL, WEFT_TRACE, WEFT_WARN_SLOW_MS and cfg->trace_path
 * at the start of weft_run, and installs the core's hooks (rt->hooks, see
 * sched/core.h) for what they enable: the core calls obs/ only through
 * them.  0, or -ENOMEM/-EMFILE when what they need could not be had (as any
 * start-up allocation); a variable naming nothing usable is reported on
 * stderr and ignored. */
int weft__obs_start(weft__rt *rt);
/* At the end of weft_run, once the blocking pool has stopped: empties the
 * core's hooks, completes and closes the trace. */
void weft__obs_stop(weft__rt *rt);
/* 1 if the dump signal arrived since the last dump (rt->obs.dump_signal set);
 * also the core's rt->hooks.dump_pending while the dump signal is on. */
int weft__obs_dump_pending(const weft__rt *rt);
/* Once per scheduling round: the dump signal's deliveries, the counters of
 * the trace.  Cheap when nothing is enabled (the caller tests the fields). */
void weft__obs_round(weft__rt *rt);

/* ---- timeline (trace.c) ------------------------------------------------- */

struct weft__obs {
    FILE *trace;     /* the trace file, or NULL */
    char *buf;       /* events not yet written */
    size_t len, cap; /* bytes in buf */
    char *jbuf;      /* blocking-pool slices, under lock */
    size_t jlen, jcap;
    int named[8]; /* pool threads whose track is named, under lock */
    size_t nnamed;
    uint64_t t0;     /* CLOCK_MONOTONIC at start: ts 0 */
    int tid;         /* the runtime thread's track */
    char prefix[80]; /* every event's start (see trace.c) */
    size_t prefix_len;
    uint64_t pid;
    int counted; /* counted in trace.c's traces_open */ /* getpid(), once: a
                     system call on every event cost 1 us on a VM */
    uint64_t slow_ns;     /* WEFT_WARN_SLOW_MS in ns, or 0 */
    weft_task *running;   /* the task whose slice is open, or NULL */
    uint64_t run_start;   /* when it began to run */
    uint64_t flow_next;   /* the next flow arrow's id */
    uint64_t last_counts; /* when the counters were last emitted */
    pthread_mutex_t lock; /* blocking-pool threads write events too */
};

/* An instant event ("timer fired", "fd 7 ready"). */
void weft__obs_instant(weft__rt *rt, const char *name, long arg);
/* Opens the trace / arms the slow-poll warning (from weft__obs_start), and
 * fills the core's hooks that record them (rt->hooks: on_switch always,
 * on_wake and on_job for a timeline); weft__obs_stop empties them. */
int weft__trace_start(weft__rt *rt);
/* The counters event (from weft__obs_round, while rt->obs.state is set). */
void weft__trace_round(weft__rt *rt);

#endif
