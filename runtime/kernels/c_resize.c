/* Resize (opset 13-17), following the ONNX reference implementation.
 *
 *   X[d0..dn-1] (any numeric type) -> Y[o0..on-1] (the output buffer's shape)
 *
 * Canonical attributes: `scales` (floats, one per axis; absent: o_i / d_i),
 * `roi` (floats, 2n; or input 1 read at run time, for tf_crop_and_resize),
 * mode nearest/linear/cubic, coordinate_transformation_mode half_pixel,
 * pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn,
 * tf_crop_and_resize; nearest_mode, cubic_coeff_a, exclude_outside,
 * extrapolation_value.
 *
 * The resize is separable: along each axis, output coordinate x maps to a
 * source coordinate and to 1, 2 or 4 taps (index, weight), indices clamped to
 * the edge as the reference pads with edge values. An output element is the
 * sum over tap combinations of the product of weights times the input
 * element; taps of weight 0 are skipped. Computed in double, then stored with
 * Cast's conversion rules.
 *
 * c.ResizeGrad (ai.dinoc) is the adjoint of that linear map:
 *
 *   dy[o0..on-1] (float), x_like[d0..dn-1] (only its shape) -> dx[d0..dn-1]
 *
 * with the same attributes (roi only as an attribute). It builds the same
 * taps with the same function (compute_taps), transposes them per axis into
 * "which outputs read input i, with what weight" lists, and then computes
 * every dx element on its own as a sum over those lists: parallel without
 * atomics, and the same result for any thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "c_util.h"

enum { NEAREST, LINEAR, CUBIC };
enum { HALF_PIXEL, PYTORCH_HALF_PIXEL, ALIGN_CORNERS, ASYMMETRIC, TF_HALF_PIXEL_NN, TF_CROP };
enum { ROUND_PREFER_FLOOR, ROUND_PREFER_CEIL, FLOOR, CEIL };

typedef struct tap_axis {
    int64_t *idx;   /* [out, 4] */
    double *w;      /* [out, 4] */
    uint8_t *n;     /* [out] taps kept */
    uint8_t *outside; /* [out] extrapolate */
} tap_axis;

typedef struct resize_state {
    int rank, mode, ctm, nearest_mode, exclude_outside, roi_given, roi_from_input;
    double cubic_a, extrapolation;
    double scales[DC_MAX_RANK], roi[2 * DC_MAX_RANK];
    int64_t in[DC_MAX_RANK], out[DC_MAX_RANK], in_strides[DC_MAX_RANK];
    int scales_given;
    dc_dtype t, roi_t;
    int64_t in_n, out_n;
    tap_axis axes[DC_MAX_RANK];
    const void *x, *roi_data;
    void *y;
    double *xd, *yd;
} resize_state;

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* The attributes, lengths and scales of a resize from X's lengths to Y's
 * (the forward: X = input, Y = output; the adjoint: X = dx, Y = dy). */
