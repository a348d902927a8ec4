/*
 * tests/model_core.h - randomized model-based testing of weft: a program
 * generator, an executor that runs a program on weft (virtual clock), and a
 * deliberately simple reference model of the documented semantics that
 * predicts the trace of observable events.  Shared (static functions only)
 * by tests/test_model.c (Criterion, seeds) and tests/fuzz_model.c
 * (libFuzzer).
 *
 * A program is up to M_MAX_TASKS tasks: task 0 is the root, task k > 0 is
 * spawned by one earlier task (a SPAWN op in its list).  Each task runs a
 * short list of ops and logs one event per op: (task, op index, kind, return
 * code, up to three values, weft_now() in ms).  Ops:
 *
 *   spawn k, sleep d (0..5 ms, the root's last one up to 30; sleep(0) is
 *   a yield), yield,
 *   send c (item = a unique number), recv c, close c (receiver side),
 *   droptx c (drop the channel's only sender), abort k, join k, detach k,
 *   race(sleep d, recv c), race(recv c, sleep d), timeout(recv c, d),
 *   join(sleep d1, sleep d2), join_all(sleep d, recv c).
 *
 * Restrictions that keep every program inside what weft.h determines:
 *  - each channel has one receiving task (its owner, fixed by the
 *    generator): only it receives, closes, and races/joins receives on it,
 *    so -EBUSY never arises;
 *  - channels are created by the root inside the runtime (not "shared"),
 *    which uses each receiver once (try_recv) so it is known to stay there;
 *  - task handles live in one table; abort/join/detach of task k only happen
 *    while the handle is spawned and not consumed or being joined (a program
 *    decision made at run time from program state, so the executor and the
 *    model make the same decision); join never targets the joiner itself;
 *  - droptx happens only while no send on that channel is in progress;
 *  - sleep futures (race, timeout, join) last 0..5 ms; one of 0 ms is ready
 *    on its first poll (as tokio's Sleep; weft.h's "an f that is ready at
 *    once wins even with a zero timeout"), unlike weft_sleep(0), which
 *    yields;
 *  - cancellation: after every op a task checks weft_is_cancelled(); once
 *    cancelled it unwinds: one more weft_sleep (which must return
 *    -ECANCELED at once), detaches the handle of a join that was cancelled
 *    while waiting (weft.h: that handle is still the caller's), and returns.
 *    So every op starts in a task that is not cancelled.
 *  - before returning (also when unwinding) a task drains the channels it
 *    receives with weft_try_recv and logs how many items it took and a hash
 *    of them: items that a cancelled or losing receive must not have
 *    consumed, or that nobody received, show up there.
 *
 * The reference model is a discrete-event simulation of the documented
 * semantics: a FIFO run queue (a wake queues a task at the back unless it is
 * already queued or dead; spawn queues the new task; yield queues the caller
 * after the next timer service); timers ordered by (deadline, arming order);
 * the virtual clock jumps to the next deadline when nothing is runnable; when
 * nothing is queued only the first expired timer fires, and after a batch of
 * 64 task runs every expired timer fires, then the yielded tasks are queued
 * (runtime.c, service()); channels FIFO with
 * bounded senders served first come first served and item hand-over at the
 * moment room is made; abort = cancel flag + wake; a never-started cancelled
 * task dies (drop_arg) when the scheduler reaches it; deadlock = nothing
 * runnable and no timer armed -> report, cancel every live task in spawn
 * order, weft_run returns -EDEADLK; root return -> every other task
 * cancelled in spawn order.  Combinators poll woken children in argument
 * order (join fairness, race bias); a receive that loses consumes nothing.
 */
#ifndef WEFT_MODEL_CORE_H
#define WEFT_MODEL_CORE_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weft.h"

#define M_FN static __attribute__((unused))

#define M_MAX_TASKS      7
#define M_MAX_CHANS      3
#define M_MAX_RANDOM_OPS 8
#define M_MAX_OPS        (M_MAX_RANDOM_OPS + M_MAX_TASKS)
#define M_MAX_EVENTS     512
#define M_MAX_ITEMS      256
#define M_BATCH          64   /* WEFT__BATCH in src/sched/runtime.c */
#define M_SKIP           7777 /* rc of an op the program skipped */
#define M_NO_RESULT      (-1) /* *result of weft_run left unchanged */

/* ------------------------------------------------------------------------ */
/* Programs                                                                 */
/* ------------------------------------------------------------------------ */

enum {
    OP_SPAWN, /* a = task */
    OP_SLEEP, /* a = ms (0..5) */
    OP_YIELD,
    OP_SEND,    /* a = chan */
    OP_RECV,    /* a = chan (owned) */
    OP_CLOSE,   /* a = chan (owned) */
    OP_DROPTX,  /* a = chan */
    OP_ABORT,   /* a = task */
    OP_JOIN,    /* a = task (not self) */
    OP_DETACH,  /* a = task */
    OP_RACE_SR, /* race(sleep b, recv a) */
    OP_RACE_RS, /* race(recv a, sleep b) */
    OP_TIMEOUT, /* timeout(recv a, b) */
    OP_JOIN_SS, /* join(sleep a, sleep b) */
    OP_JOIN_SR, /* join_all(sleep b, recv a) */
    OP__COUNT
};

static const char *const m_op_names[OP__COUNT] = {
    "spawn",   "sleep",   "yield",   "send",    "recv",
    "close",   "droptx",  "abort",   "join",    "detach",
    "race_sr", "race_rs", "timeout", "join_ss", "join_sr"};

typedef struct m_op {
    uint8_t kind, a, b;
} m_op;

typedef struct m_prog {
    int ntasks, nchans;
    int bound[M_MAX_CHANS]; /* 0 = unbounded */
    int owner[M_MAX_CHANS]; /* the receiving task */
    int nops[M_MAX_TASKS];
    m_op ops[M_MAX_TASKS][M_MAX_OPS];
    /* Known weft bug (see test_model.c, regression_cancelled_join_handle):
     * when set, a task unwinding from a join that was cancelled while
     * waiting aborts the joined task before detaching it, which weft.h
     * allows (the handle is still the caller's) but weft ignores. */
    int abort_cancelled_join;
} m_prog;

/* The random source: a seeded xorshift64*, or the bytes of a fuzz input
 * (each draw takes one byte; 0 once they run out, which ends lists). */
typedef struct m_rng {
    uint64_t s;
    const uint8_t *data;
    size_t len, pos;
} m_rng;

M_FN void m_rng_seed(m_rng *r, uint64_t seed)
{
    uint64_t z = seed + UINT64_C(0x9e3779b97f4a7c15); /* splitmix64 */
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    memset(r, 0, sizeof *r);
    r->s = z ? z : 1;
}

M_FN void m_rng_bytes(m_rng *r, const uint8_t *data, size_t len)
{
    memset(r, 0, sizeof *r);
    r->data = data;
    r->len = len;
}

/* A number in [0, n). */
M_FN unsigned m_rnd(m_rng *r, unsigned n)
{
    if (n <= 1)
        return 0;
    if (r->data) {
        if (r->pos >= r->len)
            return 0;
        return r->data[r->pos++] % n;
    }
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (unsigned)((r->s * UINT64_C(0x2545f4914f6cdd1d)) >> 33) % n;
}

static const struct {
    uint8_t kind, weight;
} m_weights[] = {
    {OP_SLEEP, 14},  {OP_YIELD, 5},   {OP_SEND, 16},   {OP_RECV, 14},
    {OP_CLOSE, 3},   {OP_DROPTX, 2},  {OP_ABORT, 6},   {OP_JOIN, 10},
    {OP_DETACH, 3},  {OP_RACE_SR, 5}, {OP_RACE_RS, 5}, {OP_TIMEOUT, 5},
    {OP_JOIN_SS, 3}, {OP_JOIN_SR, 4},
};

