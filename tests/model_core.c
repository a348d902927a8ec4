/*
 * tests/model_core.c - randomized model-based testing of weft: a program
 * generator, an executor that runs a program on weft (virtual clock), and a
 * deliberately simple reference model of the documented semantics that
 * predicts the trace of observable events.  Compiled into both
 * tests/test_model.c (Criterion, seeds) and tests/fuzz_model.c
 * (libFuzzer), which call it through tests/model.h.
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
 * already queued or dead; but hand-offs, while fewer than 256 have run in a
 * row, go to the head, behind the tasks timers woke (whose runs neither
 * count nor end the row): a join of a task not yet started moves it there,
 * a task that returns queues its joiner there; loop.c's debt of a full
 * batch to the tasks behind the timers' wakes is not modelled, as no
 * program fills a batch (coverage: batch-end services); spawn queues the new
 * task; yield queues the caller after the next timer service); timers ordered
 * by (deadline, arming order); the virtual clock jumps to the next deadline
 * when nothing is runnable; when nothing is queued only the first expired timer
 * fires, and after a batch of 64 task runs every expired timer fires, then the
 * yielded tasks are queued (runtime.c, service()); channels FIFO with bounded
 * senders served first come first served and item hand-over at the moment room
 * is made; abort = cancel flag + wake; a never-started cancelled task dies
 * (drop_arg) when the scheduler reaches it; deadlock = nothing runnable and no
 * timer armed
 * -> report, cancel every live task in spawn order, weft_run returns -EDEADLK;
 * root return -> every other task cancelled in spawn order.  Combinators poll
 * woken children in argument order (join fairness, race bias); a receive that
 * loses consumes nothing.
 *
 * Streams (m_gen_streams; programs of m_gen have none, so old seeds give
 * the same programs).  A stream program has 1..2 streams, each a tree of
 * depth <= 2: merge(x, y), timeout(x, 0..6 ms), take(0..4, x) over
 * from_receiver(c) and interval(1..5 ms) leaves, e.g. merge(interval(2),
 * timeout(from_receiver(c1), 3)).  Each from_receiver leaf has a channel
 * of its own ("feeds s"), which any task may send on or drop the sender
 * of; the stream consumes its receiver, so no task receives from it (no
 * -EBUSY).  Every channel carries uint64_t items; an element is logged as
 * the item sent, an interval tick as M_IVL_TAG + its instant in ms.  One
 * task uses each stream (per run), with the ops
 *   next s                        weft_stream_next
 *   timeout({next s}, d)          an async block doing one next, under
 *   race({next s}, sleep d)       weft_timeout / weft_race / weft_join_all
 *   race(sleep d, {next s})       (d 0..5 ms); logged: the combinator's
 *   join_all({next s}, sleep d)   rc, the block's next rc (M_NORUN if the
 *                                 block never ran), the element
 *   drop s                        weft_stream_drop (its receivers dropped:
 *                                 the channels closed, queued items gone,
 *                                 waiting senders fail with -EPIPE)
 * The root builds the streams at 0 ms, right after creating the channels.
 * The model follows stream.c node by node: weft_stream_next is a loop of
 * (cancel check, poll_next, suspend) and withdraws every registration of
 * the stream when it returns, whatever it returns (weft.h, "Registrations");
 * merge alternates the side polled first on every poll_next, pending ones
 * included, and returns the first element without polling the other side;
 * timeout polls its input first, sets a new deadline (now + d) after each
 * element (not after the end), reports -ETIMEDOUT once when its deadline
 * has passed and then waits for the next element; take counts error
 * elements and polls nothing after the n-th; an interval's first tick is
 * its construction instant and missed ticks come at once (burst: the next
 * tick is always the last one + the period); in modes 3 and 4 intervals
 * may also be WEFT_MISSED_DELAY or _SKIP, which apply only to a tick taken
 * more than 5 ms after its instant.  The timers of interval and
 * timeout keep their arming order while they stay armed for the same
 * deadline (stream.c's arm()) and are re-armed, behind every timer armed
 * meanwhile, by the next call.  A block resumed for its cancellation sees
 * the cancellation at once (next returns -ECANCELED, the block's status is
 * -ECANCELED: it never "completes while cancelled").
 *
 * Two runs (m_gen_streams with multi): the program is two task sets, run
 * by two consecutive weft_run calls (virtual clock, each from 0 ms).  The
 * streams and the channels that feed them (unbounded) are built in the
 * first run's root, or before the first run (outside any runtime) when the
 * stream has no interval or timeout; they live on after the first run and
 * are polled again in the second (by a task of its own), dropped between
 * the runs (drop_between: outside any runtime), by a drop op, or after the
 * last run (outside any runtime).  The other channels are created anew by
 * each run's root.  Deadlines are values kept in the stream: an interval's
 * next tick or a timeout's deadline from the first run's clock is compared
 * with the second run's clock, which starts at 0 again (a tick at 5 ms of
 * the first run comes at 5 ms of the second).  A channel created outside a
 * runtime, or created by the first run and used in the second, is "shared"
 * (weft.h, weft_run_with): a receive registered on it while it has a
 * sender is a wake source from outside, so an idle runtime then waits
 * forever instead of reporting a deadlock.  The model predicts that state
 * and such a program is not run (m_check_multi counts it in cov->hangs).
 *
 * Coordination programs (m_gen_coord, mode 5; one run).  A channel has
 * 1..3 receiver handles (weft_receiver_clone, made by the root at 0 ms),
 * each used by one task (so -EBUSY never arises), dropped by any task
 * (then skipped).  The model follows chan.c: the registered receive and a
 * queue behind it, first come first; a send (or close, or the senders'
 * end) wakes only the registered receive, which with several receivers
 * is then owed an item: items are kept for owed receives, so a receive
 * or try_recv just starting takes only what is beyond them; a receive
 * that completes or is withdrawn wakes the next waiting one when
 * something is there for it (the baton); the last handle's drop closes
 * the channel (its items go; a receive in progress returns 0).  One
 * semaphore (sync.c): requests served from the head only, a grant takes
 * the permits at once and wakes the waiter, a cancelled acquire gives
 * back what it was granted.  One task group, made by its owner when it
 * starts and dropped by it when it ends (if no op did): join_next in
 * completion order (a cancelled member: result NULL, status -ECANCELED),
 * abort_all cancels the running members in spawn order, drop cancels them
 * and drives each, first spawned first, to its end inside the call.  The
 * logged a2 of every semaphore op is weft_semaphore_available() after it.
 *
 * I/O programs (m_gen_io, mode 6; one run; checked with m_check_io).  The
 * root makes 1..3 socketpairs (AF_UNIX, SOCK_STREAM, non-blocking) at 0 ms
 * and spawns the tasks; each end has a writer (its owner: it also shuts it
 * down and closes it with weft_close) and a reader, maybe another task
 * (split halves).  Ops: write n bytes (a pattern of the end, the write's
 * index and the offset) or a big write (more than a socket holds: the
 * writer blocks), read up to n bytes, plain or under weft_timeout;
 * read_all (weft_read in chunks of random sizes until every byte sent so
 * far is read, a blocked write's included, which then completes); a
 * read of a blocked write's bytes near its end becomes a read_all;
 * shutdown(SHUT_WR), weft_close; sleep, yield, abort, join, detach.  Each
 * read logs its byte count and a hash of its bytes; each write that ended
 * early (timeout, cancellation, the reader's close) the prefix the kernel
 * took (SIOCINQ at the reader's end); after the run, per end, what is left
 * for the reader (EV_IOEND).  The model is the byte stream of each end:
 * the writes the kernel took, in order (a write that ended early: its
 * prefix), what was read; it predicts every hash (the bytes each reader
 * sees, in order, none lost or repeated), end of file only after the last
 * byte, -EBADF after a close (a waiter on the closed end is woken with
 * it), -EPIPE after the reader's close or one's own shutdown, a timed-out
 * or cancelled read taking no byte (weft.h: cancel-safe), and when each
 * call returns under the virtual clock: readiness is harvested as the
 * loop does (once a round, and before time jumps), the waiters it finds
 * ready woken in the order their waits began (weft.h, "Wake order"; the
 * ends' ready list, in the order of their first event since the last
 * harvest as epoll's, says only which ends a harvest finds).
 * What the kernel decides is taken from the real run and checked
 * (m_oracle): how many bytes a read returns (any of 1..min(n, unread):
 * weft.h promises no more), the prefix of a write that ended early, and
 * ECONNRESET for EPIPE or end of file after the peer's close with unread
 * bytes.  Sizes are chosen so that whether a write blocks never depends on
 * the kernel (m_io_sndbuf).  A read_all that completes a blocked write
 * takes a number of rounds of the same instant that is the kernel's
 * business, interleaved with the other tasks: the traces are compared in
 * (instant, task) order, and a program in which a task of such a round
 * is cancelled, or acts on others (I/O, abort), in that instant is
 * "ambiguous" and not compared (about 3% of them; cov->io_ambiguous).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "model.h"
#include "weft.h"

#define M_FN static __attribute__((unused))

static const char *const m_op_names[OP__COUNT] = {
    "spawn",    "sleep",    "yield",   "send",    "recv",     "close",
    "droptx",   "abort",    "join",    "detach",  "race_sr",  "race_rs",
    "timeout",  "join_ss",  "join_sr", "snext",   "snext_to", "srace_bs",
    "srace_sb", "sjoin",    "sdrop",   "recvh",   "tryrecvh", "timeouth",
    "race_sh",  "droprx",   "closeh",  "acq",     "tryacq",   "rel",
    "acq_to",   "race_sa",  "gspawn",  "gjoin",   "gabort",   "gdrop",
    "write",    "write_to", "read",    "read_to", "read_all", "shutdown",
    "close"};

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

/* The weights of stream programs (m_gen_streams). */
static const struct {
    uint8_t kind, weight;
} m_sweights[] = {
    {OP_SLEEP, 12},   {OP_YIELD, 4},    {OP_SEND, 20},   {OP_RECV, 6},
    {OP_CLOSE, 2},    {OP_DROPTX, 3},   {OP_ABORT, 5},   {OP_JOIN, 8},
    {OP_DETACH, 2},   {OP_RACE_SR, 2},  {OP_RACE_RS, 2}, {OP_TIMEOUT, 2},
    {OP_JOIN_SS, 1},  {OP_JOIN_SR, 2},  {OP_SNEXT, 14},  {OP_SNEXT_TO, 7},
    {OP_SRACE_BS, 5}, {OP_SRACE_SB, 4}, {OP_SJOIN, 4},   {OP_SDROP, 1},
};

static m_op m_gen_op(m_rng *r, const m_prog *p, int self, int streams)
{
    int owned[M_MAX_CHANS_ALL], nowned = 0;
    for (int c = 0; c < p->nchans; c++)
        if (p->owner[c] == self)
            owned[nowned++] = c;
    unsigned total = 0, n = streams ? sizeof m_sweights / sizeof m_sweights[0]
                                    : sizeof m_weights / sizeof m_weights[0];
    for (size_t i = 0; i < n; i++)
        total += streams ? m_sweights[i].weight : m_weights[i].weight;
    unsigned w = m_rnd(r, total);
    int kind = OP_SLEEP;
    for (size_t i = 0; i < n; i++) {
        unsigned wi = streams ? m_sweights[i].weight : m_weights[i].weight;
        if (w < wi) {
            kind = streams ? m_sweights[i].kind : m_weights[i].kind;
            break;
        }
        w -= wi;
    }
    m_op o = {.kind = OP_SLEEP};
    switch (kind) {
    case OP_SNEXT:
    case OP_SNEXT_TO:
    case OP_SRACE_BS:
    case OP_SRACE_SB:
    case OP_SJOIN:
    case OP_SDROP: {
        int sown[M_MAX_STREAMS], nsown = 0;
        for (int s = 0; s < p->nstreams; s++)
            if (p->sowner[s] == self || p->shared_streams)
                sown[nsown++] = s;
        if (!nsown) { /* uses no stream: feed one instead */
            o.kind = OP_SEND;
            o.a = (uint8_t)m_rnd(r, (unsigned)p->nchans);
            break;
        }
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)sown[m_rnd(r, (unsigned)nsown)];
        o.b = (uint8_t)m_rnd(r, 6);
        break;
    }
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
            p->ops[k][i] = m_gen_op(r, p, k, 0);
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

/* One node of stream s (and its subtree); returns its index. */
static int m_gen_snode(m_prog *p, int s, int depth, m_rng *r, int multi)
{
    m_sdef *d = &p->sdef[s];
    int i = d->nnodes++;
    unsigned w = m_rnd(r, 10);
    int kind;
    if (depth >= 2)
        kind = w < 7 ? SN_RECV : SN_IVL;
    else if (depth == 0) /* mostly a merge, as in the chapter */
        kind = w < 4   ? SN_MERGE
               : w < 6 ? SN_TIMEOUT
               : w < 8 ? SN_TAKE
               : w < 9 ? SN_RECV
                       : SN_IVL;
    else
        kind = w < 2   ? SN_MERGE
               : w < 5 ? SN_TIMEOUT
               : w < 6 ? SN_TAKE
               : w < 9 ? SN_RECV
                       : SN_IVL;
    if (kind == SN_RECV && p->nchans >= M_MAX_CHANS_ALL - 1)
        kind = SN_IVL; /* one channel is left for the tasks */
    m_snode nd = {.kind = (uint8_t)kind};
    switch (kind) {
    case SN_RECV: {
        int c = p->nchans++;
        static const int bounds[] = {0, 0, 1, 2};
        nd.a = (uint8_t)c;
        p->bound[c] = multi ? 0 : bounds[m_rnd(r, 4)];
        p->owner[c] = -1;
        p->feeds[c] = s + 1;
        p->carried[c] = multi;
        break;
    }
    case SN_IVL:
        nd.a = (uint8_t)(1 + m_rnd(r, 5));
        if (p->shared_streams) /* the missed-tick behaviour, mode 3/4 only */
            nd.l = (uint8_t)m_rnd(r, 3);
        break;
    case SN_TIMEOUT:
        nd.a = (uint8_t)m_rnd(r, 7);
        nd.l = (uint8_t)m_gen_snode(p, s, depth + 1, r, multi);
        break;
    case SN_TAKE:
        nd.a = (uint8_t)m_rnd(r, 5);
        nd.l = (uint8_t)m_gen_snode(p, s, depth + 1, r, multi);
        break;
    case SN_MERGE:
        nd.l = (uint8_t)m_gen_snode(p, s, depth + 1, r, multi);
        nd.r = (uint8_t)m_gen_snode(p, s, depth + 1, r, multi);
        break;
    }
    d->n[i] = nd;
    return i;
}

/* The tasks of one run of a stream program (channels and streams set). */
static void m_gen_tasks_s(m_prog *p, m_rng *r)
{
    p->ntasks = 1 + (int)m_rnd(r, M_MAX_TASKS);
    for (int s = 0; s < p->nstreams; s++)
        p->sowner[s] = (int)m_rnd(r, (unsigned)p->ntasks);
    for (int c = 0; c < p->nchans; c++)
        if (!p->feeds[c])
            p->owner[c] = (int)m_rnd(r, (unsigned)p->ntasks);
    for (int k = 0; k < p->ntasks; k++) {
        p->nops[k] = (int)m_rnd(r, M_MAX_RANDOM_OPS + 1);
        for (int i = 0; i < p->nops[k]; i++)
            p->ops[k][i] = m_gen_op(r, p, k, 1);
    }
    if (p->nops[0] < M_MAX_RANDOM_OPS && m_rnd(r, 3))
        p->ops[0][p->nops[0]++] =
            (m_op){.kind = OP_SLEEP, .a = (uint8_t)(5 + m_rnd(r, 26))};
    for (int k = 1; k < p->ntasks; k++) {
        int parent = (int)m_rnd(r, (unsigned)k);
        int at = (int)m_rnd(r, (unsigned)p->nops[parent] / 2 + 1);
        m_op *ops = p->ops[parent];
        memmove(&ops[at + 1], &ops[at],
                (size_t)(p->nops[parent] - at) * sizeof *ops);
        ops[at] = (m_op){.kind = OP_SPAWN, .a = (uint8_t)k};
        p->nops[parent]++;
    }
}

/*
 * A stream program: 1..2 streams, each a tree of merge / timeout / take over
 * from_receiver and interval leaves (depth <= 2), used by one task with
 * next, next in an async block under timeout, race and join_all, and drop;
 * every from_receiver leaf has a channel of its own, which any task may
 * send on; 0..2 more channels as in m_gen.  multi: two runs (runs[0],
 * runs[1]); the streams and their channels (unbounded) are built in the
 * first run's root at 0 ms, or before the first run when a stream has no
 * interval or timeout (pre), and are kept for the second run (unless
 * dropped between the runs); the other channels are created anew in each
 * run.  mode: 1 one run, 2 two runs (multi), 3 and 4 the same with streams
 * used by every task (shared_streams), one at a time: an op on a stream
 * another task is using (inside next, or in a block's combinator) is
 * skipped.  Returns the number of runs.
 */
M_FN int m_gen_streams(m_prog *runs, m_rng *r, int mode)
{
    m_prog *p = &runs[0];
    int multi = mode == 2 || mode == 4;
    memset(runs, 0, (multi ? 2 : 1) * sizeof *runs);
    p->shared_streams = mode >= 3;
    p->nstreams = 1 + (int)m_rnd(r, M_MAX_STREAMS);
    for (int s = 0; s < p->nstreams; s++) {
        m_gen_snode(p, s, 0, r, multi);
        m_sdef *d = &p->sdef[s];
        if (multi) {
            int timed = 0;
            for (int i = 0; i < d->nnodes; i++)
                timed |= d->n[i].kind == SN_IVL || d->n[i].kind == SN_TIMEOUT;
            d->pre = !timed && m_rnd(r, 2);
            d->drop_between = m_rnd(r, 5) == 0;
            for (int c = 0; c < p->nchans; c++)
                if (p->feeds[c] == s + 1)
                    p->pre[c] = d->pre;
        }
    }
    int nx = (int)m_rnd(r, 3);
    if (p->nchans + nx == 0)
        nx = 1;
    for (int i = 0; i < nx && p->nchans < M_MAX_CHANS_ALL; i++) {
        static const int bounds[] = {0, 0, 1, 2};
        int c = p->nchans++;
        p->bound[c] = bounds[m_rnd(r, 4)];
    }
    p->nruns = multi ? 2 : 1;
    m_gen_tasks_s(p, r);
    if (!multi)
        return 1;
    m_prog *q = &runs[1];
    q->nchans = p->nchans;
    memcpy(q->bound, p->bound, sizeof q->bound);
    memcpy(q->feeds, p->feeds, sizeof q->feeds);
    memcpy(q->carried, p->carried, sizeof q->carried);
    memcpy(q->pre, p->pre, sizeof q->pre);
    memcpy(q->owner, p->owner, sizeof q->owner);
    q->nstreams = p->nstreams;
    q->shared_streams = p->shared_streams;
    memcpy(q->sdef, p->sdef, sizeof q->sdef);
    q->run = 1;
    q->nruns = 2;
    m_gen_tasks_s(q, r);
    return 2;
}

int m_gen_streams_seed(m_prog *runs, uint64_t seed, int mode)
{
    m_rng r;
    m_rng_seed(&r, seed);
    return m_gen_streams(runs, &r, mode);
}

int m_gen_streams_bytes(m_prog *runs, const uint8_t *data, size_t len, int mode)
{
    m_rng r;
    m_rng_bytes(&r, data, len);
    return m_gen_streams(runs, &r, mode);
}

/* The weights of coordination programs (m_gen_coord). */
static const struct {
    uint8_t kind, weight;
} m_cweights[] = {
    {OP_SLEEP, 10}, {OP_YIELD, 3},    {OP_SEND, 14},    {OP_DROPTX, 1},
    {OP_RECVH, 12}, {OP_TRYRECVH, 3}, {OP_TIMEOUTH, 6}, {OP_RACE_SH, 4},
    {OP_DROPRX, 2}, {OP_CLOSEH, 1},   {OP_ACQ, 10},     {OP_TRYACQ, 3},
    {OP_REL, 9},    {OP_ACQ_TO, 6},   {OP_RACE_SA, 4},  {OP_ABORT, 4},
    {OP_JOIN, 5},   {OP_DETACH, 1},   {OP_GJOIN, 10},   {OP_GABORT, 4},
    {OP_GDROP, 1},
};

static m_op m_gen_cop(m_rng *r, const m_prog *p, int self)
{
    int owned[M_MAX_HANDLES], nowned = 0;
    for (int h = 0; h < p->nh; h++)
        if (p->howner[h] == self)
            owned[nowned++] = h;
    unsigned total = 0, n = sizeof m_cweights / sizeof m_cweights[0];
    for (size_t i = 0; i < n; i++)
        total += m_cweights[i].weight;
    unsigned w = m_rnd(r, total);
    int kind = OP_SLEEP;
    for (size_t i = 0; i < n; i++) {
        if (w < m_cweights[i].weight) {
            kind = m_cweights[i].kind;
            break;
        }
        w -= m_cweights[i].weight;
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
    case OP_RECVH:
    case OP_TRYRECVH:
    case OP_TIMEOUTH:
    case OP_RACE_SH:
    case OP_CLOSEH:
        if (!nowned) { /* receives through no handle: send instead */
            o.kind = OP_SEND;
            o.a = (uint8_t)m_rnd(r, (unsigned)p->nchans);
            break;
        }
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)owned[m_rnd(r, (unsigned)nowned)];
        o.b = (uint8_t)m_rnd(r, 6);
        break;
    case OP_DROPRX:
        o.kind = OP_DROPRX;
        o.a = (uint8_t)m_rnd(r, (unsigned)p->nh);
        break;
    case OP_ACQ:
    case OP_TRYACQ:
    case OP_ACQ_TO:
    case OP_RACE_SA:
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)m_rnd(r, 3); /* 0..2 permits */
        o.b = (uint8_t)m_rnd(r, 6);
        break;
    case OP_REL:
        o.kind = OP_REL;
        o.a = (uint8_t)(1 + m_rnd(r, 2));
        break;
    case OP_GJOIN:
    case OP_GABORT:
    case OP_GDROP:
        if (p->gowner != self)
            break; /* only the group's owner: sleep 0 */
        o.kind = (uint8_t)kind;
        break;
    case OP_ABORT:
    case OP_JOIN:
    case OP_DETACH: {
        if (p->ntasks < 2)
            break;
        int t = 1 + (int)m_rnd(r, (unsigned)p->ntasks - 1);
        if (kind == OP_JOIN && t == self)
            break;
        o.kind = (uint8_t)kind; /* skipped when t is a group member */
        o.a = (uint8_t)t;
        break;
    }
    }
    return o;
}

