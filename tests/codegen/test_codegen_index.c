/* Generated Gather and ScatterAdd against the c.* kernels, byte for byte:
 * random data shapes and axes (negative ones too), i32 and i64 indices of
 * rank 0-2 with negative and repeated entries, elements of 1, 2, 4 and 8
 * bytes; indices out of range: the index check finds the first one, the
 * kernels write zeros or skip it (never read or write outside a tensor),
 * and a session run from the .so fails with c.Gather's message. */
#include <stdint.h>

#include "codegen_test_util.h"
#include "dc_session.h"

typedef int32_t (*cgt_check_fn)(void *const *args, int64_t *bad);

static int64_t numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int d = 0; d < b->rank; d++)
        n *= b->dims[d];
    return n;
}

static size_t bytes_of(const dc_plan_buffer *b)
{
    return (size_t)numel(b) * dc_dtype_size(b->dtype);
}

static void set_index(void *idx, dc_dtype t, int64_t j, int64_t v)
{
    if (t == DC_I64)
        ((int64_t *)idx)[j] = v;
    else
        ((int32_t *)idx)[j] = (int32_t)v;
}

/* Random indices in [-n, n) into the step's index buffer (input 1). */
static void *random_indices(uint64_t *rng, const dc_plan_buffer *I, int64_t n)
{
    void *idx = malloc(bytes_of(I) ? bytes_of(I) : 1);
    for (int64_t j = 0; j < numel(I); j++)
        set_index(idx, I->dtype, j, n ? (int64_t)(cgt_rand(rng) % (uint64_t)(2 * n)) - n : 0);
    return idx;
}

/* One Gather or ScatterAdd step on shapes drawn from rng. */
static void add_case(dc_plan *p, uint64_t *rng, bool scatter, dc_dtype ty)
{
    int rank = 1 + (int)(cgt_rand(rng) % 3), irank = (int)(cgt_rand(rng) % 3);
    int64_t dims[4], idims[2], ydims[8];
    for (int d = 0; d < rank; d++)
        dims[d] = cgt_rand(rng) % 4 == 0 ? 1 : 1 + (int64_t)(cgt_rand(rng) % 13);
    for (int d = 0; d < irank; d++)
        idims[d] = 1 + (int64_t)(cgt_rand(rng) % 9);
    int axis = (int)(cgt_rand(rng) % (uint64_t)rank);
    int r = 0;
    for (int d = 0; d < axis; d++)
        ydims[r++] = dims[d];
    for (int d = 0; d < irank; d++)
        ydims[r++] = idims[d];
    for (int d = axis + 1; d < rank; d++)
        ydims[r++] = dims[d];
    dc_dtype it = cgt_rand(rng) % 2 ? DC_I64 : DC_I32;
    dc_plan_step *st;
    if (scatter) {
        int a[4] = {cgt_buffer(p, ty, rank, dims), cgt_buffer(p, it, irank, idims),
                    cgt_buffer(p, ty, r, ydims), cgt_buffer(p, ty, rank, dims)};
        st = cgt_step(p, "ScatterAdd", 3, 1, a);
    } else {
        int a[3] = {cgt_buffer(p, ty, rank, dims), cgt_buffer(p, it, irank, idims),
                    cgt_buffer(p, ty, r, ydims)};
        st = cgt_step(p, "Gather", 2, 1, a);
    }
    cgt_attr_int(st, "axis", cgt_rand(rng) % 2 ? axis : axis - rank);
}

