/*
 * sync.h - what sync/sync.c tells the loop: whether a wait may end from
 * outside the runtime (the deadlock test).
 */
#ifndef WEFT_SYNC_SYNC_H
#define WEFT_SYNC_SYNC_H

#include "sched/core.h"

/* 1 if a semaphore, mutex or notify wait in rt may be ended from outside
 * it (the object is shared: see sync.c). */
int weft__sync_external_waits(weft__rt *rt);

#endif
