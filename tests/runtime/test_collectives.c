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

/* x [2, 3], y [4] and z [5] doubled (so that they die where the all-reduce
 * starts), x and y summed as one bucket and z as a bucket of its own; the
 * sums scaled by `scale` and viewed in the inputs' shapes again. */
static dc_graph *bucket_graph(float scale)
{
    dc_graph *g = dc_graph_create("buckets");
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value *two = dc_scalar_f32(g, 2.0f);
    dc_value *x = dc_mul(g, dc_input(g, "x", DC_F32, 2, (int64_t[]){2, 3}), two);
    dc_value *y = dc_mul(g, dc_input(g, "y", DC_F32, 1, (int64_t[]){4}), two);
    dc_value *z = dc_mul(g, dc_input(g, "z", DC_F32, 1, (int64_t[]){5}), two);
    dc_value *buckets[2][2] = {{x, y}, {z, NULL}};
    const int64_t sizes[2][2] = {{6, 4}, {5, 0}};
    dc_value *sums[3];
    for (int b = 0, k = 0; b < 2; b++) {
        int n = b ? 1 : 2;
        dc_node *start = dc_node_begin(g, "AllReduceStart", "ai.dinoc", buckets[b], n, 1);
        DC_ASSERT_OK(dc_node_set_int(start, g, "world_size", 1));
        dc_value *bucket = dc_node_finish(g, start);
        dc_node *wait = dc_node_begin(g, "AllReduceWait", "ai.dinoc", &bucket, 1, n);
        DC_ASSERT_OK(dc_node_set_ints(wait, g, "sizes", sizes[b], n));
        DC_ASSERT_OK(dc_node_set_float(wait, g, "scale", scale));
        dc_node_finish(g, wait);
        for (int i = 0; i < n; i++)
            sums[k++] = wait->outputs[i];
    }
    dc_output(g, dc_reshape(g, sums[0], (int64_t[]){2, 3}, 2));
    dc_output(g, sums[1]);
    dc_output(g, sums[2]);
    DC_ASSERT_OK(dc_build_status(g));
    return g;
}

/* AllReduceStart and AllReduceWait in one process: the reference and the
 * compiled plan give scale · 2x for every input, run after run; the bucket
 * of one tensor is that tensor's bytes (no copy), and its sum in turn. */
static void test_buckets_one_process(void)
{
    dc_graph *g = bucket_graph(0.25f);
    const int64_t dims[3][2] = {{2, 3}, {4, 0}, {5, 0}};
    const char *names[3] = {"x", "y", "z"};
    dc_tensor *in[3], *ref[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        DC_ASSERT_OK(dc_tensor_create(&in[k], names[k], DC_F32, k ? 1 : 2, dims[k]));
        fill(in[k], -1.0f + 2.0f * (float)k);
    }
    DC_ASSERT_OK(dc_interpret(g, in, 3, ref));
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_pipeline_compile(g, NULL, &plan));
    dc_session *sess = NULL;
    if (plan)
        DC_ASSERT_OK(dc_session_create(plan, 1, &sess));
    int starts = 0, in_place = 0;
    for (int i = 0; plan && i < plan->n_steps; i++) {
        const dc_plan_step *st = &plan->steps[i];
        if (strcmp(st->op_type, "AllReduceStart") != 0)
            continue;
        CU_ASSERT_STRING_EQUAL(st->kernel, "mpi.AllReduceStart");
        starts++;
        const dc_plan_buffer *x = &plan->buffers[st->args[0]], *b = &plan->buffers[st->args[1]];
        in_place += st->n_inputs == 1 && x->region == b->region && x->offset == b->offset;
    }
    CU_ASSERT(starts == 2 && in_place == 1);
    for (int k = 0; sess && k < 3; k++)
        DC_ASSERT_OK(dc_session_set_input(sess, names[k], in[k]));
    for (int run = 0; sess && run < 2; run++) {
        DC_ASSERT_OK(dc_session_run(sess));
        for (int k = 0; k < 3 && ref[k]; k++) {
            dc_tensor *got = NULL;
            DC_ASSERT_OK(dc_session_get_output(sess, k, &got));
            const float *x = in[k]->data, *r = ref[k]->data, *y = got ? got->data : NULL;
            int ok = got != NULL && ref[k]->nbytes == in[k]->nbytes;
            for (uint64_t i = 0; ok && i < dc_tensor_numel(in[k]); i++)
                ok = r[i] == 0.5f * x[i] && y[i] == r[i];
            CU_ASSERT(ok);
            dc_tensor_destroy(got);
        }
    }
    dc_session_destroy(sess);
    dc_plan_destroy(plan);
    for (int k = 0; k < 3; k++) {
        dc_tensor_destroy(in[k]);
        dc_tensor_destroy(ref[k]);
    }
    dc_graph_destroy(g);
}

/* Sizes that do not add up to the bucket are an error naming both. */
static void test_wait_sizes_checked(void)
{
    dc_graph *g = dc_graph_create("bad_sizes");
    DC_ASSERT_OK(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value *x = dc_input(g, "x", DC_F32, 1, (int64_t[]){10});
    dc_value *bucket = dc_node_finish(g, dc_node_begin(g, "AllReduceStart", "ai.dinoc", &x, 1, 1));
    dc_node *wait = dc_node_begin(g, "AllReduceWait", "ai.dinoc", &bucket, 1, 2);
    DC_ASSERT_OK(dc_node_set_ints(wait, g, "sizes", (int64_t[]){6, 3}, 2));
    CU_ASSERT_PTR_NULL(dc_node_finish(g, wait));
    CU_ASSERT_EQUAL(dc_build_status(g), DC_ERR_SHAPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "add up to 9, the bucket is f32[10]"));
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
        {"AllReduceStart and AllReduceWait in one process, one tensor in place",
         test_buckets_one_process},
        {"AllReduceWait's sizes must add up to the bucket", test_wait_sizes_checked},
        {"a step made for another world is refused", test_other_world},
        {NULL, NULL},
    };
    dc_add_suite("runtime_collectives", tests);
}
