/* The DINOv2 losses and teacher targets (losses.h). */
#include "losses.h"

#include <stdio.h>
#include <stdlib.h>

#include "builder.h"
#include "ema.h"
#include "heads.h"
#include "op_registry.h"

/* Records a failure in the graph's sticky builder status (as builder.c does
 * for its own calls), so callers see it in dc_build_status. */
static void *build_fail(dc_graph *g, dc_status s)
{
    if (g->build_status == DC_OK)
        g->build_status = s;
    return NULL;
}

/* False (and a recorded error) when v is not a static [rows, cols] tensor of a
 * float type; rows or cols < 0 accept any size. */
static bool check_matrix(dc_graph *g, const char *loss, const char *what, const dc_value *v,
                         int64_t rows, int64_t cols)
{
    if (g->build_status != DC_OK)
        return false;
    if (!v) {
        build_fail(g, dc_error(DC_ERR_INVALID, "%s: %s is NULL", loss, what));
        return false;
    }
    const dc_type *t = &v->type;
    bool ok = dc_dtype_is_float(t->dtype) && t->rank == 2 && dc_type_is_static(t) &&
              (rows < 0 || t->dims[0].size == rows) && (cols < 0 || t->dims[1].size == cols);
    if (!ok) {
        char buf[128], want[64] = "[rows, K]";
        if (rows >= 0 && cols >= 0)
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)rows, (long long)cols);
        else if (rows >= 0)
            snprintf(want, sizeof want, "[%lld, K]", (long long)rows);
        else if (cols >= 0)
            snprintf(want, sizeof want, "[rows, %lld]", (long long)cols);
        build_fail(g, dc_error(DC_ERR_SHAPE, "%s: %s '%s' must be a static float %s, found %s",
                               loss, what, v->name, want, dc_type_str(t, buf, sizeof buf)));
    }
    return ok;
}

/* A float scalar ([] or [1]) of element type `dtype`. */
static bool check_scalar(dc_graph *g, const char *loss, const char *what, const dc_value *v,
                         dc_dtype dtype)
{
    if (g->build_status != DC_OK)
        return false;
    if (!v) {
        build_fail(g, dc_error(DC_ERR_INVALID, "%s: %s is NULL", loss, what));
        return false;
    }
    const dc_type *t = &v->type;
    bool ok = t->dtype == dtype && (t->rank == 0 || (t->rank == 1 && t->dims[0].size == 1));
    if (!ok) {
        char buf[128];
        build_fail(g, dc_error(DC_ERR_SHAPE, "%s: %s '%s' must be a %s scalar, found %s", loss,
                               what, v->name, dc_dtype_name(dtype),
                               dc_type_str(t, buf, sizeof buf)));
    }
    return ok;
}

/* weights [rows] of element type `dtype`. */
static bool check_weights(dc_graph *g, const char *loss, const dc_value *w, int64_t rows,
                          dc_dtype dtype)
{
    if (g->build_status != DC_OK)
        return false;
    if (!w) {
        build_fail(g, dc_error(DC_ERR_INVALID, "%s: weights are NULL", loss));
        return false;
    }
    bool ok = w->type.dtype == dtype && w->type.rank == 1 && w->type.dims[0].size == rows;
    if (!ok) {
        char buf[128];
        build_fail(g, dc_error(DC_ERR_SHAPE, "%s: weights '%s' must be %s[%lld], found %s", loss,
                               w->name, dc_dtype_name(dtype), (long long)rows,
                               dc_type_str(&w->type, buf, sizeof buf)));
    }
    return ok;
}

static dc_value *reduce_sum_axis(dc_graph *g, dc_value *x, int64_t axis, bool keepdims)
{
    return dc_reduce(g, "ReduceSum", x, &axis, 1, keepdims);
}

/* Per row r, H(P[r], softmax(S[r] / τ_s)) = −Σ_k P[r,k] log softmax(S[r] / τ_s)[k]:
 * S, P [R, K] -> [R], one fused CrossEntropySoft node that works row by row.
 * Its second output, the per-row gradient, is what autodiff keeps for the
 * backward in place of S and P (an undifferentiated graph only pays for it
 * during that one step). */
