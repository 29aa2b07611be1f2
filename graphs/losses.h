/* The DINOv2 losses and teacher targets (graphs/DINOV2.md §3),
 * declared with the builder API from registry ops only, so passes/autodiff
 * differentiates them like any other graph.
 *
 * Conventions shared by every function here:
 *   - logits are [rows, K] with the K prototypes last; all tensors share one
 *     floating element type (f32 for training, f64 in the gradient checks);
 *   - `teacher_temp` is a scalar value (a graph input: it follows the teacher
 *     temperature schedule, §5.3); `student_temp` is a constant (0.1);
 *   - builder semantics: a function returns NULL after an error (bad shapes
 *     name the loss and the tensor) and the graph keeps the first error, see
 *     dc_build_status;
 *   - the teacher side (probabilities, Sinkhorn-Knopp) is built from teacher
 *     state and centers, which autodiff never differentiates: it needs no
 *     stop-gradient. Losses are scalars of shape [].
 *
 * One step with mean centering (Lightly):
 *   p_t  = dc_centered_teacher_probs(g, teacher_cls_logits, dino_center, teacher_temp);
 *   dino = dc_dino_loss_probs(g, p_t, student_cls_logits, 0.1, B, n_local);
 *   dc_add_center_update(g, dino_center, teacher_cls_logits, 0.9f);    (passes/ema.h)
 * (dc_dino_loss does the first two in one call.) With Sinkhorn-Knopp (official
 * ViT-g recipe) replace p_t by dc_sinkhorn_knopp(...) and keep no center. */
#ifndef DC_LOSSES_H
#define DC_LOSSES_H

#include <stdbool.h>

#include "ir.h"

/* ---- teacher targets -------------------------------------------------------- */

/* softmax((T − c) / τ_t) over the last axis: T [R, K], c [1, K] -> [R, K]. */
dc_value *dc_centered_teacher_probs(dc_graph *g, dc_value *teacher_logits, dc_value *center,
                                    dc_value *teacher_temp);

/* Sinkhorn-Knopp teacher targets as the official SinkhornKnoppTeacher on one
 * process (3 iterations there): T [R, K] -> P [R, K], each row a distribution,
 * with the columns balanced over the R rows. Computed in the log domain (one
 * LogSoftmax per half-iteration), which equals the official exp-and-divide
 * iteration exactly in real arithmetic but cannot overflow: the official code
 * computes exp(T/τ_t) directly and gives inf/NaN for T/τ_t > 88 in fp32.
 * iterations >= 1. */
dc_value *dc_sinkhorn_knopp(dc_graph *g, dc_value *teacher_logits, dc_value *teacher_temp,
                            int iterations);

/* The same over the rows with a nonzero weight only (weights [R], e.g. the
 * iBOT weights, 0 for padding rows): padding rows take no part in the column
 * balance, as the official iBOT Sinkhorn-Knopp runs on the n_masked real rows
 * alone. Padding rows of the result are finite and meaningless (weight them
 * out). weights NULL: all rows count (= dc_sinkhorn_knopp). */
dc_value *dc_sinkhorn_knopp_rows(dc_graph *g, dc_value *teacher_logits, dc_value *weights,
                                 dc_value *teacher_temp, int iterations);

/* ---- DINO (§3.1) ------------------------------------------------------------ */

/* The DINO cross-entropy from teacher probabilities:
 *   teacher_probs  [2B, K]          rows [view 0: B images; view 1: B images]
 *   student_logits [(2+n_local)·B, K] rows [global 0; global 1; local 0; ...]
 *   log Q_s = log_softmax(S_s / τ_s)
 *   L = Σ_{t∈{0,1}} Σ_{s≠t} Σ_b H(P_t[b], Q_s[b]) / (N_terms · B),
 *   N_terms = 2·(2 + n_local) − 2, H(p, q) = −Σ_k p_k log q_k.
 * Computed without the [2, 2+n_local, B, K] pair tensor and without a
 * [rows, K] log-probability tensor: each student row's target is the sum of
 * the teacher views it pairs with, and one CrossEntropySoft node (ai.dinoc)
 * takes H row by row. */