/*
 * A coordination program (mode 5): 1..2 channels (unbounded, or bounded to
 * 1 or 2; mostly one), each with 1..3 receiver handles (mostly several) (cloned
 * by the root at 0 ms), each handle used by one task; one semaphore of 0..3
 * permits; mostly a task group, owned by one task, into which that task spawns
 * some of the later tasks (the others are spawned as in m_gen).  Ops: sleep,
 * yield, send, droptx, recv / try_recv / timeout(recv) / race(sleep, recv)
 * through an owned handle, drop of any handle, close through an owned
 * handle, acquire / try_acquire / timeout(acquire) / race(sleep, acquire)
 * of 0..2 permits, release of 1..2, abort / join / detach, and the
 * owner's join_next / abort_all / drop of the group.
 */
M_FN void m_gen_coord(m_prog *p, m_rng *r)
{
    memset(p, 0, sizeof *p);
    p->coord = 1;
    p->ntasks = 1 + (int)m_rnd(r, M_MAX_TASKS);
    p->nchans = 1 + (m_rnd(r, 3) == 0);
    for (int c = 0; c < p->nchans; c++) {
        static const int bounds[] = {0, 0, 1, 2}, nrs[] = {1, 2, 2, 3, 3};
        p->bound[c] = bounds[m_rnd(r, 4)];
        p->owner[c] = -1; /* received through handles */
        int nr = nrs[m_rnd(r, 5)];
        for (int i = 0; i < nr && p->nh < M_MAX_HANDLES; i++) {
            p->hchan[p->nh] = c;
            p->howner[p->nh] = (int)m_rnd(r, (unsigned)p->ntasks);
            p->nh++;
        }
    }
    p->sem_permits = (int)m_rnd(r, 4);
    p->gowner = -1;
    if (p->ntasks >= 2 && m_rnd(r, 4))
        p->gowner = (int)m_rnd(r, (unsigned)p->ntasks - 1);
    for (int k = p->gowner + 1; p->gowner >= 0 && k < p->ntasks; k++)
        p->member[k] = (int)m_rnd(r, 2);
    for (int k = 0; k < p->ntasks; k++) {
        p->nops[k] = (int)m_rnd(r, M_MAX_RANDOM_OPS + 1);
        for (int i = 0; i < p->nops[k]; i++)
            p->ops[k][i] = m_gen_cop(r, p, k);
    }
    if (p->nops[0] < M_MAX_RANDOM_OPS && m_rnd(r, 3))
        p->ops[0][p->nops[0]++] =
            (m_op){.kind = OP_SLEEP, .a = (uint8_t)(5 + m_rnd(r, 26))};
    for (int k = 1; k < p->ntasks; k++) {
        int parent = p->member[k] ? p->gowner : (int)m_rnd(r, (unsigned)k);
        int at = (int)m_rnd(r, (unsigned)p->nops[parent] / 2 + 1);
        m_op *ops = p->ops[parent];
        memmove(&ops[at + 1], &ops[at],
                (size_t)(p->nops[parent] - at) * sizeof *ops);
        ops[at] = (m_op){.kind = p->member[k] ? OP_GSPAWN : OP_SPAWN,
                         .a = (uint8_t)k};
        p->nops[parent]++;
    }
}

void m_gen_coord_seed(m_prog *p, uint64_t seed)
{
    m_rng r;
    m_rng_seed(&r, seed);
    m_gen_coord(p, &r);
}

void m_gen_coord_bytes(m_prog *p, const uint8_t *data, size_t len)
{
    m_rng r;
    m_rng_bytes(&r, data, len);
    m_gen_coord(p, &r);
}

/* ---- I/O programs (mode 6) ---------------------------------------------- */

/*
 * Socket buffer sizes.  Every end gets SO_SNDBUF 106496 (Linux doubles it:
 * S = 212992, less where net.core.wmem_max is lower; read back once).  The
 * model never predicts how many bytes the kernel takes; it only needs sizes
 * that are surely inside or surely outside what a socket holds:
 *  - a small write (<= 4096 bytes) surely completes at once while fewer
 *    than M_IO_FIT bytes are unread (one skb, allocated while the sender's
 *    memory is below S); a small write beyond that is skipped;
 *  - a big write (m_io_big: 1.5 S + 64 KiB and more) surely blocks;
 *  - a blocked writer surely has not completed while more than M_IO_CAP
 *    (S + 128 KiB) of its bytes are still unread.
 */
static uint64_t m_io_S;

M_FN uint64_t m_io_sndbuf(void)
{
    if (m_io_S)
        return m_io_S;
    int sv[2], v = 106496;
    socklen_t sl = sizeof v;
    m_io_S = 212992;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0 &&
            getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &sl) == 0 && v > 0)
            m_io_S = (uint64_t)v;
        close(sv[0]);
        close(sv[1]);
    }
    return m_io_S;
}

#define M_IO_FIT (m_io_sndbuf() / 4)
#define M_IO_CAP (m_io_sndbuf() + 131072)

static uint32_t m_io_big(uint32_t n)
{
    return (uint32_t)(m_io_sndbuf() * 3 / 2 + 65536 + (n % 4096) * 16);
}

static uint32_t m_io_big_max(void) { return m_io_big(4095); }

/* Byte off of write widx to end x (a position-dependent pattern: a lost,
 * repeated or reordered byte changes the hashes of what is read). */
static uint8_t m_io_byte(int x, int widx, uint64_t off)
{
    uint32_t v = (uint32_t)x * 0x9e3779b1u ^ (uint32_t)widx * 0x85ebca6bu ^
                 (uint32_t)(off >> 2) * 0xc2b2ae35u;
    v ^= v >> 16;
    v *= 0x7feb352du;
    v ^= v >> 15;
    v *= 0x846ca68bu;
    v ^= v >> 16;
    return (uint8_t)(v >> ((off & 3) * 8));
}

/* FNV-1a, 31 bits logged. */
static uint32_t m_fnv(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

#define M_FNV0 2166136261u

/* Bytes sent and not read (0 when the reader read a prefix of a write
 * that then failed: its other bytes are gone). */
static uint64_t m_io_unread(uint64_t wacc, uint64_t r)
{
    return wacc > r ? wacc - r : 0;
}

/* The weights of I/O programs (m_gen_io). */
static const struct {
    uint8_t kind, weight;
} m_iweights[] = {
    {OP_IOWRITE, 18}, {OP_IOWRITE_TO, 6}, {OP_IOREAD, 18}, {OP_IOREAD_TO, 9},
    {OP_IORDALL, 5},  {OP_IOSHUT, 2},     {OP_IOCLOSE, 2}, {OP_SLEEP, 14},
    {OP_YIELD, 3},    {OP_ABORT, 3},      {OP_JOIN, 3},    {OP_DETACH, 1},
};

static m_op m_gen_iop(m_rng *r, const m_prog *p, int self)
{
    int wr[M_MAX_ENDS], nwr = 0, rd[M_MAX_ENDS], nrd = 0;
    for (int x = 0; x < 2 * p->npairs; x++) {
        if (p->wtask[x] == self)
            wr[nwr++] = x;
        if (p->rtask[x] == self)
            rd[nrd++] = x;
    }
    unsigned total = 0, n = sizeof m_iweights / sizeof m_iweights[0];
    for (size_t i = 0; i < n; i++)
        total += m_iweights[i].weight;
    unsigned w = m_rnd(r, total);
    int kind = OP_SLEEP;
    for (size_t i = 0; i < n; i++) {
        if (w < m_iweights[i].weight) {
            kind = m_iweights[i].kind;
            break;
        }
        w -= m_iweights[i].weight;
    }
    m_op o = {.kind = OP_SLEEP};
    switch (kind) {
    case OP_IOWRITE:
    case OP_IOWRITE_TO:
    case OP_IOSHUT:
    case OP_IOCLOSE:
        if (!nwr) { /* writes to no end: read or sleep */
            if (!nrd)
                break;
            kind = OP_IOREAD;
            goto read;
        }
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)wr[m_rnd(r, (unsigned)nwr)];
        o.b = (uint8_t)m_rnd(r, 6);
        o.c = m_rnd(r, 5) == 0; /* a big write, 1 in 5 */
        o.n = 1 + m_rnd(r, 64) * (1 + m_rnd(r, 64));
        if (kind == OP_IOSHUT || kind == OP_IOCLOSE)
            o.c = 0, o.n = 0;
        break;
    case OP_IOREAD:
    case OP_IOREAD_TO:
    case OP_IORDALL:
    read:
        if (!nrd)
            break;
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)rd[m_rnd(r, (unsigned)nrd)];
        o.b = (uint8_t)m_rnd(r, 6);
        o.n = 1 + m_rnd(r, 64) * (1 + m_rnd(r, 64));
        if (m_rnd(r, 8) == 0)
            o.n = 65536; /* more than is ever there */
        break;
    case OP_SLEEP:
        o.a = (uint8_t)m_rnd(r, 6);
        break;
    case OP_YIELD:
        o.kind = OP_YIELD;
        break;
    default: { /* abort, join, detach of another task */
        int t = 1 + (int)m_rnd(r, (unsigned)p->ntasks - 1);
        if (t == self)
            break;
        o.kind = (uint8_t)kind;
        o.a = (uint8_t)t;
        break;
    }
    }
    return o;
}

/*
 * An I/O program (mode 6): 3..7 tasks, 1..3 socketpairs (AF_UNIX,
 * SOCK_STREAM, non-blocking) made by the root at 0 ms; each end has a
 * writer (its owner) and a reader among the tasks other than the root, the
 * reader of the bytes of a writer being another task.  Ops: writes of 1..4096
 * bytes or big ones (more than a socket holds: the writer blocks), plain or
 * under weft_timeout (0..5 ms); reads of 1..4096 bytes (or 65536), plain
 * or under weft_timeout; read_all (weft_read, in chunks of random sizes,
 * until every byte sent so far, the blocked write's included, is read);
 * shutdown(SHUT_WR) and weft_close of an owned end; sleep, yield, abort,
 * join, detach.  The root spawns every task and may sleep, yield, abort
 * and detach (never join: it always ends, after a last sleep of 10..40 ms,
 * and cancels every task still blocked in I/O).
 */
M_FN void m_gen_io(m_prog *p, m_rng *r)
{
    memset(p, 0, sizeof *p);
    p->io = 1;
    p->ntasks = 3 + (int)m_rnd(r, M_MAX_TASKS - 2);
    p->npairs = 1 + (int)m_rnd(r, M_MAX_PAIRS);
    int nt = p->ntasks - 1;
    for (int x = 0; x < 2 * p->npairs; x++)
        p->wtask[x] = 1 + (int)m_rnd(r, (unsigned)nt);
    for (int x = 0; x < 2 * p->npairs; x++) {
        int t = 1 + (int)m_rnd(r, (unsigned)nt);
        if (t == p->wtask[x ^ 1])
            t = t % nt + 1; /* not the writer of these bytes */
        p->rtask[x] = t;
    }
    for (int k = 1; k < p->ntasks; k++) {
        p->nops[k] = (int)m_rnd(r, M_MAX_RANDOM_OPS + 1);
        for (int i = 0; i < p->nops[k]; i++)
            p->ops[k][i] = m_gen_iop(r, p, k);
    }
    m_op *ops = p->ops[0];
    int n = 0;
    for (int k = 1; k < p->ntasks; k++) {
        ops[n++] = (m_op){.kind = OP_SPAWN, .a = (uint8_t)k};
        if (m_rnd(r, 3) == 0) {
            static const uint8_t kinds[] = {OP_SLEEP, OP_SLEEP, OP_YIELD,
                                            OP_ABORT, OP_DETACH};
            m_op o = {.kind = kinds[m_rnd(r, 5)]};
            o.a = (uint8_t)(o.kind == OP_SLEEP ? m_rnd(r, 6)
                                               : 1 + m_rnd(r, (unsigned)k));
            ops[n++] = o;
        }
    }
    ops[n++] = (m_op){.kind = OP_SLEEP, .a = (uint8_t)(10 + m_rnd(r, 31))};
    p->nops[0] = n;
}

void m_gen_io_seed(m_prog *p, uint64_t seed)
{
    m_rng r;
    m_rng_seed(&r, seed);
    m_gen_io(p, &r);
}

void m_gen_io_bytes(m_prog *p, const uint8_t *data, size_t len)
{
    m_rng r;
    m_rng_bytes(&r, data, len);
    m_gen_io(p, &r);
}

/* Decodes hex (as printed by m_hex_print) into buf; returns the length. */
size_t m_hex_decode(const char *hex, uint8_t *buf, size_t cap)
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

void m_hex_print(FILE *out, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(out, "%02x", data[i]);
}

void m_gen_bytes(m_prog *p, const uint8_t *data, size_t len)
{
    m_rng r;
    m_rng_bytes(&r, data, len);
    m_gen(p, &r);
}