static m_op m_gen_op(m_rng *r, const m_prog *p, int self)
{
    int owned[M_MAX_CHANS], nowned = 0;
    for (int c = 0; c < p->nchans; c++)
        if (p->owner[c] == self)
            owned[nowned++] = c;
    unsigned total = 0;
    for (size_t i = 0; i < sizeof m_weights / sizeof m_weights[0]; i++)
        total += m_weights[i].weight;
    unsigned w = m_rnd(r, total);
    int kind = OP_SLEEP;
    for (size_t i = 0; i < sizeof m_weights / sizeof m_weights[0]; i++) {
        if (w < m_weights[i].weight) {
            kind = m_weights[i].kind;
            break;
        }
        w -= m_weights[i].weight;
    }
    m_op o = {.kind = OP_SLEEP};
    switch (kind) {
    case OP_SLEEP:
        o.a = (uint8_t)m_rnd(r, 6);
        break;
    case OP_YIELD:
        o.kind = OP_YIELD;
        break;
    case OP_SEND:
    case OP_DROPTX:
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)m_rnd(r, (unsigned)p->nchans);
        break;
    case OP_RECV:
    case OP_CLOSE:
    case OP_RACE_SR:
    case OP_RACE_RS:
    case OP_TIMEOUT:
    case OP_JOIN_SR:
        if (!nowned) { /* not a receiver: send instead */
            o.kind = OP_SEND;
            o.a = (uint8_t)m_rnd(r, (unsigned)p->nchans);
            break;
        }
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)owned[m_rnd(r, (unsigned)nowned)];
        o.b = (uint8_t)m_rnd(r, 6);
        break;
    case OP_JOIN_SS:
        o.kind = OP_JOIN_SS;
        o.a = (uint8_t)m_rnd(r, 6);
        o.b = (uint8_t)m_rnd(r, 6);
        break;
    case OP_ABORT:
    case OP_JOIN:
    case OP_DETACH: {
        if (p->ntasks < 2)
            break; /* the root has no handle: sleep 0 */
        int t = 1 + (int)m_rnd(r, (unsigned)p->ntasks - 1);
        if (kind == OP_JOIN && t == self)
            break; /* never join yourself: sleep 0 */
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)t;
        break;
    }
    }
    return o;
}

M_FN void m_gen(m_prog *p, m_rng *r)
{
    memset(p, 0, sizeof *p);
    p->ntasks = 1 + (int)m_rnd(r, M_MAX_TASKS);
    p->nchans = 1 + (int)m_rnd(r, M_MAX_CHANS);
    for (int c = 0; c < p->nchans; c++) {
        static const int bounds[] = {0, 0, 1, 2};
        p->bound[c] = bounds[m_rnd(r, 4)];
        p->owner[c] = (int)m_rnd(r, (unsigned)p->ntasks);
    }
    for (int k = 0; k < p->ntasks; k++) {
        p->nops[k] = (int)m_rnd(r, M_MAX_RANDOM_OPS + 1);
        for (int i = 0; i < p->nops[k]; i++)
            p->ops[k][i] = m_gen_op(r, p, k);
    }
    if (p->nops[0] < M_MAX_RANDOM_OPS && m_rnd(r, 3)) {
        /* mostly, the root ends with a longer sleep: its children get to
         * run before it returns and cancels them */
        p->ops[0][p->nops[0]++] =
            (m_op){.kind = OP_SLEEP, .a = (uint8_t)(5 + m_rnd(r, 26))};
    }
    for (int k = 1; k < p->ntasks; k++) { /* the spawn tree, early */
        int parent = (int)m_rnd(r, (unsigned)k);
        int at = (int)m_rnd(r, (unsigned)p->nops[parent] / 2 + 1);
        m_op *ops = p->ops[parent];
        memmove(&ops[at + 1], &ops[at],
                (size_t)(p->nops[parent] - at) * sizeof *ops);
        ops[at] = (m_op){.kind = OP_SPAWN, .a = (uint8_t)k};
        p->nops[parent]++;
    }
}

/* Decodes hex (as printed by m_hex_print) into buf; returns the length. */
M_FN size_t m_hex_decode(const char *hex, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (; hex[0] && hex[1] && n < cap; hex += 2) {
        unsigned v;
        if (sscanf(hex, "%2x", &v) != 1)
            break;
        buf[n++] = (uint8_t)v;
    }
    return n;
}

M_FN void m_hex_print(FILE *out, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%02x", data[i]);
}

M_FN void m_gen_bytes(m_prog *p, const uint8_t *data, size_t len)
{
    m_rng r;
    m_rng_bytes(&r, data, len);
    m_gen(p, &r);
}

M_FN void m_gen_seed(m_prog *p, uint64_t seed)
{
    m_rng r;
    m_rng_seed(&r, seed);
    m_gen(p, &r);
}

static void m_op_print(FILE *out, const m_op *o)
{
    switch (o->kind) {
    case OP_SPAWN:
    case OP_ABORT:
    case OP_JOIN:
    case OP_DETACH:
        fprintf(out, "%s t%d", m_op_names[o->kind], o->a);
        break;
    case OP_SLEEP:
        fprintf(out, "sleep %d", o->a);
        break;
    case OP_YIELD:
        fputs("yield", out);
        break;
    case OP_SEND:
    case OP_RECV:
    case OP_CLOSE:
    case OP_DROPTX:
        fprintf(out, "%s c%d", m_op_names[o->kind], o->a);
        break;
    case OP_RACE_SR:
        fprintf(out, "race(sleep %d, recv c%d)", o->b, o->a);
        break;
    case OP_RACE_RS:
        fprintf(out, "race(recv c%d, sleep %d)", o->a, o->b);
        break;
    case OP_TIMEOUT:
        fprintf(out, "timeout(recv c%d, %d)", o->a, o->b);
        break;
    case OP_JOIN_SS:
        fprintf(out, "join(sleep %d, sleep %d)", o->a, o->b);
        break;
    case OP_JOIN_SR:
        fprintf(out, "join_all(sleep %d, recv c%d)", o->b, o->a);
        break;
    }
}

M_FN void m_prog_print(FILE *out, const m_prog *p)
{
    for (int c = 0; c < p->nchans; c++) {
        fprintf(out, "  c%d: ", c);
        if (p->bound[c])
            fprintf(out, "bounded(%d)", p->bound[c]);
        else
            fputs("unbounded", out);
        fprintf(out, ", received by t%d\n", p->owner[c]);
    }
    for (int k = 0; k < p->ntasks; k++) {
        fprintf(out, "  t%d%s:", k, k ? "" : " (root)");
        for (int i = 0; i < p->nops[k]; i++) {
            fprintf(out, " [%d] ", i);
            m_op_print(out, &p->ops[k][i]);
            fputc(';', out);
        }
        fputc('\n', out);
    }
    if (p->abort_cancelled_join)
        fputs("  (a task cancelled in a join aborts the joined task)\n", out);
}

/* ------------------------------------------------------------------------ */
/* Traces                                                                   */
/* ------------------------------------------------------------------------ */

enum {
    EV_START = 100, /* the task's body started */
    EV_END,         /* the task's body returns */
    EV_UNWIND,      /* rc: the extra weft_sleep of a cancelled task */
    EV_RUN,         /* rc: weft_run; a1: root result (M_NO_RESULT) */
    EV_REPORT,      /* a1: deadlock report printed (2: other stderr);
                       a2: tasks it says are blocked */
    EV_SUMMARY,     /* per task: a1 spawned, a2 started, a3 drop_arg calls */
    EV_DRAIN        /* pc: channel; rc: last weft_try_recv; a1: items
                       taken; a2: a hash of them in order */
};