static dc_value *cross_entropy_rows(dc_graph *g, dc_value *student_logits, dc_value *targets,
                                    double student_temp)
{
    if (g->build_status == DC_OK && !dc_graph_opset(g, DC_DOMAIN_DINOC)) {
        dc_status s = dc_graph_set_opset(g, DC_DOMAIN_DINOC, 1);
        if (s != DC_OK)
            return build_fail(g, s);
    }
    dc_value *in[] = {student_logits, targets,
                      dc_scalar(g, student_logits->type.dtype, student_temp)};
    return dc_node_finish(g, dc_node_begin(g, "CrossEntropySoft", DC_DOMAIN_DINOC, in, 3, 2));
}

/* 1.0 where w == 0, as a bool [R, 1] (padding rows). */
static dc_value *padding_rows(dc_graph *g, dc_value *weights)
{
    const int64_t col = 1;
    dc_value *zero = dc_scalar(g, weights->type.dtype, 0.0);
    return dc_unsqueeze(g, dc_binary(g, "Equal", weights, zero), &col, 1);
}

/* ---- teacher targets -------------------------------------------------------- */

dc_value *dc_centered_teacher_probs(dc_graph *g, dc_value *teacher_logits, dc_value *center,
                                    dc_value *teacher_temp)
{
    const char *what = "teacher probabilities";
    if (!check_matrix(g, what, "teacher logits", teacher_logits, -1, -1))
        return NULL;
    int64_t k = teacher_logits->type.dims[1].size;
    dc_dtype dtype = teacher_logits->type.dtype;
    if (!check_matrix(g, what, "center", center, 1, k) ||
        !check_scalar(g, what, "teacher temperature", teacher_temp, dtype))
        return NULL;
    dc_value *centered = dc_sub(g, teacher_logits, center);        /* [R, K] */
    return dc_softmax(g, dc_div(g, centered, teacher_temp), -1);  /* [R, K] */
}

/* The official iteration on Q = exp(T/τ)ᵀ [K, R]: Q /= ΣQ; then n times
 * { Q /= row sums (per prototype, over samples); Q /= K; Q /= column sums
 * (per sample); Q /= R }; finally Q *= R. In the log domain, with L = T/τ in
 * our [R, K] layout, every division by a global constant cancels against the
 * next normalisation (or the final ·R), leaving
 *   repeat n: L = log_softmax(L, axis 0); L = log_softmax(L, axis 1)
 * and P = exp(L), i.e. the last step is a softmax over axis 1. Padding rows
 * are set to −1e30 before each axis-0 step, so they add exp(−1e30) = 0 to
 * every column sum. */
dc_value *dc_sinkhorn_knopp_rows(dc_graph *g, dc_value *teacher_logits, dc_value *weights,
                                 dc_value *teacher_temp, int iterations)
{
    const char *what = "Sinkhorn-Knopp";
    if (!check_matrix(g, what, "teacher logits", teacher_logits, -1, -1))
        return NULL;
    int64_t rows = teacher_logits->type.dims[0].size;
    dc_dtype dtype = teacher_logits->type.dtype;
    if (!check_scalar(g, what, "teacher temperature", teacher_temp, dtype) ||
        (weights && !check_weights(g, what, weights, rows, dtype)))
        return NULL;
    if (iterations < 1)
        return build_fail(g, dc_error(DC_ERR_INVALID, "%s: %d iterations, need at least 1", what,
                                      iterations));
    dc_value *pad = weights ? padding_rows(g, weights) : NULL;   /* bool [R, 1] */
    dc_value *excluded = pad ? dc_scalar(g, dtype, -1e30) : NULL;
    dc_value *l = dc_div(g, teacher_logits, teacher_temp);        /* [R, K] */
    for (int it = 0; it < iterations; it++) {
        if (pad)
            l = dc_where(g, pad, excluded, l);
        l = dc_log_softmax(g, l, 0);                              /* prototypes: mass 1/K each */
        l = it + 1 < iterations ? dc_log_softmax(g, l, 1)         /* samples: mass 1/R each */
                                : dc_softmax(g, l, 1);            /* ·R: rows are distributions */
    }
    return l;
}

dc_value *dc_sinkhorn_knopp(dc_graph *g, dc_value *teacher_logits, dc_value *teacher_temp,
                            int iterations)
{
    return dc_sinkhorn_knopp_rows(g, teacher_logits, NULL, teacher_temp, iterations);
}

/* ---- DINO ------------------------------------------------------------------- */

