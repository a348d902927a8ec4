/*
 * dump.c - every task in words: weft_dump, the dump signal
 * (WEFT_DUMP_SIGNAL) and the describer the deadlock report shares.
 *
 * A task's line: its id, its name, its state (running, runnable, waiting,
 * not started, a blocking job queued or running on the pool) and, while it
 * waits, for how long and on what.  What it waits on is read from its
 * coroutine's park record (weft__park): a leaf future describes itself
 * (ops->describe, else ops->what); a combinator lists its unfinished
 * futures; an async block among them is followed into its own coroutine, so
 * the innermost wait of nested blocks is always named.
 *
 * Durations are measured from rt->now_cached, the clock as read once per
 * scheduling round: a wait that began in the middle of a long round looks
 * older by at most that round.
 */
#include "obs/obs.h"
#include "future/future.h"
#include "io/io.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void describe_future(FILE *out, weft__rt *rt, const weft_future *f,
                            int depth, int inline_);

static void describe_leaf(FILE *out, weft__rt *rt, const weft__co *co)
{
    const weft_future *f = co->wait_obj;
    if (f && f->ops->describe) {
        char buf[192];
        f->ops->describe(f, rt, buf, sizeof buf);
        fputs(buf, out);
    } else {
        fputs(co->wait, out);
    }
}

static void describe_group(FILE *out, weft__rt *rt, const void *g, int depth,
                           int inline_)
{
    size_t n = weft__group_size(g);
    /* A timeout is one future and a timer: "timeout" says it all. */
    if (strcmp(weft__group_what(g), "timeout") != 0)
        fprintf(out, " of %zu futures", n);
    fputs(inline_ ? " {" : "\n", out);
    for (size_t i = 0; i < n; i++) {
        const weft_future *f = weft__group_slot(g, i);
        if (inline_)
            fprintf(out, "%s[%zu] ", i ? "; " : "", i);
        else
            fprintf(out, "%*s[%zu] ", depth * 2, "", i);
        if (!f)
            fputs(inline_ ? "finished" : "finished\n", out);
        else
            describe_future(out, rt, f, depth, inline_);
    }
    if (inline_)
        fputc('}', out);
}

/* What co waits on, without the end of the line. */
static void describe_wait(FILE *out, weft__rt *rt, const weft__co *co,
                          int depth, int inline_)
{
    if (co->state == WEFT__FRESH) {
        fputs("not started", out);
    } else if (!co->wait) {
        fputs(co == rt->current ? "(running)" : "(runnable)", out);
    } else if (co->wait_kind == WEFT__WAIT_COMBINATOR) {
        fputs(co->wait, out);
        describe_group(out, rt, co->wait_obj, depth + 1, inline_);
        return; /* the multi-line style ended its lines */
    } else {
        describe_leaf(out, rt, co);
    }
    if (!inline_)
        fputc('\n', out);
}

static void describe_future(FILE *out, weft__rt *rt, const weft_future *f,
                            int depth, int inline_)
{
    const weft__co *co = weft__async_co(f);
    if (!co) {
        char buf[192];
        if (f->ops->describe)
            f->ops->describe(f, rt, buf, sizeof buf);
        fputs(f->ops->describe ? buf : f->ops->what, out);
        if (!inline_)
            fputc('\n', out);
        return;
    }
    const char *name = weft__async_name(f);
    fprintf(out, "async block%s%s%s: ", name ? " '" : "", name ? name : "",
            name ? "'" : "");
    describe_wait(out, rt, co, depth, inline_);
}

void weft__describe_co(FILE *out, weft__rt *rt, const weft__co *co, int depth,
                       int inline_)
{
    describe_wait(out, rt, co, depth, inline_);
    if (inline_)
        fputc('\n', out);
}

/* ---- weft_dump ---------------------------------------------------------- */

static int on_run_queue(const weft__rt *rt, const weft_task *t)
{
    (void)rt;
    return t->queued;
}

static void dump_task(FILE *out, weft__rt *rt, const weft_task *t, uint64_t now)
{
    fprintf(out, "  task %" PRIu64 " '%s' ", t->id, weft__task_name(t));
    const weft__co *co = &t->co;
    if (t->blocking) {
        fputs(weft__blocking_taken(rt, t)
                  ? "blocking job: running on the pool\n"
                  : "blocking job: queued for the pool\n",
              out);
        return;
    }
    if (rt->current->task == t) {
        fputs("running\n", out);
        return;
    }
    if (co->state == WEFT__FRESH) {
        fputs("not started\n", out);
        return;
    }
    if (on_run_queue(rt, t) || !co->wait) {
        fputs("runnable\n", out);
        return;
    }
    char d[32];
    weft__fmt_ns(d, sizeof d, now > co->wait_since ? now - co->wait_since : 0);
    fprintf(out, "waiting %s: ", d);
    weft__describe_co(out, rt, co, 0, 1);
}

