/* FusedElementwise (ai.dinoc): a chain of element-wise ops as one loop.
 * x0[...], x1[...], ... f32, each broadcasting to y's shape -> y f32.
 * The program (runtime/dc_eltwise_program.h) is interpreted over blocks of
 * BLOCK elements of one output row: inputs are loaded into registers, every
 * instruction runs over the block, the last one is stored. y may be one of
 * the inputs' bytes (in place): a block is read before it is written. */
#include <stdlib.h>
#include <string.h>

#include "c_util.h"
#include "dc_eltwise_program.h"

enum { BLOCK = 256 };

typedef struct fused_state {
    int n_in, n_const, n_ins, rank;
    const int64_t *program;
    const float *constants;
    int64_t dims[DC_MAX_RANK];        /* y's shape, adjacent dims merged */
    int64_t (*strides)[DC_MAX_RANK];  /* per input, in elements; 0 where broadcast */
    int64_t inner, outer;
    const float **x;
    float *y;
} fused_state;

static dc_status fused_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    fused_state *st = state;
    DC_TRY(c_arity(a, 1, -1, 1, 1));
    const dc_plan_buffer *Y = a->out[0];
    int n_in = a->step->n_inputs, n_program, n_const;
    st->program = dc_step_ints(a->step, "program", &n_program);
    st->constants = dc_step_floats(a->step, "constants", &n_const);
    DC_TRY(dc_eltwise_program_check(st->program, n_program, n_in, n_const));
    DC_TRY(C_EXPECT_DTYPE(Y, "output", DC_F32));
    st->n_in = n_in;
    st->n_const = n_const;
    st->n_ins = n_program / 3;
    st->strides = calloc((size_t)n_in, sizeof *st->strides);
    st->x = calloc((size_t)n_in, sizeof *st->x);
    if (!st->strides || !st->x)
        return dc_error(DC_ERR_NOMEM, "FusedElementwise");
    int rank = Y->rank;
    for (int k = 0; k < n_in; k++) {
        const dc_plan_buffer *X = c_in(a, k);
        if (!X)
            return dc_error(DC_ERR_INVALID, "input %d is missing", k);
        DC_TRY(C_EXPECT_DTYPE(X, "input", DC_F32));
        if (X->rank > rank)
            return dc_error(DC_ERR_SHAPE, "input %d %s has a higher rank than the output %s", k,
                            C_TYPE_STR(X), C_TYPE_STR(Y));
        int64_t s = 1;
        for (int d = rank - 1; d >= 0; d--) {
            int xd = d - (rank - X->rank);
            int64_t size = xd >= 0 ? X->dims[xd] : 1;
            if (size != 1 && size != Y->dims[d])
                return dc_error(DC_ERR_SHAPE, "input %d %s does not broadcast to the output %s", k,
                                C_TYPE_STR(X), C_TYPE_STR(Y));
            st->strides[k][d] = size == 1 ? 0 : s;
            s *= size;
        }
        st->x[k] = c_in_data(a, k);
    }
    /* Merge dim d into d-1 where every input walks both as one. */
    int r = 0;
    for (int d = 0; d < rank; d++) {
        bool merge = r > 0;
        for (int k = 0; merge && k < n_in; k++)
            merge = st->strides[k][r - 1] == st->strides[k][d] * Y->dims[d];
        if (merge) {
            st->dims[r - 1] *= Y->dims[d];
            for (int k = 0; k < n_in; k++)
                st->strides[k][r - 1] = st->strides[k][d];
        } else {
            st->dims[r] = Y->dims[d];
            for (int k = 0; k < n_in; k++)
                st->strides[k][r] = st->strides[k][d];
            r++;
        }
    }
    if (r == 0) { /* rank 0: one element */
        st->dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            st->strides[k][0] = 0;
        r = 1;
    }
    st->rank = r;
    st->inner = st->dims[r - 1];
    st->outer = st->inner ? c_numel(Y) / st->inner : 0;
    st->y = c_out_data(a, 0);
    return DC_OK;
}