dc_value *dc_dino_loss_probs(dc_graph *g, dc_value *teacher_probs, dc_value *student_logits,
                             double student_temp, int batch_size, int n_local)
{
    const char *what = "DINO loss";
    if (g->build_status != DC_OK)
        return NULL;
    if (batch_size < 1 || n_local < 0)
        return build_fail(g, dc_error(DC_ERR_INVALID, "%s: batch size %d and %d local views", what,
                                      batch_size, n_local));
    const int64_t b = batch_size, views = 2 + n_local;
    if (!check_matrix(g, what, "teacher probabilities", teacher_probs, 2 * b, -1))
        return NULL;
    int64_t k = teacher_probs->type.dims[1].size;
    dc_dtype dtype = teacher_probs->type.dtype;
    if (!check_matrix(g, what, "student logits", student_logits, views * b, k))
        return NULL;
    if (student_logits->type.dtype != dtype)
        return build_fail(g, dc_error(DC_ERR_SHAPE, "%s: teacher is %s but student is %s", what,
                                      dc_dtype_name(dtype),
                                      dc_dtype_name(student_logits->type.dtype)));

    /* Student view s pairs with every teacher view t ≠ s, so its target is
     * Σ_{t≠s} P_t: P_1 for global view 0, P_0 for global view 1, P_0 + P_1 for
     * each local view. Then L = Σ_rows H(target, Q_s) / (N_terms·B). */
    dc_value *p0 = dc_slice(g, teacher_probs, 0, 0, b), *p1 = dc_slice(g, teacher_probs, 0, b, 2 * b);
    dc_value *targets[3] = {p1, p0, NULL};
    int n_parts = 2;
    if (n_local > 0) {
        const int64_t one[] = {1, b, k}, many[] = {n_local, b, k}, flat[] = {n_local * b, k};
        dc_value *both = dc_reshape(g, dc_add(g, p0, p1), one, 3);                    /* [1, B, K] */
        targets[n_parts++] = dc_reshape(g, dc_expand(g, both, many, 3), flat, 2);      /* [nL·B, K] */
    }
    dc_value *target = dc_concat(g, targets, n_parts, 0);                               /* [V·B, K] */
    dc_value *rows = cross_entropy_rows(g, student_logits, target, student_temp);       /* [V·B] */
    double n_terms = (double)(2 * views - 2);
    return dc_div(g, dc_reduce(g, "ReduceSum", rows, NULL, 0, false),
                  dc_scalar(g, dtype, n_terms * (double)b));
}

dc_value *dc_dino_loss(dc_graph *g, dc_value *teacher_logits, dc_value *student_logits,
                       dc_value *center, dc_value *teacher_temp, double student_temp,
                       int batch_size, int n_local)
{
    dc_value *p = dc_centered_teacher_probs(g, teacher_logits, center, teacher_temp);
    return dc_dino_loss_probs(g, p, student_logits, student_temp, batch_size, n_local);
}

/* ---- iBOT ------------------------------------------------------------------- */

dc_value *dc_ibot_loss_probs(dc_graph *g, dc_value *teacher_probs, dc_value *student_patch_logits,
                             dc_value *weights, double student_temp, int n_images)
{
    const char *what = "iBOT loss";
    if (!check_matrix(g, what, "teacher probabilities", teacher_probs, -1, -1))
        return NULL;
    int64_t m = teacher_probs->type.dims[0].size, k = teacher_probs->type.dims[1].size;
    dc_dtype dtype = teacher_probs->type.dtype;
    if (!check_matrix(g, what, "student patch logits", student_patch_logits, m, k) ||
        !check_weights(g, what, weights, m, dtype))
        return NULL;
    if (student_patch_logits->type.dtype != dtype)
        return build_fail(g, dc_error(DC_ERR_SHAPE, "%s: teacher is %s but student is %s", what,
                                      dc_dtype_name(dtype),
                                      dc_dtype_name(student_patch_logits->type.dtype)));
    if (n_images < 1)
        return build_fail(g, dc_error(DC_ERR_INVALID, "%s: %d images", what, n_images));

    /* Σ_j w_j H(P_j, Q_j) / n_images */
    dc_value *rows = cross_entropy_rows(g, student_patch_logits, teacher_probs, student_temp); /* [M] */
    dc_value *total = dc_reduce(g, "ReduceSum", dc_mul(g, rows, weights), NULL, 0, false);    /* [] */
    return dc_div(g, total, dc_scalar(g, dtype, (double)n_images));
}