typedef struct m_ev {
    int16_t task, pc, kind;
    int32_t rc, a1, a2, a3;
    uint32_t ms;
} m_ev;

typedef struct m_trace {
    m_ev ev[M_MAX_EVENTS];
    int n;
    int overflow;
} m_trace;

static void m_log(m_trace *tr, int task, int pc, int kind, int rc, int a1,
                  int a2, int a3, uint64_t ms)
{
    if (tr->n >= M_MAX_EVENTS) {
        tr->overflow = 1;
        return;
    }
    tr->ev[tr->n++] = (m_ev){.task = (int16_t)task,
                             .pc = (int16_t)pc,
                             .kind = (int16_t)kind,
                             .rc = rc,
                             .a1 = a1,
                             .a2 = a2,
                             .a3 = a3,
                             .ms = (uint32_t)ms};
}

static const char *m_rc_name(int rc)
{
    switch (rc) {
    case -ECANCELED:
        return "ECANCELED";
    case -EPIPE:
        return "EPIPE";
    case -ETIMEDOUT:
        return "ETIMEDOUT";
    case -EDEADLK:
        return "EDEADLK";
    case -EINVAL:
        return "EINVAL";
    case -EBUSY:
        return "EBUSY";
    case -EAGAIN:
        return "EAGAIN";
    case M_SKIP:
        return "skip";
    default:
        return NULL;
    }
}

M_FN void m_ev_print(FILE *out, const m_ev *e)
{
    char rcs[24];
    const char *name = m_rc_name(e->rc);
    if (name)
        snprintf(rcs, sizeof rcs, "%s", name);
    else
        snprintf(rcs, sizeof rcs, "%d", e->rc);
    switch (e->kind) {
    case EV_START:
        fprintf(out, "t%d start @%u", e->task, e->ms);
        return;
    case EV_END:
        fprintf(out, "t%d end @%u", e->task, e->ms);
        return;
    case EV_UNWIND:
        fprintf(out, "t%d unwind sleep=%s @%u", e->task, rcs, e->ms);
        return;
    case EV_RUN:
        fprintf(out, "weft_run=%s result=%d", rcs, e->a1);
        return;
    case EV_REPORT:
        fprintf(out, "deadlock report=%d blocked=%d", e->a1, e->a2);
        return;
    case EV_SUMMARY:
        fprintf(out, "t%d spawned=%d started=%d dropped=%d", e->task, e->a1,
                e->a2, e->a3);
        return;
    case EV_DRAIN:
        fprintf(out, "t%d drain c%d: %d items (hash %d), then rc=%s @%u",
                e->task, e->pc, e->a1, e->a2, rcs, e->ms);
        return;
    }
    fprintf(out, "t%d [%d] %s rc=%s", e->task, e->pc,
            e->kind < OP__COUNT ? m_op_names[e->kind] : "?", rcs);
    if (e->a1 || e->a2 || e->a3)
        fprintf(out, " (%d,%d,%d)", e->a1, e->a2, e->a3);
    fprintf(out, " @%u", e->ms);
}

/* Index of the first difference, or -1. */
M_FN int m_trace_diff(const m_trace *a, const m_trace *b)
{
    int n = a->n < b->n ? a->n : b->n;
    for (int i = 0; i < n; i++) {
        const m_ev *x = &a->ev[i], *y = &b->ev[i];
        if (x->task != y->task || x->pc != y->pc || x->kind != y->kind ||
            x->rc != y->rc || x->a1 != y->a1 || x->a2 != y->a2 ||
            x->a3 != y->a3 || x->ms != y->ms)
            return i;
    }
    if (a->n != b->n || a->overflow != b->overflow)
        return n;
    return -1;
}

M_FN void m_trace_print(FILE *out, const char *title, const m_trace *tr,
                        int from, int count)
{
    fprintf(out, "%s (%d events%s):\n", title, tr->n,
            tr->overflow ? ", OVERFLOW" : "");
    for (int i = from < 0 ? 0 : from; i < tr->n && i < from + count; i++) {
        fprintf(out, "  %3d  ", i);
        m_ev_print(out, &tr->ev[i]);
        fputc('\n', out);
    }
}

/* ------------------------------------------------------------------------ */
/* Program state shared by both executions (program decisions only)          */
/* ------------------------------------------------------------------------ */

enum { H_NONE, H_OWNED, H_JOINING, H_DONE };

typedef struct m_pstate {
    int handle[M_MAX_TASKS];
    int tx_dropped[M_MAX_CHANS];
    int sending[M_MAX_CHANS];
} m_pstate;

static int m_item(int task, int pc) { return (task + 1) * 100 + pc; }
static int m_task_result(int task) { return 1000 + task; }

/* ------------------------------------------------------------------------ */
/* The real execution on weft                                               */
/* ------------------------------------------------------------------------ */

static struct m_real {
    const m_prog *p;
    m_trace *tr;
    m_pstate ps;
    weft_task *h[M_MAX_TASKS];
    weft_sender *tx[M_MAX_CHANS];
    weft_receiver *rx[M_MAX_CHANS];
    int spawned[M_MAX_TASKS], started[M_MAX_TASKS], dropped[M_MAX_TASKS];
    int rbuf[M_MAX_TASKS]; /* receive buffers of recv futures */
    int setup_rc;
} m_R;

static uint64_t m_now_ms(void) { return weft_now() / WEFT_MS(1); }

static void *m_real_task(void *arg);

static void m_real_drop(void *arg) { m_R.dropped[(intptr_t)arg]++; }

static int m_ptr_int(void *p) { return (int)(intptr_t)p; }

