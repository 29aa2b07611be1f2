/* The optimizer as graph nodes: AdamW with PyTorch's semantics, parameter
 * groups chosen by name pattern, and gradient clipping by norm, over all
 * parameters or over named sets of them.
 *
 * lr and weight decay enter every step as scalar graph inputs ("lr",
 * "weight_decay"), so one artifact serves a whole schedule. The moments
 * ("<param>.exp_avg", "<param>.exp_avg_sq", as in torch's state dict) and the
 * step count ("optimizer.step") are training state of the artifact. */
#ifndef DC_OPTIMIZER_H
#define DC_OPTIMIZER_H

#include "ir.h"

typedef struct dc_param_group {
    const char *pattern; /* fnmatch(3) pattern on the parameter name */
    float lr_scale;      /* multiplies the step's lr (layer-wise decay, 0 freezes) */
    bool weight_decay;   /* apply the step's weight decay (off for biases and norms) */
    const char *lr_input; /* the scalar graph input with this group's lr; NULL: "lr" (a
                             separate input lets a schedule freeze a layer for a while) */
} dc_param_group;

/* A set of parameters whose gradients are clipped together, as one
 * torch.nn.utils.clip_grad_norm_(set, max_norm) call: every gradient of the set
 * is scaled by min(1, max_norm / (‖set's gradients‖ + 1e-6)). */
typedef struct dc_clip_group {
    const char *pattern; /* fnmatch(3) pattern on the parameter name */
    float max_norm;      /* 0: the parameters it matches are not clipped */
} dc_clip_group;

typedef struct dc_adamw_options {
    float beta1, beta2, epsilon;    /* 0.9, 0.999, 1e-8 when all zero */
    float clip_norm;                /* clip the norm of all gradients together to this (one
                                       clip group "*"); 0 = no clipping */
    const dc_clip_group *clip_groups; /* or clip by sets: a parameter belongs to the first */
    int n_clip_groups;              /* group its name matches, each set is clipped by its own
                                       norm; parameters matching none are not clipped. Giving
                                       both clip_norm and clip groups is an error. */
    const dc_param_group *groups;   /* the first matching pattern wins; parameters */
    int n_groups;                   /* matching none get lr_scale 1 and weight decay */
} dc_adamw_options;

/* The group of parameter `name` (lr_scale 1, weight decay on when none matches). */
dc_param_group dc_param_group_of(const dc_adamw_options *opt, const char *name);

/* The clipping dc_add_adamw starts with, on its own: grads[i] becomes the
 * clipped gradient. A sharded optimizer clips every gradient, then updates
 * its share of the parameters with clipping off. */
dc_status dc_clip_gradients(dc_graph *g, dc_value *const *params, dc_value **grads, int n,
                            const dc_adamw_options *opt);

/* Adds one AdamW update per parameter (initializers, which become training
 * state) from its gradient, after clipping; the updated values replace the
 * parameters after each run. */
dc_status dc_add_adamw(dc_graph *g, dc_value *const *params, dc_value *const *grads, int n,
                       const dc_adamw_options *opt);

#endif