dc_value *dc_ibot_loss(dc_graph *g, dc_value *teacher_patch_logits, dc_value *student_patch_logits,
                       dc_value *center, dc_value *weights, dc_value *teacher_temp,
                       double student_temp, int n_images)
{
    dc_value *p = dc_centered_teacher_probs(g, teacher_patch_logits, center, teacher_temp);
    return dc_ibot_loss_probs(g, p, student_patch_logits, weights, student_temp, n_images);
}

dc_status dc_ibot_center_update(dc_graph *g, dc_value *center, dc_value *teacher_patch_logits,
                                dc_value *weights, float mu)
{
    const char *what = "iBOT center update";
    if (check_matrix(g, what, "teacher patch logits", teacher_patch_logits, -1, -1)) {
        int64_t m = teacher_patch_logits->type.dims[0].size;
        int64_t k = teacher_patch_logits->type.dims[1].size;
        dc_dtype dtype = teacher_patch_logits->type.dtype;
        if (check_matrix(g, what, "center", center, 1, k) &&
            check_weights(g, what, weights, m, dtype)) {
            dc_value *zero = dc_scalar(g, dtype, 0.0), *one = dc_scalar(g, dtype, 1.0);
            dc_value *pad = padding_rows(g, weights);                              /* bool [M, 1] */
            dc_value *real = dc_where(g, pad, zero, one);                          /* [M, 1] */
            dc_value *sum = reduce_sum_axis(g, dc_mul(g, teacher_patch_logits, real), 0,
                                            true);                                 /* [1, K] */
            dc_value *count = dc_reduce(g, "ReduceSum", real, NULL, 0, false);     /* [] */
            dc_value *none = dc_binary(g, "Equal", count, zero);                   /* bool [] */
            /* No masked token: divide by 1 (the sum is 0) and keep the center. */
            dc_value *mean = dc_div(g, sum, dc_add(g, count, dc_where(g, none, one, zero)));
            dc_value *momentum = dc_where(g, none, one, dc_scalar(g, dtype, mu));  /* [] */
            if (dc_build_status(g) == DC_OK)
                return dc_add_ema(g, momentum, &center, &mean, 1);
        }
    }
    return dc_build_status(g);
}

dc_status dc_ibot_center_statistics(dc_graph *g, dc_value *teacher_patch_logits, dc_value *weights,
                                    dc_value **sum, dc_value **count)
{
    const char *what = "iBOT center statistics";
    *sum = *count = NULL;
    if (check_matrix(g, what, "teacher patch logits", teacher_patch_logits, -1, -1) &&
        check_weights(g, what, weights, teacher_patch_logits->type.dims[0].size,
                      teacher_patch_logits->type.dtype)) {
        dc_dtype dtype = teacher_patch_logits->type.dtype;
        dc_value *zero = dc_scalar(g, dtype, 0.0), *one = dc_scalar(g, dtype, 1.0);
        dc_value *real = dc_where(g, padding_rows(g, weights), zero, one);        /* [M, 1] */
        *sum = reduce_sum_axis(g, dc_mul(g, teacher_patch_logits, real), 0, true); /* [1, K] */
        *count = dc_reduce(g, "ReduceSum", real, NULL, 0, false);                 /* [] */
    }
    return dc_build_status(g);
}

dc_status dc_ibot_center_update_from_sum(dc_graph *g, dc_value *center, dc_value *sum,
                                         dc_value *count, float mu)
{
    const char *what = "iBOT center update";
    if (check_matrix(g, what, "sum", sum, 1, -1) &&
        check_matrix(g, what, "center", center, 1, sum->type.dims[1].size) &&
        check_scalar(g, what, "count", count, sum->type.dtype)) {
        dc_dtype dtype = sum->type.dtype;
        dc_value *zero = dc_scalar(g, dtype, 0.0), *one = dc_scalar(g, dtype, 1.0);
        dc_value *none = dc_binary(g, "Equal", count, zero);                       /* bool [] */
        dc_value *mean = dc_div(g, sum, dc_add(g, count, dc_where(g, none, one, zero)));
        dc_value *momentum = dc_where(g, none, one, dc_scalar(g, dtype, mu));      /* [] */
        if (dc_build_status(g) == DC_OK)
            return dc_add_ema(g, momentum, &center, &mean, 1);
    }
    return dc_build_status(g);
}

/* ---- KoLeo ------------------------------------------------------------------ */