void m_gen_seed(m_prog *p, uint64_t seed)
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
    case OP_SNEXT:
        fprintf(out, "next s%d", o->a);
        break;
    case OP_SNEXT_TO:
        fprintf(out, "timeout({next s%d}, %d)", o->a, o->b);
        break;
    case OP_SRACE_BS:
        fprintf(out, "race({next s%d}, sleep %d)", o->a, o->b);
        break;
    case OP_SRACE_SB:
        fprintf(out, "race(sleep %d, {next s%d})", o->b, o->a);
        break;
    case OP_SJOIN:
        fprintf(out, "join_all({next s%d}, sleep %d)", o->a, o->b);
        break;
    case OP_SDROP:
        fprintf(out, "drop s%d", o->a);
        break;
    case OP_RECVH:
    case OP_TRYRECVH:
    case OP_DROPRX:
    case OP_CLOSEH:
        fprintf(out, "%s r%d", m_op_names[o->kind], o->a);
        break;
    case OP_TIMEOUTH:
        fprintf(out, "timeout(recv r%d, %d)", o->a, o->b);
        break;
    case OP_RACE_SH:
        fprintf(out, "race(sleep %d, recv r%d)", o->b, o->a);
        break;
    case OP_ACQ:
    case OP_TRYACQ:
    case OP_REL:
        fprintf(out, "%s %d", m_op_names[o->kind], o->a);
        break;
    case OP_ACQ_TO:
        fprintf(out, "timeout(acq %d, %d)", o->a, o->b);
        break;
    case OP_RACE_SA:
        fprintf(out, "race(sleep %d, acq %d)", o->b, o->a);
        break;
    case OP_GSPAWN:
        fprintf(out, "gspawn t%d", o->a);
        break;
    case OP_GJOIN:
    case OP_GABORT:
    case OP_GDROP:
        fputs(m_op_names[o->kind], out);
        break;
    case OP_IOWRITE:
    case OP_IOREAD:
        if (o->c)
            fprintf(out, "%s e%d big(%u)", m_op_names[o->kind], o->a,
                    m_io_big(o->n));
        else
            fprintf(out, "%s e%d %u", m_op_names[o->kind], o->a, o->n);
        break;
    case OP_IOWRITE_TO:
    case OP_IOREAD_TO:
        fprintf(out, "timeout(%s e%d ",
                o->kind == OP_IOWRITE_TO ? "write" : "read", o->a);
        if (o->c)
            fprintf(out, "big(%u), %d)", m_io_big(o->n), o->b);
        else
            fprintf(out, "%u, %d)", o->n, o->b);
        break;
    case OP_IORDALL:
    case OP_IOSHUT:
    case OP_IOCLOSE:
        fprintf(out, "%s e%d", m_op_names[o->kind], o->a);
        break;
    }
}

static void m_snode_print(FILE *out, const m_sdef *d, int i)
{
    const m_snode *n = &d->n[i];
    switch (n->kind) {
    case SN_RECV:
        fprintf(out, "from_receiver(c%d)", n->a);
        return;
    case SN_IVL: {
        static const char *const missed[] = {"", ", delay", ", skip"};
        fprintf(out, "interval(%d%s)", n->a, missed[n->l % 3]);
        return;
    }
    case SN_TIMEOUT:
        fputs("timeout(", out);
        m_snode_print(out, d, n->l);
        fprintf(out, ", %d)", n->a);
        return;
    case SN_TAKE:
        fprintf(out, "take(%d, ", n->a);
        m_snode_print(out, d, n->l);
        fputc(')', out);
        return;
    case SN_MERGE:
        fputs("merge(", out);
        m_snode_print(out, d, n->l);
        fputs(", ", out);
        m_snode_print(out, d, n->r);
        fputc(')', out);
        return;
    }
}

M_FN void m_prog_print(FILE *out, const m_prog *p)
{
    if (p->nruns > 1)
        fprintf(out, " run %d of %d:\n", p->run + 1, p->nruns);
    for (int c = 0; c < p->nchans; c++) {
        fprintf(out, "  c%d: ", c);
        if (p->bound[c])
            fprintf(out, "bounded(%d)", p->bound[c]);
        else
            fputs("unbounded", out);
        if (p->coord) {
            fputs(", received through", out);
            for (int h = 0; h < p->nh; h++)
                if (p->hchan[h] == c)
                    fprintf(out, " r%d (t%d)", h, p->howner[h]);
            fputc('\n', out);
        } else if (p->feeds[c])
            fprintf(out, ", feeds s%d%s%s\n", p->feeds[c] - 1,
                    p->carried[c] ? ", kept across runs" : "",
                    p->pre[c] ? ", created before the first run" : "");
        else
            fprintf(out, ", received by t%d\n", p->owner[c]);
    }
    for (int s = 0; s < p->nstreams; s++) {
        fprintf(out, "  s%d = ", s);
        m_snode_print(out, &p->sdef[s], 0);
        if (p->shared_streams)
            fputs(", used by any task", out);
        else
            fprintf(out, ", used by t%d", p->sowner[s]);
        fprintf(out, "%s%s\n",
                p->sdef[s].pre ? ", built before the first run" : "",
                p->sdef[s].drop_between ? ", dropped between the runs" : "");
    }
    for (int x = 0; p->io && x < 2 * p->npairs; x++)
        fprintf(out,
                "  e%d (pair %d): written by t%d (its owner), read by t%d\n", x,
                x / 2, p->wtask[x], p->rtask[x]);
    if (p->coord) {
        fprintf(out, "  semaphore: %d permits\n", p->sem_permits);
        if (p->gowner >= 0)
            fprintf(out, "  group of t%d\n", p->gowner);
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
    EV_RUN,         /* rc: weft_run; a1: root result (M_NO_RESULT);
                       a2: run index (programs of several runs) */
    EV_REPORT,      /* a1: deadlock report printed (2: other stderr);
                       a2: tasks it says are blocked */
    EV_SUMMARY,     /* per task: a1 spawned, a2 started, a3 drop_arg calls */
    EV_DRAIN,       /* pc: channel (or M_DRAIN_HANDLE + handle); rc: last
                       weft_try_recv; a1: items taken; a2: a hash of them
                       in order */
    EV_IOEND        /* I/O programs, after the run, per end x (pc): the
                       bytes written to x, read at x ^ 1: a1 read in the
                       run, a2 left there (-1: x ^ 1 closed), a3 their hash */
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
    case -EBADF:
        return "EBADF";
    case -ECONNRESET:
        return "ECONNRESET";
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
        if (e->a2)
            fprintf(out, "run %d: ", e->a2 + 1);
        fprintf(out, "weft_run=%s result=%d", rcs, e->a1);
        return;
    case EV_REPORT:
        fprintf(out, "deadlock report=%d blocked=%d", e->a1, e->a2);
        return;
    case EV_SUMMARY:
        fprintf(out, "t%d spawned=%d started=%d dropped=%d", e->task, e->a1,
                e->a2, e->a3);
        return;
    case EV_IOEND:
        fprintf(out, "e%d -> e%d: %d bytes read, %d left (hash %d)", e->pc,
                e->pc ^ 1, e->a1, e->a2, e->a3);
        return;
    case EV_DRAIN:
        fprintf(out, "t%d drain %c%d: %d items (hash %d), then rc=%s @%u",
                e->task, e->pc >= M_DRAIN_HANDLE ? 'r' : 'c',
                e->pc % M_DRAIN_HANDLE, e->a1, e->a2, rcs, e->ms);
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
    int tx_dropped[M_MAX_CHANS_ALL];
    int sending[M_MAX_CHANS_ALL];
    int sbusy[M_MAX_STREAMS];      /* a task is inside an op on the stream */
    int rx_dropped[M_MAX_HANDLES]; /* coordination: handle dropped */
    int gstate;                    /* the group: 0 none yet, 1 live, 2 gone */
} m_pstate;

static int m_item(int task, int pc) { return (task + 1) * 100 + pc; }
static int m_task_result(int task) { return 1000 + task; }

/* ------------------------------------------------------------------------ */
/* The real execution on weft                                               */
/* ------------------------------------------------------------------------ */

/* A block's next: what the async block saw. */
typedef struct m_blk {
    int s, rc;
    uint64_t v;
} m_blk;

static struct m_real {
    const m_prog *p;
    m_trace *tr;
    m_pstate ps;
    weft_task *h[M_MAX_TASKS];
    weft_sender *tx[M_MAX_CHANS_ALL];
    weft_receiver *rx[M_MAX_CHANS_ALL];
    weft_stream *st[M_MAX_STREAMS];
    int spawned[M_MAX_TASKS], started[M_MAX_TASKS], dropped[M_MAX_TASKS];
    uint64_t rbuf[M_MAX_TASKS];        /* receive buffers of recv futures */
    m_blk blk[M_MAX_TASKS];            /* the async blocks of stream ops */
    weft_receiver *rxh[M_MAX_HANDLES]; /* coordination programs */
    weft_semaphore *sem;
    weft_group *grp;
    int setup_rc;
} m_R;

static uint64_t m_now_ms(void) { return weft_now() / WEFT_MS(1); }

/* The logged value of a stream item: a channel item as it was sent, an
 * interval tick (ns; whole ms under the virtual clock) as M_IVL_TAG + ms. */
static int m_sval(uint64_t v)
{
    if (v == 0 || v >= WEFT_MS(1))
        return M_IVL_TAG + (int)(v / WEFT_MS(1));
    return (int)v;
}

static void *m_real_task(void *arg);

static void m_real_drop(void *arg) { m_R.dropped[(intptr_t)arg]++; }

static int m_ptr_int(void *p) { return (int)(intptr_t)p; }

/* The async block of the stream ops: one weft_stream_next. */
static void *m_real_block(void *arg)
{
    m_blk *b = arg;
    uint64_t v = 0;
    b->rc = weft_stream_next(m_R.st[b->s], &v);
    b->v = v;
    return (void *)(intptr_t)b->rc;
}

/* I/O programs: the ends and what each task knows of the byte streams
 * (indexed by the end written to; the reader's end is x ^ 1).  wacc: bytes
 * the kernel took (whole writes, and the prefix of a write that ended
 * early, measured with SIOCINQ at the reader's end); wend: wacc plus the
 * write in progress; r: bytes read (by weft_read in the run). */
static struct m_io_real {
    int fd[M_MAX_ENDS], closed[M_MAX_ENDS];
    uint64_t wacc[M_MAX_ENDS], wend[M_MAX_ENDS], r[M_MAX_ENDS];
    int nw[M_MAX_ENDS], busy[M_MAX_ENDS];
    int pump[M_MAX_ENDS]; /* a read_all reads a blocked write's bytes */
    uint8_t *wbuf[M_MAX_TASKS], *rbuf[M_MAX_TASKS];
} m_IO;

#define M_IO_RBUF 65536

/* The root, at 0 ms: the reactor first (so that no fd it opens takes the
 * number of an end closed later), then the socketpairs.  0 or -errno. */
static int m_real_io_setup(const m_prog *p)
{
    if (!weft_io_backend())
        return -errno;
    for (int i = 0; i < p->npairs; i++) {
        int sv[2], v = 106496;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                       sv) != 0)
            return -errno;
        for (int e = 0; e < 2; e++) {
            m_IO.fd[2 * i + e] = sv[e];
            if (setsockopt(sv[e], SOL_SOCKET, SO_SNDBUF, &v, sizeof v) != 0)
                return -errno;
        }
    }
    return 0;
}

/* The prefix of a write that ended early: what the kernel holds for the
 * reader now, plus what it has read, minus what was there before (once
 * the reader's end is closed: what was read of it). */
static int m_real_io_prefix(int x)
{
    int q = 0;
    if (m_IO.closed[x ^ 1] || ioctl(m_IO.fd[x ^ 1], SIOCINQ, &q) != 0)
        q = 0;
    uint64_t acc = m_IO.r[x] + (uint64_t)q;
    int pfx = acc > m_IO.wacc[x] ? (int)(acc - m_IO.wacc[x]) : 0;
    m_IO.wacc[x] += (uint64_t)pfx;
    return pfx;
}

static void m_real_io(int k, int pc, const m_op *o, int *kind, int *rc, int *a1,
                      int *a2, int *a3)
{
    int x = o->a;
    switch (*kind) {
    case OP_IOWRITE:
    case OP_IOWRITE_TO: {
        uint32_t len = o->c ? m_io_big(o->n) : o->n;
        *a1 = (int)len;
        if (!o->c && (m_IO.pump[x] ||
                      m_io_unread(m_IO.wacc[x], m_IO.r[x]) + len > M_IO_FIT)) {
            /* might not fit at once: the reader of a big write it has
             * just completed may not have read it all yet */
            *rc = M_SKIP;
            break;
        }
        int widx = m_IO.nw[x]++;
        uint8_t *buf = m_IO.wbuf[k];
        for (uint32_t i = 0; i < len; i++)
            buf[i] = m_io_byte(x, widx, i);
        m_IO.wend[x] = m_IO.wacc[x] + len;
        m_IO.busy[x] = o->c;
        if (*kind == OP_IOWRITE)
            *rc = (int)weft_write(m_IO.fd[x], buf, len);
        else
            *rc = weft_timeout(weft_write_future(m_IO.fd[x], buf, len),
                               WEFT_MS(o->b), NULL);
        m_IO.busy[x] = 0;
        if (*rc == (int)len)
            m_IO.wacc[x] += len;
        else
            *a3 = m_real_io_prefix(x);
        m_IO.wend[x] = m_IO.wacc[x];
        break;
    }
    case OP_IOREAD:
    case OP_IOREAD_TO:
    case OP_IORDALL: {
        int w = x ^ 1; /* the end the bytes were written to */
        uint8_t *buf = m_IO.rbuf[k];
        if (*kind != OP_IORDALL && m_IO.busy[w] &&
            m_IO.wend[w] - m_IO.r[w] <= M_IO_CAP + o->n) {
            /* the blocked writer may complete: read all it sends */
            if (*kind == OP_IOREAD_TO) {
                *rc = M_SKIP;
                break;
            }
            *kind = OP_IORDALL;
        }
        if (*kind == OP_IOREAD_TO && m_IO.busy[w] && o->b == 0) {
            *rc = M_SKIP; /* the writer may not have refilled yet */
            break;
        }
        if (*kind == OP_IORDALL) {
            uint64_t t = m_io_unread(m_IO.busy[w] ? m_IO.wend[w] : m_IO.wacc[w],
                                     m_IO.r[w]);
            if (!m_IO.closed[x] && t == 0) {
                *rc = M_SKIP;
                break;
            }
            uint32_t h = M_FNV0, lcg = (uint32_t)(k * 131 + pc * 7 + 1);
            uint64_t got = 0;
            ssize_t n = 0;
            int pump = m_IO.busy[w];
            m_IO.pump[w] |= pump;
            while (got < t || m_IO.closed[x]) {
                lcg = lcg * 1103515245u + 12345u;
                size_t want = 4096 + (lcg >> 8) % (M_IO_RBUF - 4096);
                if (want > t - got)
                    want = (size_t)(t - got);
                if ((n = weft_read(m_IO.fd[x], buf, want)) <= 0)
                    break;
                h = m_fnv(h, buf, (size_t)n);
                got += (uint64_t)n;
                m_IO.r[w] += (uint64_t)n;
            }
            if (pump)
                m_IO.pump[w] = 0;
            *rc = got == t && t ? (int)t : n < 0 ? (int)n : -EIO;
            *a1 = (int)(h & 0x7fffffff);
            *a2 = (int)got;
            break;
        }
        size_t len = o->n;
        ssize_t n = *kind == OP_IOREAD
                        ? weft_read(m_IO.fd[x], buf, len)
                        : weft_timeout(weft_read_future(m_IO.fd[x], buf, len),
                                       WEFT_MS(o->b), NULL);
        *rc = (int)n;
        if (n > 0) {
            *a1 = (int)(m_fnv(M_FNV0, buf, (size_t)n) & 0x7fffffff);
            m_IO.r[w] += (uint64_t)n;
        }
        break;
    }
    case OP_IOSHUT:
        if (m_IO.closed[x]) {
            *rc = M_SKIP;
            break;
        }
        *rc = shutdown(m_IO.fd[x], SHUT_WR) == 0 ? 0 : -errno;
        break;
    case OP_IOCLOSE:
        if (m_IO.closed[x]) {
            *rc = M_SKIP;
            break;
        }
        m_IO.closed[x] = 1;
        *rc = weft_close(m_IO.fd[x]);
        break;
    }
}

/* After an I/O program's run, outside any runtime: what is left for each
 * reader (read with recv) and its hash; then every end is closed. */
static void m_real_io_end(const m_prog *p, m_trace *tr)
{
    static uint8_t buf[M_IO_RBUF];
    for (int x = 0; x < 2 * p->npairs; x++) {
        int left = -1;
        uint32_t h = M_FNV0;
        if (!m_IO.closed[x ^ 1]) {
            ssize_t n;
            left = 0;
            while ((n = recv(m_IO.fd[x ^ 1], buf, sizeof buf, MSG_DONTWAIT)) >
                   0) {
                h = m_fnv(h, buf, (size_t)n);
                left += (int)n;
            }
        }
        m_log(tr, -1, x, EV_IOEND, 0, (int)m_IO.r[x], left,
              left > 0 ? (int)(h & 0x7fffffff) : 0, 0);
    }
    for (int x = 0; x < 2 * p->npairs; x++)
        if (!m_IO.closed[x])
            close(m_IO.fd[x]);
}