static dc_status read_params(const dc_kernel_args *a, const dc_plan_buffer *X,
                             const dc_plan_buffer *Y, resize_state *st)
{
    if (Y->rank != X->rank)
        return dc_error(DC_ERR_SHAPE, "%s and %s differ in rank", C_TYPE_STR(Y), C_TYPE_STR(X));
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const ctms[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                       "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
    static const char *const nmodes[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const char *mode = dc_step_string(a->step, "mode", "nearest");
    const char *ctm = dc_step_string(a->step, "coordinate_transformation_mode", "half_pixel");
    const char *nmode = dc_step_string(a->step, "nearest_mode", "round_prefer_floor");
    st->mode = pick(mode, modes, 3);
    st->ctm = pick(ctm, ctms, 6);
    st->nearest_mode = pick(nmode, nmodes, 4);
    if (st->mode < 0 || st->ctm < 0 || st->nearest_mode < 0)
        return dc_error(DC_ERR_UNSUPPORTED, "mode '%s', coordinate_transformation_mode '%s', nearest_mode '%s'",
                        mode, ctm, nmode);
    st->cubic_a = dc_step_float(a->step, "cubic_coeff_a", -0.75f);
    st->exclude_outside = dc_step_int(a->step, "exclude_outside", 0) != 0;
    st->extrapolation = dc_step_float(a->step, "extrapolation_value", 0.0f);
    st->rank = X->rank;
    st->t = X->dtype;
    int ns = 0, nr = 0;
    const float *scales = dc_step_floats(a->step, "scales", &ns);
    const float *roi = dc_step_floats(a->step, "roi", &nr);
    if (scales && ns != X->rank)
        return dc_error(DC_ERR_INVALID, "%d scales for rank %d", ns, X->rank);
    if (roi && nr != 2 * X->rank)
        return dc_error(DC_ERR_INVALID, "%d roi values for rank %d", nr, X->rank);
    st->scales_given = scales != NULL;
    for (int d = 0; d < X->rank; d++) {
        st->in[d] = X->dims[d];
        st->out[d] = Y->dims[d];
        if (scales && !(scales[d] > 0))
            return dc_error(DC_ERR_INVALID, "scale %g on axis %d", scales[d], d);
        if (!scales && st->in[d] == 0)
            return dc_error(DC_ERR_SHAPE, "axis %d of the input is empty", d);
        st->scales[d] = scales ? scales[d] : (double)st->out[d] / (double)st->in[d];
        st->roi[d] = roi ? roi[d] : 0;
        st->roi[X->rank + d] = roi ? roi[X->rank + d] : 1;
    }
    st->roi_given = roi != NULL;
    c_strides(X->rank, X->dims, st->in_strides);
    st->in_n = c_numel(X);
    st->out_n = c_numel(Y);
    return DC_OK;
}

/* Room for the taps of every output coordinate. */
static dc_status alloc_taps(resize_state *st)
{
    for (int d = 0; d < st->rank; d++) {
        size_t o = (size_t)(st->out[d] ? st->out[d] : 1);
        tap_axis *t = &st->axes[d];
        t->idx = malloc(o * 4 * sizeof(int64_t));
        t->w = malloc(o * 4 * sizeof(double));
        t->n = malloc(o);
        t->outside = malloc(o);
        if (!t->idx || !t->w || !t->n || !t->outside)
            return dc_error(DC_ERR_NOMEM, "Resize taps");
    }
    return DC_OK;
}

static dc_status resize_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    resize_state *st = state;
    DC_TRY(c_arity(a, 1, 4, 1, 1));
    const dc_plan_buffer *X = a->in[0], *Y = a->out[0], *R = c_in(a, 1);
    if (!dc_dtype_is_float(X->dtype) && !dc_dtype_is_integer(X->dtype))
        return dc_error(DC_ERR_UNSUPPORTED, "input of element type %s is not supported",
                        dc_dtype_name(X->dtype));
    DC_TRY(c_same_dtype(Y, "output", X, "input"));
    DC_TRY(read_params(a, X, Y, st));
    if (st->ctm == TF_CROP && !st->roi_given && R && c_numel(R) == 2 * X->rank) {
        DC_TRY(C_EXPECT_DTYPE(R, "roi", DC_F32, DC_F64, DC_F16));
        st->roi_from_input = 1;
        st->roi_t = R->dtype;
    }
    if (!a->in_data)
        return DC_OK;
    st->x = c_in_data(a, 0);
    st->y = c_out_data(a, 0);
    st->roi_data = st->roi_from_input ? c_in_data(a, 1) : NULL;
    st->xd = malloc((size_t)(st->in_n ? st->in_n : 1) * sizeof(double));
    st->yd = malloc((size_t)(st->out_n ? st->out_n : 1) * sizeof(double));
    if (!st->xd || !st->yd)
        return dc_error(DC_ERR_NOMEM, "Resize scratch");
    return alloc_taps(st);
}

/* The taps of output coordinate x along one axis (the reference's
 * interpolate_1d_with_x). */
static void axis_taps(const resize_state *st, int d, int64_t x, tap_axis *t)
{
    double in = (double)st->in[d], scale = st->scales[d];
    double out_len = st->scales_given ? scale * in : (double)st->out[d];
    double r0 = st->roi[d], r1 = st->roi[st->rank + d], xo;
    int outside = 0;
    switch (st->ctm) {
    case ALIGN_CORNERS: xo = out_len == 1 ? 0 : (double)x * (in - 1) / (out_len - 1); break;
    case ASYMMETRIC: xo = (double)x / scale; break;
    case TF_HALF_PIXEL_NN: xo = ((double)x + 0.5) / scale; break;
    case TF_CROP:
        xo = out_len == 1 ? (r1 - r0) * (in - 1) / 2 : (double)x * (r1 - r0) * (in - 1) / (out_len - 1);
        xo += r0 * (in - 1);
        outside = xo < 0 || xo > in - 1;
        break;
    case PYTORCH_HALF_PIXEL: xo = out_len > 1 ? ((double)x + 0.5) / scale - 0.5 : 0; break;
    default: xo = ((double)x + 0.5) / scale - 0.5; break;
    }
    t->outside[x] = (uint8_t)outside;
    /* The reference picks the left neighbour below xo, or xo - 1 when xo is
     * an integer, with ratio 1 then. */
    double fl = floor(xo);
    int integral = xo == fl;
    double ratio = integral ? 1.0 : xo - fl;
    int64_t left = (int64_t)fl - integral;
    double c[4];
    int n;
    if (st->mode == CUBIC) {
        double A = st->cubic_a, r = ratio, s = 1 - ratio;
        c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
        c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
        c[2] = ((A + 2) * s - (A + 3)) * s * s + 1;
        c[3] = ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A;
        n = 4;
        left -= 1;
    } else if (st->mode == LINEAR) {
        c[0] = 1 - ratio;
        c[1] = ratio;
        n = 2;
    } else {
        int right;
        switch (integral ? CEIL : st->nearest_mode) {
        case ROUND_PREFER_FLOOR: right = ratio > 0.5; break;
        case ROUND_PREFER_CEIL: right = ratio >= 0.5; break;
        case FLOOR: right = 0; break;
        default: right = 1; break;
        }
        c[0] = !right;
        c[1] = right;
        n = 2;
    }
    /* Nearest keeps its one element, clamped to the edge, as the reference
     * kernel does: excluding it would leave nothing (ONNX divides 0 by 0). */
    if (st->exclude_outside && st->mode != NEAREST) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            int64_t idx = left + i;
            if (idx < 0 || idx >= st->in[d])
                c[i] = 0;
            sum += c[i];
        }
        for (int i = 0; i < n && sum != 0; i++)
            c[i] /= sum;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (c[i] == 0)
            continue;
        int64_t idx = left + i;
        idx = idx < 0 ? 0 : idx >= st->in[d] ? st->in[d] - 1 : idx;
        t->idx[x * 4 + kept] = idx;
        t->w[x * 4 + kept] = c[i];
        kept++;
    }
    t->n[x] = (uint8_t)kept;
}