static void m_real_op(int k, int pc, const m_op *o, int *pending)
{
    m_pstate *ps = &m_R.ps;
    int rc = 0, a1 = 0, a2 = 0, a3 = 0;
    int t = o->a, c = o->a;
    switch (o->kind) {
    case OP_SPAWN: {
        weft_spawn_opts so = {.drop_arg = m_real_drop};
        ps->handle[t] = H_OWNED;
        m_R.spawned[t] = 1;
        m_R.h[t] = weft_spawn_with(&so, m_real_task, (void *)(intptr_t)t);
        rc = m_R.h[t] ? 0 : -errno;
        break;
    }
    case OP_SLEEP:
        rc = weft_sleep(WEFT_MS(o->a));
        break;
    case OP_YIELD:
        rc = weft_yield();
        break;
    case OP_SEND: {
        if (ps->tx_dropped[c]) {
            rc = M_SKIP;
            break;
        }
        int item = m_item(k, pc);
        ps->sending[c]++;
        rc = weft_send(m_R.tx[c], &item);
        ps->sending[c]--;
        a1 = item;
        break;
    }
    case OP_RECV: {
        int v = -1;
        rc = weft_recv(m_R.rx[c], &v);
        a1 = rc == 1 ? v : 0;
        break;
    }
    case OP_CLOSE:
        weft_receiver_close(m_R.rx[c]);
        break;
    case OP_DROPTX:
        if (ps->tx_dropped[c] || ps->sending[c]) {
            rc = M_SKIP;
            break;
        }
        ps->tx_dropped[c] = 1;
        weft_sender_drop(m_R.tx[c]);
        m_R.tx[c] = NULL;
        break;
    case OP_ABORT:
        if (ps->handle[t] != H_OWNED) {
            rc = M_SKIP;
            break;
        }
        weft_task_abort(m_R.h[t]);
        break;
    case OP_DETACH:
        if (ps->handle[t] != H_OWNED) {
            rc = M_SKIP;
            break;
        }
        ps->handle[t] = H_DONE;
        weft_task_detach(m_R.h[t]);
        break;
    case OP_JOIN: {
        if (ps->handle[t] != H_OWNED) {
            rc = M_SKIP;
            break;
        }
        ps->handle[t] = H_JOINING;
        void *res = (void *)(intptr_t)-1;
        rc = weft_task_join(m_R.h[t], &res);
        a1 = rc == 0 ? m_ptr_int(res) : 0;
        if (rc == -ECANCELED && weft_is_cancelled())
            *pending = t; /* still ours (weft.h): unwinding detaches it */
        ps->handle[t] = H_DONE;
        break;
    }
    case OP_RACE_SR:
    case OP_RACE_RS: {
        m_R.rbuf[k] = -1;
        weft_future *s = weft_sleep_future(WEFT_MS(o->b));
        weft_future *r = weft_recv_future(m_R.rx[c], &m_R.rbuf[k]);
        int sr = o->kind == OP_RACE_SR;
        weft_future *fs[2] = {sr ? s : r, sr ? r : s};
        void *res = (void *)(intptr_t)-1;
        rc = weft_race(fs, 2, &res);
        a1 = rc >= 0 ? m_ptr_int(res) : 0;
        a2 = rc == (sr ? 1 : 0) && a1 == 1 ? m_R.rbuf[k] : 0;
        break;
    }
    case OP_TIMEOUT:
        m_R.rbuf[k] = -1;
        rc = weft_timeout(weft_recv_future(m_R.rx[c], &m_R.rbuf[k]),
                          WEFT_MS(o->b), NULL);
        a1 = rc == 1 ? m_R.rbuf[k] : 0;
        break;
    case OP_JOIN_SS:
        rc = weft_join(weft_sleep_future(WEFT_MS(o->a)),
                       weft_sleep_future(WEFT_MS(o->b)));
        break;
    case OP_JOIN_SR: {
        m_R.rbuf[k] = -1;
        weft_future *fs[2] = {weft_sleep_future(WEFT_MS(o->b)),
                              weft_recv_future(m_R.rx[c], &m_R.rbuf[k])};
        void *res[2] = {(void *)(intptr_t)-1, (void *)(intptr_t)-1};
        rc = weft_join_all(fs, 2, res);
        a1 = m_ptr_int(res[0]);
        a2 = m_ptr_int(res[1]);
        a3 = a2 == 1 ? m_R.rbuf[k] : 0;
        break;
    }
    }
    m_log(m_R.tr, k, pc, o->kind, rc, a1, a2, a3, m_now_ms());
}

static void *m_real_task(void *arg)
{
    int k = (int)(intptr_t)arg;
    const m_prog *p = m_R.p;
    if (k == 0) { /* inside the runtime: the channels are not "shared" */
        for (int c = 0; c < p->nchans; c++) {
            weft_channel_opts co = {.capacity = (size_t)p->bound[c]};
            int rc =
                weft_channel_with(sizeof(int), &co, &m_R.tx[c], &m_R.rx[c]);
            if (rc) {
                m_R.setup_rc = rc;
                return NULL;
            }
            /* The receiver is used here, so it stays on this runtime (an
             * unused one may be handed to another thread: weft.h). */
            int none;
            if (weft_try_recv(m_R.rx[c], &none) != -EAGAIN) {
                m_R.setup_rc = -EPROTO;
                return NULL;
            }
        }
    }
    m_R.started[k] = 1;
    m_log(m_R.tr, k, -1, EV_START, 0, 0, 0, 0, m_now_ms());
    int pending = -1;
    for (int pc = 0; pc < p->nops[k]; pc++) {
        m_real_op(k, pc, &p->ops[k][pc], &pending);
        if (weft_is_cancelled()) {
            int rc = weft_sleep(WEFT_MS(1)); /* at once, -ECANCELED */
            m_log(m_R.tr, k, -1, EV_UNWIND, rc, 0, 0, 0, m_now_ms());
            if (pending >= 0) {
                if (p->abort_cancelled_join)
                    weft_task_abort(m_R.h[pending]);
                weft_task_detach(m_R.h[pending]);
            }
            break;
        }
    }
    for (int c = 0; c < p->nchans; c++) { /* drain what it receives */
        if (p->owner[c] != k)
            continue;
        int rc, n = 0, v;
        uint32_t h = 0;
        while ((rc = weft_try_recv(m_R.rx[c], &v)) == 1) {
            n++;
            h = h * 31u + (uint32_t)v;
        }
        m_log(m_R.tr, k, c, EV_DRAIN, rc, n, (int)(h & 0x7fffffff), 0,
              m_now_ms());
    }
    m_log(m_R.tr, k, -1, EV_END, 0, 0, 0, 0, m_now_ms());
    return (void *)(intptr_t)m_task_result(k);
}

/* stderr of the runtime (the deadlock report) goes to a memfd. */
static int m_capture_fd = -1;

/* Reads "weft: deadlock: N task..." from what was captured. */
static void m_parse_report(const char *s, int *report, int *blocked)
{
    *report = 0;
    *blocked = 0;
    if (!*s)
        return;
    unsigned n = 0;
    if (sscanf(s, "weft: deadlock: %u task", &n) == 1) {
        *report = 1;
        *blocked = (int)n;
    } else {
        *report = 2; /* something else was printed */
    }
}

/* Runs p on weft; fills tr.  Returns 0, or -1 if the runtime could not be
 * set up (a test failure of its own). */
M_FN int m_run_real(const m_prog *p, m_trace *tr)
{
    memset(&m_R, 0, sizeof m_R);
    memset(tr, 0, sizeof *tr);
    m_R.p = p;
    m_R.tr = tr;
    static char out[8192];
    int saved = -1;
    fflush(stderr);
    if (m_capture_fd < 0)
        m_capture_fd = memfd_create("weft-model-stderr", 0);
    if (m_capture_fd < 0) { /* no memfd: an unlinked temporary file */
        char path[] = "/tmp/weft-model-stderr-XXXXXX";
        m_capture_fd = mkstemp(path);
        if (m_capture_fd >= 0)
            unlink(path);
    }
    if (m_capture_fd >= 0 && ftruncate(m_capture_fd, 0) == 0 &&
        lseek(m_capture_fd, 0, SEEK_SET) == 0) {
        saved = dup(2);
        if (saved >= 0)
            dup2(m_capture_fd, 2);
    }
    weft_config cfg = {.clock = WEFT_CLOCK_VIRTUAL,
                       .deadlock = WEFT_DEADLOCK_FAIL,
                       .stack_size = 64 * 1024};
    void *res = (void *)(intptr_t)M_NO_RESULT;
    int rc = weft_run_with(&cfg, m_real_task, (void *)(intptr_t)0, &res);
    size_t len = 0;
    fflush(stderr);
    if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
        if (lseek(m_capture_fd, 0, SEEK_SET) == 0) {
            ssize_t n = read(m_capture_fd, out, sizeof out - 1);
            len = n > 0 ? (size_t)n : 0;
        }
    }
    out[len] = 0;
    for (int c = 0; c < p->nchans; c++) {
        weft_sender_drop(m_R.tx[c]);
        weft_receiver_drop(m_R.rx[c]);
    }
    if (m_R.setup_rc) {
        fprintf(stderr, "model: channel setup failed: %d\n", m_R.setup_rc);
        return -1;
    }
    m_log(tr, -1, -1, EV_RUN, rc, m_ptr_int(res), 0, 0, 0);
    int report, blocked;
    m_parse_report(out, &report, &blocked);
    m_log(tr, -1, -1, EV_REPORT, 0, report, blocked, 0, 0);
    if (report == 2)
        fprintf(stderr, "model: unexpected stderr output:\n%s\n", out);
    for (int k = 1; k < p->ntasks; k++)
        m_log(tr, k, -1, EV_SUMMARY, 0, m_R.spawned[k], m_R.started[k],
              m_R.dropped[k], 0);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The reference model                                                      */
