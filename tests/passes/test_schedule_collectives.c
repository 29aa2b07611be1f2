/* passes/schedule_collectives: the golden step order of a small plan whose
 * all-reduce buckets are built after a chain of steps, as the training step
 * builds them after the backward, and the plan's results through the
 * reference interpreter (a world of one process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "dc_session.h"
#include "pass_test_util.h"
#include "pipeline.h"

static dc_value *named(dc_graph *g, dc_value *v, const char *name)
{
    dc_value *y = dc_node_finish(g, dc_node_begin(g, "Identity", "", &v, 1, 1));
    if (y)
        y->name = dc_arena_strdup(g->arena, name);
    return y;
}

/* The sum of `x` over the processes as one bucket: start, wait, named output. */
static dc_value *all_reduce(dc_graph *g, dc_value *x, const char *name)
{
    dc_node *start = dc_node_begin(g, "AllReduceStart", "ai.dinoc", &x, 1, 1);
    DC_ASSERT_OK(dc_node_set_int(start, g, "world_size", 1));
    dc_value *bucket = dc_node_finish(g, start);
    dc_node *wait = dc_node_begin(g, "AllReduceWait", "ai.dinoc", &bucket, 1, 1);
    DC_ASSERT_OK(dc_node_set_ints(wait, g, "sizes", (int64_t[]){4}, 1));
    dc_node_finish(g, wait);
    return named(g, wait->outputs[0], name);
}

/* g1 is ready after the first step of a chain, g2 after its last; the
 * buckets are built after the whole chain, then an unrelated output, then
 * the step that reads both sums. */
static dc_graph *chain_graph(void)
{
    dc_graph *g = dc_graph_create("chain");
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value *x = dc_input(g, "x", DC_F32, 1, (int64_t[]){4});
    dc_value *g1 = named(g, dc_mul(g, x, dc_scalar_f32(g, 2.0f)), "g1");
    dc_value *h = named(g, dc_unary(g, "Exp", g1), "h");
    h = named(g, dc_unary(g, "Tanh", h), "h2");
    dc_value *g2 = named(g, dc_mul(g, h, h), "g2");
    dc_value *s1 = all_reduce(g, g1, "s1"), *s2 = all_reduce(g, g2, "s2");
    dc_output(g, named(g, dc_unary(g, "Neg", x), "other"));
    dc_output(g, named(g, dc_add(g, s1, s2), "sum"));
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void test_chain_schedule(void)
{
    dc_graph *g = chain_graph();
    char *text = NULL, *explain = NULL;
    size_t len = 0, elen = 0;
    FILE *f = open_memstream(&text, &len), *e = open_memstream(&explain, &elen);
    CU_ASSERT_FATAL(f && e);
    dc_plan *plan = NULL;
    dc_pipeline_options opt = {.no_fuse = true, .print_after = "schedule-collectives",
                               .print_to = f, .explain = e};
    DC_ASSERT_OK(dc_pipeline_compile(g, &opt, &plan));
    fclose(f);
    fclose(e);
    /* g1's bucket starts right after g1 is computed, g2's right after g2;
     * both waits sink past 'other' to just before the sum reads them. */
    const char *want = "# IR after schedule-collectives\n"
                       "step 0 Mul 'Mul_1' dnnl.Mul(x, const_0) -> (t_2)\n"
                       "step 1 AllReduceStart 'AllReduceStart_17' mpi.AllReduceStart(g1) -> (t_18)\n"
                       "step 2 Exp 'Exp_5' dnnl.Exp(g1) -> (t_6)\n"
                       "step 3 Tanh 'Tanh_9' dnnl.Tanh(h) -> (t_10)\n"
                       "step 4 Mul 'Mul_13' dnnl.Mul(h2, h2) -> (t_14)\n"
                       "step 5 AllReduceStart 'AllReduceStart_23' mpi.AllReduceStart(g2) -> (t_24)\n"
                       "step 6 Neg 'Neg_29' dnnl.Neg(x) -> (t_30)\n"
                       "step 7 AllReduceWait 'AllReduceWait_25' mpi.AllReduceWait(t_24) -> (t_26)\n"
                       "step 8 AllReduceWait 'AllReduceWait_19' mpi.AllReduceWait(t_18) -> (t_20)\n"
                       "step 9 Add 'Add_33' dnnl.Add(s1, s2) -> (t_34)\n";
    CU_ASSERT(text && strcmp(text, want) == 0);
    if (!text || strcmp(text, want) != 0)
        fprintf(stderr, "\n---- expected\n%s---- got\n%s----\n", want, text ? text : "(null)");
    const char *first = "schedule-collectives: bucket 'AllReduceStart_17' (1 tensor, 16 bytes) "
                        "starts at step 1, after step 0 'Mul_1' wrote its last input; waits at "
                        "step 8, before step 9 'Add_33' reads the sums\n";
    CU_ASSERT(explain && strstr(explain, first));

    /* The same results as the graph through the interpreter, run after run. */
    dc_tensor *in[1] = {NULL}, *ref[2] = {NULL, NULL};
    CU_ASSERT_EQUAL(random_inputs(g, 7, in, 1), 1);
    DC_ASSERT_OK(run_graph(g, in, 1, ref));
    dc_session *sess = NULL;
    if (plan)
        DC_ASSERT_OK(dc_session_create(plan, 1, &sess));
    if (sess)
        DC_ASSERT_OK(dc_session_set_input(sess, "x", in[0]));
    for (int run = 0; sess && run < 2; run++) {
        DC_ASSERT_OK(dc_session_run(sess));
        for (int k = 0; k < 2; k++) {
            dc_tensor *got = NULL;
            DC_ASSERT_OK(dc_session_get_output(sess, k, &got));
            CU_ASSERT(got && ref[k] && max_rel_diff(got, ref[k]) <= 1e-6);
            dc_tensor_destroy(got);
        }
    }
    dc_session_destroy(sess);
    free_tensors(in, 1);
    free_tensors(ref, 2);
    free(text);
    free(explain);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

void register_pass_schedule_collectives(void)
{
    static const dc_test_case tests[] = {
        {"starts right after the last writer, waits right before the first reader",
         test_chain_schedule},
        {NULL, NULL},
    };
    dc_add_suite("pass_schedule_collectives", tests);
}