/* The taps of every output coordinate on every axis: the one computation of
 * taps and weights, shared by Resize and ResizeGrad. */
static void compute_taps(resize_state *st)
{
    for (int d = 0; d < st->rank; d++)
        for (int64_t x = 0; x < st->out[d]; x++)
            axis_taps(st, d, x, &st->axes[d]);
}

static dc_status resize_run(void *state)
{
    resize_state *st = state;
    int R = st->rank;
    if (st->roi_from_input)
        c_to_f64(st->roi_t, st->roi_data, st->roi, 2 * R);
    compute_taps(st);
    c_to_f64(st->t, st->x, st->xd, st->in_n);
#pragma omp parallel for if (st->out_n > C_PAR_MIN / 16)
    for (int64_t o = 0; o < st->out_n; o++) {
        int64_t pos[DC_MAX_RANK], rem = o;
        int outside = 0;
        for (int d = R - 1; d >= 0; d--) {
            pos[d] = rem % st->out[d];
            rem /= st->out[d];
            outside |= st->axes[d].outside[pos[d]];
        }
        if (outside) {
            st->yd[o] = st->extrapolation;
            continue;
        }
        /* Odometer over the tap combinations. */
        int k[DC_MAX_RANK] = {0}, empty = 0;
        for (int d = 0; d < R; d++)
            empty |= st->axes[d].n[pos[d]] == 0;
        double sum = 0;
        while (!empty) {
            double w = 1;
            int64_t off = 0;
            for (int d = 0; d < R; d++) {
                const tap_axis *t = &st->axes[d];
                w *= t->w[pos[d] * 4 + k[d]];
                off += t->idx[pos[d] * 4 + k[d]] * st->in_strides[d];
            }
            sum += w * st->xd[off];
            int d = R - 1;
            while (d >= 0 && ++k[d] == st->axes[d].n[pos[d]])
                k[d--] = 0;
            if (d < 0)
                break;
        }
        st->yd[o] = sum;
    }
    /* The reference rounds integer results down (astype), as c_from_f64 does. */
    c_from_f64(st->t, st->yd, st->y, st->out_n);
    return DC_OK;
}