/* ------------------------------------------------------------------------ */

enum { F_NONE, F_SLEEP, F_RECV, F_SEND, F_JOIN };
enum { S_WAITING, S_DONE, S_CLOSED, S_GONE };
enum { MT_FRESH, MT_LIVE, MT_DEAD };
enum { MODE_LEAF, MODE_YIELD, MODE_RACE, MODE_JOIN };
enum { M_DONE, M_SUSPEND };

typedef struct m_fut {
    int kind;
    int started, done, status, val;
    /* sleep: its timer lives here, as in weft */
    int relative, armed, fired, wslot;
    uint64_t d, deadline, seq;
    /* recv / send */
    int chan, sstate, queued, item;
    /* join */
    int target;
} m_fut;

typedef struct m_task {
    int exists, state, cancel, queued, started, dropped;
    int pc, in_op, mode;
    int woken[2], gdone[2], remaining, grc;
    m_fut fut[2];
    int status, result;
    int join_waiter; /* task joining this one, or -1 */
    int pending;     /* handle of a join cancelled while waiting, or -1 */
} m_task;

typedef struct m_chan {
    int items[M_MAX_ITEMS];
    int head, count;
    int bound, closed, senders;
    int rx_task, rx_slot, rx_fut; /* the registered receive, rx_task -1 */
    int waits[M_MAX_TASKS];       /* waiting senders (tasks), in order */
    int nwaits;
} m_chan;

/* Coverage counters, summed over runs by the caller if it wants. */
typedef struct m_cov {
    long runs, deadlocks, events, batch_fires, dropped, unwinds;
    long ops[OP__COUNT], skipped[OP__COUNT], cancelled[OP__COUNT];
    long send_waited, send_epipe, send_done_then_cancel, recv_closed,
        race_win[2], timeouts, timeout_recv, join_ecanceled, timer_fires;
} m_cov;

typedef struct m_model {
    const m_prog *p;
    m_trace *tr;
    m_pstate ps;
    m_task t[M_MAX_TASKS];
    m_chan c[M_MAX_CHANS];
    int runq[M_MAX_TASKS];
    int nq;
    int yielded[M_MAX_TASKS]; /* queued after the next timer service */
    int ny;
    int order[M_MAX_TASKS], norder;
    uint64_t now, seq;
    int live, deadlocked, blocked_at_deadlock;
    int error;
    char errmsg[160];
    m_cov *cov;
} m_model;

static void m_fail(m_model *M, const char *msg)
{
    if (!M->error) {
        M->error = 1;
        snprintf(M->errmsg, sizeof M->errmsg, "%s", msg);
    }
}

/* ---- scheduling --------------------------------------------------------- */

static void m_task_wake(m_model *M, int k)
{
    m_task *T = &M->t[k];
    if (T->queued || T->state == MT_DEAD)
        return;
    T->queued = 1;
    M->runq[M->nq++] = k;
}

/* A waker: slot -1 is the task's own, 0/1 a combinator slot. */
static void m_wake(m_model *M, int k, int slot)
{
    if (slot >= 0)
        M->t[k].woken[slot] = 1;
    m_task_wake(M, k);
}

static void m_task_cancel(m_model *M, int k)
{
    m_task *T = &M->t[k];
    if (T->state == MT_DEAD || T->cancel)
        return;
    T->cancel = 1;
    m_task_wake(M, k);
}

static void m_cancel_all(m_model *M)
{
    for (int i = 0; i < M->norder; i++)
        m_task_cancel(M, M->order[i]);
}

static void m_finished(m_model *M, int k)
{
    m_task *T = &M->t[k];
    M->live--;
    if (T->queued) {
        for (int i = 0; i < M->nq; i++)
            if (M->runq[i] == k) {
                memmove(&M->runq[i], &M->runq[i + 1],
                        (size_t)(M->nq - i - 1) * sizeof M->runq[0]);
                M->nq--;
                break;
            }
        for (int i = 0; i < M->ny; i++)
            if (M->yielded[i] == k) {
                memmove(&M->yielded[i], &M->yielded[i + 1],
                        (size_t)(M->ny - i - 1) * sizeof M->yielded[0]);
                M->ny--;
                break;
            }
        T->queued = 0;
    }
    if (T->join_waiter >= 0)
        m_wake(M, T->join_waiter, -1);
    if (k == 0)
        m_cancel_all(M); /* shutdown */
}

/* ---- timers ------------------------------------------------------------- */

static void m_timer_arm(m_model *M, m_fut *f, int wslot)
{
    f->armed = 1;
    f->fired = 0;
    f->seq = M->seq++;
    f->wslot = wslot;
}

static void m_timer_cancel(m_fut *f) { f->armed = 0; }

/* The first armed timer by (deadline, arming order), or NULL. */
static m_fut *m_timer_first(m_model *M, int *task)
{
    m_fut *best = NULL;
    for (int k = 0; k < M->p->ntasks; k++)
        for (int i = 0; i < 2; i++) {
            m_fut *f = &M->t[k].fut[i];
            if (f->kind != F_SLEEP || !f->armed)
                continue;
            if (!best || f->deadline < best->deadline ||
                (f->deadline == best->deadline && f->seq < best->seq)) {
                best = f;
                *task = k;
            }
        }
    return best;
}

static void m_timers_fire(m_model *M, int max)
{
    for (int n = 0; n < max; n++) {
        int k = -1;
        m_fut *f = m_timer_first(M, &k);
        if (!f || f->deadline > M->now)
            return;
        f->armed = 0;
        f->fired = 1;
        if (M->cov)
            M->cov->timer_fires++;
        m_wake(M, k, f->wslot);
    }
}

/* ---- channels ----------------------------------------------------------- */

static void m_push(m_model *M, m_chan *ch, int item)
{
    if (ch->count >= M_MAX_ITEMS) {
        m_fail(M, "model: channel overflow");
        return;
    }
    ch->items[(ch->head + ch->count) % M_MAX_ITEMS] = item;
    ch->count++;
}

static int m_pop(m_chan *ch)
{
    int v = ch->items[ch->head];
    ch->head = (ch->head + 1) % M_MAX_ITEMS;
    ch->count--;
    return v;
}

/* Whoever makes the channel ready takes the receiver's waker. */
static void m_take_waker(m_model *M, m_chan *ch)
{
    if (ch->rx_task < 0)
        return;
    int k = ch->rx_task, s = ch->rx_slot;
    ch->rx_task = -1;
    m_wake(M, k, s);
}

static void m_unregister(m_chan *ch, int k, int fi)
{
    if (ch->rx_task == k && ch->rx_fut == fi)
        ch->rx_task = -1;
}

static void m_remove_waiter(m_chan *ch, int k)
{
    for (int i = 0; i < ch->nwaits; i++)
        if (ch->waits[i] == k) {
            memmove(&ch->waits[i], &ch->waits[i + 1],
                    (size_t)(ch->nwaits - i - 1) * sizeof ch->waits[0]);
            ch->nwaits--;
            return;
        }
}

/* The receiver took an item: the first waiting sender's item takes the
 * freed slot at once and that sender is woken. */
