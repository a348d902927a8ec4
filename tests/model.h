/*
 * tests/model.h - what the drivers of the model-based test share with it
 * (tests/model_core.c): the program and coverage types, and the
 * generators, checkers and printers that tests/test_model.c (Criterion,
 * seeds) and tests/fuzz_model.c (libFuzzer) call.  The model itself, its
 * semantics and the executor are described in model_core.c.
 */
#ifndef WEFT_TESTS_MODEL_H
#define WEFT_TESTS_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define M_MAX_TASKS      7
#define M_MAX_CHANS      3 /* of the original generator (m_gen) */
#define M_MAX_CHANS_ALL  6 /* with the channels that feed streams */
#define M_MAX_STREAMS    2
#define M_MAX_SNODES     7
#define M_MAX_RUNS       2
#define M_MAX_RANDOM_OPS 8
#define M_MAX_OPS        (M_MAX_RANDOM_OPS + M_MAX_TASKS)
#define M_MAX_EVENTS     512
#define M_MAX_ITEMS      256
#define M_BATCH          64    /* WEFT__BATCH in src/loop/loop.c */
#define M_HANDOFF_MAX    256   /* WEFT__HANDOFF_MAX in src/sched/core.h */
#define M_SKIP           7777  /* rc of an op the program skipped */
#define M_NO_RESULT      (-1)  /* *result of weft_run left unchanged */
#define M_NORUN          7778  /* a block's next that never ran */
#define M_IVL_TAG        10000 /* logged interval tick = M_IVL_TAG + ms */
#define M_MAX_HANDLES    6     /* receiver handles (coordination programs) */
#define M_PC_EPILOGUE    99    /* pc of the group drop of a task's end */
#define M_DRAIN_HANDLE   100   /* EV_DRAIN pc of handle h: 100 + h */
#define M_MAX_PAIRS      3     /* socketpairs of an I/O program */
#define M_MAX_ENDS       (2 * M_MAX_PAIRS)
#define M_MAX_SEGS       64 /* writes to one end */

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
    /* streams (m_gen_streams only); a = stream (owned) */
    OP_SNEXT,    /* weft_stream_next */
    OP_SNEXT_TO, /* timeout(block{next}, b) */
    OP_SRACE_BS, /* race(block{next}, sleep b) */
    OP_SRACE_SB, /* race(sleep b, block{next}) */
    OP_SJOIN,    /* join_all(block{next}, sleep b) */
    OP_SDROP,    /* weft_stream_drop */
    /* coordination (m_gen_coord only); h = a receiver handle (m_prog.hchan) */
    OP_RECVH,    /* weft_recv through handle a */
    OP_TRYRECVH, /* weft_try_recv through handle a */
    OP_TIMEOUTH, /* timeout(recv through handle a, b) */
    OP_RACE_SH,  /* race(sleep b, recv through handle a) */
    OP_DROPRX,   /* weft_receiver_drop of handle a (any task) */
    OP_CLOSEH,   /* weft_receiver_close through handle a */
    OP_ACQ,      /* weft_semaphore_acquire(a) */
    OP_TRYACQ,   /* weft_semaphore_try_acquire(a) */
    OP_REL,      /* weft_semaphore_release(a) */
    OP_ACQ_TO,   /* timeout(acquire future(a), b) */
    OP_RACE_SA,  /* race(sleep b, acquire future(a)) */
    OP_GSPAWN,   /* weft_group_spawn of task a */
    OP_GJOIN,    /* weft_group_join_next_status */
    OP_GABORT,   /* weft_group_abort_all */
    OP_GDROP,    /* weft_group_drop */
    /* I/O (m_gen_io only); a = an end of a socketpair (m_prog.wtask/rtask),
     * n = bytes, c = 1: a big write (m_io_big(n) bytes), b = timeout ms */
    OP_IOWRITE,    /* weft_write to end a (a is its owner's) */
    OP_IOWRITE_TO, /* timeout(weft_write_future, b) */
    OP_IOREAD,     /* weft_read from end a */
    OP_IOREAD_TO,  /* timeout(weft_read_future, b) */
    OP_IORDALL,    /* weft_read until the bytes sent so far are read */
    OP_IOSHUT,     /* shutdown(end a, SHUT_WR) by its owner */
    OP_IOCLOSE,    /* weft_close(end a) by its owner */
    OP__COUNT
};

typedef struct m_op {
    uint8_t kind, a, b, c;
    uint32_t n; /* I/O ops: bytes */
} m_op;

/* A stream is a small tree of nodes; node 0 is the stream, children have
 * higher indices. */
enum { SN_RECV, SN_IVL, SN_TIMEOUT, SN_TAKE, SN_MERGE };

typedef struct m_snode {
    uint8_t kind;
    uint8_t a;    /* RECV: channel; IVL: period ms; TIMEOUT: ms; TAKE: n */
    uint8_t l, r; /* children (TIMEOUT, TAKE: l; MERGE: l, r) */
} m_snode;

typedef struct m_sdef {
    int nnodes;
    m_snode n[M_MAX_SNODES];
    int pre;          /* built before the first weft_run (no time nodes) */
    int drop_between; /* dropped between the two runs */
} m_sdef;