static void resize_release(void *state)
{
    resize_state *st = state;
    free(st->xd);
    free(st->yd);
    for (int d = 0; d < DC_MAX_RANK; d++) {
        free(st->axes[d].idx);
        free(st->axes[d].w);
        free(st->axes[d].n);
        free(st->axes[d].outside);
    }
}

C_KERNEL(Resize, .state_size = sizeof(resize_state), .setup = resize_setup, .run = resize_run,
         .release = resize_release);

/* ------------------------------------------------------------ ResizeGrad */

/* Axis d of the adjoint: input coordinate i is read by outputs
 * out[start[i] .. start[i+1]) with weights w[...], in increasing output order. */
typedef struct adjoint_axis {
    int64_t *start; /* [in + 1] */
    int64_t *out;   /* [taps kept] */
    double *w;      /* [taps kept] */
} adjoint_axis;

typedef struct resize_grad_state {
    resize_state r; /* X = dx, Y = dy */
    adjoint_axis adj[DC_MAX_RANK];
    int64_t out_strides[DC_MAX_RANK];
    const void *dy;
    void *dx;
} resize_grad_state;

/* Transposes axis d's taps; outputs that extrapolate read no input. */
static dc_status transpose_taps(const resize_state *st, int d, adjoint_axis *adj)
{
    const tap_axis *t = &st->axes[d];
    int64_t in = st->in[d], kept = 0;
    adj->start = calloc((size_t)in + 1, sizeof *adj->start);
    for (int64_t x = 0; x < st->out[d]; x++)
        kept += t->outside[x] ? 0 : t->n[x];
    adj->out = malloc((size_t)(kept ? kept : 1) * sizeof *adj->out);
    adj->w = malloc((size_t)(kept ? kept : 1) * sizeof *adj->w);
    if (!adj->start || !adj->out || !adj->w)
        return dc_error(DC_ERR_NOMEM, "ResizeGrad taps");
    for (int64_t x = 0; x < st->out[d]; x++)
        for (int k = 0; !t->outside[x] && k < t->n[x]; k++)
            adj->start[t->idx[x * 4 + k] + 1]++;
    for (int64_t i = 0; i < in; i++)
        adj->start[i + 1] += adj->start[i];
    int64_t *fill = malloc((size_t)(in ? in : 1) * sizeof *fill);
    if (!fill)
        return dc_error(DC_ERR_NOMEM, "ResizeGrad taps");
    memcpy(fill, adj->start, (size_t)in * sizeof *fill);
    for (int64_t x = 0; x < st->out[d]; x++)
        for (int k = 0; !t->outside[x] && k < t->n[x]; k++) {
            int64_t at = fill[t->idx[x * 4 + k]]++;
            adj->out[at] = x;
            adj->w[at] = t->w[x * 4 + k];
        }
    free(fill);
    return DC_OK;
}