static void m_refill(m_model *M, m_chan *ch)
{
    if (!ch->nwaits)
        return;
    int k = ch->waits[0];
    m_remove_waiter(ch, k);
    m_fut *f = &M->t[k].fut[0];
    f->queued = 0;
    f->sstate = S_DONE;
    m_push(M, ch, f->item);
    m_wake(M, k, -1);
}

/* ---- futures ------------------------------------------------------------ */

/* Polls future fi of task k with waker slot wslot; 1 when ready. */
static int m_poll(m_model *M, int k, int fi, int wslot)
{
    m_fut *f = &M->t[k].fut[fi];
    switch (f->kind) {
    case F_SLEEP:
        if (f->relative) {
            f->deadline = M->now + f->d;
            f->relative = 0;
        }
        if (f->fired || M->now >= f->deadline) {
            m_timer_cancel(f);
            f->status = 0;
            return 1;
        }
        if (!f->armed)
            m_timer_arm(M, f, wslot);
        f->wslot = wslot;
        return 0;
    case F_RECV: {
        m_chan *ch = &M->c[f->chan];
        m_unregister(ch, k, fi);
        if (ch->count) {
            f->val = m_pop(ch);
            f->status = 1;
            m_refill(M, ch);
            return 1;
        }
        if (ch->closed || ch->senders == 0) {
            f->status = 0;
            return 1;
        }
        if (ch->rx_task >= 0) {
            m_fail(M, "model: two receives on one channel");
            f->status = -EBUSY;
            return 1;
        }
        ch->rx_task = k;
        ch->rx_slot = wslot;
        ch->rx_fut = fi;
        return 0;
    }
    case F_SEND: {
        m_chan *ch = &M->c[f->chan];
        if (f->sstate == S_WAITING) {
            if (f->queued)
                return 0;
            if (ch->closed) {
                f->status = -EPIPE;
                return 1;
            }
            if (ch->count < ch->bound && ch->nwaits == 0) {
                m_push(M, ch, f->item);
                f->sstate = S_DONE;
                f->status = 0;
                m_take_waker(M, ch);
                return 1;
            }
            f->queued = 1;
            ch->waits[ch->nwaits++] = k;
            return 0;
        }
        f->status = f->sstate == S_DONE ? 0 : -EPIPE;
        return 1;
    }
    case F_JOIN: {
        m_task *U = &M->t[f->target];
        if (U->state != MT_DEAD) {
            U->join_waiter = k;
            return 0;
        }
        U->join_waiter = -1;
        f->status = U->status;
        f->val = U->status == 0 ? U->result : 0;
        return 1;
    }
    }
    m_fail(M, "model: poll of no future");
    return 1;
}

/* Withdraws a started future; 1 when it had completed after all (a bounded
 * send whose item was taken, or that the close failed). */
static int m_fut_cancel(m_model *M, int k, int fi)
{
    m_fut *f = &M->t[k].fut[fi];
    switch (f->kind) {
    case F_SLEEP:
        m_timer_cancel(f);
        return 0;
    case F_RECV:
        m_unregister(&M->c[f->chan], k, fi);
        return 0;
    case F_SEND: {
        int st = f->sstate;
        if (st == S_WAITING && f->queued) {
            m_remove_waiter(&M->c[f->chan], k);
            f->queued = 0;
        }
        f->sstate = S_GONE;
        if (st == S_DONE || st == S_CLOSED) {
            f->status = st == S_DONE ? 0 : -EPIPE;
            if (M->cov && st == S_DONE)
                M->cov->send_done_then_cancel++;
            return 1;
        }
        return 0;
    }
    case F_JOIN:
        M->t[f->target].join_waiter = -1;
        return 0;
    }
    return 0;
}

static void m_fut_cleanup(m_model *M, int k, int fi)
{
    m_fut *f = &M->t[k].fut[fi];
    if (f->kind == F_SLEEP)
        m_timer_cancel(f);
    else if (f->kind == F_RECV)
        m_unregister(&M->c[f->chan], k, fi);
    else if (f->kind == F_JOIN && f->target >= 0 &&
             M->t[f->target].join_waiter == k)
        M->t[f->target].join_waiter = -1;
}

/* weft__await_leaf on fut[0]. */
static int m_leaf_step(m_model *M, int k)
{
    m_task *T = &M->t[k];
    m_fut *f = &T->fut[0];
    if (T->cancel) {
        int completed = f->started && !f->done && m_fut_cancel(M, k, 0);
        f->done = 1;
        if (!completed)
            f->status = -ECANCELED;
        return M_DONE;
    }
    f->started = 1;
    if (m_poll(M, k, 0, -1)) {
        f->done = 1;
        return M_DONE;
    }
    return M_SUSPEND;
}

/* group_run: one round per call; T->grc holds the result when done. */
static int m_group_step(m_model *M, int k)
{
    m_task *T = &M->t[k];
    int rc = 0;
    if (T->cancel) {
        rc = -ECANCELED;
        goto finish;
    }
    for (int i = 0; i < 2; i++) {
        if (T->gdone[i] || !T->woken[i])
            continue;
        T->woken[i] = 0;
        T->fut[i].started = 1;
        if (!m_poll(M, k, i, i))
            continue;
        T->gdone[i] = T->fut[i].done = 1;
        T->remaining--;
        if (T->mode == MODE_RACE) {
            rc = i;
            goto finish;
        }
    }
    if (T->remaining > 0)
        return M_SUSPEND;
finish:
    for (int i = 0; i < 2; i++) { /* cancel_unfinished */
        if (T->gdone[i])
            continue;
        m_fut *f = &T->fut[i];
        int completed = f->started && m_fut_cancel(M, k, i);
        f->done = 1;
        if (!completed)
            f->status = -ECANCELED;
        T->gdone[i] = 1;
    }
    T->grc = rc;
    return M_DONE;
}

static void m_sleep_fut(m_fut *f, int ms)
{
    memset(f, 0, sizeof *f);
    f->kind = F_SLEEP;
    f->relative = 1;
    f->d = (uint64_t)ms;
}

static void m_recv_fut(m_fut *f, int c)
{
    memset(f, 0, sizeof *f);
    f->kind = F_RECV;
    f->chan = c;
}

static int m_drive(m_model *M, int k)
{
    m_task *T = &M->t[k];
    switch (T->mode) {
    case MODE_LEAF:
        return m_leaf_step(M, k);
    case MODE_YIELD:
        return M_DONE;
    default:
        return m_group_step(M, k);
    }
}

