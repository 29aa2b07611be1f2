/* Scheduling the all-reduce of the gradients against the backward
 * (ARCHITECTURE.md, one training step, 8): on a lowered plan, before memory
 * planning, each AllReduceStart step moves up to just after the last step
 * that writes one of its inputs, so a bucket's sum over the processes runs
 * while the rest of the backward does, and each AllReduceWait step moves
 * down to just before the first step that reads one of its outputs
 * (clipping, AdamW). Starts keep their order: every process must start its
 * collectives in the same order. Memory planning then keeps each bucket live,
 * in bytes no other buffer shares, from its start to its wait, since the
 * wait reads it. A plan without these steps is left as it is. */
#ifndef DC_SCHEDULE_COLLECTIVES_H
#define DC_SCHEDULE_COLLECTIVES_H

#include <stdint.h>
#include <stdio.h>

#include "dc_plan.h"

/* `alias[b]`: the root buffer that buffer b views, or -1 (dc_lowered.alias);
 * `in_place` (per step, may be NULL) moves with the steps. With `explain`,
 * one line per bucket: where it starts and waits, and why there. */
dc_status dc_schedule_collectives(dc_plan *plan, const int32_t *alias, uint32_t *in_place,
                                  FILE *explain);

#endif
