/* Shared machinery of the C kernels: the check/prepare wrapper with f16/bf16
 * staging, argument checks, broadcasting and strided copies. */
#include "c_util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the wrapper */

typedef struct stage {
    int arg, is_input;
    dc_dtype dtype; /* the real element type, F16 or BF16 */
    void *orig;
    float *f32;
    int64_t n;
} stage;

typedef struct wrapper {
    const c_kernel_impl *impl;
    void *state;
    int set_up;
    int n_stages;
    stage *stages;
    dc_plan_buffer *bufs;        /* staged copies of the descriptors */
    const dc_plan_buffer **ptrs; /* what args.in/out point at */
    void **data;
    dc_kernel_args args;
} wrapper;

static void wrapper_free(wrapper *w)
{
    if (!w)
        return;
    if (w->set_up && w->impl->release)
        w->impl->release(w->state);
    free(w->state);
    for (int i = 0; i < w->n_stages; i++)
        free(w->stages[i].f32);
    free(w->stages);
    free(w->bufs);
    free(w->ptrs);
    free(w->data);
    free(w);
}

/* Builds the args the implementation sees (f16/bf16 replaced by f32 scratch
 * when the impl asks for it) and runs its setup. */
static dc_status wrapper_create(const c_kernel_impl *impl, const dc_kernel_args *a, wrapper **out)
{
    *out = NULL;
    wrapper *w = calloc(1, sizeof *w);
    if (!w)
        return dc_error(DC_ERR_NOMEM, "kernel state");
    w->impl = impl;
    int nin = a->step->n_inputs, nout = a->step->n_outputs, nargs = nin + nout;
    int with_data = a->in_data != NULL || a->out_data != NULL;
    w->bufs = calloc((size_t)nargs + 1, sizeof *w->bufs);
    w->ptrs = calloc((size_t)nargs + 1, sizeof *w->ptrs);
    w->data = calloc((size_t)nargs + 1, sizeof *w->data);
    w->stages = calloc((size_t)nargs + 1, sizeof *w->stages);
    w->state = calloc(1, impl->state_size ? impl->state_size : 1);
    if (!w->bufs || !w->ptrs || !w->data || !w->stages || !w->state) {
        wrapper_free(w);
        return dc_error(DC_ERR_NOMEM, "kernel state");
    }
    for (int i = 0; i < nargs; i++) {
        const dc_plan_buffer *b = i < nin ? a->in[i] : a->out[i - nin];
        void *d = with_data ? (i < nin ? a->in_data[i] : a->out_data[i - nin]) : NULL;
        w->ptrs[i] = b;
        w->data[i] = d;
        if (!b || !impl->half_via_f32 || (b->dtype != DC_F16 && b->dtype != DC_BF16))
            continue;
        w->bufs[i] = *b;
        w->bufs[i].dtype = DC_F32;
        w->bufs[i].nbytes = b->nbytes * 2;
        w->ptrs[i] = &w->bufs[i];
        stage *s = &w->stages[w->n_stages++];
        *s = (stage){.arg = i, .is_input = i < nin, .dtype = b->dtype, .orig = d, .n = (int64_t)(b->nbytes / 2)};
        if (with_data) {
            s->f32 = malloc(s->n ? (size_t)s->n * sizeof(float) : 1);
            if (!s->f32) {
                wrapper_free(w);
                return dc_error(DC_ERR_NOMEM, "f32 copy of %lld elements", (long long)s->n);
            }
            w->data[i] = s->f32;
        }
    }
    w->args = (dc_kernel_args){
        .step = a->step,
        .in = w->ptrs,
        .out = w->ptrs + nin,
        .in_data = with_data ? w->data : NULL,
        .out_data = with_data ? w->data + nin : NULL,
        .ctx = a->ctx,
    };
    dc_status s = impl->setup(&w->args, impl->variant, w->state);
    w->set_up = 1; /* release runs even after a failed setup: it frees what setup allocated */
    if (s != DC_OK) {
        wrapper_free(w);
        return s;
    }
    *out = w;
    return DC_OK;
}