typedef struct m_prog {
    int ntasks, nchans;
    int bound[M_MAX_CHANS_ALL]; /* 0 = unbounded */
    int owner[M_MAX_CHANS_ALL]; /* the receiving task; -1: feeds a stream */
    /* Streams (all 0 in programs of m_gen).  A program of several runs is
     * an array of m_prog, one per weft_run, with the same channels and
     * streams (nchans, bound, feeds, carried, pre, nstreams, sdef); tasks,
     * ops, owner and sowner are per run. */
    int feeds[M_MAX_CHANS_ALL];   /* stream + 1, or 0 */
    int carried[M_MAX_CHANS_ALL]; /* lives across runs (feeds a stream) */
    int pre[M_MAX_CHANS_ALL];     /* created before the first run */
    int nstreams;
    m_sdef sdef[M_MAX_STREAMS];
    int sowner[M_MAX_STREAMS]; /* the task that uses the stream */
    int shared_streams; /* every task may use every stream (one at a time) */
    int run, nruns;
    int nops[M_MAX_TASKS];
    m_op ops[M_MAX_TASKS][M_MAX_OPS];
    /* Known weft bug (see test_model.c, regression_cancelled_join_handle):
     * when set, a task unwinding from a join that was cancelled while
     * waiting aborts the joined task before detaching it, which weft.h
     * allows (the handle is still the caller's) but weft ignores. */
    int abort_cancelled_join;
    /* Coordination programs (m_gen_coord; all 0 elsewhere).  Channel c's
     * receivers are the handles h with hchan[h] == c (the first is the
     * one weft_channel made, the others weft_receiver_clone of it, made by
     * the root at 0 ms); howner[h] is the only task that receives through
     * h.  One semaphore of sem_permits permits, made by the root.  gowner
     * (-1: none) makes a task group when it starts and drops it when it
     * ends (if no op did); member[k]: task k is spawned into it (by
     * gowner, OP_GSPAWN), so it has no handle. */
    int coord;
    int nh;
    int hchan[M_MAX_HANDLES], howner[M_MAX_HANDLES];
    int sem_permits;
    int gowner;
    int member[M_MAX_TASKS];
    /* I/O programs (m_gen_io, mode 6; all 0 elsewhere): npairs socketpairs,
     * end x = 2 * pair + side, its peer x ^ 1.  wtask[x] writes to end x
     * (the bytes go to x ^ 1), owns it (shutdown, close); rtask[x] reads
     * from it (may be another task: split halves).  rtask[x ^ 1] !=
     * wtask[x]. */
    int io, npairs;
    int wtask[M_MAX_ENDS], rtask[M_MAX_ENDS];
} m_prog;

/* Coverage counters, summed over runs by the caller if it wants. */
typedef struct m_cov {
    long runs, deadlocks, events, batch_fires, dropped, unwinds;
    long ops[OP__COUNT], skipped[OP__COUNT], cancelled[OP__COUNT];
    long send_waited, send_epipe, send_done_then_cancel, recv_closed,
        race_win[2], timeouts, timeout_recv, join_ecanceled, timer_fires;
    /* streams */
    long sprogs, multiruns, hangs, s_items, s_ticks, s_timeouts, s_ends,
        s_cancelled, s_norun, s_merge_pending, s_run2_next, s_dropped_in_run,
        s_dropped_between, s_late_ticks[2];
    /* coordination */
    long cprogs, c_rx_queued, c_rx_owed_woken, c_rx_owed_withdrawn,
        c_rx_kept_from, c_acq_waited, c_acq_granted_cancelled,
        c_acq_waiting_cancelled, c_gjoin_results, c_gjoin_cancelled,
        c_gdrop_driven, c_last_rx_dropped;
    /* I/O */
    long iprogs, io_reads_data, io_reads_waited, io_reads_eof, io_read_timeouts,
        io_big_writes, io_pumps, io_partial_writes, io_epipe, io_ebadf,
        io_closes, io_shuts, io_skipped, io_bytes, io_reset_seen, io_ambiguous;
} m_cov;

/* ---- generators (model_core.c) ----------------------------------------- */

void m_gen_seed(m_prog *p, uint64_t seed);
void m_gen_bytes(m_prog *p, const uint8_t *data, size_t len);
int m_gen_streams_seed(m_prog *runs, uint64_t seed, int mode);
int m_gen_streams_bytes(m_prog *runs, const uint8_t *data, size_t len,
                        int mode);
void m_gen_coord_seed(m_prog *p, uint64_t seed);
void m_gen_coord_bytes(m_prog *p, const uint8_t *data, size_t len);
void m_gen_io_seed(m_prog *p, uint64_t seed);
void m_gen_io_bytes(m_prog *p, const uint8_t *data, size_t len);

/* ---- checks: run on weft, run the model, compare ---------------------- */

int m_check(const m_prog *p, const char *label, FILE *out, int verbose,
            m_cov *cov);
int m_check_multi(const m_prog *runs, int nruns, const char *label, FILE *out,
                  int verbose, m_cov *cov);
int m_check_io(const m_prog *p, const char *label, FILE *out, int verbose,
               m_cov *cov);

/* ---- printing ----------------------------------------------------------- */

void m_cov_print(FILE *out, const m_cov *c);
void m_hex_print(FILE *out, const uint8_t *data, size_t len);
size_t m_hex_decode(const char *hex, uint8_t *buf, size_t cap);

#endif