/* Starts op pc of task k: M_DONE when it completed without suspending. */
static int m_op_start(m_model *M, int k, const m_op *o)
{
    m_task *T = &M->t[k];
    m_pstate *ps = &M->ps;
    memset(T->fut, 0, sizeof T->fut);
    T->fut[0].target = T->fut[1].target = -1;
    T->grc = 0;
    int t = o->a, c = o->a;
    switch (o->kind) {
    case OP_SPAWN: {
        m_task *U = &M->t[t];
        ps->handle[t] = H_OWNED;
        U->exists = 1;
        U->state = MT_FRESH;
        M->order[M->norder++] = t;
        M->live++;
        m_task_wake(M, t);
        T->grc = 0;
        return M_DONE;
    }
    case OP_SLEEP:
        if (o->a == 0)
            goto yield; /* weft_sleep(0) behaves as weft_yield */
        T->mode = MODE_LEAF;
        m_sleep_fut(&T->fut[0], o->a);
        return m_drive(M, k);
    case OP_YIELD:
    yield:
        T->mode = MODE_YIELD;
        if (!T->queued) { /* behind what the next timer service wakes */
            T->queued = 1;
            M->yielded[M->ny++] = k;
        }
        return M_SUSPEND;
    case OP_SEND: {
        m_chan *ch = &M->c[c];
        if (ps->tx_dropped[c]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        ps->sending[c]++;
        int item = m_item(k, T->pc);
        if (ch->closed) {
            T->grc = -EPIPE;
            return M_DONE;
        }
        if (!ch->bound || (ch->count < ch->bound && ch->nwaits == 0)) {
            m_push(M, ch, item);
            m_take_waker(M, ch);
            T->grc = 0;
            return M_DONE;
        }
        /* full (or senders waiting): wait in line */
        T->mode = MODE_LEAF;
        m_fut *f = &T->fut[0];
        f->kind = F_SEND;
        f->chan = c;
        f->item = item;
        f->sstate = S_WAITING;
        if (M->cov)
            M->cov->send_waited++;
        return m_drive(M, k);
    }
    case OP_RECV:
        T->mode = MODE_LEAF;
        m_recv_fut(&T->fut[0], c);
        return m_drive(M, k);
    case OP_CLOSE: {
        m_chan *ch = &M->c[c];
        int local[M_MAX_TASKS], nlocal = 0;
        ch->closed = 1;
        int rk = ch->rx_task, rs = ch->rx_slot;
        ch->rx_task = -1;
        while (ch->nwaits) { /* every waiting sender fails: -EPIPE */
            int w = ch->waits[0];
            m_remove_waiter(ch, w);
            M->t[w].fut[0].queued = 0;
            M->t[w].fut[0].sstate = S_CLOSED;
            local[nlocal++] = w;
        }
        if (rk >= 0)
            m_wake(M, rk, rs);
        for (int i = 0; i < nlocal; i++)
            m_wake(M, local[i], -1);
        T->grc = 0;
        return M_DONE;
    }
    case OP_DROPTX: {
        if (ps->tx_dropped[c] || ps->sending[c]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        ps->tx_dropped[c] = 1;
        M->c[c].senders = 0;
        m_take_waker(M, &M->c[c]);
        T->grc = 0;
        return M_DONE;
    }
    case OP_ABORT:
        if (ps->handle[t] != H_OWNED) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        m_task_cancel(M, t);
        T->grc = 0;
        return M_DONE;
    case OP_DETACH:
        if (ps->handle[t] != H_OWNED) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        ps->handle[t] = H_DONE;
        T->grc = 0;
        return M_DONE;
    case OP_JOIN:
        if (ps->handle[t] != H_OWNED) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        ps->handle[t] = H_JOINING;
        T->mode = MODE_LEAF;
        T->fut[0].kind = F_JOIN;
        T->fut[0].target = t;
        return m_drive(M, k);
    case OP_RACE_SR:
    case OP_RACE_RS:
    case OP_TIMEOUT:
    case OP_JOIN_SS:
    case OP_JOIN_SR:
        T->mode = (o->kind == OP_JOIN_SS || o->kind == OP_JOIN_SR) ? MODE_JOIN
                                                                   : MODE_RACE;
        if (o->kind == OP_RACE_SR || o->kind == OP_JOIN_SR) {
            m_sleep_fut(&T->fut[0], o->b);
            m_recv_fut(&T->fut[1], c);
        } else if (o->kind == OP_JOIN_SS) {
            m_sleep_fut(&T->fut[0], o->a);
            m_sleep_fut(&T->fut[1], o->b);
        } else {
            m_recv_fut(&T->fut[0], c);
            m_sleep_fut(&T->fut[1], o->b);
        }
        T->woken[0] = T->woken[1] = 1; /* everyone gets a first poll */
        T->gdone[0] = T->gdone[1] = 0;
        T->remaining = 2;
        return m_drive(M, k);
    }
    m_fail(M, "model: unknown op");
    return M_DONE;
}

/* The op of task k completed: compute what it returns, log, clean up. */
static void m_op_finish(m_model *M, int k, const m_op *o)
{
    m_task *T = &M->t[k];
    m_pstate *ps = &M->ps;
    int rc = T->grc, a1 = 0, a2 = 0, a3 = 0;
    m_fut *f0 = &T->fut[0], *f1 = &T->fut[1];
    switch (o->kind) {
    case OP_SLEEP:
        if (o->a == 0)
            rc = T->cancel ? -ECANCELED : 0;
        else
            rc = f0->status;
        break;
    case OP_YIELD:
        rc = T->cancel ? -ECANCELED : 0;
        break;
    case OP_SEND:
        if (rc != M_SKIP) {
            if (f0->kind == F_SEND)
                rc = f0->status;
            ps->sending[o->a]--;
            a1 = m_item(k, T->pc);
            if (rc == -EPIPE && M->cov)
                M->cov->send_epipe++;
        }
        break;
    case OP_RECV:
        rc = f0->status;
        a1 = rc == 1 ? f0->val : 0;
        if (rc == 0 && M->cov)
            M->cov->recv_closed++;
        break;
    case OP_JOIN:
        if (rc == M_SKIP)
            break;
        rc = f0->status;
        a1 = rc == 0 ? f0->val : 0;
        if (rc == -ECANCELED && T->cancel)
            T->pending = o->a;
        if (rc == -ECANCELED && M->cov)
            M->cov->join_ecanceled++;
        ps->handle[o->a] = H_DONE;
        break;
    case OP_RACE_SR:
    case OP_RACE_RS: {
        int recv_slot = o->kind == OP_RACE_SR ? 1 : 0;
        if (rc >= 0) {
            a1 = T->fut[rc].status;
            a2 = rc == recv_slot && a1 == 1 ? T->fut[rc].val : 0;
            if (M->cov)
                M->cov->race_win[rc == recv_slot]++;
        }
        break;
    }
    case OP_TIMEOUT:
        if (rc == 0)
            rc = f0->status;
        else if (rc == 1)
            rc = -ETIMEDOUT;
        a1 = rc == 1 ? f0->val : 0;
        if (M->cov) {
            if (rc == -ETIMEDOUT)
                M->cov->timeouts++;
            else if (rc >= 0)
                M->cov->timeout_recv++;
        }
        break;
    case OP_JOIN_SS:
        if (rc == 0 && (f0->status < 0 || f1->status < 0))
            rc = f0->status < 0 ? f0->status : f1->status;
        break;
    case OP_JOIN_SR:
        if (rc == 0 && (f0->status < 0 || f1->status < 0))
            rc = f0->status < 0 ? f0->status : f1->status;
        a1 = f0->status;
        a2 = f1->status;
        a3 = a2 == 1 ? f1->val : 0;
        break;
    default:
        break;
    }
    for (int i = 0; i < 2; i++)
        if (T->fut[i].kind != F_NONE)
            m_fut_cleanup(M, k, i);
    if (M->cov) {
        if (rc == M_SKIP)
            M->cov->skipped[o->kind]++;
        else
            M->cov->ops[o->kind]++;
        if (rc == -ECANCELED)
            M->cov->cancelled[o->kind]++;
    }
    m_log(M->tr, k, T->pc, o->kind, rc, a1, a2, a3, M->now);
}

static void m_die(m_model *M, int k)
{
    m_task *T = &M->t[k];
    for (int c = 0; c < M->p->nchans; c++) { /* weft_try_recv until empty */
        if (M->p->owner[c] != k)
            continue;
        m_chan *ch = &M->c[c];
        int n = 0;
        uint32_t h = 0;
        while (ch->count) {
            n++;
            h = h * 31u + (uint32_t)m_pop(ch);
            m_refill(M, ch);
        }
        int rc = ch->closed || ch->senders == 0 ? 0 : -EAGAIN;
        m_log(M->tr, k, c, EV_DRAIN, rc, n, (int)(h & 0x7fffffff), 0, M->now);
    }
    m_log(M->tr, k, -1, EV_END, 0, 0, 0, 0, M->now);
    T->state = MT_DEAD;
    T->status = T->cancel ? -ECANCELED : 0;
    T->result = m_task_result(k);
}

/* Runs task k until it suspends or returns. */
static void m_run_task(m_model *M, int k)
{
    m_task *T = &M->t[k];
    const m_prog *p = M->p;
    if (T->state == MT_FRESH) {
        if (T->cancel) { /* never runs, as in tokio */
            T->state = MT_DEAD;
            T->status = -ECANCELED;
            T->dropped = 1;
            if (M->cov)
                M->cov->dropped++;
            m_finished(M, k);
            return;
        }
        T->state = MT_LIVE;
        T->started = 1;
        T->pc = 0;
        T->in_op = 0;
        T->pending = -1;
        m_log(M->tr, k, -1, EV_START, 0, 0, 0, 0, M->now);
    }
    for (;;) {
        int r;
        if (T->in_op) {
            r = m_drive(M, k);
        } else {
            if (T->pc >= p->nops[k]) {
                m_die(M, k);
                break;
            }
            r = m_op_start(M, k, &p->ops[k][T->pc]);
        }
        if (M->error)
            return;
        if (r == M_SUSPEND) {
            T->in_op = 1;
            return;
        }
        T->in_op = 0;
        m_op_finish(M, k, &p->ops[k][T->pc]);
        T->pc++;
        if (T->cancel) { /* unwind */
            m_log(M->tr, k, -1, EV_UNWIND, -ECANCELED, 0, 0, 0, M->now);
            if (M->cov)
                M->cov->unwinds++;
            if (T->pending >= 0 && p->abort_cancelled_join)
                m_task_cancel(M, T->pending);
            m_die(M, k);
            break;
        }
    }
    m_finished(M, k);
}

/* Predicts the trace of p. Returns 0, or -1 when the model hit a state it
 * does not handle (M.errmsg, printed). */
M_FN int m_run_model(const m_prog *p, m_trace *tr, m_cov *cov)
{
    static m_model M;
    memset(&M, 0, sizeof M);
    memset(tr, 0, sizeof *tr);
    M.p = p;
    M.tr = tr;
    M.cov = cov;
    for (int k = 0; k < M_MAX_TASKS; k++) {
        M.t[k].join_waiter = -1;
        M.t[k].pending = -1;
    }
    for (int c = 0; c < p->nchans; c++) {
        M.c[c].bound = p->bound[c];
        M.c[c].senders = 1;
        M.c[c].rx_task = -1;
    }
    /* the root */
    M.t[0].exists = 1;
    M.t[0].state = MT_FRESH;
    M.order[M.norder++] = 0;
    M.live = 1;
    m_task_wake(&M, 0);

    for (int iter = 0; !M.error; iter++) {
        if (iter > 100000) {
            m_fail(&M, "model: does not terminate");
            break;
        }
        int n = 0;
        while (M.nq > 0 && n++ < M_BATCH) {
            int k = M.runq[0];
            memmove(&M.runq[0], &M.runq[1],
                    (size_t)(M.nq - 1) * sizeof M.runq[0]);
            M.nq--;
            M.t[k].queued = 0;
            m_run_task(&M, k);
            if (M.error)
                break;
        }
        /* service(): one expired timer when nothing is queued, all of
         * them after a full batch; then the tasks that yielded */
        if (M.nq > 0 && cov)
            cov->batch_fires++;
        m_timers_fire(&M, M.nq == 0 && M.ny == 0 ? 1 : 1 << 30);
        for (int y = 0; y < M.ny; y++)
            M.runq[M.nq++] = M.yielded[y];
        M.ny = 0;
        if (M.nq > 0)
            continue;
        if (M.live == 0)
            break;
        int tk;
        m_fut *next = m_timer_first(&M, &tk);
        if (next) {
            if (next->deadline > M.now)
                M.now = next->deadline; /* the virtual clock jumps */
            continue;
        }
        if (M.deadlocked) { /* weft aborts the process here */
            m_fail(&M, "model: still blocked after the deadlock");
            break;
        }
        M.deadlocked = 1;
        M.blocked_at_deadlock = M.live;
        if (cov)
            cov->deadlocks++;
        m_cancel_all(&M);
    }
    if (M.error) {
        fprintf(stderr, "%s\n", M.errmsg);
        return -1;
    }
    m_log(tr, -1, -1, EV_RUN, M.deadlocked ? -EDEADLK : 0,
          M.deadlocked ? M_NO_RESULT : m_task_result(0), 0, 0, 0);
    m_log(tr, -1, -1, EV_REPORT, 0, M.deadlocked, M.blocked_at_deadlock, 0, 0);
    for (int k = 1; k < p->ntasks; k++)
        m_log(tr, k, -1, EV_SUMMARY, 0, M.t[k].exists, M.t[k].started,
              M.t[k].dropped, 0);
    if (cov) {
        cov->runs++;
        cov->events += tr->n;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The check                                                                */
/* ------------------------------------------------------------------------ */

/* Runs p on weft and on the model and compares.  Returns 0 when they agree;
 * otherwise prints label, the program and both traces from the first
 * difference to out, and returns 1 (or -1 for a setup failure). */
M_FN int m_check(const m_prog *p, const char *label, FILE *out, int verbose,
                 m_cov *cov)
{
    static m_trace real, model;
    if (m_run_real(p, &real) != 0 || m_run_model(p, &model, cov) != 0) {
        fprintf(out, "%s: could not run\n", label);
        m_prog_print(out, p);
        return -1;
    }
    int d = m_trace_diff(&real, &model);
    if (verbose || d >= 0) {
        if (d >= 0)
            fprintf(out, "\n=== weft disagrees with the model: %s ===\n",
                    label);
        else
            fprintf(out, "\n=== %s ===\n", label);
        fputs("program:\n", out);
        m_prog_print(out, p);
        int from = d >= 0 ? d - 6 : 0;
        int count = d >= 0 ? 20 : M_MAX_EVENTS;
        if (d >= 0)
            fprintf(out, "first difference at event %d\n", d);
        m_trace_print(out, "weft", &real, from, count);
        m_trace_print(out, "model", &model, from, count);
        fflush(out);
    }
    return d >= 0 ? 1 : 0;
}

M_FN void m_cov_print(FILE *out, const m_cov *c)
{
    fprintf(out,
            "model coverage: %ld programs, %ld events, %ld deadlocks, %ld "
            "timer fires, %ld batch-end services, %ld never-run tasks "
            "dropped, %ld unwinds\n",
            c->runs, c->events, c->deadlocks, c->timer_fires, c->batch_fires,
            c->dropped, c->unwinds);
    fputs("  ops (done/skipped/ECANCELED):", out);
    for (int i = 0; i < OP__COUNT; i++)
        fprintf(out, " %s %ld/%ld/%ld", m_op_names[i], c->ops[i], c->skipped[i],
                c->cancelled[i]);
    fprintf(out,
            "\n  bounded sends that waited %ld, EPIPE sends %ld, sends done "
            "then cancelled %ld, recv 0 (closed) %ld, race won by sleep %ld "
            "/ recv %ld, timeouts %ld / received %ld, joins ECANCELED %ld\n",
            c->send_waited, c->send_epipe, c->send_done_then_cancel,
            c->recv_closed, c->race_win[0], c->race_win[1], c->timeouts,
            c->timeout_recv, c->join_ecanceled);
}

#endif /* WEFT_MODEL_CORE_H */
