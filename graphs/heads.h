/* The DINO / iBOT projection head, Lightly's DINOv2ProjectionHead
 * (graphs/DINOV2.md §2.2), declared with the builder API:
 *
 *   h1 = GELU(x·W0ᵀ + b0)             W0 [hidden, in]          "layers.0.*"
 *   h2 = GELU(h1·W2ᵀ + b2)            W2 [hidden, hidden]      "layers.2.*"
 *   z  = h2·W4ᵀ + b4                  W4 [bottleneck, hidden]  "layers.4.*"
 *   ẑ  = z / max(‖z‖, 1e-12)
 *   y  = ẑ·Wᵀ,  W[k,:] = g_k · v_k / ‖v_k‖                   "last_layer.weight_g" [K,1]
 *                                                             "last_layer.weight_v" [K,bottleneck]
 *
 * The names are those of Lightly's module (nn.Sequential indices 0, 2, 4 with
 * the GELUs at 1 and 3; torch.nn.utils.weight_norm's weight_g/weight_v), so a
 * Lightly state_dict maps one to one under the same prefix.
 *
 * Every parameter is training state (dc_state): the optimizer updates them,
 * the teacher's copies are EMA targets. W is recomputed from g and v inside
 * the graph on every step, so both g and v get gradients (as in PyTorch). */
#ifndef DC_HEADS_H
#define DC_HEADS_H

#include <stdint.h>

#include "dinov2_config.h"
#include "ir.h"

enum { DC_HEAD_N_PARAMS = 8 };

/* The declared parameters of one head; lives in the graph's arena. */
typedef struct dc_head {
    dc_head_config cfg;
    int in_dim;
    /* layers.{0,2,4}.weight: [hidden, in], [hidden, hidden], [bottleneck, hidden] */
    dc_value *weight[3];
    dc_value *bias[3];   /* layers.{0,2,4}.bias: [hidden], [hidden], [bottleneck] */
    dc_value *weight_g;  /* last_layer.weight_g [K, 1] */
    dc_value *weight_v;  /* last_layer.weight_v [K, bottleneck] */
} dc_head;

/* Declares the head's parameters as f32 training state named
 * "<prefix>layers.0.weight", ..., "<prefix>last_layer.weight_v" (prefix e.g.
 * "student.dino_head."; may be "" or NULL), initialised as Lightly does:
 * Linear weights trunc_normal(std 0.02, cut at ±2 absolute), biases 0,
 * v ~ U(−1/√bottleneck, 1/√bottleneck) (torch's default Linear init), g = 1.
 * The random numbers come from `seed` (deterministic; they cannot match
 * torch's generator). Lightly initialises student and teacher heads
 * independently: pass different seeds, or copy the student's data. */
dc_status dc_head_declare(dc_graph *g, const dc_head_config *cfg, int in_dim, const char *prefix,
                          uint64_t seed, dc_head **out);

/* The head's forward pass: x [N, in] (any leading dims) -> logits [N, K], in
 * x's element type (the parameters must have the same one). Builder
 * semantics: NULL after an error, see dc_build_status. */
dc_value *dc_head_forward(dc_graph *g, const dc_head *head, dc_value *x);

/* The parameters in Lightly's state_dict order (layers.0.weight,
 * layers.0.bias, layers.2.*, layers.4.*, last_layer.weight_g,
 * last_layer.weight_v): out must hold DC_HEAD_N_PARAMS values. Returns the count. */
int dc_head_parameters(const dc_head *head, dc_value **out);

/* x / max(‖x‖₂, eps) along the last axis, as torch.nn.functional.normalize,
 * computed as x / √(Σx² + eps²): there is no Max op, and the two differ by
 * less than eps²/(2‖x‖²) relative for ‖x‖ ≫ eps; at x = 0 both give 0 with
 * the same gradient I/eps. Shared by the head (eps 1e-12) and KoLeo (1e-8). */
dc_value *dc_l2_normalize(dc_graph *g, dc_value *x, double eps);

#endif
