/*
 * trace.c - the timeline (WEFT_TRACE, weft_config.trace_path) and the
 * slow-poll warning (WEFT_WARN_SLOW_MS).
 *
 * The timeline is Chrome's trace-event JSON ({"traceEvents":[...]}), which
 * Perfetto and chrome://tracing open: one track (tid) per runtime thread
 * and per blocking-pool thread; a complete event ("ph":"X") for each time a
 * task ran without suspending, named after the task; a flow arrow ("s" in
 * the waker's slice, "f" at the start of the woken task's next slice); an
 * instant event for timer firings and I/O readiness; a counter of runnable
 * and parked tasks, at most once per millisecond.
 *
 * Events are formatted by hand into a buffer (no printf on the hot path)
 * and written when it fills and when weft_run returns; the closing "]}" is
 * written at the end, deadlock or not, so the file is valid JSON whenever
 * weft_run has returned.  Blocking-pool threads format their slices into a
 * second buffer under obs->lock; the runtime thread moves them into the
 * file when it writes, and a pool thread that finds that buffer full
 * writes it itself (none is dropped).  Task names are at most 96 bytes
 * with no control characters (weft__name_copy), so an event fits in
 * TRACE_SLACK even with every character escaped.
 *
 * Each weft_run writes the path given (a later run replaces an earlier
 * run's file), except while another runtime of the process is writing a
 * trace: then it writes path.TID (its thread id), so that runtimes on
 * several threads never write one file.
 */
#include "obs/obs.h"
#include "util/alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TRACE_BUF        ((size_t)64 * 1024)
#define TRACE_SLACK      ((size_t)1024) /* room kept for one event */
#define COUNTER_EVERY_NS 1000000u

static unsigned traces_open; /* atomic: runtimes writing a trace now */

/* ---- formatting --------------------------------------------------------- */

typedef struct out {
    char *p;   /* the buffer */
    size_t *n; /* its length */
} out;

static void put(out o, const char *s, size_t n)
{
    memcpy(o.p + *o.n, s, n);
    *o.n += n;
}
#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static const char digits2[] =
    "00010203040506070809101112131415161718192021222324"
    "25262728293031323334353637383940414243444546474849"
    "50515253545556575859606162636465666768697071727374"
    "75767778798081828384858687888990919293949596979899";

/* Decimal digits, written in place, two at a time (the hot path of every
 * event: ts, dur, id). */