static int dump(weft__rt *rt, FILE *out)
{
    uint64_t now = weft__clock_now(rt);
    int n = 0;
    for (weft__link *l = rt->tasks.next; l != &rt->tasks; l = l->next) {
        const weft_task *t = weft__container(l, weft_task, all);
        if (t->co.state == WEFT__DEAD)
            continue;
        dump_task(out, rt, t, now);
        n++;
    }
    fflush(out);
    return ferror(out) ? -EIO : n;
}

int weft_dump(FILE *out)
{
    weft__rt *rt = weft__rt_here();
    if (!rt)
        return -EPERM;
    if (!out)
        return -EINVAL;
    return dump(rt, out);
}

/* ---- the dump signal ---------------------------------------------------- */

/* "QUIT", "SIGQUIT", "quit" or a number: the signal, or 0. */
static int parse_signal(const char *s)
{
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end)
        return v > 0 && v < NSIG ? (int)v : 0;
    for (int i = 1; i < NSIG; i++) {
        const char *a = sigabbrev_np(i);
        if (a && strcasecmp(a, s) == 0)
            return i;
    }
    return 0;
}

/* 0, or -ENOMEM (the reactor or the handler's slot could not be had: the
 * run fails as any other start-up allocation would).  A value that names
 * no usable signal is reported and ignored. */
static int dump_signal_start(weft__rt *rt)
{
    const char *v = getenv("WEFT_DUMP_SIGNAL");
    if (!v || !*v)
        return 0;
    int sig = parse_signal(v);
    int rc = sig ? weft__sig_watch(rt, sig, &rt->obs.dump_seen) : -EINVAL;
    if (rc == -ENOMEM || rc == -EMFILE || rc == -ENFILE)
        return rc;
    if (rc) {
        fprintf(stderr,
                "weft: WEFT_DUMP_SIGNAL=%s ignored: %s (give a catchable "
                "signal such as QUIT, USR1 or USR2)\n",
                v, weft_strerror(rc));
        return 0;
    }
    rt->obs.dump_signal = sig;
    rt->hooks.dump_pending = weft__obs_dump_pending; /* sched/core.h */
    return 0;
}

int weft__obs_dump_pending(const weft__rt *rt)
{
    return weft__sig_deliveries(rt->obs.dump_signal, NULL) != rt->obs.dump_seen;
}

static void dump_signal_round(weft__rt *rt)
{
    uint64_t when;
    uint64_t seen = weft__sig_deliveries(rt->obs.dump_signal, &when);
    if (seen == rt->obs.dump_seen)
        return;
    rt->obs.dump_seen = seen;
    size_t tasks = 0;
    for (weft__link *l = rt->tasks.next; l != &rt->tasks; l = l->next)
        tasks += weft__container(l, weft_task, all)->co.state != WEFT__DEAD;
    const char *abbrev = sigabbrev_np(rt->obs.dump_signal);
    fprintf(stderr, "weft: task dump on SIG%s: %zu task%s\n",
            abbrev ? abbrev : "?", tasks, tasks == 1 ? "" : "s");
    /* The scheduler answers between rounds, and a pending dump ends the
     * round at the next suspension: a dump that comes late was held up by
     * the task that suspended last. */
    uint64_t now = weft__clock_mono();
    const weft__co *last = rt->back_from;
    if (now > when && now - when >= 1000000u && last && last->task) {
        char d[32];
        weft__fmt_ns(d, sizeof d, now - when);
        fprintf(stderr,
                "weft: the thread was held for %s after the signal; the "
                "last task to run was task %" PRIu64 " '%s'\n",
                d, last->task->id, weft__task_name(last->task));
    }
    dump(rt, stderr);
}

int weft__obs_start(weft__rt *rt)
{
    rt->now_cached = weft__clock_now(rt);
    int rc = dump_signal_start(rt);
    return rc ? rc : weft__trace_start(rt);
}

void weft__obs_round(weft__rt *rt)
{
    if (rt->obs.dump_signal)
        dump_signal_round(rt);
    if (rt->obs.state)
        weft__trace_round(rt);
}
