/* Moving the AllReduceStart steps up and the AllReduceWait steps down
 * (schedule_collectives.h). Dependencies are found through buffers: steps
 * touch the bytes of a buffer's root (a view is its root's bytes), and no
 * offsets are placed yet, so two roots never share bytes here. */
#include "schedule_collectives.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct scheduler {
    dc_plan *p;
    const int32_t *alias;
    uint32_t *in_place;
    int *mark; /* per root buffer: the stamp it was last marked with (0: never) */
    int stamp;
} scheduler;

static int root_of(const scheduler *S, int b)
{
    return S->alias && S->alias[b] >= 0 ? S->alias[b] : b;
}

/* Marks the roots of step s's inputs (outputs) with a new stamp; returns it. */
static int mark_args(scheduler *S, int s, bool outputs)
{
    const dc_plan_step *st = &S->p->steps[s];
    int first = outputs ? st->n_inputs : 0, end = outputs ? st->n_inputs + st->n_outputs : st->n_inputs;
    S->stamp++;
    for (int a = first; a < end; a++)
        if (st->args[a] >= 0)
            S->mark[root_of(S, st->args[a])] = S->stamp;
    return S->stamp;
}

/* Whether step i writes a root marked `written` or touches one marked `touched`. */
static bool conflicts(const scheduler *S, int i, int written, int touched)
{
    const dc_plan_step *st = &S->p->steps[i];
    for (int a = 0; a < st->n_inputs + st->n_outputs; a++) {
        if (st->args[a] < 0)
            continue;
        int m = S->mark[root_of(S, st->args[a])];
        if (m == touched || (a >= st->n_inputs && m == written))
            return true;
    }
    return false;
}

/* Step `from` to position `to`, the steps between shifted by one. */
static void move_step(scheduler *S, int from, int to)
{
    dc_plan_step *steps = S->p->steps;
    dc_plan_step st = steps[from];
    uint32_t bits = S->in_place ? S->in_place[from] : 0;
    int lo = from < to ? from : to, n = abs(to - from);
    memmove(&steps[lo + (from > to)], &steps[lo + (from < to)], (size_t)n * sizeof *steps);
    if (S->in_place)
        memmove(&S->in_place[lo + (from > to)], &S->in_place[lo + (from < to)],
                (size_t)n * sizeof *S->in_place);
    steps[to] = st;
    if (S->in_place)
        S->in_place[to] = bits;
}

static bool is_op(const dc_plan_step *st, const char *op)
{
    return strcmp(st->op_type, op) == 0;
}

/* The last step before s that writes one of s's inputs (-1: none). */
static int last_writer(scheduler *S, int s)
{
    int inputs = mark_args(S, s, false);
    for (int i = s - 1; i >= 0; i--)
        if (conflicts(S, i, inputs, -1))
            return i;
    return -1;
}

/* The first step after s that touches one of its inputs or outputs (n_steps: none). */
static int first_user(scheduler *S, int s)
{
    mark_args(S, s, false);
    const dc_plan_step *st = &S->p->steps[s];
    for (int a = st->n_inputs; a < st->n_inputs + st->n_outputs; a++) /* the same stamp */
        if (st->args[a] >= 0)
            S->mark[root_of(S, st->args[a])] = S->stamp;
    for (int i = s + 1; i < S->p->n_steps; i++)
        if (conflicts(S, i, -1, S->stamp))
            return i;
    return S->p->n_steps;
}

/* Each start just after the last step it depends on, and after the previous
 * collective (start, blocking AllReduce or AllGather), whose order every
 * process keeps. */
static void hoist_starts(scheduler *S)
{
    int previous = -1;
    for (int s = 0; s < S->p->n_steps; s++) {
        const dc_plan_step *st = &S->p->steps[s];
        if (is_op(st, "AllReduce") || is_op(st, "AllGather"))
            previous = s;
        if (!is_op(st, "AllReduceStart"))
            continue;
        int inputs = mark_args(S, s, false), outputs = mark_args(S, s, true);
        int to = s;
        while (to - 1 > previous && !conflicts(S, to - 1, inputs, outputs))
            to--;
        move_step(S, s, to);
        previous = to;
    }
}

/* Each wait just before the first step that reads what it writes. */
static void sink_waits(scheduler *S)
{
    for (int w = S->p->n_steps - 1; w >= 0; w--)
        if (is_op(&S->p->steps[w], "AllReduceWait"))
            move_step(S, w, first_user(S, w) - 1);
}

static void explain_buckets(scheduler *S, FILE *out)
{
    const dc_plan *p = S->p;
    for (int s = 0; s < p->n_steps; s++) {
        const dc_plan_step *st = &p->steps[s];
        if (!is_op(st, "AllReduceStart") || st->n_outputs != 1 || st->args[st->n_inputs] < 0)
            continue;
        int bucket = root_of(S, st->args[st->n_inputs]), wait = -1;
        for (int w = s + 1; w < p->n_steps && wait < 0; w++)
            if (is_op(&p->steps[w], "AllReduceWait") && p->steps[w].n_inputs == 1 &&
                p->steps[w].args[0] >= 0 && root_of(S, p->steps[w].args[0]) == bucket)
                wait = w;
        int writer = last_writer(S, s);
        fprintf(out, "schedule-collectives: bucket '%s' (%d tensor%s, %llu bytes) starts at step %d",
                st->node, st->n_inputs, st->n_inputs == 1 ? "" : "s",
                (unsigned long long)p->buffers[bucket].nbytes, s);
        if (writer >= 0)
            fprintf(out, ", after step %d '%s' wrote its last input", writer, p->steps[writer].node);
        if (wait >= 0) {
            int reader = first_user(S, wait);
            fprintf(out, "; waits at step %d", wait);
            if (reader < p->n_steps)
                fprintf(out, ", before step %d '%s' reads the sums", reader, p->steps[reader].node);
        }
        fprintf(out, "\n");
    }
}

dc_status dc_schedule_collectives(dc_plan *plan, const int32_t *alias, uint32_t *in_place,
                                  FILE *explain)
{
    scheduler S = {.p = plan, .alias = alias, .in_place = in_place,
                   .mark = calloc(plan->n_buffers ? (size_t)plan->n_buffers : 1, sizeof(int))};
    if (!S.mark)
        return dc_error(DC_ERR_NOMEM, "scheduling the collectives of %d steps", plan->n_steps);
    hoist_starts(&S);
    sink_waits(&S);
    if (explain)
        explain_buckets(&S, explain);
    free(S.mark);
    return DC_OK;
}
