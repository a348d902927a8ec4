/*
 * observe.c - what weft shows of a running program (README: "Seeing what
 * the tasks do").  A producer sends five readings 100 ms apart to a
 * consumer while a ticker sleeps.  At 250 ms the main task lists every task
 * with weft_dump; then the process sends itself the dump signal, and the
 * same list appears on stderr, written between task runs.  The run writes
 * a timeline, and the runtime's counters end the output.
 *
 *   observe [TRACE.json]      default observe.json; "-" for no timeline
 *
 * Open the timeline at ui.perfetto.dev ("Open trace file"): a track for the
 * runtime's thread, a slice each time a task ran, named after the task,
 * and arrows from the task that woke another to its next run.
 *
 * Exit status 0; 1 if the runtime could not run.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <weft.h>

static void *producer(void *arg)
{
    weft_sender *tx = arg;
    for (int i = 1; i <= 5; i++) {
        if (weft_sleep(WEFT_MS(100)) != 0)
            break; /* cancelled */
        int reading = i * i;
        if (weft_send(tx, &reading) != 0)
            break;
    }
    weft_sender_drop(tx); /* the consumer's loop ends */
    return NULL;
}

static void *consumer(void *arg)
{
    weft_receiver *rx = arg;
    int reading, n = 0;
    while (weft_recv(rx, &reading) > 0)
        printf("consumer: reading %d is %d\n", ++n, reading);
    weft_receiver_drop(rx);
    return NULL;
}

static void *ticker(void *arg)
{
    (void)arg;
    weft_sleep(WEFT_MS(400));
    return NULL;
}

static weft_task *spawn_named(const char *name, weft_fn *fn, void *arg)
{
    weft_spawn_opts o = {.name = name};
    return weft_spawn_with(&o, fn, arg);
}

static void *observe(void *arg)
{
    (void)arg;
    weft_sender *tx;
    weft_receiver *rx;
    if (weft_channel(sizeof(int), &tx, &rx) != 0)
        return (void *)1;
    weft_task *t[3] = {spawn_named("producer", producer, tx),
                       spawn_named("consumer", consumer, rx),
                       spawn_named("ticker", ticker, NULL)};
    if (!t[0] || !t[1] || !t[2])
        return (void *)1; /* the rest is cancelled when this returns */

    weft_sleep(WEFT_MS(250));
    printf("-- weft_dump at 250 ms:\n");
    fflush(stdout);
    weft_dump(stdout);

    /* The dump signal: the handler only wakes the runtime; the list is
     * written to stderr at its next scheduling point (this sleep). */
    raise(SIGUSR1);
    weft_sleep(WEFT_MS(1));

    for (int i = 0; i < 3; i++)
        weft_task_join(t[i], NULL);
    weft_stats s;
    weft_runtime_stats(&s);
    printf("-- counters: %llu tasks spawned, %llu finished, %llu polls, "
           "%llu parks, %llu timers fired\n",
           (unsigned long long)s.tasks_spawned,
           (unsigned long long)s.tasks_finished, (unsigned long long)s.polls,
           (unsigned long long)s.parks, (unsigned long long)s.timers_fired);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *trace = argc > 1 ? argv[1] : "observe.json";
    setenv("WEFT_DUMP_SIGNAL", "USR1", 1);
    weft_config cfg = {.trace_path = strcmp(trace, "-") == 0 ? NULL : trace};
    const char *clock = getenv("WEFT_CLOCK"); /* as weft_run reads it */
    if (clock && strcmp(clock, "virtual") == 0)
        cfg.clock = WEFT_CLOCK_VIRTUAL;
    void *result = NULL;
    if (weft_run_with(&cfg, observe, NULL, &result) != 0 || result)
        return 1;
    if (cfg.trace_path)
        printf("-- timeline written to %s (open it at ui.perfetto.dev)\n",
               cfg.trace_path);
    return 0;
}