static void put_u64(out o, uint64_t v)
{
    int len = 1;
    for (uint64_t x = v; x >= 10; x /= 10)
        len++;
    char *p = o.p + *o.n + len;
    *o.n += (size_t)len;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = digits2[d + 1];
        *--p = digits2[d];
    }
    if (v >= 10) {
        *--p = digits2[v * 2 + 1];
        *--p = digits2[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
}

/* ns as microseconds with three decimals, the format's unit. */
static void put_us(out o, uint64_t ns)
{
    put_u64(o, ns / 1000);
    char frac[4] = {'.', (char)('0' + ns / 100 % 10),
                    (char)('0' + ns / 10 % 10), (char)('0' + ns % 10)};
    put(o, frac, sizeof frac);
}

/* A JSON string's contents, escaped: at most WEFT__NAME_MAX bytes of s,
 * cut at a UTF-8 character boundary (names are cut so when copied:
 * weft__name_copy), so the output stays valid JSON and within
 * TRACE_SLACK (6 bytes per control character at most). */
static void put_json(out o, const char *s)
{
    size_t n = 0;
    int plain = 1; /* the common case: nothing to escape, one copy */
    for (; n < WEFT__NAME_MAX && s[n]; n++)
        if (s[n] == '"' || s[n] == '\\' || (unsigned char)s[n] < 0x20)
            plain = 0;
    while (s[n] && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--; /* s[n] continues a character: cut before that character */
    if (plain) {
        put(o, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(o, e, 2);
        } else if (c < 0x20) {
            char e[6] = {'\\',
                         'u',
                         '0',
                         '0',
                         "0123456789abcdef"[c >> 4],
                         "0123456789abcdef"[c & 15]};
            put(o, e, 6);
        } else {
            put(o, (const char *)&c, 1);
        }
    }
}

/* ---- the file ----------------------------------------------------------- */

static void flush(struct weft__obs *ob)
{
    if (ob->len)
        fwrite(ob->buf, 1, ob->len, ob->trace);
    ob->len = 0;
    pthread_mutex_lock(&ob->lock);
    if (ob->jlen)
        fwrite(ob->jbuf, 1, ob->jlen, ob->trace);
    ob->jlen = 0;
    pthread_mutex_unlock(&ob->lock);
}

static void make_prefix(struct weft__obs *ob)
{
    out o = {ob->prefix, &ob->prefix_len};
    PUTS(o, ",\n{\"ph\":\"?\",\"pid\":");
    put_u64(o, ob->pid);
    PUTS(o, ",\"tid\":");
    put_u64(o, (uint64_t)ob->tid);
    PUTS(o, ",\"ts\":");
}

/* Starts an event on the runtime thread's track: the separator and the
 * fields every event has, from a prefix formatted once (",\n{"ph":"?",
 * "pid":P,"tid":T,"ts":) with the phase patched in. */
static out begin(struct weft__obs *ob, char ph, uint64_t ns)
{
    if (ob->len + TRACE_SLACK > ob->cap)
        flush(ob);
    out o = {ob->buf, &ob->len};
    size_t at = ob->len;
    put(o, ob->prefix, ob->prefix_len);
    ob->buf[at + 9] = ph; /* ",\n{\"ph\":\"" is 9 bytes */
    put_us(o, ns > ob->t0 ? ns - ob->t0 : 0);
    return o;
}

static void task_name(out o, const weft_task *t)
{
    if (t->co.name) {
        put_json(o, t->co.name);
    } else {
        PUTS(o, "task ");
        put_u64(o, t->id);
    }
}

/* base, or base.TID while another runtime of the process writes a trace. */
static char *trace_path(const char *base, int others, int tid)
{
    size_t n = strlen(base) + 16;
    char *p = weft__malloc(n);
    if (!p)
        return NULL;
    if (!others)
        snprintf(p, n, "%s", base);
    else
        snprintf(p, n, "%s.%d", base, tid);
    return p;
}

static int open_trace(struct weft__obs *ob, const char *base)
{
    int others = __atomic_fetch_add(&traces_open, 1, __ATOMIC_SEQ_CST) > 0;
    ob->counted = 1;
    char *path = trace_path(base, others, ob->tid);
    if (!path)
        return -ENOMEM;
    ob->trace = fopen(path, "we");
    int rc = ob->trace ? 0 : -errno;
    if (rc)
        fprintf(stderr, "weft: cannot write the trace to %s: %s\n", path,
                weft_strerror(rc));
    weft__free(path);
    if (rc)
        return rc;
    make_prefix(ob);
    ob->cap = TRACE_BUF;
    ob->buf = weft__malloc(ob->cap);
    ob->jcap = TRACE_BUF / 4;
    ob->jbuf = weft__malloc(ob->jcap);
    if (!ob->buf || !ob->jbuf) {
        fclose(ob->trace);
        ob->trace = NULL;
        return -ENOMEM;
    }
    /* The header: the metadata naming the process and this thread's track
     * stand first, so the array never begins with a separator. */
    out o = {ob->buf, &ob->len};
    PUTS(o, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
            "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":");
    put_u64(o, ob->pid);
    PUTS(o, ",\"args\":{\"name\":\"weft\"}}");
    o = begin(ob, 'M', ob->t0);
    PUTS(o, ",\"name\":\"thread_name\",\"args\":{\"name\":\"weft runtime\"}}");
    /* Into the file now: a pool thread may write its events before the
     * runtime thread next writes its buffer. */
    fwrite(ob->buf, 1, ob->len, ob->trace);
    ob->len = 0;
    return 0;
}

static void obs_switch(weft__rt *rt, const weft__co *from, const weft__co *to);
static void obs_wake(weft__rt *rt, weft_task *t);
static void obs_job(weft__rt *rt, const weft_task *t, uint64_t start_ns,
                    uint64_t end_ns);

int weft__trace_start(weft__rt *rt)
{
    const char *path = rt->cfg.trace_path;
    if (!path || !*path)
        path = getenv("WEFT_TRACE");
    const char *slow = getenv("WEFT_WARN_SLOW_MS");
    uint64_t slow_ns = 0;
    if (slow && *slow) {
        char *end;
        errno = 0;
        unsigned long long ms = strtoull(slow, &end, 10);
        /* strtoull takes "-5" as a huge number: digits only, and no more
         * milliseconds than 64 bits of nanoseconds hold. */
        if (*slow < '0' || *slow > '9' || *end || errno == ERANGE || ms == 0 ||
            ms > UINT64_MAX / 1000000u)
            fprintf(stderr,
                    "weft: WEFT_WARN_SLOW_MS=%s ignored: give a number of "
                    "milliseconds above 0\n",
                    slow);
        else
            slow_ns = ms * 1000000u;
    }
    if ((!path || !*path) && !slow_ns)
        return 0;
    struct weft__obs *ob = weft__calloc(1, sizeof *ob);
    if (!ob)
        return -ENOMEM;
    pthread_mutex_init(&ob->lock, NULL);
    ob->t0 = weft__clock_mono();
    ob->tid = (int)syscall(SYS_gettid);
    ob->pid = (uint64_t)getpid();
    ob->slow_ns = slow_ns;
    if (path && *path) {
        int rc = open_trace(ob, path);
        if (rc && !slow_ns) {
            if (ob->counted)
                __atomic_sub_fetch(&traces_open, 1, __ATOMIC_SEQ_CST);
            weft__free(ob->buf);
            weft__free(ob->jbuf);
            pthread_mutex_destroy(&ob->lock);
            weft__free(ob);
            return rc == -ENOMEM ? rc : 0; /* reported: run untraced */
        }
    }
    rt->obs.state = ob;
    /* The core's hooks (sched/core.h): every switch, for slices and the
     * slow-poll warning; wakes and blocking jobs only for a timeline. */
    rt->hooks.on_switch = obs_switch;
    if (ob->trace) {
        rt->hooks.on_wake = obs_wake;
        rt->hooks.on_job = obs_job;
    }
    return 0;
}

/* Closes the open slice (the task that stops running at `now`). */
static void close_slice(weft__rt *rt, struct weft__obs *ob, uint64_t now)
{
    weft_task *t = ob->running;
    ob->running = NULL;
    uint64_t dur = now - ob->run_start;
    if (dur > rt->stats.longest_run_ns)
        rt->stats.longest_run_ns = dur;
    if (ob->slow_ns && dur >= ob->slow_ns && !t->slow_warned) {
        t->slow_warned = 1;
        char d[32];
        weft__fmt_ns(d, sizeof d, dur);
        fprintf(stderr,
                "weft: task %" PRIu64 " '%s' ran %s without suspending "
                "(WEFT_WARN_SLOW_MS); a long loop needs a weft_yield()\n",
                t->id, weft__task_name(t), d);
    }
    if (!ob->trace)
        return;
    out o = begin(ob, 'X', ob->run_start);
    PUTS(o, ",\"dur\":");
    put_us(o, dur);
    PUTS(o, ",\"name\":\"");
    task_name(o, t);
    PUTS(o, "\",\"args\":{\"id\":");
    put_u64(o, t->id);
    PUTS(o, "}}");
}

/* rt->hooks.on_switch: a switch from `from` to `to` on rt's thread, while
 * rt->obs.state is set.  Closes the slice of the task that stops running, opens
 * the next, warns of a slow poll. */
static __attribute__((cold)) void obs_switch(weft__rt *rt, const weft__co *from,
                                             const weft__co *to)
{
    struct weft__obs *ob = rt->obs.state;
    weft_task *next = to->task;
    if (from->task == next && ob->running == next)
        return; /* into or out of an async block of the same task */
    uint64_t now = weft__clock_mono();
    if (ob->running)
        close_slice(rt, ob, now);
    if (!next)
        return;
    ob->running = next;
    ob->run_start = now;
    if (next->flow_pending && ob->trace) {
        next->flow_pending = 0;
        out o = begin(ob, 'f', now);
        PUTS(o, ",\"bp\":\"e\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":");
        put_u64(o, next->id);
        PUTS(o, "}");
    }
}

/* rt->hooks.on_wake: task t was woken (flow arrow source, when the
 * running task woke it). */
static __attribute__((cold)) void obs_wake(weft__rt *rt, weft_task *t)
{
    struct weft__obs *ob = rt->obs.state;
    if (!ob->trace || !ob->running || ob->running == t)
        return; /* woken by the scheduler (timers, I/O), or by itself */
    t->flow_pending = 1;
    out o = begin(ob, 's', weft__clock_mono());
    PUTS(o, ",\"cat\":\"wake\",\"name\":\"wake\",\"id\":");
    put_u64(o, t->id);
    PUTS(o, "}");
}

void weft__obs_instant(weft__rt *rt, const char *name, long arg)
{
    struct weft__obs *ob = rt->obs.state;
    if (!ob->trace)
        return;
    out o = begin(ob, 'i', weft__clock_mono());
    PUTS(o, ",\"s\":\"t\",\"name\":\"");
    put(o, name, strlen(name));
    PUTS(o, "\",\"args\":{\"count\":");
    put_u64(o, (uint64_t)arg);
    PUTS(o, "}}");
}

/* rt->hooks.on_job: blocking job t ran on this pool thread from start_ns
 * to end_ns (CLOCK_MONOTONIC): a slice on that thread's track.  [any
 * thread] */
static void obs_job(weft__rt *rt, const weft_task *t, uint64_t start_ns,
                    uint64_t end_ns)
{
    struct weft__obs *ob = rt->obs.state;
    if (!ob || !ob->trace)
        return;
    int tid = (int)syscall(SYS_gettid);
    pthread_mutex_lock(&ob->lock);
    /* Full: written out from this thread (stdio locks the FILE; events
     * go whole, so the runtime thread's own writes interleave cleanly). */
    if (ob->jlen + 2 * TRACE_SLACK > ob->jcap) {
        fwrite(ob->jbuf, 1, ob->jlen, ob->trace);
        ob->jlen = 0;
    }
    out o = {ob->jbuf, &ob->jlen};
    size_t k = 0;
    while (k < ob->nnamed && ob->named[k] != tid)
        k++;
    if (k == ob->nnamed) { /* the track's name, once per pool thread */
        if (ob->nnamed < sizeof ob->named / sizeof ob->named[0])
            ob->named[ob->nnamed++] = tid; /* beyond: named again, harmless */
        PUTS(o, ",\n{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":");
        put_u64(o, ob->pid);
        PUTS(o, ",\"tid\":");
        put_u64(o, (uint64_t)tid);
        PUTS(o, ",\"args\":{\"name\":\"weft blocking pool\"}}");
    }
    PUTS(o, ",\n{\"ph\":\"X\",\"pid\":");
    put_u64(o, ob->pid);
    PUTS(o, ",\"tid\":");
    put_u64(o, (uint64_t)tid);
    PUTS(o, ",\"ts\":");
    put_us(o, start_ns > ob->t0 ? start_ns - ob->t0 : 0);
    PUTS(o, ",\"dur\":");
    put_us(o, end_ns - start_ns);
    PUTS(o, ",\"cat\":\"blocking\",\"name\":\"");
    task_name(o, t);
    PUTS(o, "\",\"args\":{\"id\":");
    put_u64(o, t->id);
    PUTS(o, "}}");
    pthread_mutex_unlock(&ob->lock);
}

void weft__trace_round(weft__rt *rt)
{
    struct weft__obs *ob = rt->obs.state;
    if (!ob->trace)
        return;
    uint64_t now = weft__clock_mono();
    if (now - ob->last_counts < COUNTER_EVERY_NS)
        return;
    ob->last_counts = now;
    size_t runnable = 0;
    for (weft__link *l = rt->runq.next; l != &rt->runq; l = l->next)
        runnable++;
    out o = begin(ob, 'C', now);
    PUTS(o, ",\"name\":\"tasks\",\"args\":{\"runnable\":");
    put_u64(o, runnable);
    PUTS(o, ",\"parked\":");
    put_u64(o, rt->live > runnable ? rt->live - runnable : 0);
    PUTS(o, "}}");
}

void weft__obs_stop(weft__rt *rt)
{
    struct weft__obs *ob = rt->obs.state;
    rt->hooks = (weft__hooks){0}; /* the core calls obs/ no more */
    if (!ob)
        return;
    rt->obs.state = NULL;
    if (ob->trace) {
        flush(ob);
        fputs("\n]}\n", ob->trace);
        if (fclose(ob->trace) != 0)
            fprintf(stderr, "weft: the trace could not be written: %s\n",
                    weft_strerror(-errno));
    }
    if (ob->counted)
        __atomic_sub_fetch(&traces_open, 1, __ATOMIC_SEQ_CST);
    weft__free(ob->buf);
    weft__free(ob->jbuf);
    pthread_mutex_destroy(&ob->lock);
    weft__free(ob);
}
