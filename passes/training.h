/* From a graph with a scalar loss to one training step (`dinoc compile
 * --train`): the gradients of the loss for the trainable parameters
 * (autodiff), then AdamW over them (optimizer). EMA updates a graph declares
 * (dc_add_ema) stay as they are, after the optimizer. */
#ifndef DC_TRAINING_H
#define DC_TRAINING_H

#include "optimizer.h"

typedef struct dc_train_options {
    const char *loss;                /* the loss value's name; NULL: the first graph output */
    const char *const *frozen;       /* fnmatch patterns of initializers not to train */
    int n_frozen;
    dc_adamw_options adamw;
} dc_train_options;

/* Trains every float initializer the loss depends on and no frozen pattern
 * matches; *n_trained (may be NULL) receives their count. The loss stays a
 * graph output. */
dc_status dc_make_training_step(dc_graph *g, const dc_train_options *opt, int *n_trained);

/* For `dinoc grad`: the graph's outputs become the loss, then d loss / d v for
 * each value named in wrt[] (initializers or graph inputs) that the loss
 * depends on; reached[i] tells which got an output. */
dc_status dc_add_gradient_outputs(dc_graph *g, const char *loss, const char *const *wrt, int n,
                                  bool *reached);

/* The value named `name`, which must hold one float element: the loss. */
dc_status dc_find_loss(const dc_graph *g, const char *name, dc_value **out);

#endif