static dc_status resize_grad_setup(const dc_kernel_args *a, int variant, void *state)
{
    (void)variant;
    resize_grad_state *gs = state;
    resize_state *st = &gs->r;
    DC_TRY(c_arity(a, 2, 2, 1, 1));
    const dc_plan_buffer *DY = a->in[0], *XL = a->in[1], *DX = a->out[0];
    if (!dc_dtype_is_float(DY->dtype))
        return dc_error(DC_ERR_UNSUPPORTED, "dy of element type %s; ResizeGrad takes floats",
                        dc_dtype_name(DY->dtype));
    DC_TRY(c_same_dtype(XL, "x_like", DY, "dy"));
    DC_TRY(c_expect_shape(DX, "dx", XL->dtype, XL->rank, XL->dims));
    DC_TRY(read_params(a, DX, DY, st));
    if (st->ctm == TF_CROP && !st->roi_given)
        return dc_error(DC_ERR_UNSUPPORTED, "tf_crop_and_resize needs the roi attribute");
    c_strides(DY->rank, DY->dims, gs->out_strides);
    if (!a->in_data)
        return DC_OK;
    gs->dy = c_in_data(a, 0);
    gs->dx = c_out_data(a, 0);
    st->xd = malloc((size_t)(st->in_n ? st->in_n : 1) * sizeof(double));
    st->yd = malloc((size_t)(st->out_n ? st->out_n : 1) * sizeof(double));
    if (!st->xd || !st->yd)
        return dc_error(DC_ERR_NOMEM, "ResizeGrad scratch");
    DC_TRY(alloc_taps(st));
    compute_taps(st); /* every attribute is static: once, here */
    for (int d = 0; d < st->rank; d++)
        DC_TRY(transpose_taps(st, d, &gs->adj[d]));
    return DC_OK;
}

static dc_status resize_grad_run(void *state)
{
    resize_grad_state *gs = state;
    resize_state *st = &gs->r;
    int R = st->rank;
    c_to_f64(st->t, gs->dy, st->yd, st->out_n);
#pragma omp parallel for if (st->in_n > C_PAR_MIN / 16)
    for (int64_t i = 0; i < st->in_n; i++) {
        /* dx[i] = Σ over one (output, weight) pair per axis of Π weights · dy[outputs]. */
        int64_t first[DC_MAX_RANK], len[DC_MAX_RANK], k[DC_MAX_RANK] = {0}, rem = i;
        int empty = 0;
        for (int d = R - 1; d >= 0; d--) {
            int64_t pos = rem % st->in[d];
            rem /= st->in[d];
            first[d] = gs->adj[d].start[pos];
            len[d] = gs->adj[d].start[pos + 1] - first[d];
            empty |= len[d] == 0;
        }
        double sum = 0;
        while (!empty) {
            double w = 1;
            int64_t off = 0;
            for (int d = 0; d < R; d++) {
                w *= gs->adj[d].w[first[d] + k[d]];
                off += gs->adj[d].out[first[d] + k[d]] * gs->out_strides[d];
            }
            sum += w * st->yd[off];
            int d = R - 1;
            while (d >= 0 && ++k[d] == len[d])
                k[d--] = 0;
            if (d < 0)
                break;
        }
        st->xd[i] = sum;
    }
    c_from_f64(st->t, st->xd, gs->dx, st->in_n);
    return DC_OK;
}

static void resize_grad_release(void *state)
{
    resize_grad_state *gs = state;
    resize_release(&gs->r);
    for (int d = 0; d < DC_MAX_RANK; d++) {
        free(gs->adj[d].start);
        free(gs->adj[d].out);
        free(gs->adj[d].w);
    }
}

C_KERNEL(ResizeGrad, .state_size = sizeof(resize_grad_state), .setup = resize_grad_setup,
         .run = resize_grad_run, .release = resize_grad_release);
