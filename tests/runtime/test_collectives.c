/* The collective ops of data-parallel training in a world of one process
 * (the test binary is not started by mpirun): AllReduce and AllGather
 * through the reference interpreter and through a compiled plan, and a plan
 * made for another world refused by the session. tools_mpi runs them on two
 * processes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "builder.h"
#include "dc_session.h"
#include "dc_world.h"
#include "interpret.h"
#include "pipeline.h"
#include "test_util.h"

/* x [2, 3], y [4]: AllReduce(x, y) with `scale`, then AllGather of both, all
 * owned by rank 0; the graph made for `world` processes. */
static dc_graph *collective_graph(float scale, int world)
{
    dc_graph *g = dc_graph_create("collectives");
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value *in[2] = {dc_input(g, "x", DC_F32, 2, (int64_t[]){2, 3}),
                       dc_input(g, "y", DC_F32, 1, (int64_t[]){4})};
    dc_node *reduce = dc_node_begin(g, "AllReduce", "ai.dinoc", in, 2, 2);
    DC_ASSERT_OK(dc_node_set_float(reduce, g, "scale", scale));
    DC_ASSERT_OK(dc_node_set_int(reduce, g, "world_size", world));
    dc_node_finish(g, reduce);
    dc_node *gather = dc_node_begin(g, "AllGather", "ai.dinoc", reduce->outputs, 2, 2);
    DC_ASSERT_OK(dc_node_set_ints(gather, g, "owners", (int64_t[]){0, 0}, 2));
    DC_ASSERT_OK(dc_node_set_int(gather, g, "world_size", world));
    dc_node_finish(g, gather);
    dc_output(g, gather->outputs[0]);
    dc_output(g, gather->outputs[1]);
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

static void fill(dc_tensor *t, float base)
{
    float *d = t->data;
    for (uint64_t i = 0; i < dc_tensor_numel(t); i++)
        d[i] = base + 0.5f * (float)i;
}

static void test_one_process(void)
{
    CU_ASSERT_EQUAL(dc_world_size(), 1);
    dc_graph *g = collective_graph(0.25f, 1);
    dc_tensor *in[2], *ref[2] = {NULL, NULL};
    DC_ASSERT_OK(dc_tensor_create(&in[0], "x", DC_F32, 2, (int64_t[]){2, 3}));
    DC_ASSERT_OK(dc_tensor_create(&in[1], "y", DC_F32, 1, (int64_t[]){4}));
    fill(in[0], -1.0f);
    fill(in[1], 3.0f);
    DC_ASSERT_OK(dc_interpret(g, in, 2, ref));
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_session *sess = NULL;
    if (plan)
        DC_ASSERT_OK(dc_session_create(plan, 1, &sess));
    bool mpi_kernels = plan != NULL;
    for (int i = 0; plan && i < plan->n_steps; i++)
        if (!strcmp(plan->steps[i].op_type, "AllReduce") || !strcmp(plan->steps[i].op_type, "AllGather"))
            mpi_kernels &= strncmp(plan->steps[i].kernel, "mpi.", 4) == 0;
    CU_ASSERT(mpi_kernels);
    for (int k = 0; sess && k < 2; k++) {
        DC_ASSERT_OK(dc_session_set_input(sess, k ? "y" : "x", in[k]));
    }
    if (sess)
        DC_ASSERT_OK(dc_session_run(sess));
    for (int k = 0; sess && ref[0] && k < 2; k++) {
        dc_tensor *got = NULL;
        DC_ASSERT_OK(dc_session_get_output(sess, k, &got));
        const float *x = in[k]->data, *r = ref[k]->data, *y = got ? got->data : NULL;
        int ok = got != NULL;
        for (uint64_t i = 0; ok && i < dc_tensor_numel(in[k]); i++)
            ok = fabsf(r[i] - 0.25f * x[i]) <= 1e-7f && y[i] == r[i]; /* one process: the scale */
        CU_ASSERT(ok);
        dc_tensor_destroy(got);
    }
    dc_session_destroy(sess);
    dc_plan_destroy(plan);
    for (int k = 0; k < 2; k++) {
        dc_tensor_destroy(in[k]);
        dc_tensor_destroy(ref[k]);
    }
    dc_graph_destroy(g);
}

/* A step made for 2 processes does not run in 1: the session says so. */
static void test_other_world(void)
{
    dc_graph *g = collective_graph(0.5f, 2);
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_session *sess = NULL;
    CU_ASSERT_EQUAL(plan ? dc_session_create(plan, 1, &sess) : DC_OK, DC_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "compiled for 2 processes"));
    CU_ASSERT_PTR_NULL(sess);
    dc_plan_destroy(plan);
    dc_graph_destroy(g);
}

void register_runtime_collectives(void)
{
    static const dc_test_case tests[] = {
        {"AllReduce and AllGather in one process", test_one_process},
        {"a step made for another world is refused", test_other_world},
        {NULL, NULL},
    };
    dc_add_suite("runtime_collectives", tests);
}
