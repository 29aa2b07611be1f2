/* The memory planner on hand-made plans: the placement order that fits a
 * training-like lifetime pattern into its largest live set, and on random
 * plans that no two buffers live at one step share a byte, with the arena
 * never below the largest live set nor above greedy by size. (The golden
 * placement of a compiled graph is in tests/compiler/test_compile_run.c.) */
#include <stdlib.h>
#include <string.h>

#include "plan_memory.h"
#include "test_util.h"

enum { MAX_BUFFERS = 64, MAX_STEPS = 64, MAX_ARGS = 4 };

/* A plan of f32 vectors on the stack: steps by their argument lists. */
typedef struct hand_plan {
    dc_plan p;
    dc_plan_buffer buffers[MAX_BUFFERS];
    dc_plan_step steps[MAX_STEPS];
    int32_t args[MAX_STEPS][MAX_ARGS];
} hand_plan;

static void hand_init(hand_plan *h, int n_buffers, const int64_t *numel)
{
    memset(h, 0, sizeof *h);
    h->p.buffers = h->buffers;
    h->p.n_buffers = n_buffers;
    h->p.steps = h->steps;
    for (int i = 0; i < n_buffers; i++)
        h->buffers[i] = (dc_plan_buffer){.dtype = DC_F32, .rank = 1, .dims = {numel[i]},
                                         .region = DC_REGION_ARENA,
                                         .nbytes = (uint64_t)numel[i] * 4};
}

/* Appends a step reading `in` (n_in of them) and writing `out` (-1: none). */
static void hand_step(hand_plan *h, const int *in, int n_in, int out)
{
    int s = h->p.n_steps++;
    for (int i = 0; i < n_in; i++)
        h->args[s][i] = in[i];
    if (out >= 0)
        h->args[s][n_in] = out;
    h->steps[s] = (dc_plan_step){.kernel = "c.Test", .op_type = "Test", .node = "t",
                                 .n_inputs = n_in, .n_outputs = out >= 0, .args = h->args[s]};
}

/* The steps [first, last] at which each buffer is read or written. */
static void lifetimes(const hand_plan *h, int *first, int *last)
{
    for (int b = 0; b < h->p.n_buffers; b++) {
        first[b] = h->p.n_steps;
        last[b] = -1;
    }
    for (int s = 0; s < h->p.n_steps; s++)
        for (int a = 0; a < h->steps[s].n_inputs + h->steps[s].n_outputs; a++) {
            int b = h->steps[s].args[a];
            first[b] = s < first[b] ? s : first[b];
            last[b] = s > last[b] ? s : last[b];
        }
}

/* No two buffers live at a common step overlap in bytes, all are aligned and
 * inside the arena. */
static bool placement_is_sound(const hand_plan *h)
{
    int first[MAX_BUFFERS], last[MAX_BUFFERS];
    lifetimes(h, first, last);
    const dc_plan_buffer *b = h->buffers;
    for (int i = 0; i < h->p.n_buffers; i++) {
        if (b[i].offset % DC_PLAN_ALIGN || b[i].offset + b[i].nbytes > h->p.region_bytes[0])
            return false;
        for (int j = 0; j < i; j++)
            if (first[i] <= last[j] && first[j] <= last[i] && b[i].offset < b[j].offset + b[j].nbytes &&
                b[j].offset < b[i].offset + b[i].nbytes)
                return false;
    }
    return true;
}

/* Sizes in 64-float units: B 4 [steps 0-2], C 4 [1-3], A 3 [3-4], D 4 [4].
 * Largest first places B, C, then D at 0 (alone at step 4) and A, which
 * meets both, above C: 11 units. By breadth places the crowded step 1's B
 * and C first, then A below C and D above A: 8 units, the live set of step 1. */
static void test_breadth_fits_live_set(void)
{
    enum { A, B, C, D };
    const int64_t numel[4] = {48, 64, 64, 64}; /* 192 and 256 bytes */
    hand_plan h;
    hand_init(&h, 4, numel);
    hand_step(&h, NULL, 0, B);
    hand_step(&h, (int[]){B}, 1, C);
    hand_step(&h, (int[]){B, C}, 2, -1);
    hand_step(&h, (int[]){C}, 1, A);
    hand_step(&h, (int[]){A}, 1, D);
    dc_memory_stats st;
    DC_ASSERT_OK(dc_plan_memory(&h.p, NULL, NULL, &st));
    CU_ASSERT_EQUAL(st.live_bytes, 512);
    CU_ASSERT_EQUAL(st.by_size_bytes, 704);
    CU_ASSERT_EQUAL(st.by_breadth_bytes, 512);
    CU_ASSERT_EQUAL(st.peak_bytes, 512);
    CU_ASSERT_EQUAL(h.p.region_bytes[DC_REGION_ARENA], 512);
    CU_ASSERT_EQUAL(h.buffers[B].offset, 0);
    CU_ASSERT_EQUAL(h.buffers[C].offset, 256);
    CU_ASSERT_EQUAL(h.buffers[A].offset, 0);
    CU_ASSERT_EQUAL(h.buffers[D].offset, 192);
    CU_ASSERT(placement_is_sound(&h));
}

/* Random plans (each step reads up to three earlier buffers and writes a new
 * one of a random size): sound placements between the two bounds. */
static void test_random_plans_sound(void)
{
    unsigned seed = 12345;
    int wins = 0;
    for (int trial = 0; trial < 300; trial++) {
        int n = 8 + (int)(rand_r(&seed) % (MAX_BUFFERS - 8));
        int64_t numel[MAX_BUFFERS];
        for (int i = 0; i < n; i++)
            numel[i] = 1 + (int64_t)(rand_r(&seed) % 4096);
        hand_plan h;
        hand_init(&h, n, numel);
        for (int b = 0; b < n; b++) {
            int in[3], n_in = b ? (int)(rand_r(&seed) % 4) : 0;
            for (int i = 0; i < n_in; i++) /* mostly recent buffers, some old (kept for backward) */
                in[i] = rand_r(&seed) % 3 ? b - 1 - (int)(rand_r(&seed) % (b < 3 ? b : 3))
                                          : (int)(rand_r(&seed) % b);
            hand_step(&h, in, n_in, b);
        }
        dc_memory_stats st;
        DC_ASSERT_OK(dc_plan_memory(&h.p, NULL, NULL, &st));
        CU_ASSERT(placement_is_sound(&h));
        CU_ASSERT(st.peak_bytes >= st.live_bytes);
        CU_ASSERT(st.peak_bytes <= st.by_size_bytes);
        CU_ASSERT(st.peak_bytes == (st.by_size_bytes < st.by_breadth_bytes ? st.by_size_bytes
                                                                           : st.by_breadth_bytes));
        wins += st.by_breadth_bytes < st.by_size_bytes;
    }
    CU_ASSERT(wins > 0); /* the second order is not dead weight on these plans */
}

void register_pass_plan_memory(void)
{
    static const dc_test_case tests[] = {
        {"breadth_fits_live_set", test_breadth_fits_live_set},
        {"random_plans_sound", test_random_plans_sound},
        {NULL, NULL},
    };
    dc_add_suite("pass_plan_memory", tests);
}