static void test_gather_scatter(void)
{
    static const dc_dtype gather_types[] = {DC_F32, DC_I64, DC_U8, DC_F16};
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 1234;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (int c = 0; c < 40; c++)
            add_case(p, &rng, c % 2, c % 2 ? (c % 4 == 1 ? DC_F32 : DC_F64) : gather_types[c / 2 % 4]);
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i++) {
                const dc_plan_step *st = &p->steps[i];
                CU_ASSERT_PTR_NOT_NULL(dc_step_string(st, "llvm_index_check", NULL));
                const dc_plan_buffer *D = &p->buffers[st->args[0]], *I = &p->buffers[st->args[1]];
                int64_t axis = dc_step_int(st, "axis", 0);
                int64_t n = D->dims[axis < 0 ? axis + D->rank : axis];
                void *idx = random_indices(&rng, I, n);
                int na = st->n_inputs + 1;
                void *ref[4], *gen[4];
                for (int a = 0; a < na; a++) {
                    size_t nb = bytes_of(&p->buffers[st->args[a]]);
                    ref[a] = malloc(nb ? nb : 1);
                    gen[a] = malloc(nb ? nb : 1);
                    /* Floats in [-2, 2): updates that round when added. */
                    for (size_t j = 0; j < nb; j++)
                        ((uint8_t *)ref[a])[j] = (uint8_t)cgt_rand(&rng);
                    if (a != 1 && (D->dtype == DC_F32 || D->dtype == DC_F64))
                        for (int64_t j = 0; j < numel(&p->buffers[st->args[a]]); j++) {
                            float v = cgt_uniform(&rng, -2, 2);
                            if (D->dtype == DC_F32)
                                ((float *)ref[a])[j] = v;
                            else
                                ((double *)ref[a])[j] = v / 3.0;
                        }
                    if (a == 1)
                        memcpy(ref[a], idx, nb);
                    memcpy(gen[a], ref[a], nb);
                }
                cgt_run_oracle(p, i, ref);
                cgt_run_generated(&so, p, i, gen, 1 + i % 3);
                size_t ny = bytes_of(&p->buffers[st->args[na - 1]]);
                CU_ASSERT(memcmp(ref[na - 1], gen[na - 1], ny) == 0);
                if (memcmp(ref[na - 1], gen[na - 1], ny) != 0)
                    fprintf(stderr, "\n    step %d %s differs", i, st->op_type);
                /* Every index is in range: the check says so. */
                cgt_check_fn check = (cgt_check_fn)dlsym(
                    so.handle, dc_step_string(st, "llvm_index_check", ""));
                CU_ASSERT_PTR_NOT_NULL(check);
                int64_t bad[3] = {0};
                if (check)
                    CU_ASSERT_EQUAL(check(gen, bad), 0);
                for (int a = 0; a < na; a++) {
                    free(ref[a]);
                    free(gen[a]);
                }
                free(idx);
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

/* data [3, 5], indices [4] = {1, -5, 7, -6} along axis 1; ScatterAdd the
 * adjoint. The check reports 7 at position 2; the kernels leave the bad
 * columns out and touch nothing else. */
static void test_out_of_range(void)
{
    dc_plan *p = cgt_plan();
    int64_t dd[2] = {3, 5}, id[1] = {4}, yd[2] = {3, 4};
    int D = cgt_buffer(p, DC_F32, 2, dd), I = cgt_buffer(p, DC_I64, 1, id),
        Y = cgt_buffer(p, DC_F32, 2, yd), S = cgt_buffer(p, DC_F32, 2, dd);
    cgt_attr_int(cgt_step(p, "Gather", 2, 1, (const int[]){D, I, Y}), "axis", 1);
    cgt_attr_int(cgt_step(p, "ScatterAdd", 3, 1, (const int[]){D, I, Y, S}), "axis", -1);
    int n_generated;
    cgt_so so = {0};
    if (cgt_generate(p, "x86-64-v2", &so, &n_generated)) {
        CU_ASSERT_EQUAL(n_generated, 2);
        float data[15], y[12], upd[12], s[15];
        int64_t idx[4] = {1, -5, 7, -6};
        for (int k = 0; k < 15; k++)
            data[k] = (float)k + 1;
        for (int k = 0; k < 12; k++) {
            y[k] = -1;
            upd[k] = (float)(k + 1) * 10;
        }
        void *gather_args[3] = {data, idx, y}, *scatter_args[4] = {data, idx, upd, s};
        for (int i = 0; i < 2; i++) {
            cgt_check_fn check = (cgt_check_fn)dlsym(
                so.handle, dc_step_string(&p->steps[i], "llvm_index_check", ""));
            CU_ASSERT_PTR_NOT_NULL_FATAL(check);
            int64_t bad[3] = {0};
            CU_ASSERT_EQUAL(check(i ? scatter_args : gather_args, bad), 1);
            CU_ASSERT(bad[0] == 7 && bad[1] == 2 && bad[2] == 5);
        }
        cgt_run_generated(&so, p, 0, gather_args, 2);
        for (int r = 0; r < 3; r++) {
            CU_ASSERT_EQUAL(y[4 * r + 0], data[5 * r + 1]);
            CU_ASSERT_EQUAL(y[4 * r + 1], data[5 * r + 0]);
            CU_ASSERT_EQUAL(y[4 * r + 2], 0.0f);
            CU_ASSERT_EQUAL(y[4 * r + 3], 0.0f);
        }
        for (int k = 0; k < 15; k++)
            s[k] = -1;
        cgt_run_generated(&so, p, 1, scatter_args, 2);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 5; c++) {
                float want = c == 1 ? upd[4 * r] : c == 0 ? upd[4 * r + 1] : 0.0f;
                CU_ASSERT_EQUAL(s[5 * r + c], want);
            }
    }
    cgt_unload(&so);
    dc_plan_destroy(p);
}