dc_value *dc_koleo_loss(dc_graph *g, dc_value *x)
{
    const char *what = "KoLeo loss";
    if (!check_matrix(g, what, "features", x, -1, -1))
        return NULL;
    const int64_t n = x->type.dims[0].size;
    const double eps = 1e-8;
    dc_dtype dtype = x->type.dtype;

    /* Compile-time constants: the diagonal mask [n, n] and 0..n−1 [n]. */
    const int64_t nn_dims[] = {n, n};
    dc_tensor *eye_t, *arange_t;
    dc_status s = dc_tensor_create(&eye_t, NULL, DC_BOOL, 2, nn_dims);
    if (s != DC_OK)
        return build_fail(g, dc_error_context(s, "%s", what));
    for (int64_t i = 0; i < n; i++)
        ((uint8_t *)eye_t->data)[i * n + i] = 1;
    dc_value *eye = dc_param(g, dc_graph_unique_name(g, "koleo_eye"), eye_t);
    s = dc_tensor_create(&arange_t, NULL, DC_I64, 1, &n);
    if (s != DC_OK)
        return build_fail(g, dc_error_context(s, "%s", what));
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)arange_t->data)[i] = i;
    dc_value *arange = dc_param(g, dc_graph_unique_name(g, "koleo_arange"), arange_t);

    dc_value *xh = dc_l2_normalize(g, x, eps);                                  /* [n, d] */
    /* The neighbour is argmax_j x̂_i·x̂_j, found here as argmax_j 2·c_i·c_j − ‖c_j‖²
     * over the centred rows c = x̂ − mean(x̂), the same ranking (it is
     * 2·x̂_i·x̂_j plus a per-row constant for unit rows) without cancellation:
     * early in training the cls tokens of a batch are ~1e-4 apart, their
     * cosines all round to 1 in f32 and the plain argmax picks the first row,
     * not the nearest (−ln d then comes out ~5% low at ViT-S/16 batch 16). */
    const int64_t batch_axis = 0, perm[] = {1, 0};
    dc_value *c = dc_sub(g, xh, dc_reduce(g, "ReduceMean", xh, &batch_axis, 1, true)); /* [n, d] */
    dc_value *sq = reduce_sum_axis(g, dc_mul(g, c, c), 1, false);                /* [n] */
    dc_value *cc = dc_matmul(g, c, dc_transpose(g, c, perm, 2));                /* [n, n] */
    dc_value *sim = dc_sub(g, dc_mul(g, cc, dc_scalar(g, dtype, 2.0)), sq);     /* [n, n] */
    /* Scores are ‖c_i‖² − ‖x̂_i − x̂_j‖² ≥ −4: −8 keeps a row off itself. */
    sim = dc_where(g, eye, dc_scalar(g, dtype, -8.0), sim);
    dc_node *argmax = dc_node_begin(g, "ArgMax", "", &sim, 1, 1);
    if (argmax) {
        dc_status a = dc_node_set_int(argmax, g, "axis", 1);
        if (a == DC_OK)
            a = dc_node_set_int(argmax, g, "keepdims", 1);
        if (a != DC_OK)
            return build_fail(g, a);
    }
    dc_value *nearest = dc_node_finish(g, argmax);                              /* i64 [n, 1] */
    /* One-hot rows through Where, not Cast: Where's gradient rule ignores its
     * condition, so autodiff stops there (a Cast from bool would ask Equal
     * for a gradient it does not have). */
    dc_value *hit = dc_binary(g, "Equal", nearest, arange);                     /* bool [n, n] */
    dc_value *onehot = dc_where(g, hit, dc_scalar(g, dtype, 1.0), dc_scalar(g, dtype, 0.0));
    dc_value *neighbour = dc_matmul(g, onehot, xh);                             /* [n, d] */
    /* torch.pairwise_distance adds eps to the difference. */
    dc_value *u = dc_add(g, dc_sub(g, xh, neighbour), dc_scalar(g, dtype, eps)); /* [n, d] */
    dc_value *dist = dc_unary(g, "Sqrt", reduce_sum_axis(g, dc_mul(g, u, u), 1, false)); /* [n] */
    dc_value *log_d = dc_unary(g, "Log", dc_add(g, dist, dc_scalar(g, dtype, eps)));    /* [n] */
    return dc_unary(g, "Neg", dc_reduce(g, "ReduceMean", log_d, NULL, 0, false));       /* [] */
}
