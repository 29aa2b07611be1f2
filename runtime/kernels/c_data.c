/* Data movement: Transpose, Concat, Split, Slice, Gather, Expand, the copies
 * (Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout at inference) and
 * the shape-derived ops (Shape, Size, Constant, ConstantOfShape).
 *
 * These work on bytes, so every element type (incl. bool, f16, bf16) works.
 * Shapes the compiler resolved statically (Reshape's shape, Expand's shape,
 * Slice's starts/ends/axes/steps, Split's split) are read from the buffer
 * descriptors and canonical attributes; the corresponding inputs are ignored. */
#include <stdlib.h>
#include <string.h>

#include "c_util.h"

/* ------------------------------------------------------------ strided views
 * Transpose, Slice and Expand all become one c_strided copy. */

typedef struct view_state {
    c_strided sc;
    const void *x;
    void *y;
} view_state;

static dc_status view_run(void *state)
{
    view_state *st = state;
    c_strided_copy(&st->sc, st->x, st->y);
    return DC_OK;
}

static dc_status view_bind(const dc_kernel_args *a, view_state *st)
{
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    if (st->x && c_overlaps(st->x, X->nbytes, st->y, Y->nbytes))
        return dc_error(DC_ERR_INVALID, "output shares memory with the input");
    return DC_OK;
}