/* Through a session made from the .so: the step fails as c.Gather does. */
static void test_session_reports_index(void)
{
    dc_plan *p = cgt_plan();
    int64_t dd[1] = {5}, id[1] = {3};
    int D = cgt_buffer(p, DC_F32, 1, dd), I = cgt_buffer(p, DC_I32, 1, id),
        Y = cgt_buffer(p, DC_F32, 1, id);
    cgt_step(p, "Gather", 2, 1, (const int[]){D, I, Y});
    p->inputs = calloc(2, sizeof *p->inputs);
    p->inputs[0] = (dc_plan_io){strdup("data"), D};
    p->inputs[1] = (dc_plan_io){strdup("indices"), I};
    p->n_inputs = 2;
    p->outputs = calloc(1, sizeof *p->outputs);
    p->outputs[0] = (dc_plan_io){strdup("y"), Y};
    p->n_outputs = 1;
    int n_generated;
    cgt_so so = {0};
    if (cgt_generate(p, "x86-64-v2", &so, &n_generated)) {
        dc_artifact *a = NULL;
        dc_session *s = NULL;
        DC_ASSERT_OK(dc_artifact_open(so.path, &a));
        if (a)
            DC_ASSERT_OK(dc_session_create_artifact(a, 2, &s));
        dc_tensor *data = NULL, *indices = NULL, *y = NULL;
        DC_ASSERT_OK(dc_tensor_create(&data, "data", DC_F32, 1, dd));
        DC_ASSERT_OK(dc_tensor_create(&indices, "indices", DC_I32, 1, id));
        if (s && data && indices) {
            for (int k = 0; k < 5; k++)
                ((float *)data->data)[k] = (float)k;
            int32_t good[3] = {4, -1, 0}, bad[3] = {4, 9, -9};
            memcpy(indices->data, good, sizeof good);
            DC_ASSERT_OK(dc_session_set_input(s, "data", data));
            DC_ASSERT_OK(dc_session_set_input(s, "indices", indices));
            DC_ASSERT_OK(dc_session_run(s));
            DC_ASSERT_OK(dc_session_get_output(s, 0, &y));
            if (y)
                CU_ASSERT(((float *)y->data)[0] == 4 && ((float *)y->data)[1] == 4 &&
                          ((float *)y->data)[2] == 0);
            memcpy(indices->data, bad, sizeof bad);
            DC_ASSERT_OK(dc_session_set_input(s, "indices", indices));
            CU_ASSERT_EQUAL(dc_session_run(s), DC_ERR_INVALID);
            const char *m = dc_error_message();
            if (!strstr(m, "index 9 (indices element 1) out of range [-5, 5)"))
                fprintf(stderr, "\n    message: %s", m);
            CU_ASSERT_PTR_NOT_NULL(strstr(m, "index 9 (indices element 1) out of range [-5, 5)"));
            CU_ASSERT_PTR_NOT_NULL(strstr(m, "llvm.Gather"));
        }
        dc_tensor_destroy(data);
        dc_tensor_destroy(indices);
        dc_tensor_destroy(y);
        dc_session_destroy(s);
        dc_artifact_close(a);
    }
    cgt_unload(&so);
    dc_plan_destroy(p);
}

void register_codegen_index(void)
{
    static const dc_test_case tests[] = {
        {"gather_scatter", test_gather_scatter},
        {"out_of_range", test_out_of_range},
        {"session_reports_index", test_session_reports_index},
        {NULL, NULL},
    };
    dc_add_suite("codegen_index", tests);
}
