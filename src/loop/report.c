/*
 * report.c - the deadlock report: every blocked task and what it waits on,
 * in words (obs/'s describer), written to stderr before the loop cancels
 * them.
 */
#include "loop/loop.h"
#include "obs/obs.h"

#include <stdio.h>

/* ---- deadlock ----------------------------------------------------------- */

void weft__report_deadlock(weft__rt *rt)
{
    size_t blocked = 0;
    for (weft__link *l = rt->tasks.next; l != &rt->tasks; l = l->next)
        blocked += weft__container(l, weft_task, all)->co.state != WEFT__DEAD;
    fprintf(stderr,
            "weft: deadlock: %zu task%s blocked, no timer armed and no wake "
            "source outside the runtime; cancelling every task\n",
            blocked, blocked == 1 ? "" : "s");
    for (weft__link *l = rt->tasks.next; l != &rt->tasks; l = l->next) {
        weft_task *t = weft__container(l, weft_task, all);
        if (t->co.state == WEFT__DEAD)
            continue;
        fprintf(stderr, "  task '%s' (id %llu) waits on: ", weft__task_name(t),
                (unsigned long long)t->id);
        weft__describe_co(stderr, rt, &t->co, 1, 0);
    }
    fflush(stderr);
}