/* X[d0..dn-1] -> Y[d_perm[0]..d_perm[n-1]] */
static dc_status transpose_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    view_state *st = state;
    DC_TRY(c_arity(a, 1, 1, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    int n = 0;
    const int64_t *perm = dc_step_ints(a->step, "perm", &n);
    int64_t p[DC_MAX_RANK], dims[DC_MAX_RANK], xs[DC_MAX_RANK], s[DC_MAX_RANK];
    if (perm && n != X->rank)
        return dc_error(DC_ERR_INVALID, "perm has %d entries for rank %d", n, X->rank);
    int seen[DC_MAX_RANK] = {0};
    for (int d = 0; d < X->rank; d++) {
        p[d] = perm ? perm[d] : X->rank - 1 - d;
        if (p[d] < 0 || p[d] >= X->rank || seen[p[d]]++)
            return dc_error(DC_ERR_INVALID, "perm is not a permutation of 0..%d", X->rank - 1);
    }
    c_strides(X->rank, X->dims, xs);
    for (int d = 0; d < X->rank; d++) {
        dims[d] = X->dims[p[d]];
        s[d] = xs[p[d]];
    }
    DC_TRY(c_expect_shape(Y, "output", X->dtype, X->rank, dims));
    c_strided_init(&st->sc, X->rank, dims, s, 0, dc_dtype_size(X->dtype));
    return view_bind(a, st);
}

C_KERNEL(Transpose, .state_size = sizeof(view_state), .setup = transpose_setup, .run = view_run);

/* X[...] -> Y[...] with, along each sliced axis, elements start, start+step, ... before end */
static dc_status slice_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    view_state *st = state;
    DC_TRY(c_arity(a, 1, 5, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    int ns = 0, ne = 0, na = 0, nt = 0;
    const int64_t *starts = dc_step_ints(a->step, "starts", &ns);
    const int64_t *ends = dc_step_ints(a->step, "ends", &ne);
    const int64_t *axes = dc_step_ints(a->step, "axes", &na);
    const int64_t *steps = dc_step_ints(a->step, "steps", &nt);
    if (!dc_step_attr(a->step, "starts") || !dc_step_attr(a->step, "ends"))
        return dc_error(DC_ERR_INVALID, "Slice needs the canonical 'starts' and 'ends' attributes");
    if (ne != ns || (axes && na != ns) || (steps && nt != ns))
        return dc_error(DC_ERR_INVALID, "starts, ends, axes and steps have different lengths");
    int64_t dims[DC_MAX_RANK], strides[DC_MAX_RANK], base = 0;
    int seen[DC_MAX_RANK] = {0};
    c_strides(X->rank, X->dims, strides);
    memcpy(dims, X->dims, (size_t)X->rank * sizeof(int64_t));
    for (int i = 0; i < ns; i++) {
        int ax;
        DC_TRY(c_axis(axes ? axes[i] : i, X->rank, "axis", &ax));
        if (seen[ax]++)
            return dc_error(DC_ERR_INVALID, "axis %d sliced twice", ax);
        int64_t n = X->dims[ax], step = steps ? steps[i] : 1;
        if (step == 0)
            return dc_error(DC_ERR_INVALID, "step 0 on axis %d", ax);
        int64_t s = starts[i] < 0 ? starts[i] + n : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + n : ends[i];
        int64_t count;
        if (step > 0) {
            s = s < 0 ? 0 : s > n ? n : s;
            e = e < 0 ? 0 : e > n ? n : e;
            count = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s < 0 ? 0 : s > n - 1 ? n - 1 : s;
            e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
            count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        dims[ax] = count;
        if (count > 0)
            base += s * strides[ax];
        strides[ax] *= step;
    }
    DC_TRY(c_expect_shape(Y, "output", X->dtype, X->rank, dims));
    c_strided_init(&st->sc, X->rank, dims, strides, base, dc_dtype_size(X->dtype));
    return view_bind(a, st);
}

C_KERNEL(Slice, .state_size = sizeof(view_state), .setup = slice_setup, .run = view_run);

/* X[...] -> Y[broadcast(X, shape)]; the output buffer holds the shape */
static dc_status expand_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    view_state *st = state;
    DC_TRY(c_arity(a, 1, 2, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    DC_TRY(c_same_dtype(Y, "output", X, "input"));
    c_bcast bc;
    const dc_plan_buffer *ins[1] = {X};
    DC_TRY(c_bcast_init(&bc, 1, ins, Y, 1));
    c_strided_init(&st->sc, bc.rank, bc.dims, bc.strides[0], 0, dc_dtype_size(X->dtype));
    return view_bind(a, st);
}

C_KERNEL(Expand, .state_size = sizeof(view_state), .setup = expand_setup, .run = view_run);

/* ------------------------------------------------------------ Concat, Split
 * Concat: X_k[pre..., n_k, post...] -> Y[pre..., sum n_k, post...]
 * Split:  X[pre..., sum n_k, post...] -> Y_k[pre..., n_k, post...] */

typedef struct join_state {
    int split;              /* 0 Concat, 1 Split */
    int n;                  /* pieces */
    int64_t outer, whole;   /* whole = bytes of one outer slice of the joined tensor */
    int64_t *piece, *at;    /* bytes per outer slice of piece k and its offset in the whole */
    const char **src;
    char **dst;
} join_state;

static dc_status join_setup(const dc_kernel_args *a, int split, void *state)
{
    join_state *st = state;
    st->split = split;
    if (split)
        DC_TRY(c_arity(a, 1, 2, 1, -1));
    else
        DC_TRY(c_arity(a, 1, -1, 1, 1));
    const dc_plan_buffer *J = split ? a->in[0] : a->out[0]; /* the joined tensor */
    st->n = split ? a->step->n_outputs : a->step->n_inputs;
    const dc_plan_buffer *const *pieces = split ? a->out : a->in;
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", 0), J->rank, "axis", &axis));
    int ns = 0;
    const int64_t *sizes = split ? dc_step_ints(a->step, "split", &ns) : NULL;
    if (sizes && ns != st->n)
        return dc_error(DC_ERR_INVALID, "split has %d entries for %d outputs", ns, st->n);
    st->piece = calloc((size_t)st->n, sizeof(int64_t));
    st->at = calloc((size_t)st->n, sizeof(int64_t));
    st->src = calloc((size_t)st->n, sizeof(char *));
    st->dst = calloc((size_t)st->n, sizeof(char *));
    if (!st->piece || !st->at || !st->src || !st->dst)
        return dc_error(DC_ERR_NOMEM, "%d pieces", st->n);
    size_t es = dc_dtype_size(J->dtype);
    int64_t inner = 1, total = 0;
    st->outer = 1;
    for (int d = 0; d < J->rank; d++) {
        if (d < axis)
            st->outer *= J->dims[d];
        if (d > axis)
            inner *= J->dims[d];
    }
    for (int k = 0; k < st->n; k++) {
        const dc_plan_buffer *P = pieces[k];
        if (!P)
            return dc_error(DC_ERR_INVALID, "%s %d is missing", split ? "output" : "input", k);
        int same = P->dtype == J->dtype && P->rank == J->rank;
        for (int d = 0; same && d < J->rank; d++)
            same = d == axis || P->dims[d] == J->dims[d];
        if (!same || (sizes && sizes[k] != P->dims[axis]))
            return dc_error(DC_ERR_SHAPE, "%s %d is %s, which does not fit %s along axis %d",
                            split ? "output" : "input", k, C_TYPE_STR(P), C_TYPE_STR(J), axis);
        st->piece[k] = P->dims[axis] * inner * (int64_t)es;
        st->at[k] = total * inner * (int64_t)es;
        total += P->dims[axis];
        st->src[k] = split ? c_in_data(a, 0) : c_in_data(a, k);
        st->dst[k] = split ? c_out_data(a, k) : c_out_data(a, 0);
    }
    if (total != J->dims[axis])
        return dc_error(DC_ERR_SHAPE, "pieces add up to %lld along axis %d, %s has %lld",
                        (long long)total, axis, C_TYPE_STR(J), (long long)J->dims[axis]);
    st->whole = total * inner * (int64_t)es;
    return DC_OK;
}

static dc_status join_run(void *state)
{
    join_state *st = state;
    int64_t tasks = st->outer * st->n;
#pragma omp parallel for if (st->outer * st->whole > 4 * C_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / st->n;
        int k = (int)(t % st->n);
        if (st->split)
            memcpy(st->dst[k] + o * st->piece[k], st->src[k] + o * st->whole + st->at[k],
                   (size_t)st->piece[k]);
        else
            memcpy(st->dst[k] + o * st->whole + st->at[k], st->src[k] + o * st->piece[k],
                   (size_t)st->piece[k]);
    }
    return DC_OK;
}

static void join_release(void *state)
{
    join_state *st = state;
    free(st->piece);
    free(st->at);
    free(st->src);
    free(st->dst);
}

C_KERNEL(Concat, .state_size = sizeof(join_state), .setup = join_setup, .run = join_run,
         .release = join_release, .variant = 0);
C_KERNEL(Split, .state_size = sizeof(join_state), .setup = join_setup, .run = join_run,
         .release = join_release, .variant = 1);

/* ------------------------------------------------------------ Gather
 * data[pre..., n, post...], indices[I...] (i32 or i64, negative counts from the end)
 * -> Y[pre..., I..., post...] */

typedef struct gather_state {
    int64_t outer, n, nidx, inner_bytes;
    int i64;
    const char *data;
    const void *idx;
    char *y;
} gather_state;

static dc_status gather_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    gather_state *st = state;
    DC_TRY(c_arity(a, 2, 2, 1, 1));
    const dc_plan_buffer *D = a->in[0], *I = a->in[1], *Y = a->out[0];
    DC_TRY(C_EXPECT_DTYPE(I, "indices", DC_I32, DC_I64));
    if (D->rank == 0)
        return dc_error(DC_ERR_SHAPE, "data is a scalar");
    int axis;
    DC_TRY(c_axis(dc_step_int(a->step, "axis", 0), D->rank, "axis", &axis));
    if (D->rank - 1 + I->rank > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "output rank above %d", DC_MAX_RANK);
    int64_t want[DC_MAX_RANK];
    int wr = 0;
    st->outer = 1;
    int64_t inner = 1;
    for (int d = 0; d < axis; d++) {
        want[wr++] = D->dims[d];
        st->outer *= D->dims[d];
    }
    for (int d = 0; d < I->rank; d++)
        want[wr++] = I->dims[d];
    for (int d = axis + 1; d < D->rank; d++) {
        want[wr++] = D->dims[d];
        inner *= D->dims[d];
    }
    DC_TRY(c_expect_shape(Y, "output", D->dtype, wr, want));
    st->n = D->dims[axis];
    st->nidx = c_numel(I);
    st->inner_bytes = inner * (int64_t)dc_dtype_size(D->dtype);
    st->i64 = I->dtype == DC_I64;
    st->data = c_in_data(a, 0);
    st->idx = c_in_data(a, 1);
    st->y = c_out_data(a, 0);
    return DC_OK;
}

static inline int64_t gather_index(const gather_state *st, int64_t j)
{
    return st->i64 ? ((const int64_t *)st->idx)[j] : ((const int32_t *)st->idx)[j];
}

static dc_status gather_run(void *state)
{
    gather_state *st = state;
    /* Check every index before moving anything, so a bad one is a clean error. */
    for (int64_t j = 0; j < st->nidx; j++) {
        int64_t i = gather_index(st, j);
        if (i < -st->n || i >= st->n)
            return dc_error(DC_ERR_INVALID, "index %lld (indices element %lld) out of range [%lld, %lld)",
                            (long long)i, (long long)j, (long long)-st->n, (long long)st->n);
    }
    int64_t tasks = st->outer * st->nidx;
#pragma omp parallel for if (tasks * st->inner_bytes > 4 * C_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / st->nidx, j = t % st->nidx, i = gather_index(st, j);
        i = i < 0 ? i + st->n : i;
        memcpy(st->y + t * st->inner_bytes, st->data + (o * st->n + i) * st->inner_bytes,
               (size_t)st->inner_bytes);
    }
    return DC_OK;
}

C_KERNEL(Gather, .state_size = sizeof(gather_state), .setup = gather_setup, .run = gather_run);

/* ------------------------------------------------------------ copies
 * X[...] -> Y[any shape of as many elements]; Dropout (inference only) also
 * writes an all-true mask. */

typedef struct copy_state {
    const void *x;
    void *y;
    size_t bytes;
    uint8_t *mask;
    size_t mask_n;
} copy_state;

enum { COPY_PLAIN, COPY_DROPOUT };

static dc_status copy_setup(const dc_kernel_args *a, int kind, void *state)
{
    copy_state *st = state;
    if (kind == COPY_DROPOUT) {
        DC_TRY(c_arity(a, 1, 3, 1, 2));
        if (dc_step_int(a->step, "training_mode", 0) && dc_step_float(a->step, "ratio", 0.5f) != 0)
            return dc_error(DC_ERR_UNSUPPORTED, "Dropout in training mode (the C kernel only copies)");
        const dc_plan_buffer *M = c_out(a, 1);
        if (M) {
            DC_TRY(c_expect_shape(M, "mask", DC_BOOL, a->in[0]->rank, a->in[0]->dims));
            st->mask = c_out_data(a, 1);
            st->mask_n = M->nbytes;
        }
    } else {
        DC_TRY(c_arity(a, 1, 2, 1, 1));
    }
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    if (X->dtype != Y->dtype || X->nbytes != Y->nbytes)
        return dc_error(DC_ERR_SHAPE, "output %s does not hold input %s", C_TYPE_STR(Y),
                        C_TYPE_STR(X));
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    st->bytes = X->nbytes;
    return DC_OK;
}

static dc_status copy_run(void *state)
{
    copy_state *st = state;
    c_copy(st->y, st->x, st->bytes); /* nothing to do when the compiler aliased them */
    if (st->mask)
        memset(st->mask, 1, st->mask_n);
    return DC_OK;
}

#define COPY_KERNEL(OP, K) \
    C_KERNEL(OP, .state_size = sizeof(copy_state), .setup = copy_setup, .run = copy_run, .variant = K)
COPY_KERNEL(Identity, COPY_PLAIN);
COPY_KERNEL(Reshape, COPY_PLAIN);
COPY_KERNEL(Flatten, COPY_PLAIN);
COPY_KERNEL(Squeeze, COPY_PLAIN);
COPY_KERNEL(Unsqueeze, COPY_PLAIN);
COPY_KERNEL(Dropout, COPY_DROPOUT);

/* ------------------------------------------------------------ Shape, Size
 * Shape: X[d0..dn-1] -> Y[end - start] int64 = (d_start .. d_end-1)
 * Size:  X[...] -> Y[] int64 = numel(X) */

typedef struct fill_state {
    int64_t values[DC_MAX_RANK];
    int n;
    void *y;
} fill_state;

static dc_status shape_setup(const dc_kernel_args *a, int is_size, void *state)
{
    fill_state *st = state;
    DC_TRY(c_arity(a, 1, 1, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0];
    if (is_size) {
        DC_TRY(c_expect_shape(Y, "output", DC_I64, 0, NULL));
        st->values[0] = c_numel(X);
        st->n = 1;
    } else {
        int64_t r = X->rank, s = dc_step_int(a->step, "start", 0), e = dc_step_int(a->step, "end", r);
        s = s < 0 ? s + r : s;
        e = e < 0 ? e + r : e;
        s = s < 0 ? 0 : s > r ? r : s;
        e = e < 0 ? 0 : e > r ? r : e;
        st->n = e > s ? (int)(e - s) : 0;
        for (int i = 0; i < st->n; i++)
            st->values[i] = X->dims[s + i];
        int64_t n = st->n;
        DC_TRY(c_expect_shape(Y, "output", DC_I64, 1, &n));
    }
    st->y = c_out_data(a, 0);
    return DC_OK;
}

static dc_status fill_run(void *state)
{
    fill_state *st = state;
    memcpy(st->y, st->values, (size_t)st->n * sizeof(int64_t));
    return DC_OK;
}

C_KERNEL(Shape, .state_size = sizeof(fill_state), .setup = shape_setup, .run = fill_run, .variant = 0);
C_KERNEL(Size, .state_size = sizeof(fill_state), .setup = shape_setup, .run = fill_run, .variant = 1);

/* ------------------------------------------------------------ Constant, ConstantOfShape
 * Constant: () -> Y from value_float(s)/value_int(s) (or `value` given as
 *           FLOAT(S)/INT(S)), or a copy of input 0 when the compiler put the
 *           tensor in CONST
 * ConstantOfShape: shape (ignored) -> Y[...] filled with `value` (default 0) */

typedef struct const_state {
    void *y;
    size_t bytes, es;
    unsigned char *pattern; /* the whole output (Constant) or one element (ConstantOfShape) */
    const void *src;
} const_state;

/* The attribute's values as doubles (at most `max` stored); -1 when absent. */
static int attr_values(const dc_plan_step *step, const char *name, double *out, int max)
{
    const dc_plan_attr *at = dc_step_attr(step, name);
    if (!at)
        return -1;
    switch (at->type) {
    case DC_PLAN_ATTR_INT:
        if (max > 0)
            out[0] = (double)at->i;
        return 1;
    case DC_PLAN_ATTR_FLOAT:
        if (max > 0)
            out[0] = at->f;
        return 1;
    case DC_PLAN_ATTR_INTS:
        for (int i = 0; i < at->n && i < max; i++)
            out[i] = (double)at->ints[i];
        return at->n;
    case DC_PLAN_ATTR_FLOATS:
        for (int i = 0; i < at->n && i < max; i++)
            out[i] = at->floats[i];
        return at->n;
    default: return -1;
    }
}

static dc_status constant_setup(const dc_kernel_args *a, int of_shape, void *state)
{
    const_state *st = state;
    DC_TRY(c_arity(a, 0, 1, 1, 1));
    const dc_plan_buffer *Y = a->out[0], *X = c_in(a, 0);
    st->y = c_out_data(a, 0);
    st->bytes = Y->nbytes;
    st->es = dc_dtype_size(Y->dtype);
    if (!of_shape && X) { /* the value lives in a buffer */
        if (X->dtype != Y->dtype || X->nbytes != Y->nbytes)
            return dc_error(DC_ERR_SHAPE, "output %s does not hold input %s", C_TYPE_STR(Y),
                            C_TYPE_STR(X));
        st->src = c_in_data(a, 0);
        return DC_OK;
    }
    int64_t n = of_shape ? 1 : c_numel(Y);
    if (n > DC_PLAN_MAX_ATTR_VALUES)
        return dc_error(DC_ERR_UNSUPPORTED, "Constant of %lld elements from attributes", (long long)n);
    double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!v)
        return dc_error(DC_ERR_NOMEM, "constant of %lld elements", (long long)n);
    int got = -1;
    static const char *const names[] = {"value", "value_float", "value_floats", "value_int", "value_ints"};
    for (int i = 0; i < 5 && got < 0; i++)
        got = attr_values(a->step, names[i], v, (int)n);
    if (got < 0 && of_shape) {
        got = 1;
        v[0] = 0;
    }
    dc_status s = DC_OK;
    if (got != n)
        s = got < 0 ? dc_error(DC_ERR_UNSUPPORTED, "Constant without a value attribute the C kernel reads")
                    : dc_error(DC_ERR_SHAPE, "%d values for output %s", got, C_TYPE_STR(Y));
    else if (!dc_dtype_is_float(Y->dtype) && !dc_dtype_is_integer(Y->dtype) && Y->dtype != DC_BOOL)
        s = dc_error(DC_ERR_UNSUPPORTED, "output of element type %s", dc_dtype_name(Y->dtype));
    else if (!(st->pattern = malloc((size_t)n * st->es + 1)))
        s = dc_error(DC_ERR_NOMEM, "constant");
    else
        c_from_f64(Y->dtype, v, st->pattern, n);
    free(v);
    return s;
}

/* ConstantOfShape: the one element, repeated. */
static dc_status constant_run(void *state)
{
    const_state *st = state;
    size_t n = st->es ? st->bytes / st->es : 0;
    for (size_t i = 0; i < n; i++)
        memcpy((char *)st->y + i * st->es, st->pattern, st->es);
    return DC_OK;
}

static dc_status constant_run_all(void *state)
{
    const_state *st = state;
    if (st->src)
        c_copy(st->y, st->src, st->bytes);
    else if (st->bytes)
        memcpy(st->y, st->pattern, st->bytes);
    return DC_OK;
}

static void constant_release(void *state) { free(((const_state *)state)->pattern); }

C_KERNEL(Constant, .state_size = sizeof(const_state), .setup = constant_setup,
         .run = constant_run_all, .release = constant_release, .variant = 0);
C_KERNEL(ConstantOfShape, .state_size = sizeof(const_state), .setup = constant_setup,
         .run = constant_run, .release = constant_release, .variant = 1);