dc_status c_kernel_check(const c_kernel_impl *impl, const dc_kernel_args *a)
{
    dc_kernel_args probe = *a;
    probe.in_data = NULL;
    probe.out_data = NULL;
    wrapper *w;
    DC_TRY(wrapper_create(impl, &probe, &w));
    wrapper_free(w);
    return DC_OK;
}

dc_status c_kernel_prepare(const c_kernel_impl *impl, const dc_kernel_args *a, void **state)
{
    *state = NULL;
    if (!a->in_data || !a->out_data)
        return dc_error(DC_ERR_INVALID, "prepare without data pointers");
    wrapper *w;
    DC_TRY(wrapper_create(impl, a, &w));
    *state = w;
    return DC_OK;
}

static void convert_in(const stage *s)
{
    const uint16_t *restrict src = s->orig;
    float *restrict dst = s->f32;
    int bf = s->dtype == DC_BF16;
#pragma omp parallel for if (s->n > C_PAR_MIN)
    for (int64_t i = 0; i < s->n; i++)
        dst[i] = bf ? dc_bf16_to_f32(src[i]) : dc_f16_to_f32(src[i]);
}

static void convert_out(const stage *s)
{
    const float *restrict src = s->f32;
    uint16_t *restrict dst = s->orig;
    int bf = s->dtype == DC_BF16;
#pragma omp parallel for if (s->n > C_PAR_MIN)
    for (int64_t i = 0; i < s->n; i++)
        dst[i] = bf ? dc_f32_to_bf16(src[i]) : dc_f32_to_f16(src[i]);
}

dc_status c_kernel_run(void *state)
{
    wrapper *w = state;
    for (int i = 0; i < w->n_stages; i++)
        if (w->stages[i].is_input)
            convert_in(&w->stages[i]);
    DC_TRY(w->impl->run(w->state));
    for (int i = 0; i < w->n_stages; i++)
        if (!w->stages[i].is_input)
            convert_out(&w->stages[i]);
    return DC_OK;
}

void c_kernel_release(void *state) { wrapper_free(state); }

/* ------------------------------------------------------------ arguments */

const dc_plan_buffer *c_in(const dc_kernel_args *a, int i)
{
    return i >= 0 && i < a->step->n_inputs ? a->in[i] : NULL;
}

const dc_plan_buffer *c_out(const dc_kernel_args *a, int i)
{
    return i >= 0 && i < a->step->n_outputs ? a->out[i] : NULL;
}

void *c_in_data(const dc_kernel_args *a, int i)
{
    return a->in_data && c_in(a, i) ? a->in_data[i] : NULL;
}

void *c_out_data(const dc_kernel_args *a, int i)
{
    return a->out_data && c_out(a, i) ? a->out_data[i] : NULL;
}

dc_status c_arity(const dc_kernel_args *a, int min_in, int max_in, int min_out, int max_out)
{
    const dc_plan_step *st = a->step;
    if (st->n_inputs < min_in || (max_in >= 0 && st->n_inputs > max_in))
        return dc_error(DC_ERR_INVALID, "%d inputs, %s takes %d..%d", st->n_inputs, st->op_type,
                        min_in, max_in);
    if (st->n_outputs < min_out || (max_out >= 0 && st->n_outputs > max_out))
        return dc_error(DC_ERR_INVALID, "%d outputs, %s gives %d..%d", st->n_outputs, st->op_type,
                        min_out, max_out);
    for (int i = 0; i < min_in; i++)
        if (!a->in[i])
            return dc_error(DC_ERR_INVALID, "required input %d is missing", i);
    for (int i = 0; i < min_out; i++)
        if (!a->out[i])
            return dc_error(DC_ERR_INVALID, "required output %d is missing", i);
    return DC_OK;
}

int64_t c_numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int i = 0; i < b->rank; i++)
        n *= b->dims[i];
    return n;
}