dc_value *dc_dino_loss_probs(dc_graph *g, dc_value *teacher_probs, dc_value *student_logits,
                             double student_temp, int batch_size, int n_local);

/* dc_dino_loss_probs with P = dc_centered_teacher_probs(T, center, τ_t):
 * Lightly's DINOLoss forward. The center update is separate
 * (dc_add_center_update(g, center, teacher_logits, 0.9f), passes/ema.h): it
 * reads the raw teacher logits and takes effect after the step, as in Lightly. */
dc_value *dc_dino_loss(dc_graph *g, dc_value *teacher_logits, dc_value *student_logits,
                       dc_value *center, dc_value *teacher_temp, double student_temp,
                       int batch_size, int n_local);

/* ---- iBOT (§3.2) ------------------------------------------------------------ */

/* The iBOT patch loss from teacher probabilities:
 *   teacher_probs, student_patch_logits [M, K]: the masked tokens of the 2B
 *     global views, gathered row-major (image, position) up to a static bound
 *     M; rows past the step's real count are padding;
 *   weights [M]: 1/n_i for a token of image i (n_i its masked-token count),
 *     0 for padding rows (whose logits must still be finite);
 *   L = Σ_j w_j · H(P_j, Q_j) / n_images, n_images = 2B (all global images,
 *     with or without a mask). */
dc_value *dc_ibot_loss_probs(dc_graph *g, dc_value *teacher_probs, dc_value *student_patch_logits,
                             dc_value *weights, double student_temp, int n_images);

/* dc_ibot_loss_probs with P = dc_centered_teacher_probs(T, center, τ_t):
 * Lightly's IBOTPatchLoss forward. Center update: dc_ibot_center_update. */
dc_value *dc_ibot_loss(dc_graph *g, dc_value *teacher_patch_logits, dc_value *student_patch_logits,
                       dc_value *center, dc_value *weights, dc_value *teacher_temp,
                       double student_temp, int n_images);

/* center ← μ·center + (1 − μ)·mean of the teacher rows with a nonzero weight
 * (Lightly: the mean over the step's M real masked rows), as one EMA node
 * (passes/ema.h). A step without any masked token leaves the center as it is
 * (Lightly would take the mean of an empty tensor: NaN). center [1, K],
 * teacher_patch_logits [M, K], weights [M]. */
dc_status dc_ibot_center_update(dc_graph *g, dc_value *center, dc_value *teacher_patch_logits,
                                dc_value *weights, float mu);

/* The same update in two halves, for a batch split over processes or
 * micro-batches: the statistics of one slice, *sum [1, K] (the real masked
 * teacher rows summed) and *count [] (how many), which the caller sums over
 * the slices, then c' ← μ·c' + (1 − μ)·sum/count (unchanged when count is 0).
 * Any common scale of sum and count cancels. */
dc_status dc_ibot_center_statistics(dc_graph *g, dc_value *teacher_patch_logits, dc_value *weights,
                                    dc_value **sum, dc_value **count);
dc_status dc_ibot_center_update_from_sum(dc_graph *g, dc_value *center, dc_value *sum,
                                         dc_value *count, float mu);

/* ---- KoLeo (§3.3) ----------------------------------------------------------- */

/* Lightly's KoLeoLoss (p = 2, eps = 1e-8) of x [n, d]:
 *   x̂ = x / max(‖x‖, 1e-8)                (as dc_l2_normalize, heads.h)
 *   S = x̂ x̂ᵀ with the diagonal set to −2,  n(i) = argmax_j S_ij (first on ties)
 *   d_i = ‖x̂_i − x̂_{n(i)} + 1e-8‖          (eps added to the difference)
 *   L = −(1/n) Σ_i ln(d_i + 1e-8)
 * The neighbour is held fixed (ArgMax has no gradient); its row is taken by a
 * one-hot [n, n] matrix times x̂, so the gradient also reaches x̂_{n(i)}.
 * n = 1 gives −ln(2e-8) ≈ 17.73 (a sample is its own neighbour). */
dc_value *dc_koleo_loss(dc_graph *g, dc_value *x);

#endif