static void m_real_op(int k, int pc, const m_op *o, int *pending)
{
    m_pstate *ps = &m_R.ps;
    int rc = 0, a1 = 0, a2 = 0, a3 = 0, kind = o->kind;
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
        uint64_t item = (uint64_t)m_item(k, pc);
        ps->sending[c]++;
        rc = weft_send(m_R.tx[c], &item);
        ps->sending[c]--;
        a1 = (int)item;
        break;
    }
    case OP_RECV: {
        uint64_t v = 0;
        rc = weft_recv(m_R.rx[c], &v);
        a1 = rc == 1 ? (int)v : 0;
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
        m_R.rbuf[k] = 0;
        weft_future *s = weft_sleep_future(WEFT_MS(o->b));
        weft_future *r = weft_recv_future(m_R.rx[c], &m_R.rbuf[k]);
        int sr = o->kind == OP_RACE_SR;
        weft_future *fs[2] = {sr ? s : r, sr ? r : s};
        void *res = (void *)(intptr_t)-1;
        rc = weft_race(fs, 2, &res);
        a1 = rc >= 0 ? m_ptr_int(res) : 0;
        a2 = rc == (sr ? 1 : 0) && a1 == 1 ? (int)m_R.rbuf[k] : 0;
        break;
    }
    case OP_TIMEOUT:
        m_R.rbuf[k] = 0;
        rc = weft_timeout(weft_recv_future(m_R.rx[c], &m_R.rbuf[k]),
                          WEFT_MS(o->b), NULL);
        a1 = rc == 1 ? (int)m_R.rbuf[k] : 0;
        break;
    case OP_JOIN_SS:
        rc = weft_join(weft_sleep_future(WEFT_MS(o->a)),
                       weft_sleep_future(WEFT_MS(o->b)));
        break;
    case OP_JOIN_SR: {
        m_R.rbuf[k] = 0;
        weft_future *fs[2] = {weft_sleep_future(WEFT_MS(o->b)),
                              weft_recv_future(m_R.rx[c], &m_R.rbuf[k])};
        void *res[2] = {(void *)(intptr_t)-1, (void *)(intptr_t)-1};
        rc = weft_join_all(fs, 2, res);
        a1 = m_ptr_int(res[0]);
        a2 = m_ptr_int(res[1]);
        a3 = a2 == 1 ? (int)m_R.rbuf[k] : 0;
        break;
    }
    case OP_SNEXT: {
        if (!m_R.st[o->a] || ps->sbusy[o->a]) {
            rc = M_SKIP;
            break;
        }
        uint64_t v = 0;
        ps->sbusy[o->a] = 1;
        rc = weft_stream_next(m_R.st[o->a], &v);
        ps->sbusy[o->a] = 0;
        a1 = rc == 1 ? m_sval(v) : 0;
        break;
    }
    case OP_SNEXT_TO:
    case OP_SRACE_BS:
    case OP_SRACE_SB:
    case OP_SJOIN: {
        if (!m_R.st[o->a] || ps->sbusy[o->a]) {
            rc = M_SKIP;
            break;
        }
        ps->sbusy[o->a] = 1;
        m_blk *b = &m_R.blk[k];
        b->s = o->a;
        b->rc = M_NORUN;
        b->v = 0;
        weft_future *blk = weft_async(m_real_block, b);
        weft_future *slp = weft_sleep_future(WEFT_MS(o->b));
        if (o->kind == OP_SNEXT_TO) {
            weft_future_drop(slp);
            rc = weft_timeout(blk, WEFT_MS(o->b), NULL);
        } else if (o->kind == OP_SJOIN) {
            weft_future *fs[2] = {blk, slp};
            void *res[2] = {(void *)(intptr_t)-1, (void *)(intptr_t)-1};
            rc = weft_join_all(fs, 2, res);
            a3 = m_ptr_int(res[1]);
        } else {
            int bs = o->kind == OP_SRACE_BS;
            weft_future *fs[2] = {bs ? blk : slp, bs ? slp : blk};
            rc = weft_race(fs, 2, NULL);
        }
        ps->sbusy[o->a] = 0;
        a1 = b->rc;
        a2 = b->rc == 1 ? m_sval(b->v) : 0;
        break;
    }
    case OP_SDROP:
        if (!m_R.st[o->a] || ps->sbusy[o->a]) {
            rc = M_SKIP;
            break;
        }
        weft_stream_drop(m_R.st[o->a]);
        m_R.st[o->a] = NULL;
        break;
    case OP_RECVH:
    case OP_TRYRECVH: {
        if (ps->rx_dropped[o->a]) {
            rc = M_SKIP;
            break;
        }
        uint64_t v = 0;
        rc = o->kind == OP_RECVH ? weft_recv(m_R.rxh[o->a], &v)
                                 : weft_try_recv(m_R.rxh[o->a], &v);
        a1 = rc == 1 ? (int)v : 0;
        break;
    }
    case OP_TIMEOUTH:
        if (ps->rx_dropped[o->a]) {
            rc = M_SKIP;
            break;
        }
        m_R.rbuf[k] = 0;
        rc = weft_timeout(weft_recv_future(m_R.rxh[o->a], &m_R.rbuf[k]),
                          WEFT_MS(o->b), NULL);
        a1 = rc == 1 ? (int)m_R.rbuf[k] : 0;
        break;
    case OP_RACE_SH: {
        if (ps->rx_dropped[o->a]) {
            rc = M_SKIP;
            break;
        }
        m_R.rbuf[k] = 0;
        weft_future *fs[2] = {weft_sleep_future(WEFT_MS(o->b)),
                              weft_recv_future(m_R.rxh[o->a], &m_R.rbuf[k])};
        void *res = (void *)(intptr_t)-1;
        rc = weft_race(fs, 2, &res);
        a1 = rc >= 0 ? m_ptr_int(res) : 0;
        a2 = rc == 1 && a1 == 1 ? (int)m_R.rbuf[k] : 0;
        break;
    }
    case OP_DROPRX:
        if (ps->rx_dropped[o->a]) {
            rc = M_SKIP;
            break;
        }
        ps->rx_dropped[o->a] = 1;
        weft_receiver_drop(m_R.rxh[o->a]);
        m_R.rxh[o->a] = NULL;
        break;
    case OP_CLOSEH:
        if (ps->rx_dropped[o->a]) {
            rc = M_SKIP;
            break;
        }
        weft_receiver_close(m_R.rxh[o->a]);
        break;
    case OP_ACQ:
        rc = weft_semaphore_acquire(m_R.sem, o->a);
        a2 = (int)weft_semaphore_available(m_R.sem);
        break;
    case OP_TRYACQ:
        rc = weft_semaphore_try_acquire(m_R.sem, o->a);
        a2 = (int)weft_semaphore_available(m_R.sem);
        break;
    case OP_REL:
        weft_semaphore_release(m_R.sem, o->a);
        a2 = (int)weft_semaphore_available(m_R.sem);
        break;
    case OP_ACQ_TO:
        rc = weft_timeout(weft_semaphore_acquire_future(m_R.sem, o->a),
                          WEFT_MS(o->b), NULL);
        a2 = (int)weft_semaphore_available(m_R.sem);
        break;
    case OP_RACE_SA: {
        weft_future *fs[2] = {weft_sleep_future(WEFT_MS(o->b)),
                              weft_semaphore_acquire_future(m_R.sem, o->a)};
        void *res = (void *)(intptr_t)-1;
        rc = weft_race(fs, 2, &res);
        a1 = rc >= 0 ? m_ptr_int(res) : 0;
        a2 = (int)weft_semaphore_available(m_R.sem);
        break;
    }
    case OP_GSPAWN: {
        if (ps->gstate != 1) {
            rc = M_SKIP;
            break;
        }
        weft_spawn_opts so = {.drop_arg = m_real_drop};
        m_R.spawned[t] = 1;
        rc = weft_group_spawn_with(m_R.grp, &so, m_real_task,
                                   (void *)(intptr_t)t);
        break;
    }
    case OP_GJOIN: {
        if (ps->gstate != 1) {
            rc = M_SKIP;
            break;
        }
        void *res = (void *)(intptr_t)-1;
        int st = 7;
        rc = weft_group_join_next_status(m_R.grp, &res, &st);
        a1 = rc == 1 ? m_ptr_int(res) : 0;
        a2 = rc == 1 ? st : 0;
        break;
    }
    case OP_GABORT:
        if (ps->gstate != 1) {
            rc = M_SKIP;
            break;
        }
        weft_group_abort_all(m_R.grp);
        break;
    case OP_GDROP:
        if (ps->gstate != 1) {
            rc = M_SKIP;
            break;
        }
        ps->gstate = 2;
        weft_group_drop(m_R.grp);
        m_R.grp = NULL;
        break;
    case OP_IOWRITE:
    case OP_IOWRITE_TO:
    case OP_IOREAD:
    case OP_IOREAD_TO:
    case OP_IORDALL:
    case OP_IOSHUT:
    case OP_IOCLOSE:
        m_real_io(k, pc, o, &kind, &rc, &a1, &a2, &a3);
        break;
    }
    m_log(m_R.tr, k, pc, kind, rc, a1, a2, a3, m_now_ms());
}

/* Creates channel c (unbounded when it lives across runs); 0 or <0. */
static int m_real_chan(const m_prog *p, int c)
{
    weft_channel_opts co = {.capacity = (size_t)p->bound[c]};
    return weft_channel_with(sizeof(uint64_t), &co, &m_R.tx[c], &m_R.rx[c]);
}

/* Builds node i of stream s (consuming the receivers of its channels). */
static weft_stream *m_real_snode(const m_sdef *d, int i)
{
    const m_snode *n = &d->n[i];
    weft_stream *st = NULL;
    switch (n->kind) {
    case SN_RECV:
        st = weft_stream_from_receiver(m_R.rx[n->a]);
        m_R.rx[n->a] = NULL;
        break;
    case SN_IVL: /* l: WEFT_MISSED_BURST (0), _DELAY (1) or _SKIP (2) */
        st = weft_stream_interval_with(WEFT_MS(n->a), n->l);
        break;
    case SN_TIMEOUT:
        st = weft_stream_timeout(m_real_snode(d, n->l), WEFT_MS(n->a));
        break;
    case SN_TAKE:
        st = weft_stream_take(m_real_snode(d, n->l), n->a);
        break;
    case SN_MERGE: {
        weft_stream *l = m_real_snode(d, n->l);
        st = weft_stream_merge(l, m_real_snode(d, n->r));
        break;
    }
    }
    return st;
}

/* The root of a coordination program, at 0 ms: each channel's receiver
 * becomes its first handle, the clones are made, and the semaphore.
 * 0, or -1 with m_R.setup_rc set. */
static int m_real_coord_setup(const m_prog *p)
{
    for (int h = 0; h < p->nh; h++) {
        int c = p->hchan[h], first = h;
        while (first > 0 && p->hchan[first - 1] == c)
            first--;
        if (first == h) {
            m_R.rxh[h] = m_R.rx[c];
            m_R.rx[c] = NULL;
        } else {
            m_R.rxh[h] = weft_receiver_clone(m_R.rxh[first]);
        }
        if (!m_R.rxh[h]) {
            m_R.setup_rc = -errno;
            return -1;
        }
    }
    if (!(m_R.sem = weft_semaphore_new((size_t)p->sem_permits))) {
        m_R.setup_rc = -errno;
        return -1;
    }
    return 0;
}

