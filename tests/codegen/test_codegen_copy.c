/* Generated Transpose, Slice and Expand against the c.* kernels, bit for
 * bit: random permutations and shapes, slices with negative steps and
 * clamped bounds, broadcasts; elements of 1, 2, 4 and 8 bytes. */
#include <stdint.h>

#include "codegen_test_util.h"

static int64_t numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int d = 0; d < b->rank; d++)
        n *= b->dims[d];
    return n;
}

static void compare_bytes(const cgt_so *so, const dc_plan *p, uint64_t *rng)
{
    for (int i = 0; i < p->n_steps; i++) {
        const dc_plan_step *st = &p->steps[i];
        const dc_plan_buffer *X = &p->buffers[st->args[0]], *Y = &p->buffers[st->args[1]];
        size_t es = dc_dtype_size(X->dtype), nx = (size_t)numel(X) * es, ny = (size_t)numel(Y) * es;
        uint8_t *x = malloc(nx ? nx : 1), *y[2] = {malloc(ny ? ny : 1), malloc(ny ? ny : 1)};
        for (size_t j = 0; j < nx; j++)
            x[j] = (uint8_t)cgt_rand(rng);
        memset(y[0], 0xaa, ny);
        memset(y[1], 0x55, ny);
        void *ref[2] = {x, y[0]}, *gen[2] = {x, y[1]};
        cgt_run_oracle(p, i, ref);
        cgt_run_generated(so, p, i, gen, 1 + i % 3);
        CU_ASSERT(memcmp(y[0], y[1], ny) == 0);
        if (memcmp(y[0], y[1], ny) != 0)
            fprintf(stderr, "\n    step %d %s differs", i, st->op_type);
        free(x);
        free(y[0]);
        free(y[1]);
    }
}

static void test_copies(void)
{
    static const dc_dtype types[] = {DC_F32, DC_I64, DC_U8, DC_F16};
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 2024;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (int c = 0; c < 30; c++) {
            dc_dtype ty = types[c % 4];
            int rank = 1 + (int)(cgt_rand(&rng) % 4);
            int64_t x[4], y[4], perm[4];
            for (int d = 0; d < rank; d++) {
                x[d] = cgt_rand(&rng) % 4 == 0 ? 1 : 1 + (int64_t)(cgt_rand(&rng) % 23);
                perm[d] = d;
            }
            for (int d = rank - 1; d > 0; d--) { /* Fisher-Yates */
                int k = (int)(cgt_rand(&rng) % (uint64_t)(d + 1));
                int64_t tmp = perm[d];
                perm[d] = perm[k];
                perm[k] = tmp;
            }
            for (int d = 0; d < rank; d++)
                y[d] = x[perm[d]];
            int a[2] = {cgt_buffer(p, ty, rank, x), cgt_buffer(p, ty, rank, y)};
            cgt_attr_ints(cgt_step(p, "Transpose", 1, 1, a), "perm", rank, perm);
        }
        /* Slices: [7, 40] rows 1..6 step 2, columns from the end backwards; a
         * clamped end; an empty slice. */
        static const struct {
            int64_t starts[2], ends[2], axes[2], steps[2];
            int n;
        } slices[] = {
            {{1, -1}, {6, -100}, {0, 1}, {2, -3}, 2},
            {{3, 0}, {1000, 0}, {1, 0}, {1, 1}, 1},
            {{5, 0}, {2, 0}, {0, 0}, {1, 1}, 1},
            {{0, 8}, {7, 33}, {0, 1}, {1, 1}, 2},
        };
        for (size_t k = 0; k < sizeof slices / sizeof slices[0]; k++) {
            int64_t x[2] = {7, 40}, y[2] = {7, 40};
            for (int i = 0; i < slices[k].n; i++) {
                int64_t ax = slices[k].axes[i], n = x[ax], st = slices[k].steps[i];
                int64_t b = slices[k].starts[i] < 0 ? slices[k].starts[i] + n : slices[k].starts[i];
                int64_t e = slices[k].ends[i] < 0 ? slices[k].ends[i] + n : slices[k].ends[i];
                if (st > 0) {
                    b = b < 0 ? 0 : b > n ? n : b;
                    e = e < 0 ? 0 : e > n ? n : e;
                    y[ax] = e > b ? (e - b + st - 1) / st : 0;
                } else {
                    b = b > n - 1 ? n - 1 : b;
                    e = e < -1 ? -1 : e;
                    y[ax] = b > e ? (b - e - st - 1) / -st : 0;
                }
            }
            int a[2] = {cgt_buffer(p, DC_F32, 2, x), cgt_buffer(p, DC_F32, 2, y)};
            dc_plan_step *st = cgt_step(p, "Slice", 1, 1, a);
            cgt_attr_ints(st, "starts", slices[k].n, slices[k].starts);
            cgt_attr_ints(st, "ends", slices[k].n, slices[k].ends);
            cgt_attr_ints(st, "axes", slices[k].n, slices[k].axes);
            cgt_attr_ints(st, "steps", slices[k].n, slices[k].steps);
        }
        int64_t ex[2] = {3, 1}, ey[3] = {2, 3, 37}, ex2[1] = {37};
        cgt_step(p, "Expand", 1, 1, (const int[]){cgt_buffer(p, DC_F32, 2, ex),
                                                   cgt_buffer(p, DC_F32, 3, ey)});
        cgt_step(p, "Expand", 1, 1, (const int[]){cgt_buffer(p, DC_I64, 1, ex2),
                                                   cgt_buffer(p, DC_I64, 3, ey)});
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            compare_bytes(&so, p, &rng);
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

void register_codegen_copy(void)
{
    static const dc_test_case tests[] = {
        {"copies", test_copies},
        {NULL, NULL},
    };
    dc_add_suite("codegen_copy", tests);
}