const char *c_type_str(char *buf, size_t cap, const dc_plan_buffer *b)
{
    size_t n = (size_t)snprintf(buf, cap, "%s[", dc_dtype_short_name(b->dtype));
    for (int i = 0; i < b->rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)b->dims[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

dc_status c_expect_dtype(const dc_plan_buffer *b, const char *what, const dc_dtype *allowed, int n)
{
    for (int i = 0; i < n; i++)
        if (b->dtype == allowed[i])
            return DC_OK;
    return dc_error(DC_ERR_UNSUPPORTED, "%s of element type %s is not supported", what,
                    dc_dtype_name(b->dtype));
}

dc_status c_same_dtype(const dc_plan_buffer *b, const char *what, const dc_plan_buffer *ref,
                       const char *ref_what)
{
    if (b->dtype != ref->dtype)
        return dc_error(DC_ERR_SHAPE, "%s is %s but %s is %s", what, dc_dtype_name(b->dtype),
                        ref_what, dc_dtype_name(ref->dtype));
    return DC_OK;
}

int c_same_shape(const dc_plan_buffer *x, const dc_plan_buffer *y)
{
    if (x->rank != y->rank)
        return 0;
    for (int i = 0; i < x->rank; i++)
        if (x->dims[i] != y->dims[i])
            return 0;
    return 1;
}

dc_status c_expect_shape(const dc_plan_buffer *b, const char *what, dc_dtype dtype, int rank,
                         const int64_t *dims)
{
    dc_plan_buffer want = {.dtype = dtype, .rank = rank};
    if (rank < 0 || rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "%s: rank %d outside 0..%d", what, rank, DC_MAX_RANK);
    if (rank)
        memcpy(want.dims, dims, (size_t)rank * sizeof *dims);
    if (b->dtype != dtype || !c_same_shape(b, &want))
        return dc_error(DC_ERR_SHAPE, "%s: expected %s, the plan has %s", what, C_TYPE_STR(&want),
                        C_TYPE_STR(b));
    return DC_OK;
}

dc_status c_axis(int64_t axis, int rank, const char *what, int *out)
{
    if (axis < -rank || axis >= rank || (rank == 0 && axis != 0))
        return dc_error(DC_ERR_INVALID, "%s %lld outside [%d, %d)", what, (long long)axis, -rank,
                        rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return DC_OK;
}

void c_strides(int rank, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

/* ------------------------------------------------------------ broadcasting */

dc_status c_bcast_init(c_bcast *bc, int n_in, const dc_plan_buffer *const *ins,
                       const dc_plan_buffer *out, int out_may_be_larger)
{
    memset(bc, 0, sizeof *bc);
    bc->n_in = n_in;
    int R = out->rank, max_rank = 0;
    int64_t shape[DC_MAX_RANK];
    for (int d = 0; d < R; d++)
        shape[d] = 1;
    for (int k = 0; k < n_in; k++) {
        const dc_plan_buffer *b = ins[k];
        if (b->rank > R)
            return dc_error(DC_ERR_SHAPE, "input %s has more dimensions than output %s",
                            C_TYPE_STR(b), C_TYPE_STR(out));
        max_rank = b->rank > max_rank ? b->rank : max_rank;
        for (int d = 0; d < b->rank; d++) {
            int64_t id = b->dims[d], *s = &shape[R - b->rank + d];
            if (id != 1 && *s != 1 && *s != id)
                return dc_error(DC_ERR_SHAPE, "input %s does not broadcast with the other inputs",
                                C_TYPE_STR(b));
            if (id != 1)
                *s = id;
        }
    }
    for (int d = 0; d < R; d++) {
        int ok = out_may_be_larger ? shape[d] == 1 || shape[d] == out->dims[d]
                                   : shape[d] == out->dims[d] && max_rank == R;
        if (!ok) {
            char list[512];
            size_t n = 0;
            for (int k = 0; k < n_in && n < sizeof list; k++)
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", k ? " and " : "",
                                      C_TYPE_STR(ins[k]));
            return dc_error(DC_ERR_SHAPE, "inputs %s do not broadcast to output %s", list,
                            C_TYPE_STR(out));
        }
    }
    /* Per-input strides in output coordinates, dropping output dims of 1. */
    int r = 0;
    int64_t in_strides[C_BCAST_MAX_IN][DC_MAX_RANK];
    for (int k = 0; k < n_in; k++)
        c_strides(ins[k]->rank, ins[k]->dims, in_strides[k]);
    for (int d = 0; d < R; d++) {
        if (out->dims[d] == 1)
            continue;
        bc->dims[r] = out->dims[d];
        for (int k = 0; k < n_in; k++) {
            int id = d - (R - ins[k]->rank);
            bc->strides[k][r] = id >= 0 && ins[k]->dims[id] != 1 ? in_strides[k][id] : 0;
        }
        r++;
    }
    /* Merge dimension i into i-1 when every input walks them as one. */
    int m = 0;
    for (int i = 0; i < r; i++) {
        int merge = m > 0;
        for (int k = 0; merge && k < n_in; k++)
            merge = bc->strides[k][m - 1] == bc->strides[k][i] * bc->dims[i];
        if (merge) {
            bc->dims[m - 1] *= bc->dims[i];
            for (int k = 0; k < n_in; k++)
                bc->strides[k][m - 1] = bc->strides[k][i];
        } else {
            bc->dims[m] = bc->dims[i];
            for (int k = 0; k < n_in; k++)
                bc->strides[k][m] = bc->strides[k][i];
            m++;
        }
    }
    if (m == 0) {
        bc->dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            bc->strides[k][0] = 0;
        m = 1;
    }
    bc->rank = m;
    bc->inner = bc->dims[m - 1];
    bc->outer = 1;
    for (int i = 0; i < m - 1; i++)
        bc->outer *= bc->dims[i];
    bc->numel = bc->outer * bc->inner;
    return DC_OK;
}

void c_bcast_row(const c_bcast *bc, int64_t row, int64_t *offsets)
{
    for (int k = 0; k < bc->n_in; k++)
        offsets[k] = 0;
    for (int d = bc->rank - 2; d >= 0; d--) {
        int64_t i = row % bc->dims[d];
        row /= bc->dims[d];
        for (int k = 0; k < bc->n_in; k++)
            offsets[k] += i * bc->strides[k][d];
    }
}

/* ------------------------------------------------------------ strided copies */

void c_strided_init(c_strided *sc, int rank, const int64_t *dims, const int64_t *strides,
                    int64_t base, size_t esize)
{
    memset(sc, 0, sizeof *sc);
    sc->base = base;
    sc->esize = esize;
    sc->numel = 1;
    int m = 0;
    for (int i = 0; i < rank; i++) {
        sc->numel *= dims[i];
        if (dims[i] == 1)
            continue;
        if (m > 0 && sc->strides[m - 1] == strides[i] * dims[i]) {
            sc->dims[m - 1] *= dims[i];
            sc->strides[m - 1] = strides[i];
        } else {
            sc->dims[m] = dims[i];
            sc->strides[m] = strides[i];
            m++;
        }
    }
    if (m == 0) {
        sc->dims[0] = 1;
        sc->strides[0] = 1;
        m = 1;
    }
    sc->rank = m;
}

#define GATHER_ROW(T)                                                \
    do {                                                             \
        const T *restrict s_ = (const T *)src;                       \
        T *restrict d_ = (T *)dst;                                   \
        for (int64_t j = 0; j < inner; j++)                          \
            d_[j] = s_[j * stride];                                  \
    } while (0)

void c_strided_copy(const c_strided *sc, const void *in, void *out)
{
    if (sc->numel == 0)
        return;
    int64_t inner = sc->dims[sc->rank - 1], stride = sc->strides[sc->rank - 1];
    int64_t rows = sc->numel / inner;
    size_t es = sc->esize;
#pragma omp parallel for if (sc->numel > C_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off = sc->base, rem = r;
        for (int d = sc->rank - 2; d >= 0; d--) {
            off += rem % sc->dims[d] * sc->strides[d];
            rem /= sc->dims[d];
        }
        const char *src = (const char *)in + off * (int64_t)es;
        char *dst = (char *)out + r * inner * (int64_t)es;
        if (stride == 1) {
            memcpy(dst, src, (size_t)inner * es);
        } else if (stride == 0) {
            for (int64_t j = 0; j < inner; j++)
                memcpy(dst + j * (int64_t)es, src, es);
        } else {
            switch (es) {
            case 1: GATHER_ROW(uint8_t); break;
            case 2: GATHER_ROW(uint16_t); break;
            case 4: GATHER_ROW(uint32_t); break;
            case 8: GATHER_ROW(uint64_t); break;
            default:
                for (int64_t j = 0; j < inner; j++)
                    memcpy(dst + j * (int64_t)es, src + j * stride * (int64_t)es, es);
            }
        }
    }
}

void c_copy(void *dst, const void *src, size_t n)
{
    if (dst == src || n == 0)
        return;
    enum { CHUNK = 1 << 20 };
    if (n < 4 * (size_t)CHUNK) {
        memmove(dst, src, n);
        return;
    }
    int64_t chunks = (int64_t)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for
    for (int64_t c = 0; c < chunks; c++) {
        size_t at = (size_t)c * CHUNK, len = n - at < (size_t)CHUNK ? n - at : (size_t)CHUNK;
        memcpy((char *)dst + at, (const char *)src + at, len);
    }
}

void c_bcast_run(const c_bcast *bc, c_row_fn fn, const void *ctx)
{
    if (bc->numel == 0)
        return;
    /* Long rows are split so that even one row keeps every thread busy. */
    enum { MIN_CHUNK = 4096 };
    int64_t chunk = bc->inner, per_row = 1;
    if (bc->numel > C_PAR_MIN && bc->outer < 64 && bc->inner > 2 * MIN_CHUNK) {
        chunk = (bc->inner + 63) / 64;
        chunk = chunk < MIN_CHUNK ? MIN_CHUNK : chunk;
        per_row = (bc->inner + chunk - 1) / chunk;
    }
    int64_t tasks = bc->outer * per_row;
#pragma omp parallel for if (bc->numel > C_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t row = t / per_row, start = t % per_row * chunk, off[C_BCAST_MAX_IN];
        int64_t n = bc->inner - start < chunk ? bc->inner - start : chunk;
        c_bcast_row(bc, row, off);
        for (int k = 0; k < bc->n_in; k++)
            off[k] += start * bc->strides[k][bc->rank - 1];
        fn(ctx, off, row * bc->inner + start, n);
    }
}

#define TO_F64(E, S, T)                                   \
    case E:                                               \
        for (int64_t i = 0; i < n; i++)                   \
            dst[i] = (double)((const T *)src)[i];         \
        break;
#define FROM_F64_INT(E, S, T)                             \
    case E:                                               \
        for (int64_t i = 0; i < n; i++)                   \
            ((T *)dst)[i] = C_F64_TO_INT(T, src[i]);      \
        break;

void c_to_f64(dc_dtype t, const void *src, double *dst, int64_t n)
{
    switch (t) {
        C_TYPES_NUMERIC(TO_F64)
    case DC_BOOL:
        for (int64_t i = 0; i < n; i++)
            dst[i] = ((const uint8_t *)src)[i] != 0;
        break;
    case DC_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = dc_f16_to_f32(((const uint16_t *)src)[i]);
        break;
    case DC_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = dc_bf16_to_f32(((const uint16_t *)src)[i]);
        break;
    default: break;
    }
}

void c_from_f64(dc_dtype t, const double *src, void *dst, int64_t n)
{
    switch (t) {
    case DC_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)dst)[i] = (float)src[i];
        break;
    case DC_F64: memcpy(dst, src, (size_t)n * sizeof *src); break;
    case DC_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = dc_f32_to_f16((float)src[i]);
        break;
    case DC_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)dst)[i] = dc_f32_to_bf16((float)src[i]);
        break;
    case DC_BOOL:
        for (int64_t i = 0; i < n; i++)
            ((uint8_t *)dst)[i] = src[i] != 0;
        break;
        C_TYPES_INT(FROM_F64_INT)
    default: break;
    }
}

void *c_alloc(size_t n)
{
    size_t bytes = (n + 63) / 64 * 64;
    return aligned_alloc(64, bytes ? bytes : 64);
}