static void *m_real_task(void *arg)
{
    int k = (int)(intptr_t)arg;
    const m_prog *p = m_R.p;
    if (k == 0) { /* inside the runtime: the channels are not "shared" */
        for (int c = 0; c < p->nchans; c++) {
            if (p->pre[c] || (p->carried[c] && p->run > 0))
                continue; /* already there */
            int rc = m_real_chan(p, c);
            if (rc) {
                m_R.setup_rc = rc;
                return NULL;
            }
            /* The receiver is used here, so it stays on this runtime (an
             * unused one may be handed to another thread: weft.h). */
            uint64_t none;
            if (weft_try_recv(m_R.rx[c], &none) != -EAGAIN) {
                m_R.setup_rc = -EPROTO;
                return NULL;
            }
        }
        for (int s = 0; s < p->nstreams && p->run == 0; s++) {
            if (p->sdef[s].pre)
                continue;
            if (!(m_R.st[s] = m_real_snode(&p->sdef[s], 0))) {
                m_R.setup_rc = -errno;
                return NULL;
            }
        }
        if (p->coord && m_real_coord_setup(p))
            return NULL;
        if (p->io && (m_R.setup_rc = m_real_io_setup(p)) != 0)
            return NULL;
    }
    if (p->coord && k == p->gowner) {
        if (!(m_R.grp = weft_group_new())) {
            m_R.setup_rc = -errno;
            return NULL;
        }
        m_R.ps.gstate = 1;
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
    if (p->coord && k == p->gowner && m_R.ps.gstate == 1) {
        m_R.ps.gstate = 2; /* a group is dropped by its owner's end */
        weft_group_drop(m_R.grp);
        m_R.grp = NULL;
        m_log(m_R.tr, k, M_PC_EPILOGUE, OP_GDROP, 0, 0, 0, 0, m_now_ms());
    }
    for (int h = 0; h < p->nh; h++) { /* drain through its handles */
        if (p->howner[h] != k || m_R.ps.rx_dropped[h])
            continue;
        int rc, n = 0;
        uint64_t v;
        uint32_t hs = 0;
        while ((rc = weft_try_recv(m_R.rxh[h], &v)) == 1) {
            n++;
            hs = hs * 31u + (uint32_t)v;
        }
        m_log(m_R.tr, k, M_DRAIN_HANDLE + h, EV_DRAIN, rc, n,
              (int)(hs & 0x7fffffff), 0, m_now_ms());
    }
    for (int c = 0; c < p->nchans; c++) { /* drain what it receives */
        if (p->owner[c] != k)
            continue;
        int rc, n = 0;
        uint64_t v;
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

static void m_real_drop_stream(int s)
{
    weft_stream_drop(m_R.st[s]); /* outside any runtime */
    m_R.st[s] = NULL;
}

/* Runs the nruns runs of a program on weft, one weft_run each; fills tr.
 * Returns 0, or -1 if a runtime could not be set up (a test failure of its
 * own).  Streams and the channels that feed them (carried) live from the
 * first run (or before it) to the end of the last, unless dropped. */
M_FN int m_run_real_multi(const m_prog *runs, int nruns, m_trace *tr)
{
    memset(&m_R, 0, sizeof m_R);
    memset(tr, 0, sizeof *tr);
    m_R.tr = tr;
    const m_prog *p0 = &runs[0];
    if (p0->io) { /* buffers kept for the next programs */
        for (int k = 0; k < M_MAX_TASKS; k++) {
            if (!m_IO.wbuf[k])
                m_IO.wbuf[k] = malloc(m_io_big_max());
            if (!m_IO.rbuf[k])
                m_IO.rbuf[k] = malloc(M_IO_RBUF);
            if (!m_IO.wbuf[k] || !m_IO.rbuf[k]) {
                fprintf(stderr, "model: out of memory\n");
                return -1;
            }
        }
        memset(m_IO.fd, -1, sizeof m_IO.fd);
        memset(m_IO.closed, 0, sizeof m_IO.closed);
        memset(m_IO.wacc, 0, sizeof m_IO.wacc);
        memset(m_IO.wend, 0, sizeof m_IO.wend);
        memset(m_IO.r, 0, sizeof m_IO.r);
        memset(m_IO.nw, 0, sizeof m_IO.nw);
        memset(m_IO.busy, 0, sizeof m_IO.busy);
        memset(m_IO.pump, 0, sizeof m_IO.pump);
    }
    for (int c = 0; c < p0->nchans; c++) /* before the first run */
        if (p0->pre[c] && m_real_chan(p0, c)) {
            fprintf(stderr, "model: channel setup failed\n");
            return -1;
        }
    for (int s = 0; s < p0->nstreams; s++)
        if (p0->sdef[s].pre && !(m_R.st[s] = m_real_snode(&p0->sdef[s], 0))) {
            fprintf(stderr, "model: stream setup failed\n");
            return -1;
        }
    int failed = 0;
    for (int run = 0; run < nruns && !failed; run++) {
        const m_prog *p = &runs[run];
        m_R.p = p;
        memset(m_R.ps.handle, 0, sizeof m_R.ps.handle);
        memset(m_R.h, 0, sizeof m_R.h);
        memset(m_R.spawned, 0, sizeof m_R.spawned);
        memset(m_R.started, 0, sizeof m_R.started);
        memset(m_R.dropped, 0, sizeof m_R.dropped);
        for (int c = 0; c < p->nchans; c++)
            if (!p->carried[c])
                m_R.ps.tx_dropped[c] = m_R.ps.sending[c] = 0;
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
        int last = run == nruns - 1;
        /* After the run, outside any runtime: the channels of this run,
         * the streams whose life ends here, and at the end the rest. */
        for (int c = 0; c < p->nchans; c++) {
            if (p->carried[c] && !last)
                continue;
            weft_sender_drop(m_R.tx[c]);
            weft_receiver_drop(m_R.rx[c]);
            m_R.tx[c] = NULL;
            m_R.rx[c] = NULL;
        }
        for (int s = 0; s < p->nstreams; s++)
            if (last || p->sdef[s].drop_between)
                m_real_drop_stream(s);
        for (int h = 0; h < M_MAX_HANDLES; h++) {
            weft_receiver_drop(m_R.rxh[h]);
            m_R.rxh[h] = NULL;
        }
        weft_semaphore_free(m_R.sem);
        m_R.sem = NULL;
        if (m_R.setup_rc) {
            for (int x = 0; p->io && x < M_MAX_ENDS; x++)
                if (m_IO.fd[x] >= 0 && !m_IO.closed[x])
                    close(m_IO.fd[x]);
            fprintf(stderr, "model: setup failed: %d\n", m_R.setup_rc);
            failed = 1;
            break;
        }
        m_log(tr, -1, -1, EV_RUN, rc, m_ptr_int(res), run, 0, 0);
        int report, blocked;
        m_parse_report(out, &report, &blocked);
        m_log(tr, -1, -1, EV_REPORT, 0, report, blocked, 0, 0);
        if (report == 2)
            fprintf(stderr, "model: unexpected stderr output:\n%s\n", out);
        for (int k = 1; k < p->ntasks; k++)
            m_log(tr, k, -1, EV_SUMMARY, 0, m_R.spawned[k], m_R.started[k],
                  m_R.dropped[k], 0);
        if (p->io)
            m_real_io_end(p, tr);
    }
    for (int s = 0; s < M_MAX_STREAMS; s++) /* after a failed setup */
        m_real_drop_stream(s);
    for (int c = 0; c < M_MAX_CHANS_ALL; c++) {
        weft_sender_drop(m_R.tx[c]);
        weft_receiver_drop(m_R.rx[c]);
    }
    return failed ? -1 : 0;
}

/* Runs p on weft; fills tr.  Returns 0, or -1 if the runtime could not be
 * set up (a test failure of its own). */
M_FN int m_run_real(const m_prog *p, m_trace *tr)
{
    return m_run_real_multi(p, 1, tr);
}

/* ------------------------------------------------------------------------ */
/* The reference model                                                      */
/* ------------------------------------------------------------------------ */

enum {
    F_NONE,
    F_SLEEP,
    F_RECV,
    F_SEND,
    F_JOIN,
    F_SNEXT,
    F_BLOCK,
    F_ACQ,
    F_GJOIN,
    F_IOREAD, /* weft_read (io_all: read_all) from end io_end */
    F_IOWRITE /* weft_write to end io_end */
};
/* An acquire's states (sync.c's waiter) */
enum { A_IDLE, A_WAITING, A_GRANTED, A_DONE, A_GONE };
enum { S_WAITING, S_DONE, S_CLOSED, S_GONE };
enum { MT_FRESH, MT_LIVE, MT_DEAD };
enum { MODE_LEAF, MODE_YIELD, MODE_RACE, MODE_JOIN, MODE_SNEXT };
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
    /* a stream timer: the task its waker belongs to */
    int wtask;
    /* next (F_SNEXT, F_BLOCK: chan is the stream): what next returned */
    int nrc;
    /* a receive on a channel with handles (coordination): it waits (from
     * its first wait until it completes or is withdrawn); it was woken
     * for an item, which is kept for it until it polls (chan.c's owed) */
    int waiting, rowed;
    /* acquire (F_ACQ): permits wanted, state; join_next: member status */
    int n, astate, val2;
    /* I/O: the end, bytes wanted, a big write, read_all, the write's
     * index; parked on the end (io_seq: when), woken by weft_close
     * (-EBADF), read_all whose blocked writer completed (io_pump); the
     * hash of the bytes read, the prefix of a write that ended early */
    int io_end, io_big, io_all, io_widx, io_parked, io_closed, io_pump,
        io_wslot, io_pfx, io_got;
    uint32_t io_len, io_hash;
    uint64_t io_seq;
} m_fut;

/* The state of a stream node (m_snode). */
typedef struct m_snst {
    uint64_t next;     /* IVL: the next tick (ms, some runtime's clock) */
    uint64_t deadline; /* TIMEOUT */
    int on;            /* TIMEOUT: a deadline is pending */
    int left;          /* TAKE */
    int first;         /* MERGE: the side polled first next time */
    int ended[2];      /* MERGE */
    m_fut tm;          /* IVL, TIMEOUT: the timer (kind F_SLEEP) */
} m_snst;

typedef struct m_task {
    int exists, state, cancel, queued, started, dropped;
    int pc, in_op, mode;
    int woken[2], gdone[2], remaining, grc;
    m_fut fut[2];
    int status, result;
    int join_waiter; /* task joining this one, or -1 */
    int pending;     /* handle of a join cancelled while waiting, or -1 */
    int iokind;      /* the kind logged for an I/O op (a read may become
                        read_all) */
    int handed;      /* queued by a hand-off: at the head */
} m_task;

typedef struct m_chan {
    int items[M_MAX_ITEMS];
    int head, count;
    int bound, closed, senders, shared;
    int rx_task, rx_slot, rx_fut; /* the registered receive, rx_task -1 */
    int waits[M_MAX_TASKS];       /* waiting senders (tasks), in order */
    int nwaits;
    /* Coordination programs (multi): receives wait behind the registered
     * one (rx_task), first come first; owed counts receives woken for an
     * item and not yet polled (their items are kept for them). */
    int multi, receivers, owed;
    struct {
        int task, fut, slot;
    } rxq[2 * M_MAX_TASKS];
    int nrxq;
} m_chan;

typedef struct m_model {
    const m_prog *p;
    m_trace *tr;
    m_pstate ps;
    m_task t[M_MAX_TASKS];
    m_chan c[M_MAX_CHANS_ALL];
    m_snst sn[M_MAX_STREAMS][M_MAX_SNODES];
    int sdropped[M_MAX_STREAMS];
    int run, hang;
    int runq[M_MAX_TASKS];
    int nq;
    int ntseg; /* runq[0..ntseg) were woken by timers (loop.c's segment) */
    int handoff_run, handing; /* hand-offs run in a row; a wake is one */
    int timing;               /* a wake now is a timer's */
    int yielded[M_MAX_TASKS]; /* queued after the next timer service */
    int ny;
    int order[M_MAX_TASKS], norder;
    uint64_t now, seq;
    int live, deadlocked, blocked_at_deadlock;
    /* coordination: the semaphore (free permits, waiters first come
     * first) and the group (members running in spawn order, finished in
     * completion order, the join_next waiting) */
    int permits;
    struct {
        int task, fut;
    } semq[2 * M_MAX_TASKS];
    int nsemq;
    int grun[M_MAX_TASKS], ngrun, gdone[M_MAX_TASKS], ngdone;
    int gjoiner, gjslot;
    /* I/O programs: the byte stream written to each end x (read at x ^ 1):
     * the writes the kernel took (index, bytes), wacc, wend, r as in
     * m_io_real; busy: a big write to x blocked (task, future); the
     * ends: closed, shut (SHUT_WR), registered in the epoll set, on its
     * ready list (rl: in the order of their first event since the last
     * harvest, as epoll's) */
    struct {
        int widx;
        uint32_t len;
    } seg[M_MAX_ENDS][M_MAX_SEGS];
    int nseg[M_MAX_ENDS], nw[M_MAX_ENDS];
    uint64_t wacc[M_MAX_ENDS], wend[M_MAX_ENDS], r[M_MAX_ENDS];
    int busy[M_MAX_ENDS], btask[M_MAX_ENDS], bfut[M_MAX_ENDS], pump[M_MAX_ENDS];
    /* the tasks of a read_all completing a blocked write (pump[x]); what
     * weft does when one of them is cancelled, or the reader's end closed,
     * before the reader has read it all depends on how many rounds the
     * kernel needs: such a program is ambiguous, not compared */
    int preader[M_MAX_ENDS], pwriter[M_MAX_ENDS], ambiguous;
    uint64_t pump_ms[M_MAX_ENDS]; /* the instant of the last one, + 1 */
    int closed[M_MAX_ENDS], shut[M_MAX_ENDS], reg[M_MAX_ENDS],
        linked[M_MAX_ENDS];
    int rl[M_MAX_ENDS], nrl, iowaiting;
    uint64_t ioseq;
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

static void m_runq_insert(m_model *M, int pos, int k)
{
    memmove(&M->runq[pos + 1], &M->runq[pos],
            (size_t)(M->nq - pos) * sizeof M->runq[0]);
    M->runq[pos] = k;
    M->nq++;
}

static void m_runq_remove(m_model *M, int i)
{
    memmove(&M->runq[i], &M->runq[i + 1],
            (size_t)(M->nq - i - 1) * sizeof M->runq[0]);
    M->nq--;
    if (i < M->ntseg)
        M->ntseg--;
}

/* Queues task k: at the tail, but a timer's wake at the end of the timers'
 * segment at the head and a hand-off right behind it. */
static void m_task_wake(m_model *M, int k)
{
    m_task *T = &M->t[k];
    if (T->queued || T->state == MT_DEAD)
        return;
    T->queued = 1;
    T->handed = M->handing;
    if (M->timing)
        m_runq_insert(M, M->ntseg++, k);
    else if (M->handing)
        m_runq_insert(M, M->ntseg, k);
    else
        M->runq[M->nq++] = k;
}

/* A waker: slot -1 is the task's own, 0/1 a combinator slot. */
static void m_wake(m_model *M, int k, int slot)
{
    if (slot >= 0)
        M->t[k].woken[slot] = 1;
    m_task_wake(M, k);
}

/* A wake by a task that returns, of the task joining it: a hand-off while
 * fewer than M_HANDOFF_MAX have run in a row (weft__wake_hand). */
static void m_wake_hand(m_model *M, int k, int slot)
{
    M->handing = M->handoff_run < M_HANDOFF_MAX;
    m_wake(M, k, slot);
    M->handing = 0;
}

static void m_task_cancel(m_model *M, int k)
{
    m_task *T = &M->t[k];
    for (int x = 0; x < M_MAX_ENDS; x++) /* the rounds of that instant */
        if (M->pump_ms[x] == M->now + 1 &&
            (M->preader[x] == k || M->pwriter[x] == k))
            M->ambiguous = 1;
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
                m_runq_remove(M, i);
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
        m_wake_hand(M, T->join_waiter, -1);
    if (M->p->member[k]) { /* a group member: now in completion order */
        for (int i = 0; i < M->ngrun; i++)
            if (M->grun[i] == k) {
                memmove(&M->grun[i], &M->grun[i + 1],
                        (size_t)(M->ngrun - i - 1) * sizeof M->grun[0]);
                M->ngrun--;
                break;
            }
        M->gdone[M->ngdone++] = k;
        if (M->gjoiner >= 0) {
            int j = M->gjoiner;
            M->gjoiner = -1;
            m_wake_hand(M, j, M->gjslot); /* as a join */
        }
    }
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
    for (int s = 0; s < M->p->nstreams; s++) /* timers inside streams */
        for (int i = 0; i < M->p->sdef[s].nnodes; i++) {
            m_fut *f = &M->sn[s][i].tm;
            if (!f->armed)
                continue;
            if (!best || f->deadline < best->deadline ||
                (f->deadline == best->deadline && f->seq < best->seq)) {
                best = f;
                *task = f->wtask;
            }
        }
    return best;
}

static int m_timers_fire(m_model *M, int max)
{
    for (int n = 0; n < max; n++) {
        int k = -1;
        m_fut *f = m_timer_first(M, &k);
        if (!f || f->deadline > M->now)
            return n;
        f->armed = 0;
        f->fired = 1;
        if (M->cov)
            M->cov->timer_fires++;
        M->timing = 1; /* ahead of the queue, in firing order */
        m_wake(M, k, f->wslot);
        M->timing = 0;
    }
    return max;
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

/* A channel with handles: the first queued receive becomes the registered
 * one (chan.c's promote). */
static void m_rx_promote(m_chan *ch)
{
    if (!ch->multi || ch->rx_task >= 0 || !ch->nrxq)
        return;
    ch->rx_task = ch->rxq[0].task;
    ch->rx_fut = ch->rxq[0].fut;
    ch->rx_slot = ch->rxq[0].slot;
    memmove(&ch->rxq[0], &ch->rxq[1],
            (size_t)(ch->nrxq - 1) * sizeof ch->rxq[0]);
    ch->nrxq--;
}

/* Whoever makes the channel ready takes the receiver's waker; with
 * several receivers the woken receive is owed an item, and the next
 * queued one takes its place (chan.c's wake_owner). */
static void m_take_waker(m_model *M, m_chan *ch)
{
    if (ch->rx_task < 0)
        return;
    int k = ch->rx_task, s = ch->rx_slot;
    if (ch->multi && ch->receivers > 1) {
        M->t[k].fut[ch->rx_fut].rowed = 1;
        ch->owed++;
        if (M->cov)
            M->cov->c_rx_owed_woken++;
    }
    ch->rx_task = -1;
    m_rx_promote(ch);
    m_wake(M, k, s);
}

/* chan.c's rx_ready: a waiting receive would find an item or the end. */
static int m_rx_ready(const m_chan *ch)
{
    return ch->count > ch->owed || ch->closed || ch->senders == 0;
}

/* A receive of a channel with handles stops waiting (chan.c's
 * unregister): its owed item is no longer kept, it leaves the slot (the
 * next queued one takes it) or the queue. */
static void m_rx_unregister(m_chan *ch, m_fut *f, int k, int fi)
{
    if (f->rowed) {
        f->rowed = 0;
        ch->owed--;
    }
    if (ch->rx_task == k && ch->rx_fut == fi) {
        ch->rx_task = -1;
        m_rx_promote(ch);
    } else {
        for (int i = 0; i < ch->nrxq; i++)
            if (ch->rxq[i].task == k && ch->rxq[i].fut == fi) {
                memmove(&ch->rxq[i], &ch->rxq[i + 1],
                        (size_t)(ch->nrxq - i - 1) * sizeof ch->rxq[0]);
                ch->nrxq--;
                break;
            }
    }
    f->waiting = 0;
}

/* A receive of a channel with handles is withdrawn (chan.c's withdraw):
 * when another waits and there is something for it, it is woken. */
static void m_rx_withdraw(m_model *M, int k, int fi)
{
    m_fut *f = &M->t[k].fut[fi];
    m_chan *ch = &M->c[f->chan];
    if (!f->waiting)
        return;
    if (f->rowed && M->cov)
        M->cov->c_rx_owed_withdrawn++;
    m_rx_unregister(ch, f, k, fi);
    if (ch->rx_task >= 0 && m_rx_ready(ch))
        m_take_waker(M, ch);
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

/* ---- coordination ------------------------------------------------------- */

/* recv_poll of a channel with handles: a receive woken for an item takes
 * it (settle), a receive that finds items kept for receives woken before
 * it takes only what is beyond them; else it keeps its place (the slot or
 * the queue) or takes the slot if free, else the back of the queue.  When
 * it completes, a waiting receive is woken if something is there for it
 * (the baton: each wake serves one). */
static int m_rx_poll(m_model *M, int k, int fi, int wslot)
{
    m_fut *f = &M->t[k].fut[fi];
    m_chan *ch = &M->c[f->chan];
    if (f->rowed) {
        f->rowed = 0;
        ch->owed--;
    }
    int got = ch->count > ch->owed;
    if (!got && ch->count && M->cov)
        M->cov->c_rx_kept_from++; /* items there, kept for woken ones */
    if (got) {
        f->val = m_pop(ch);
        f->status = 1;
    } else if ((ch->closed || ch->senders == 0) && !ch->count) {
        f->status = 0;
    } else {
        if (ch->rx_task == k && ch->rx_fut == fi) {
            ch->rx_slot = wslot;
            return 0;
        }
        for (int i = 0; i < ch->nrxq; i++)
            if (ch->rxq[i].task == k && ch->rxq[i].fut == fi) {
                ch->rxq[i].slot = wslot;
                return 0;
            }
        f->waiting = 1;
        if (ch->rx_task < 0) {
            ch->rx_task = k;
            ch->rx_fut = fi;
            ch->rx_slot = wslot;
        } else if (ch->nrxq < 2 * M_MAX_TASKS) {
            if (M->cov)
                M->cov->c_rx_queued++;
            ch->rxq[ch->nrxq].task = k;
            ch->rxq[ch->nrxq].fut = fi;
            ch->rxq[ch->nrxq].slot = wslot;
            ch->nrxq++;
        } else {
            m_fail(M, "model: receive queue overflow");
        }
        return 0;
    }
    if (got)
        m_refill(M, ch);
    if (f->waiting)
        m_rx_unregister(ch, f, k, fi);
    if (ch->rx_task >= 0 && m_rx_ready(ch))
        m_take_waker(M, ch);
    return 1;
}

/* weft_try_recv on a channel with handles: items kept for woken receives
 * are not taken.  1 (*v), 0 (closed and drained) or -EAGAIN. */
static int m_rx_try(m_model *M, m_chan *ch, int *v)
{
    if (ch->count > ch->owed) {
        *v = m_pop(ch);
        m_refill(M, ch);
        return 1;
    }
    return !ch->count && (ch->closed || ch->senders == 0) ? 0 : -EAGAIN;
}

/* Closes a channel (a close through a handle, or its last handle
 * dropped): the registered receive is woken, then every waiting sender
 * fails (-EPIPE); discard: the queued items go (the last handle). */
static void m_rx_close(m_model *M, m_chan *ch, int discard)
{
    int local[M_MAX_TASKS], nlocal = 0;
    ch->closed = 1;
    int rk = ch->rx_task, rs = ch->rx_slot;
    if (rk >= 0 && ch->receivers > 1) {
        M->t[rk].fut[ch->rx_fut].rowed = 1;
        ch->owed++;
    }
    ch->rx_task = -1;
    m_rx_promote(ch);
    while (ch->nwaits) {
        int w = ch->waits[0];
        m_remove_waiter(ch, w);
        M->t[w].fut[0].queued = 0;
        M->t[w].fut[0].sstate = S_CLOSED;
        local[nlocal++] = w;
    }
    if (discard)
        ch->head = ch->count = 0;
    if (rk >= 0)
        m_wake(M, rk, rs);
    for (int i = 0; i < nlocal; i++)
        m_wake(M, local[i], -1);
}

/* Serves the semaphore's queue from its head while the head's request
 * fits (sync.c's dispatch); the granted waiters are woken in order. */
static void m_sem_dispatch(m_model *M)
{
    int wk[2 * M_MAX_TASKS], ws[2 * M_MAX_TASKS], n = 0;
    while (M->nsemq) {
        m_fut *f = &M->t[M->semq[0].task].fut[M->semq[0].fut];
        if (M->permits < f->n)
            break;
        M->permits -= f->n;
        f->astate = A_GRANTED;
        wk[n] = M->semq[0].task;
        ws[n++] = f->wslot;
        memmove(&M->semq[0], &M->semq[1],
                (size_t)(M->nsemq - 1) * sizeof M->semq[0]);
        M->nsemq--;
    }
    for (int i = 0; i < n; i++)
        m_wake(M, wk[i], ws[i]);
}

/* sync_cancel of an acquire: a waiting one leaves the queue (the next may
 * go now), a granted one gives its permits back. */
static void m_acq_cancel(m_model *M, int k, int fi)
{
    m_fut *f = &M->t[k].fut[fi];
    if (M->cov && (f->astate == A_WAITING || f->astate == A_GRANTED))
        M->cov->c_acq_waiting_cancelled += f->astate == A_WAITING,
            M->cov->c_acq_granted_cancelled += f->astate == A_GRANTED;
    if (f->astate == A_WAITING) {
        for (int i = 0; i < M->nsemq; i++)
            if (M->semq[i].task == k && M->semq[i].fut == fi) {
                memmove(&M->semq[i], &M->semq[i + 1],
                        (size_t)(M->nsemq - i - 1) * sizeof M->semq[0]);
                M->nsemq--;
                break;
            }
        m_sem_dispatch(M);
    } else if (f->astate == A_GRANTED) {
        M->permits += f->n;
        m_sem_dispatch(M);
    }
    f->astate = A_GONE;
}

static void m_run_task(m_model *M, int k);

/* weft_group_abort_all: every running member is cancelled, in spawn
 * order. */
static void m_group_abort(m_model *M)
{
    for (int i = 0; i < M->ngrun; i++)
        m_task_cancel(M, M->grun[i]);
}

/* weft_group_drop: abort_all, then each running member, first spawned
 * first, is driven by the caller until it has returned (it never
 * suspends: it is cancelled), and everything is collected. */
static void m_group_drop(m_model *M)
{
    m_group_abort(M);
    while (M->ngrun > 0 && !M->error) {
        int t = M->grun[0];
        if (M->cov)
            M->cov->c_gdrop_driven++;
        while (M->t[t].state != MT_DEAD && !M->error)
            m_run_task(M, t);
    }
    M->ngdone = 0;
    M->ps.gstate = 2;
}

/* ---- streams ------------------------------------------------------------ */

/* The receive registration of stream s's node i is known by this id. */
static int m_sid(int s, int i) { return 100 + s * 16 + i; }

/* weft_receiver_drop (the stream that owns it is dropped): closed, every
 * waiting sender fails (-EPIPE, woken in order), queued items discarded. */
static void m_rx_drop(m_model *M, m_chan *ch)
{
    int local[M_MAX_TASKS], nlocal = 0;
    ch->closed = 1;
    while (ch->nwaits) {
        int w = ch->waits[0];
        m_remove_waiter(ch, w);
        M->t[w].fut[0].queued = 0;
        M->t[w].fut[0].sstate = S_CLOSED;
        local[nlocal++] = w;
    }
    for (int i = 0; i < nlocal; i++)
        m_wake(M, local[i], -1);
    ch->head = ch->count = 0;
}

/* stream.c's arm(): the timer stays (its arming order too) when it is
 * armed for that deadline already; only the waker changes. */
static void m_sarm(m_model *M, m_fut *tm, uint64_t deadline, int k, int wslot)
{
    if (!(tm->armed && tm->deadline == deadline)) {
        tm->kind = F_SLEEP;
        tm->deadline = deadline;
        m_timer_arm(M, tm, wslot);
    }
    tm->wtask = k;
    tm->wslot = wslot;
}

/* poll_next of node i of stream s, with the waker (k, wslot): 1 with *st
 * (1 item *val, 0 end, <0 error element) or 0 pending.  As stream.c. */
static int m_spoll(m_model *M, int s, int i, int k, int wslot, int *st,
                   int *val)
{
    const m_snode *n = &M->p->sdef[s].n[i];
    m_snst *x = &M->sn[s][i];
    switch (n->kind) {
    case SN_RECV: { /* the receive future, polled again and again */
        m_chan *ch = &M->c[n->a];
        int id = m_sid(s, i);
        if (ch->rx_task >= 0 && ch->rx_fut == id)
            ch->rx_task = -1;
        if (ch->count) {
            *val = m_pop(ch);
            *st = 1;
            m_refill(M, ch);
            return 1;
        }
        if (ch->closed || ch->senders == 0) {
            *st = 0;
            return 1;
        }
        if (ch->rx_task >= 0) {
            m_fail(M, "model: two receives on one channel");
            *st = -EBUSY;
            return 1;
        }
        ch->rx_task = k;
        ch->rx_slot = wslot;
        ch->rx_fut = id;
        return 0;
    }
    case SN_IVL:
        if (M->now < x->next) {
            m_sarm(M, &x->tm, x->next, k, wslot);
            return 0;
        }
        m_timer_cancel(&x->tm);
        *val = M_IVL_TAG + (int)x->next;
        if (M->cov && M->now > x->next + 5 && n->l)
            M->cov->s_late_ticks[n->l - 1]++;
        if (M->now > x->next + 5 && n->l == WEFT_MISSED_DELAY) {
            x->next = M->now + n->a; /* a period after the late tick */
        } else if (M->now > x->next + 5 && n->l == WEFT_MISSED_SKIP) {
            uint64_t tick = x->next; /* the next multiple after now */
            x->next = tick + n->a;
            if (x->next <= M->now)
                x->next = M->now + n->a - (M->now - tick) % n->a;
        } else { /* on time (within 5 ms), or burst: a period later */
            x->next += n->a;
        }
        *st = 1;
        return 1;
    case SN_TIMEOUT:
        if (m_spoll(M, s, n->l, k, wslot, st, val)) {
            if (*st != 0) { /* the next element is due in time */
                x->deadline = M->now + n->a;
                x->on = 1;
            }
            m_timer_cancel(&x->tm);
            return 1;
        }
        if (!x->on)
            return 0;
        if (M->now >= x->deadline) {
            m_timer_cancel(&x->tm);
            x->on = 0;
            *st = -ETIMEDOUT;
            return 1;
        }
        m_sarm(M, &x->tm, x->deadline, k, wslot);
        return 0;
    case SN_TAKE:
        if (x->left == 0) {
            *st = 0;
            return 1;
        }
        if (!m_spoll(M, s, n->l, k, wslot, st, val))
            return 0;
        if (*st == 0)
            x->left = 0;
        else
            x->left--;
        return 1;
    case SN_MERGE: {
        int first = x->first;
        x->first ^= 1; /* on every poll, also one that ends pending */
        for (int j = 0; j < 2; j++) {
            int side = first ^ j;
            if (x->ended[side])
                continue;
            if (!m_spoll(M, s, side ? n->r : n->l, k, wslot, st, val))
                continue;
            if (*st != 0)
                return 1;
            x->ended[side] = 1;
        }
        if (x->ended[0] && x->ended[1]) {
            *st = 0;
            return 1;
        }
        if (M->cov)
            M->cov->s_merge_pending++;
        return 0;
    }
    }
    m_fail(M, "model: unknown stream node");
    return 1;
}

/* The end of weft_stream_next: every registration of s is withdrawn. */
static void m_stream_cancel(m_model *M, int s)
{
    const m_sdef *d = &M->p->sdef[s];
    for (int i = 0; i < d->nnodes; i++) {
        m_timer_cancel(&M->sn[s][i].tm);
        if (d->n[i].kind == SN_RECV) {
            m_chan *ch = &M->c[d->n[i].a];
            if (ch->rx_task >= 0 && ch->rx_fut == m_sid(s, i))
                ch->rx_task = -1;
        }
    }
}

/* Builds stream s at M->now (the constructors read the clock). */
static void m_stream_build(m_model *M, int s)
{
    const m_sdef *d = &M->p->sdef[s];
    memset(M->sn[s], 0, sizeof M->sn[s]);
    for (int i = 0; i < d->nnodes; i++) {
        m_snst *x = &M->sn[s][i];
        x->tm.kind = F_SLEEP;
        x->next = M->now; /* the first tick at once */
        x->deadline = M->now + d->n[i].a;
        x->on = 1;
        x->left = d->n[i].a;
    }
    M->sdropped[s] = 0;
}

/* weft_stream_next, one turn of its loop (direct: wslot -1; in a block:
 * the combinator's slot).  1 when it returns (f->nrc, f->val). */
static int m_snext_turn(m_model *M, int k, m_fut *f, int wslot, int cancelled)
{
    int s = f->chan, st = 0, val = 0;
    if (cancelled) {
        f->nrc = -ECANCELED;
        m_stream_cancel(M, s);
        if (M->cov)
            M->cov->s_cancelled++;
        return 1;
    }
    if (!m_spoll(M, s, 0, k, wslot, &st, &val))
        return 0;
    m_stream_cancel(M, s);
    f->nrc = st;
    f->val = st == 1 ? val : 0;
    if (M->cov) {
        if (st == 1 && val >= M_IVL_TAG)
            M->cov->s_ticks++;
        else if (st == 1)
            M->cov->s_items++;
        else if (st == -ETIMEDOUT)
            M->cov->s_timeouts++;
        else if (st == 0)
            M->cov->s_ends++;
        if (M->run > 0)
            M->cov->s_run2_next++;
    }
    return 1;
}

/* ---- I/O (mode 6) ------------------------------------------------------- */

/* The real trace of the program being modelled (I/O programs).  The model
 * takes from it what weft.h leaves to the kernel and checks that it is
 * allowed: how many bytes a read returned (1..min(len, unread)), the
 * prefix a write that ended early had sent (at least what was read of
 * it, at most all), ECONNRESET for EPIPE or end of file after the peer's
 * close. */
static const m_trace *m_oracle;

static const m_ev *m_oracle_ev(int k, int pc)
{
    for (int i = 0; m_oracle && i < m_oracle->n; i++) {
        const m_ev *e = &m_oracle->ev[i];
        if (e->task == k && e->pc == pc && e->kind < OP__COUNT)
            return e;
    }
    return NULL;
}

static void m_io_seg(m_model *M, int x, int widx, uint64_t len)
{
    if (!len)
        return;
    if (M->nseg[x] >= M_MAX_SEGS) {
        m_fail(M, "model: too many writes to one end");
        return;
    }
    M->seg[x][M->nseg[x]].widx = widx;
    M->seg[x][M->nseg[x]].len = (uint32_t)len;
    M->nseg[x]++;
}

/* FNV-1a of bytes [from, from + n) of the stream sent through end x (the
 * blocked write's bytes follow what the kernel took). */
static uint32_t m_io_hash(m_model *M, int x, uint64_t from, uint64_t n)
{
    uint32_t h = M_FNV0;
    uint64_t start = 0;
    for (int i = 0; n > 0; i++) {
        int widx;
        uint64_t len;
        if (i < M->nseg[x]) {
            widx = M->seg[x][i].widx;
            len = M->seg[x][i].len;
        } else if (i == M->nseg[x] && M->busy[x]) {
            widx = M->t[M->btask[x]].fut[M->bfut[x]].io_widx;
            len = M->wend[x] - M->wacc[x];
        } else {
            m_fail(M, "model: a read beyond the bytes sent");
            break;
        }
        for (uint64_t off = from - start; from < start + len && n > 0;
             off++, from++, n--)
            h = (h ^ m_io_byte(x, widx, off)) * 16777619u;
        start += len;
    }
    return h;
}

/* End y would poll readable: bytes sent through y ^ 1 (a blocked writer's
 * surely: it refills what is read), its end of file or its close. */
static int m_io_rready(const m_model *M, int y)
{
    int x = y ^ 1;
    return M->busy[x] || M->wacc[x] > M->r[x] || M->shut[x] || M->closed[x];
}

static int m_io_wready(const m_model *M, int x)
{
    return M->closed[x ^ 1] ||
           (!M->busy[x] && m_io_unread(M->wacc[x], M->r[x]) <= M_IO_FIT);
}

/* An event of end y (data, end of file, a state change): on epoll's ready
 * list unless it is there. */
static void m_io_link(m_model *M, int y)
{
    if (M->reg[y] && !M->closed[y] && !M->linked[y]) {
        M->linked[y] = 1;
        M->rl[M->nrl++] = y;
    }
}

/* The future parks on its end (registered on its first wait: EPOLL_CTL_ADD
 * puts an fd that is ready now on the ready list). */
static void m_io_park(m_model *M, m_fut *f)
{
    if (f->io_parked)
        return;
    f->io_parked = 1;
    f->io_seq = ++M->ioseq;
    M->iowaiting++;
    int y = f->io_end;
    if (!M->reg[y]) {
        M->reg[y] = 1;
        if (m_io_rready(M, y) || m_io_wready(M, y))
            m_io_link(M, y);
    }
}

static void m_io_unpark(m_model *M, m_fut *f)
{
    if (f->io_parked) {
        f->io_parked = 0;
        M->iowaiting--;
    }
}

/* The futures parked on end y, in the order they parked. */
static int m_io_parked(m_model *M, int y, int *tk, int *fi)
{
    int n = 0;
    for (int k = 0; k < M->p->ntasks; k++)
        for (int i = 0; i < 2; i++) {
            m_fut *f = &M->t[k].fut[i];
            if ((f->kind != F_IOREAD && f->kind != F_IOWRITE) ||
                !f->io_parked || f->io_end != y)
                continue;
            int j = n++;
            while (j > 0 && M->t[tk[j - 1]].fut[fi[j - 1]].io_seq > f->io_seq) {
                tk[j] = tk[j - 1];
                fi[j] = fi[j - 1];
                j--;
            }
            tk[j] = k;
            fi[j] = i;
        }
    return n;
}

/* A poll of the reactor: the ends on the ready list; of their waiters,
 * those whose direction is ready (a blocked big writer only when its
 * reader's end is closed: -EPIPE) are woken in the order their waits
 * began (weft.h, "Wake order"), whatever the ready list's order. */
static void m_io_harvest(m_model *M)
{
    int rl[M_MAX_ENDS], n = M->nrl;
    int wk[2 * M_MAX_TASKS], wf[2 * M_MAX_TASKS], nw = 0;
    memcpy(rl, M->rl, sizeof rl);
    M->nrl = 0;
    for (int i = 0; i < n; i++)
        M->linked[rl[i]] = 0;
    for (int i = 0; i < n; i++) {
        int y = rl[i], tk[2 * M_MAX_TASKS], fi[2 * M_MAX_TASKS];
        int np = m_io_parked(M, y, tk, fi);
        for (int j = 0; j < np; j++) {
            m_fut *f = &M->t[tk[j]].fut[fi[j]];
            int wake = f->kind == F_IOREAD ? f->io_pump || m_io_rready(M, y)
                                           : M->closed[y ^ 1];
            if (!wake)
                continue;
            /* Insertion by io_seq (a future parks on one end only). */
            int at = nw++;
            while (at > 0 &&
                   M->t[wk[at - 1]].fut[wf[at - 1]].io_seq > f->io_seq) {
                wk[at] = wk[at - 1];
                wf[at] = wf[at - 1];
                at--;
            }
            wk[at] = tk[j];
            wf[at] = fi[j];
        }
    }
    for (int j = 0; j < nw; j++)
        m_wake(M, wk[j], M->t[wk[j]].fut[wf[j]].io_wslot);
}

/* weft_close of end x: its waiters woken with -EBADF (in the order they
 * parked), its registration gone; the peer sees the close. */
static void m_io_close(m_model *M, int x)
{
    int tk[2 * M_MAX_TASKS], fi[2 * M_MAX_TASKS];
    int np = m_io_parked(M, x, tk, fi);
    if (M->pump[x ^ 1] || M->pump_ms[x ^ 1] == M->now + 1)
        M->ambiguous = 1;
    M->closed[x] = 1;
    for (int j = 0; j < np; j++) {
        m_fut *f = &M->t[tk[j]].fut[fi[j]];
        f->io_closed = 1;
        m_io_unpark(M, f);
        m_wake(M, tk[j], f->io_wslot);
    }
    for (int i = 0; i < M->nrl; i++)
        if (M->rl[i] == x) {
            memmove(&M->rl[i], &M->rl[i + 1],
                    (size_t)(M->nrl - i - 1) * sizeof M->rl[0]);
            M->nrl--;
            break;
        }
    M->linked[x] = M->reg[x] = 0;
    m_io_link(M, x ^ 1);
    if (M->cov)
        M->cov->io_closes++;
}

static int m_io_poll_read(m_model *M, int k, int fi, int wslot)
{
    m_task *T = &M->t[k];
    m_fut *f = &T->fut[fi];
    int y = f->io_end, x = y ^ 1;
    f->io_wslot = wslot;
    if (f->io_closed || M->closed[y]) {
        f->status = -EBADF;
        if (f->io_pump)
            M->pump[x] = 0;
        if (M->cov)
            M->cov->io_ebadf++;
    } else if (f->io_pump) {
        f->status = (int)f->io_len;
        M->pump[x] = 0;
    } else if (M->busy[x] || M->wacc[x] > M->r[x]) {
        uint64_t hi = (M->busy[x] ? M->wend[x] : M->wacc[x]) - M->r[x];
        uint64_t cnt = f->io_len < hi ? f->io_len : hi;
        if (f->io_all && M->busy[x]) {
            /* the blocked writer completes as the reader reads everything
             * (a few rounds of the same instant: modelled as one); the
             * read returns when the writer has run */
            m_fut *w = &M->t[M->btask[x]].fut[M->bfut[x]];
            f->io_hash = m_io_hash(M, x, M->r[x], cnt);
            f->io_got = (int)cnt;
            M->r[x] += cnt;
            m_io_seg(M, x, w->io_widx, M->wend[x] - M->wacc[x]);
            M->wacc[x] = M->wend[x];
            M->busy[x] = 0;
            w->io_pump = 1;
            M->pump[x] = 1;
            M->preader[x] = k;
            M->pwriter[x] = M->btask[x];
            M->pump_ms[x] = M->now + 1;
            {
                const m_fut *to = &M->t[M->btask[x]].fut[1];
                if (M->t[M->btask[x]].mode == MODE_RACE &&
                    to->kind == F_SLEEP && !to->relative &&
                    to->deadline <= M->now)
                    M->ambiguous = 1; /* its timeout expires meanwhile */
                if (M->t[M->btask[x]].cancel)
                    M->ambiguous = 1; /* it ends when it runs, not later */
            }
            m_io_unpark(M, w);
            m_wake(M, M->btask[x], w->io_wslot);
            f->io_pump = 1;
            m_io_park(M, f);
            m_io_link(M, y);
            if (M->cov)
                M->cov->io_pumps++;
            return 0;
        }
        if (!f->io_all) {
            const m_ev *e = m_oracle_ev(k, T->pc);
            if (e && e->rc >= 1 && (uint64_t)e->rc <= cnt)
                cnt = (uint64_t)e->rc; /* any prefix */
        }
        f->io_hash = m_io_hash(M, x, M->r[x], cnt);
        f->io_got = (int)cnt;
        M->r[x] += cnt;
        f->status = (int)cnt;
        if (M->cov) {
            M->cov->io_reads_data++;
            M->cov->io_reads_waited += f->io_seq != 0;
            M->cov->io_bytes += (long)cnt;
        }
    } else if (M->shut[x] || M->closed[x]) {
        f->status = 0;
        if (M->cov)
            M->cov->io_reads_eof++;
    } else {
        m_io_park(M, f);
        return 0;
    }
    m_io_unpark(M, f);
    return 1;
}

static int m_io_poll_write(m_model *M, int k, int fi, int wslot)
{
    m_fut *f = &M->t[k].fut[fi];
    int x = f->io_end, y = x ^ 1;
    f->io_wslot = wslot;
    if (f->io_pump) {
        f->status = (int)f->io_len;
    } else if (f->io_closed || M->closed[x]) {
        f->status = -EBADF;
    } else if (M->busy[x] && M->btask[x] == k && M->bfut[x] == fi) {
        if (!M->closed[y])
            return 0; /* blocked */
        /* its bytes are gone with the reader's end, but what was read */
        uint64_t pfx = m_io_unread(M->r[x], M->wacc[x]);
        m_io_seg(M, x, f->io_widx, pfx);
        M->wacc[x] += pfx;
        M->busy[x] = 0;
        M->wend[x] = M->wacc[x];
        f->io_pfx = (int)pfx;
        f->status = -EPIPE;
    } else if (M->shut[x] || M->closed[y]) {
        f->status = -EPIPE;
    } else if (!f->io_big) {
        m_io_seg(M, x, f->io_widx, f->io_len);
        M->wacc[x] += f->io_len;
        M->wend[x] = M->wacc[x];
        m_io_link(M, y);
        f->status = (int)f->io_len;
    } else {
        M->busy[x] = 1;
        M->btask[x] = k;
        M->bfut[x] = fi;
        M->wend[x] = M->wacc[x] + f->io_len;
        m_io_link(M, y);
        m_io_park(M, f);
        if (M->cov)
            M->cov->io_big_writes++;
        return 0;
    }
    if (f->status == -EPIPE && M->cov)
        M->cov->io_epipe++;
    m_io_unpark(M, f);
    return 1;
}

/* A write that ends early (timeout, cancellation): the prefix the kernel
 * took is the real one if it is possible. */
static void m_io_cancel(m_model *M, int k, int fi)
{
    m_fut *f = &M->t[k].fut[fi];
    int x = f->io_end;
    if (f->kind == F_IOWRITE && M->busy[x] && M->btask[x] == k &&
        M->bfut[x] == fi) {
        const m_ev *e = m_oracle_ev(k, M->t[k].pc);
        uint64_t lo = m_io_unread(M->r[x], M->wacc[x]); /* read of it */
        uint64_t pfx = e && e->a3 > 0 ? (uint64_t)e->a3 : 0;
        if (pfx < lo || pfx > f->io_len)
            pfx = lo;
        m_io_seg(M, x, f->io_widx, pfx);
        M->wacc[x] += pfx;
        M->wend[x] = M->wacc[x];
        M->busy[x] = 0;
        f->io_pfx = (int)pfx;
        if (M->cov)
            M->cov->io_partial_writes++;
    }
    if (f->kind == F_IOREAD && f->io_pump)
        M->pump[x ^ 1] = 0;
    m_io_unpark(M, f);
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
        if (ch->multi)
            return m_rx_poll(M, k, fi, wslot);
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
    case F_BLOCK: /* resumes the block: its next's loop turns once */
        if (!m_snext_turn(M, k, f, wslot, 0))
            return 0;
        f->status = 0; /* the block returned */
        return 1;
    case F_ACQ: /* sync_poll */
        f->wslot = wslot;
        if (f->astate == A_IDLE) {
            if (f->n == 0 || (!M->nsemq && M->permits >= f->n)) {
                M->permits -= f->n;
                f->astate = A_DONE;
                f->status = 0;
                return 1;
            }
            f->astate = A_WAITING;
            if (M->cov)
                M->cov->c_acq_waited++;
            if (M->nsemq >= 2 * M_MAX_TASKS) {
                m_fail(M, "model: semaphore queue overflow");
                return 1;
            }
            M->semq[M->nsemq].task = k;
            M->semq[M->nsemq].fut = fi;
            M->nsemq++;
            return 0;
        }
        if (f->astate == A_WAITING)
            return 0;
        f->astate = A_DONE; /* granted */
        f->status = 0;
        return 1;
    case F_GJOIN: /* join_poll */
        if (M->ngdone) {
            int t = M->gdone[0];
            memmove(&M->gdone[0], &M->gdone[1],
                    (size_t)(M->ngdone - 1) * sizeof M->gdone[0]);
            M->ngdone--;
            f->val2 = M->t[t].status;
            f->val = M->t[t].status == 0 ? M->t[t].result : 0;
            f->status = 1;
            if (M->cov) {
                M->cov->c_gjoin_results++;
                M->cov->c_gjoin_cancelled += f->val2 != 0;
            }
        } else if (!M->ngrun) {
            f->status = 0;
        } else {
            M->gjoiner = k;
            M->gjslot = wslot;
            return 0;
        }
        if (M->gjoiner == k)
            M->gjoiner = -1;
        return 1;
    case F_IOREAD:
        return m_io_poll_read(M, k, fi, wslot);
    case F_IOWRITE:
        return m_io_poll_write(M, k, fi, wslot);
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
        if (M->c[f->chan].multi)
            m_rx_withdraw(M, k, fi);
        else
            m_unregister(&M->c[f->chan], k, fi);
        return 0;
    case F_ACQ:
        m_acq_cancel(M, k, fi);
        return 0;
    case F_GJOIN:
        if (M->gjoiner == k)
            M->gjoiner = -1;
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
    case F_BLOCK: /* resumed cancelled: next returns -ECANCELED */
        m_snext_turn(M, k, f, -1, 1);
        return 0; /* and the block returns having seen it */
    case F_IOREAD:
    case F_IOWRITE:
        m_io_cancel(M, k, fi);
        return 0; /* a read took nothing */
    }
    return 0;
}

static void m_fut_cleanup(m_model *M, int k, int fi)
{
    m_fut *f = &M->t[k].fut[fi];
    if (f->kind == F_SLEEP)
        m_timer_cancel(f);
    else if (f->kind == F_RECV && M->c[f->chan].multi)
        m_rx_withdraw(M, k, fi);
    else if (f->kind == F_RECV)
        m_unregister(&M->c[f->chan], k, fi);
    else if (f->kind == F_ACQ &&
             (f->astate == A_WAITING || f->astate == A_GRANTED))
        m_acq_cancel(M, k, fi);
    else if (f->kind == F_GJOIN && M->gjoiner == k)
        M->gjoiner = -1;
    else if (f->kind == F_JOIN && f->target >= 0 &&
             M->t[f->target].join_waiter == k)
        M->t[f->target].join_waiter = -1;
    else if (f->kind == F_IOREAD || f->kind == F_IOWRITE)
        m_io_unpark(M, f);
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
    case MODE_SNEXT:
        return m_snext_turn(M, k, &T->fut[0], -1, T->cancel) ? M_DONE
                                                             : M_SUSPEND;
    default:
        return m_group_step(M, k);
    }
}

/* Starts I/O op o of task k (m_op_start).  The decisions (skip, a read
 * that becomes read_all) are the executor's (m_real_io), from the same
 * counts. */
static int m_io_op_start(m_model *M, int k, const m_op *o)
{
    m_task *T = &M->t[k];
    int x = o->a, w = x ^ 1;
    m_fut *f = &T->fut[0];
    T->iokind = o->kind;
    T->grc = 0;
    switch (o->kind) {
    case OP_IOWRITE:
    case OP_IOWRITE_TO: {
        uint32_t len = o->c ? m_io_big(o->n) : o->n;
        if (!o->c &&
            (M->pump[x] || m_io_unread(M->wacc[x], M->r[x]) + len > M_IO_FIT)) {
            T->grc = M_SKIP;
            if (M->cov)
                M->cov->io_skipped++;
            return M_DONE;
        }
        memset(f, 0, sizeof *f);
        f->kind = F_IOWRITE;
        f->target = -1;
        f->io_end = x;
        f->io_len = len;
        f->io_big = o->c;
        f->io_widx = M->nw[x]++;
        if (o->kind == OP_IOWRITE) {
            T->mode = MODE_LEAF;
            return m_drive(M, k);
        }
        break;
    }
    case OP_IOREAD:
    case OP_IOREAD_TO:
    case OP_IORDALL: {
        int kind = o->kind;
        if (kind != OP_IORDALL && M->busy[w] &&
            M->wend[w] - M->r[w] <= M_IO_CAP + o->n) {
            if (kind == OP_IOREAD_TO) {
                T->grc = M_SKIP;
                return M_DONE;
            }
            kind = OP_IORDALL;
        }
        if (kind == OP_IOREAD_TO && M->busy[w] && o->b == 0) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        T->iokind = kind;
        memset(f, 0, sizeof *f);
        f->kind = F_IOREAD;
        f->target = -1;
        f->io_end = x;
        f->io_len = o->n;
        f->io_hash = M_FNV0;
        if (kind == OP_IORDALL) {
            uint64_t t =
                m_io_unread(M->busy[w] ? M->wend[w] : M->wacc[w], M->r[w]);
            if (!M->closed[x] && t == 0) {
                T->grc = M_SKIP;
                return M_DONE;
            }
            f->io_all = 1;
            f->io_len = (uint32_t)t;
        }
        if (kind != OP_IOREAD_TO) {
            T->mode = MODE_LEAF;
            return m_drive(M, k);
        }
        break;
    }
    case OP_IOSHUT:
        if (M->closed[x]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        M->shut[x] = 1; /* state changes: x, then its peer */
        m_io_link(M, x);
        m_io_link(M, w);
        if (M->cov)
            M->cov->io_shuts++;
        return M_DONE;
    case OP_IOCLOSE:
        if (M->closed[x]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        m_io_close(M, x);
        return M_DONE;
    }
    T->mode = MODE_RACE; /* under weft_timeout */
    m_sleep_fut(&T->fut[1], o->b);
    T->fut[1].target = -1;
    T->woken[0] = T->woken[1] = 1;
    T->gdone[0] = T->gdone[1] = 0;
    T->remaining = 2;
    return m_drive(M, k);
}

/* What an I/O op returns (m_op_finish); ECONNRESET (the kernel's, once,
 * after the peer's close) is taken from the real run for -EPIPE and for
 * end of file. */
static void m_io_op_finish(m_model *M, int k, const m_op *o, int *rc, int *a1,
                           int *a2, int *a3)
{
    m_task *T = &M->t[k];
    m_fut *f0 = &T->fut[0];
    const m_ev *e = m_oracle_ev(k, T->pc);
    int real = e ? e->rc : 0;
    if (*rc == M_SKIP) {
        if (o->kind == OP_IOWRITE || o->kind == OP_IOWRITE_TO)
            *a1 = (int)(o->c ? m_io_big(o->n) : o->n);
        return;
    }
    if (o->kind == OP_IOSHUT || o->kind == OP_IOCLOSE)
        return;
    if (T->mode == MODE_LEAF)
        *rc = f0->status;
    else if (*rc == 0)
        *rc = f0->status;
    else if (*rc == 1)
        *rc = -ETIMEDOUT;
    switch (o->kind) {
    case OP_IOWRITE:
    case OP_IOWRITE_TO:
        *a1 = (int)f0->io_len;
        *a3 = *rc == (int)f0->io_len ? 0 : f0->io_pfx;
        if (*rc == -EPIPE && real == -ECONNRESET) {
            *rc = real;
            if (M->cov)
                M->cov->io_reset_seen++;
        }
        break;
    default:
        if (T->iokind == OP_IORDALL) {
            *a1 = (int)(f0->io_hash & 0x7fffffff);
            *a2 = f0->io_got;
        } else {
            *a1 = *rc > 0 ? (int)(f0->io_hash & 0x7fffffff) : 0;
        }
        if (*rc == 0 && real == -ECONNRESET && M->closed[f0->io_end ^ 1]) {
            *rc = real;
            if (M->cov)
                M->cov->io_reset_seen++;
        }
        if (*rc == -ETIMEDOUT && M->cov)
            M->cov->io_read_timeouts++;
        break;
    }
}

/* A read_all completed a blocked write at this instant (k: -1 any task, or
 * one of its two tasks).  Its rounds interleave with the other tasks of
 * the instant: what k then does to the others (I/O, an abort) or a read
 * under a zero timeout may meet them in another order. */
static int m_io_pump_now(const m_model *M, int k)
{
    for (int x = 0; x < M_MAX_ENDS; x++)
        if (M->pump_ms[x] == M->now + 1 &&
            (k < 0 || M->preader[x] == k || M->pwriter[x] == k))
            return 1;
    return 0;
}

/* Starts op pc of task k: M_DONE when it completed without suspending. */
static int m_op_start(m_model *M, int k, const m_op *o)
{
    m_task *T = &M->t[k];
    m_pstate *ps = &M->ps;
    if (M->p->io &&
        (((o->kind == OP_ABORT || o->kind >= OP_IOWRITE) &&
          m_io_pump_now(M, k)) ||
         (o->kind == OP_IOREAD_TO && o->b == 0 && m_io_pump_now(M, -1))))
        M->ambiguous = 1;
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
        if (M->t[t].queued && M->t[t].state == MT_FRESH &&
            M->handoff_run < M_HANDOFF_MAX) { /* not started: runs next */
            for (int i = 0; i < M->nq; i++)
                if (M->runq[i] == t) {
                    m_runq_remove(M, i);
                    m_runq_insert(M, M->ntseg, t);
                    break;
                }
            M->t[t].handed = 1;
        }
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
    case OP_SNEXT:
    case OP_SNEXT_TO:
    case OP_SRACE_BS:
    case OP_SRACE_SB:
    case OP_SJOIN: {
        if (M->sdropped[o->a] || ps->sbusy[o->a]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        ps->sbusy[o->a] = 1;
        m_fut blk = {
            .kind = F_BLOCK, .chan = o->a, .nrc = M_NORUN, .target = -1};
        if (o->kind == OP_SNEXT) {
            T->mode = MODE_SNEXT;
            blk.kind = F_SNEXT;
            T->fut[0] = blk;
            return m_drive(M, k);
        }
        int bfirst = o->kind != OP_SRACE_SB;
        T->mode = o->kind == OP_SJOIN ? MODE_JOIN : MODE_RACE;
        T->fut[bfirst ? 0 : 1] = blk;
        m_sleep_fut(&T->fut[bfirst ? 1 : 0], o->b);
        T->fut[bfirst ? 1 : 0].target = -1;
        T->woken[0] = T->woken[1] = 1;
        T->gdone[0] = T->gdone[1] = 0;
        T->remaining = 2;
        return m_drive(M, k);
    }
    case OP_SDROP: {
        if (M->sdropped[o->a] || ps->sbusy[o->a]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        M->sdropped[o->a] = 1;
        const m_sdef *d = &M->p->sdef[o->a];
        for (int i = 0; i < d->nnodes; i++)
            if (d->n[i].kind == SN_RECV)
                m_rx_drop(M, &M->c[d->n[i].a]);
        if (M->cov)
            M->cov->s_dropped_in_run++;
        T->grc = 0;
        return M_DONE;
    }
    case OP_RECVH:
    case OP_TIMEOUTH:
    case OP_RACE_SH:
        if (ps->rx_dropped[o->a]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        if (o->kind == OP_RECVH) {
            T->mode = MODE_LEAF;
            m_recv_fut(&T->fut[0], M->p->hchan[o->a]);
            return m_drive(M, k);
        }
        T->mode = MODE_RACE;
        if (o->kind == OP_TIMEOUTH) {
            m_recv_fut(&T->fut[0], M->p->hchan[o->a]);
            m_sleep_fut(&T->fut[1], o->b);
        } else {
            m_sleep_fut(&T->fut[0], o->b);
            m_recv_fut(&T->fut[1], M->p->hchan[o->a]);
        }
        T->woken[0] = T->woken[1] = 1;
        T->gdone[0] = T->gdone[1] = 0;
        T->remaining = 2;
        return m_drive(M, k);
    case OP_TRYRECVH: {
        if (ps->rx_dropped[o->a]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        int v = 0;
        T->grc = m_rx_try(M, &M->c[M->p->hchan[o->a]], &v);
        T->fut[0].val = v;
        return M_DONE;
    }
    case OP_DROPRX: {
        if (ps->rx_dropped[o->a]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        ps->rx_dropped[o->a] = 1;
        m_chan *ch = &M->c[M->p->hchan[o->a]];
        if (--ch->receivers == 0) {
            m_rx_close(M, ch, 1);
            if (M->cov)
                M->cov->c_last_rx_dropped++;
        }
        T->grc = 0;
        return M_DONE;
    }
    case OP_CLOSEH:
        if (ps->rx_dropped[o->a]) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        m_rx_close(M, &M->c[M->p->hchan[o->a]], 0);
        T->grc = 0;
        return M_DONE;
    case OP_ACQ:
        T->mode = MODE_LEAF;
        T->fut[0].kind = F_ACQ;
        T->fut[0].n = o->a;
        return m_drive(M, k);
    case OP_TRYACQ:
        if (o->a == 0 || (!M->nsemq && M->permits >= o->a)) {
            M->permits -= o->a;
            T->grc = 0;
        } else {
            T->grc = -EAGAIN;
        }
        return M_DONE;
    case OP_REL:
        M->permits += o->a;
        m_sem_dispatch(M);
        T->grc = 0;
        return M_DONE;
    case OP_ACQ_TO:
    case OP_RACE_SA: {
        int ai = o->kind == OP_ACQ_TO ? 0 : 1;
        T->mode = MODE_RACE;
        m_sleep_fut(&T->fut[1 - ai], o->b);
        T->fut[1 - ai].target = -1;
        T->fut[ai].kind = F_ACQ;
        T->fut[ai].n = o->a;
        T->woken[0] = T->woken[1] = 1;
        T->gdone[0] = T->gdone[1] = 0;
        T->remaining = 2;
        return m_drive(M, k);
    }
    case OP_GSPAWN: {
        if (ps->gstate != 1) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        m_task *U = &M->t[t];
        U->exists = 1;
        U->state = MT_FRESH;
        M->order[M->norder++] = t;
        M->grun[M->ngrun++] = t;
        M->live++;
        m_task_wake(M, t);
        T->grc = 0;
        return M_DONE;
    }
    case OP_GJOIN:
        if (ps->gstate != 1) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        T->mode = MODE_LEAF;
        T->fut[0].kind = F_GJOIN;
        return m_drive(M, k);
    case OP_GABORT:
    case OP_GDROP:
        if (ps->gstate != 1) {
            T->grc = M_SKIP;
            return M_DONE;
        }
        if (o->kind == OP_GABORT)
            m_group_abort(M);
        else
            m_group_drop(M);
        T->grc = 0;
        return M_DONE;
    case OP_IOWRITE:
    case OP_IOWRITE_TO:
    case OP_IOREAD:
    case OP_IOREAD_TO:
    case OP_IORDALL:
    case OP_IOSHUT:
    case OP_IOCLOSE:
        return m_io_op_start(M, k, o);
    }
    m_fail(M, "model: unknown op");
    return M_DONE;
}

/* The op of task k completed: compute what it returns, log, clean up. */
static void m_op_finish(m_model *M, int k, const m_op *o)
{
    m_task *T = &M->t[k];
    m_pstate *ps = &M->ps;
    int rc = T->grc, a1 = 0, a2 = 0, a3 = 0, kind = o->kind;
    m_fut *f0 = &T->fut[0], *f1 = &T->fut[1];
    switch (o->kind) {
    case OP_IOWRITE:
    case OP_IOWRITE_TO:
    case OP_IOREAD:
    case OP_IOREAD_TO:
    case OP_IORDALL:
    case OP_IOSHUT:
    case OP_IOCLOSE:
        m_io_op_finish(M, k, o, &rc, &a1, &a2, &a3);
        kind = T->iokind;
        break;
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
    case OP_SNEXT:
        if (rc == M_SKIP)
            break;
        ps->sbusy[o->a] = 0;
        rc = f0->nrc;
        a1 = rc == 1 ? f0->val : 0;
        break;
    case OP_SNEXT_TO:
    case OP_SRACE_BS:
    case OP_SRACE_SB:
    case OP_SJOIN: {
        if (rc == M_SKIP)
            break;
        ps->sbusy[o->a] = 0;
        m_fut *b = o->kind == OP_SRACE_SB ? f1 : f0;
        m_fut *sl = o->kind == OP_SRACE_SB ? f0 : f1;
        if (o->kind == OP_SNEXT_TO) {
            if (rc == 0)
                rc = b->status;
            else if (rc == 1)
                rc = -ETIMEDOUT;
        } else if (o->kind == OP_SJOIN) {
            if (rc == 0 && (b->status < 0 || sl->status < 0))
                rc = b->status < 0 ? b->status : sl->status;
            a3 = sl->status;
        }
        a1 = b->nrc;
        a2 = b->nrc == 1 ? b->val : 0;
        if (M->cov && b->nrc == M_NORUN)
            M->cov->s_norun++;
        break;
    }
    case OP_RECVH:
        if (rc == M_SKIP)
            break;
        rc = f0->status;
        a1 = rc == 1 ? f0->val : 0;
        break;
    case OP_TRYRECVH:
        a1 = rc == 1 ? f0->val : 0;
        break;
    case OP_TIMEOUTH:
        if (rc == M_SKIP)
            break;
        if (rc == 0)
            rc = f0->status;
        else if (rc == 1)
            rc = -ETIMEDOUT;
        a1 = rc == 1 ? f0->val : 0;
        break;
    case OP_RACE_SH:
        if (rc >= 0 && rc != M_SKIP) {
            a1 = T->fut[rc].status;
            a2 = rc == 1 && a1 == 1 ? T->fut[rc].val : 0;
        }
        break;
    case OP_ACQ:
        rc = f0->status;
        a2 = M->permits;
        break;
    case OP_TRYACQ:
    case OP_REL:
        a2 = M->permits;
        break;
    case OP_ACQ_TO:
        if (rc == 0)
            rc = f0->status;
        else if (rc == 1)
            rc = -ETIMEDOUT;
        a2 = M->permits;
        break;
    case OP_RACE_SA:
        if (rc >= 0)
            a1 = T->fut[rc].status;
        a2 = M->permits;
        break;
    case OP_GJOIN:
        if (rc == M_SKIP)
            break;
        rc = f0->status;
        a1 = rc == 1 ? f0->val : 0;
        a2 = rc == 1 ? f0->val2 : 0;
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
    m_log(M->tr, k, T->pc, kind, rc, a1, a2, a3, M->now);
}

static void m_die(m_model *M, int k)
{
    m_task *T = &M->t[k];
    const m_prog *p = M->p;
    if (p->coord && k == p->gowner && M->ps.gstate == 1) {
        m_group_drop(M); /* the owner's end drops its group */
        m_log(M->tr, k, M_PC_EPILOGUE, OP_GDROP, 0, 0, 0, 0, M->now);
    }
    for (int h = 0; h < p->nh; h++) { /* weft_try_recv until empty */
        if (p->howner[h] != k || M->ps.rx_dropped[h])
            continue;
        m_chan *ch = &M->c[p->hchan[h]];
        int n = 0, v, rc;
        uint32_t hs = 0;
        while ((rc = m_rx_try(M, ch, &v)) == 1) {
            n++;
            hs = hs * 31u + (uint32_t)v;
        }
        m_log(M->tr, k, M_DRAIN_HANDLE + h, EV_DRAIN, rc, n,
              (int)(hs & 0x7fffffff), 0, M->now);
    }
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
        if (p->coord && k == p->gowner)
            M->ps.gstate = 1; /* it makes its group */
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

/* An external wake source (weft.h, weft_run_with) keeps an idle runtime
 * waiting: a receive registered on a channel whose sender side is shared
 * (created outside any runtime, or created in the first run and used in
 * the second) while it has a sender.  Bounded sends never wait on such a
 * channel (unbounded), and the other channels are created and used by one
 * runtime. */
static int m_external_wait(m_model *M)
{
    for (int c = 0; c < M->p->nchans; c++) {
        m_chan *ch = &M->c[c];
        int shared = M->p->pre[c] || (M->p->carried[c] && M->run > 0);
        if (ch->rx_task >= 0 && shared && ch->senders > 0 && !ch->closed)
            return 1;
    }
    return 0;
}

/* One weft_run of M->p; logs its end.  0, -1 (model error) or -2 (weft
 * would wait forever). */
static int m_model_run(m_model *M)
{
    const m_prog *p = M->p;
    m_cov *cov = M->cov;
    memset(M->t, 0, sizeof M->t);
    memset(M->ps.handle, 0, sizeof M->ps.handle);
    M->nq = M->ny = M->norder = M->ntseg = 0;
    M->handoff_run = M->handing = M->timing = 0;
    M->now = M->seq = 0;
    M->live = M->deadlocked = M->blocked_at_deadlock = 0;
    M->permits = p->sem_permits;
    M->nsemq = M->ngrun = M->ngdone = 0;
    memset(M->nseg, 0, sizeof M->nseg);
    memset(M->nw, 0, sizeof M->nw);
    memset(M->wacc, 0, sizeof M->wacc);
    memset(M->wend, 0, sizeof M->wend);
    memset(M->r, 0, sizeof M->r);
    memset(M->busy, 0, sizeof M->busy);
    memset(M->pump, 0, sizeof M->pump);
    memset(M->pump_ms, 0, sizeof M->pump_ms);
    memset(M->closed, 0, sizeof M->closed);
    memset(M->shut, 0, sizeof M->shut);
    memset(M->reg, 0, sizeof M->reg);
    memset(M->linked, 0, sizeof M->linked);
    M->nrl = M->iowaiting = M->ambiguous = 0;
    M->gjoiner = -1;
    for (int k = 0; k < M_MAX_TASKS; k++) {
        M->t[k].join_waiter = -1;
        M->t[k].pending = -1;
    }
    for (int c = 0; c < p->nchans; c++) {
        if (p->pre[c] || (p->carried[c] && M->run > 0))
            continue; /* lives on */
        memset(&M->c[c], 0, sizeof M->c[c]);
        M->c[c].bound = p->bound[c];
        M->c[c].senders = 1;
        M->c[c].rx_task = -1;
        M->ps.tx_dropped[c] = M->ps.sending[c] = 0;
        M->c[c].multi = p->coord;
        M->c[c].receivers = 1;
        if (p->coord) {
            M->c[c].receivers = 0;
            for (int h = 0; h < p->nh; h++)
                M->c[c].receivers += p->hchan[h] == c;
        }
    }
    if (M->run == 0) /* the root builds them at 0 ms */
        for (int s = 0; s < p->nstreams; s++)
            if (!p->sdef[s].pre)
                m_stream_build(M, s);
    /* the root */
    M->t[0].exists = 1;
    M->t[0].state = MT_FRESH;
    M->order[M->norder++] = 0;
    M->live = 1;
    m_task_wake(M, 0);

    for (int iter = 0; !M->error; iter++) {
        if (iter > 100000) {
            m_fail(M, "model: does not terminate");
            break;
        }
        int n = 0;
        while (M->nq > 0 && n++ < M_BATCH) {
            int k = M->runq[0];
            int timed = M->ntseg > 0; /* a timer woke it */
            m_runq_remove(M, 0);
            M->t[k].queued = 0;
            if (M->t[k].handed)
                M->handoff_run++;
            else if (!timed)
                M->handoff_run = 0; /* a timer's run does not end the row */
            M->t[k].handed = 0;
            m_run_task(M, k);
            if (M->error)
                break;
        }
        /* service(): one expired timer when nothing is queued, all of
         * them after a full batch; then the tasks that yielded */
        if (M->nq > 0 && cov)
            cov->batch_fires++;
        int idle = M->nq == 0 && M->ny == 0;
        int fired = m_timers_fire(M, idle ? 1 : 1 << 30);
        if ((!idle || fired) && M->iowaiting) /* readiness, once a round */
            m_io_harvest(M);
        for (int y = 0; y < M->ny; y++)
            M->runq[M->nq++] = M->yielded[y];
        M->ny = 0;
        if (M->nq > 0)
            continue;
        if (M->live == 0)
            break;
        int tk;
        m_fut *next = m_timer_first(M, &tk);
        if (next) {
            if (M->iowaiting) { /* time jumps only when no fd is ready */
                m_io_harvest(M);
                if (M->nq > 0)
                    continue;
            }
            if (next->deadline > M->now)
                M->now = next->deadline; /* the virtual clock jumps */
            continue;
        }
        if (M->iowaiting) { /* waits in the reactor */
            m_io_harvest(M);
            if (M->nq > 0)
                continue;
            M->hang = 1; /* nothing will ever be ready */
            return -2;
        }
        if (m_external_wait(M)) {
            M->hang = 1;
            return -2;
        }
        if (M->deadlocked) { /* weft aborts the process here */
            m_fail(M, "model: still blocked after the deadlock");
            break;
        }
        M->deadlocked = 1;
        M->blocked_at_deadlock = M->live;
        if (cov)
            cov->deadlocks++;
        m_cancel_all(M);
    }
    if (M->error)
        return -1;
    m_trace *tr = M->tr;
    m_log(tr, -1, -1, EV_RUN, M->deadlocked ? -EDEADLK : 0,
          M->deadlocked ? M_NO_RESULT : m_task_result(0), M->run, 0, 0);
    m_log(tr, -1, -1, EV_REPORT, 0, M->deadlocked, M->blocked_at_deadlock, 0,
          0);
    for (int k = 1; k < p->ntasks; k++)
        m_log(tr, k, -1, EV_SUMMARY, 0, M->t[k].exists, M->t[k].started,
              M->t[k].dropped, 0);
    for (int x = 0; p->io && x < 2 * p->npairs; x++) {
        int left =
            M->closed[x ^ 1] ? -1 : (int)m_io_unread(M->wacc[x], M->r[x]);
        uint32_t h = left > 0 ? m_io_hash(M, x, M->r[x], (uint64_t)left) : 0;
        m_log(tr, -1, x, EV_IOEND, 0, (int)M->r[x], left, (int)(h & 0x7fffffff),
              0);
    }
    return 0;
}

/* Predicts the trace of the nruns runs of a program.  Returns 0, -1 when
 * the model hit a state it does not handle (M.errmsg, printed), or -2 when
 * weft would wait forever for an external wake (the program cannot be
 * checked; nothing is printed). */
M_FN int m_run_model_multi(const m_prog *runs, int nruns, m_trace *tr,
                           m_cov *cov)
{
    static m_model M;
    memset(&M, 0, sizeof M);
    memset(tr, 0, sizeof *tr);
    M.tr = tr;
    M.cov = cov;
    const m_prog *p0 = &runs[0];
    for (int c = 0; c < p0->nchans; c++) { /* created before the runs */
        M.c[c].bound = p0->bound[c];
        M.c[c].senders = 1;
        M.c[c].rx_task = -1;
    }
    M.p = p0;
    for (int s = 0; s < p0->nstreams; s++) {
        M.sdropped[s] = 1; /* until built */
        if (p0->sdef[s].pre)
            m_stream_build(&M, s);
    }
    for (int run = 0; run < nruns; run++) {
        M.p = &runs[run];
        M.run = run;
        int rc = m_model_run(&M);
        if (rc == -2)
            return -2;
        if (rc) {
            fprintf(stderr, "%s\n", M.errmsg);
            return -1;
        }
        /* after the run, outside any runtime: streams dropped between
         * the runs drop their receivers (nobody is left to wake) */
        for (int s = 0; s < M.p->nstreams && run < nruns - 1; s++) {
            const m_sdef *d = &M.p->sdef[s];
            if (!d->drop_between || M.sdropped[s])
                continue;
            M.sdropped[s] = 1;
            for (int i = 0; i < d->nnodes; i++)
                if (d->n[i].kind == SN_RECV)
                    m_rx_drop(&M, &M.c[d->n[i].a]);
            if (cov)
                cov->s_dropped_between++;
        }
    }
    if (cov) {
        cov->runs++;
        cov->events += tr->n;
        if (p0->nstreams)
            cov->sprogs++;
        if (M.ambiguous)
            cov->io_ambiguous++;
        if (nruns > 1)
            cov->multiruns++;
        if (p0->coord)
            cov->cprogs++;
        if (p0->io)
            cov->iprogs++;
    }
    return 0;
}

/* Predicts the trace of p. Returns 0, or -1 when the model hit a state it
 * does not handle (M.errmsg, printed). */
M_FN int m_run_model(const m_prog *p, m_trace *tr, m_cov *cov)
{
    return m_run_model_multi(p, 1, tr, cov);
}

/* ------------------------------------------------------------------------ */
/* The check                                                                */
/* ------------------------------------------------------------------------ */

static void m_cov_add(m_cov *to, const m_cov *from)
{
    long *t = (long *)(void *)to;
    const long *f = (const long *)(const void *)from;
    for (size_t i = 0; i < sizeof *to / sizeof(long); i++)
        t[i] += f[i];
}

/* Runs the nruns runs of a program on the model, then (unless weft would
 * wait forever: counted in cov->hangs, returns 0) on weft, and compares.
 * Returns 0 when they agree; otherwise prints label, the program and both
 * traces from the first difference to out, and returns 1 (or -1 for a
 * setup failure). */
int m_check_multi(const m_prog *runs, int nruns, const char *label, FILE *out,
                  int verbose, m_cov *cov)
{
    static m_trace real, model;
    m_cov one;
    memset(&one, 0, sizeof one);
    int mrc = m_run_model_multi(runs, nruns, &model, &one);
    if (mrc == -2) {
        if (cov)
            cov->hangs++;
        if (verbose)
            fprintf(out,
                    "%s: weft would wait forever (an external wake "
                    "source): not run\n",
                    label);
        return 0;
    }
    if (mrc != 0 || m_run_real_multi(runs, nruns, &real) != 0) {
        fprintf(out, "%s: could not run\n", label);
        for (int r = 0; r < nruns; r++)
            m_prog_print(out, &runs[r]);
        return -1;
    }
    if (cov)
        m_cov_add(cov, &one);
    int d = m_trace_diff(&real, &model);
    if (verbose || d >= 0) {
        if (d >= 0)
            fprintf(out, "\n=== weft disagrees with the model: %s ===\n",
                    label);
        else
            fprintf(out, "\n=== %s ===\n", label);
        fputs("program:\n", out);
        for (int r = 0; r < nruns; r++)
            m_prog_print(out, &runs[r]);
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

/* Runs p on weft and on the model and compares (see m_check_multi). */
int m_check(const m_prog *p, const char *label, FILE *out, int verbose,
            m_cov *cov)
{
    return m_check_multi(p, 1, label, out, verbose, cov);
}

/* Sorts the events of a run (those before EV_RUN) by (instant, task),
 * keeping each task's order: I/O programs are compared task by task within
 * an instant, as the rounds in which a blocked writer and its reader pass
 * the bytes of one instant (their number is the kernel's business) may
 * interleave with the other tasks of that instant. */
static void m_trace_canon(m_trace *tr)
{
    int n = 0;
    while (n < tr->n && tr->ev[n].kind != EV_RUN)
        n++;
    for (int i = 1; i < n; i++) { /* insertion sort: stable */
        m_ev e = tr->ev[i];
        int j = i;
        while (j > 0 &&
               (tr->ev[j - 1].ms > e.ms ||
                (tr->ev[j - 1].ms == e.ms && tr->ev[j - 1].task > e.task))) {
            tr->ev[j] = tr->ev[j - 1];
            j--;
        }
        tr->ev[j] = e;
    }
}

/* An I/O program (mode 6): run on weft first, then on the model, which
 * takes from the real trace what the kernel decides (m_oracle) and checks
 * it; the traces are compared in m_trace_canon order.  As m_check. */
int m_check_io(const m_prog *p, const char *label, FILE *out, int verbose,
               m_cov *cov)
{
    static m_trace real, model;
    m_cov one;
    memset(&one, 0, sizeof one);
    if (m_run_real(p, &real) != 0) {
        fprintf(out, "%s: could not run\n", label);
        m_prog_print(out, p);
        return -1;
    }
    m_oracle = &real;
    int mrc = m_run_model(p, &model, &one);
    m_oracle = NULL;
    if (mrc != 0) {
        fprintf(out, "%s: the model could not run it (%d)\n", label, mrc);
        m_prog_print(out, p);
        return -1;
    }
    if (cov)
        m_cov_add(cov, &one);
    if (one.io_ambiguous) {
        if (verbose)
            fprintf(out,
                    "%s: ambiguous (a task of a read_all completing a "
                    "blocked write cancelled meanwhile): not compared\n",
                    label);
        return 0;
    }
    m_trace_canon(&real);
    m_trace_canon(&model);
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

void m_cov_print(FILE *out, const m_cov *c)
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
    if (c->cprogs)
        fprintf(out,
                "  coordination: %ld programs; receives queued behind "
                "another %ld, woken owed an item %ld (withdrawn so %ld), "
                "finding items kept for woken ones %ld, last handles "
                "dropped %ld; acquires that waited %ld, cancelled waiting "
                "%ld / granted %ld; join_next results %ld (of cancelled "
                "members %ld), members driven "
                "by a group drop %ld\n",
                c->cprogs, c->c_rx_queued, c->c_rx_owed_woken,
                c->c_rx_owed_withdrawn, c->c_rx_kept_from, c->c_last_rx_dropped,
                c->c_acq_waited, c->c_acq_waiting_cancelled,
                c->c_acq_granted_cancelled, c->c_gjoin_results,
                c->c_gjoin_cancelled, c->c_gdrop_driven);
    if (c->iprogs)
        fprintf(out,
                "  I/O: %ld programs; reads with data %ld (after waiting "
                "%ld, %ld bytes), end of file %ld, timed out %ld; big writes "
                "%ld, completed by a read_all %ld, ended early with a "
                "prefix %ld; EPIPE %ld, EBADF %ld, ECONNRESET %ld; closes "
                "%ld, shutdowns %ld, small writes skipped %ld\n",
                c->iprogs, c->io_reads_data, c->io_reads_waited, c->io_bytes,
                c->io_reads_eof, c->io_read_timeouts, c->io_big_writes,
                c->io_pumps, c->io_partial_writes, c->io_epipe, c->io_ebadf,
                c->io_reset_seen, c->io_closes, c->io_shuts, c->io_skipped);
    if (c->io_ambiguous)
        fprintf(out, "  I/O programs not compared (ambiguous): %ld\n",
                c->io_ambiguous);
    if (!c->sprogs && !c->hangs)
        return;
    fprintf(out,
            "  streams: %ld stream programs (%ld of two runs, %ld not run: "
            "weft would wait for an external wake), elements: %ld channel "
            "items, %ld interval ticks, %ld ETIMEDOUT, %ld ends; nexts "
            "cancelled %ld, blocks never run %ld, merge polls pending %ld, "
            "nexts in a second run %ld, streams dropped in a run %ld / "
            "between runs %ld, late ticks of delay / skip intervals %ld / "
            "%ld\n",
            c->sprogs, c->multiruns, c->hangs, c->s_items, c->s_ticks,
            c->s_timeouts, c->s_ends, c->s_cancelled, c->s_norun,
            c->s_merge_pending, c->s_run2_next, c->s_dropped_in_run,
            c->s_dropped_between, c->s_late_ticks[0], c->s_late_ticks[1]);
}
