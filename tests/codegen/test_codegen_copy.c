/* Generated Transpose, Slice, Expand and Identity against the c.* kernels,
 * bit for bit: random permutations and shapes, slices with negative steps
 * and clamped bounds, broadcasts, reshaping copies; elements of 1, 2, 4 and
 * 8 bytes. */
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
        /* Identity into the same elements shaped otherwise, of 1 to 8 bytes. */
        for (int c = 0; c < 4; c++) {
            int64_t x[3] = {3, 1 + c, 5 + 4 * c}, y[1] = {x[0] * x[1] * x[2]};
            int a[2] = {cgt_buffer(p, types[c], 3, x), cgt_buffer(p, types[c], c % 2 ? 1 : 3,
                                                                  c % 2 ? y : x)};
            cgt_step(p, "Identity", 1, 1, a);
        }
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

/* Concat and Split along every axis of [3, 5, 7], pieces of 1, 2 and the
 * rest, elements of 4 and 2 bytes. */
static void test_join(void)
{
    const char *targets[8];
    cgt_targets(targets);
    uint64_t rng = 8;
    for (int t = 0; targets[t]; t++) {
        dc_plan *p = cgt_plan();
        for (int axis = 0; axis < 3; axis++) {
            for (int split = 0; split < 2; split++) {
                dc_dtype ty = axis == 1 ? DC_F16 : DC_F32;
                int64_t whole[3] = {3, 5, 7}, part[3][3];
                int64_t sizes[3] = {1, 2, whole[axis] - 3};
                int a[4];
                for (int k = 0; k < 3; k++) {
                    memcpy(part[k], whole, sizeof whole);
                    part[k][axis] = sizes[k];
                    a[split ? 1 + k : k] = cgt_buffer(p, ty, 3, part[k]);
                }
                a[split ? 0 : 3] = cgt_buffer(p, ty, 3, whole);
                dc_plan_step *st = cgt_step(p, split ? "Split" : "Concat", split ? 1 : 3,
                                            split ? 3 : 1, a);
                cgt_attr_int(st, "axis", axis - (axis == 2 ? 3 : 0));
                if (split)
                    cgt_attr_ints(st, "split", 3, sizes);
            }
        }
        int n_generated;
        cgt_so so = {0};
        if (cgt_generate(p, targets[t], &so, &n_generated)) {
            CU_ASSERT_EQUAL(n_generated, p->n_steps);
            for (int i = 0; i < p->n_steps; i++) {
                const dc_plan_step *st = &p->steps[i];
                int n = st->n_inputs + st->n_outputs;
                void *gen[4], *ref[4];
                size_t bytes[4];
                for (int k = 0; k < n; k++) {
                    const dc_plan_buffer *b = &p->buffers[st->args[k]];
                    bytes[k] = (size_t)numel(b) * dc_dtype_size(b->dtype);
                    gen[k] = malloc(bytes[k]);
                    ref[k] = malloc(bytes[k]);
                    for (size_t j = 0; j < bytes[k]; j++)
                        ((uint8_t *)gen[k])[j] = ((uint8_t *)ref[k])[j] = (uint8_t)cgt_rand(&rng);
                }
                cgt_run_oracle(p, i, ref);
                cgt_run_generated(&so, p, i, gen, 2);
                for (int k = st->n_inputs; k < n; k++)
                    CU_ASSERT(memcmp(gen[k], ref[k], bytes[k]) == 0);
                for (int k = 0; k < n; k++) {
                    free(gen[k]);
                    free(ref[k]);
                }
            }
        }
        cgt_unload(&so);
        dc_plan_destroy(p);
    }
}

void register_codegen_copy(void)
{
    static const dc_test_case tests[] = {
        {"copies", test_copies},
        {"join", test_join},
        {NULL, NULL},
    };
    dc_add_suite("codegen_copy", tests);
}