static void eval(int opcode, const float *restrict a, const float *restrict b, float *restrict y,
                 int n)
{
    switch (opcode) {
    case DC_EW_ADD: for (int i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
    case DC_EW_SUB: for (int i = 0; i < n; i++) y[i] = a[i] - b[i]; break;
    case DC_EW_MUL: for (int i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
    case DC_EW_DIV: for (int i = 0; i < n; i++) y[i] = a[i] / b[i]; break;
    case DC_EW_POW: for (int i = 0; i < n; i++) y[i] = powf(a[i], b[i]); break;
    case DC_EW_NEG: for (int i = 0; i < n; i++) y[i] = -a[i]; break;
    case DC_EW_ABS: for (int i = 0; i < n; i++) y[i] = fabsf(a[i]); break;
    case DC_EW_SQRT: for (int i = 0; i < n; i++) y[i] = sqrtf(a[i]); break;
    case DC_EW_RECIPROCAL: for (int i = 0; i < n; i++) y[i] = 1.0f / a[i]; break;
    case DC_EW_EXP: for (int i = 0; i < n; i++) y[i] = expf(a[i]); break;
    case DC_EW_LOG: for (int i = 0; i < n; i++) y[i] = logf(a[i]); break;
    case DC_EW_ERF: for (int i = 0; i < n; i++) y[i] = c_erf_f32(a[i]); break;
    case DC_EW_TANH: for (int i = 0; i < n; i++) y[i] = tanhf(a[i]); break;
    case DC_EW_SIGMOID: for (int i = 0; i < n; i++) y[i] = c_sigmoid_f32(a[i]); break;
    case DC_EW_RELU: for (int i = 0; i < n; i++) y[i] = a[i] < 0 ? 0 : a[i]; break;
    default: break; /* dc_eltwise_program_check refused it */
    }
}

/* One output row: reg holds BLOCK floats per register, offs one offset per input. */
static void run_row(const fused_state *st, int64_t row, float *reg, int64_t *offs)
{
    for (int k = 0; k < st->n_in; k++) {
        int64_t o = 0, rest = row;
        for (int d = st->rank - 2; d >= 0; d--) {
            o += rest % st->dims[d] * st->strides[k][d];
            rest /= st->dims[d];
        }
        offs[k] = o;
    }
    int first_result = st->n_in + st->n_const;
    float *out = st->y + row * st->inner;
    for (int64_t at = 0; at < st->inner; at += BLOCK) {
        int n = st->inner - at < BLOCK ? (int)(st->inner - at) : BLOCK;
        for (int k = 0; k < st->n_in; k++) {
            float *r = reg + (size_t)k * BLOCK;
            if (st->strides[k][st->rank - 1])
                memcpy(r, st->x[k] + offs[k] + at, (size_t)n * sizeof *r);
            else
                for (int i = 0; i < n; i++)
                    r[i] = st->x[k][offs[k]];
        }
        for (int i = 0; i < st->n_ins; i++) {
            const int64_t *ins = st->program + 3 * i;
            const float *b = dc_eltwise_arity((int)ins[0]) == 2 ? reg + ins[2] * BLOCK : NULL;
            eval((int)ins[0], reg + ins[1] * BLOCK, b, reg + (size_t)(first_result + i) * BLOCK, n);
        }
        memcpy(out + at, reg + (size_t)(first_result + st->n_ins - 1) * BLOCK, (size_t)n * sizeof *out);
    }
}

static dc_status fused_run(void *state)
{
    const fused_state *st = state;
    size_t n_reg = (size_t)(st->n_in + st->n_const + st->n_ins);
    int failed = 0;
#pragma omp parallel if (st->outer * st->inner > C_PAR_MIN)
    {
        float *reg = c_alloc(n_reg * BLOCK * sizeof *reg);
        int64_t *offs = malloc((size_t)st->n_in * sizeof *offs);
        if (!reg || !offs) {
#pragma omp atomic write
            failed = 1;
        } else {
            for (int c = 0; c < st->n_const; c++)
                for (int i = 0; i < BLOCK; i++)
                    reg[(size_t)(st->n_in + c) * BLOCK + i] = st->constants[c];
        }
#pragma omp for schedule(static)
        for (int64_t row = 0; row < st->outer; row++)
            if (reg && offs)
                run_row(st, row, reg, offs);
        free(reg);
        free(offs);
    }
    return failed ? dc_error(DC_ERR_NOMEM, "FusedElementwise scratch") : DC_OK;
}

static void fused_release(void *state)
{
    fused_state *st = state;
    free(st->strides);
    free(st->x);
}

C_KERNEL(FusedElementwise, .state_size = sizeof(fused_state), .setup = fused_setup,
         .run = fused_run, .release = fused_release);
