/*
 * chan.h - what channels (chan/chan.c) tell the layers above: a receiver's
 * item size (stream adapters) and whether a wait may end from outside the
 * runtime (the loop's deadlock test).
 */
#ifndef WEFT_CHAN_CHAN_H
#define WEFT_CHAN_CHAN_H

#include "sched/core.h"

#include <stddef.h>

/* The item size of rx's channel, 0 for an invalid receiver. */
size_t weft__receiver_item_size(const weft_receiver *rx);
/* 1 if a send or receive waiting in rt may be completed from outside it. */
int weft__external_waits(weft__rt *rt);

#endif
