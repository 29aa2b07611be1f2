/* Reverse-mode automatic differentiation as a graph transformation.
 *
 * Appends to `g` the nodes computing d loss / d wrt[i] for each requested
 * value (trainable parameters, or inputs when a user checks a graph). Only
 * nodes on a path from some wrt[i] to the loss get gradient work: teacher
 * weights, centers and data never do. A value used several times (the student
 * backbone on global and local crops) gets the sum of its uses' gradients. */
#ifndef DC_AUTODIFF_H
#define DC_AUTODIFF_H

#include "ir.h"

/* `loss` must hold one element. grads[i] receives the gradient value of
 * wrt[i] (same type), or NULL when the loss does not depend on it (as
 * PyTorch leaves .grad None). Fails, naming the node, when an op on the path
 * has no gradient rule. */
dc_status dc_autodiff(dc_graph *g, dc_value *loss, dc_value *const *wrt, int n_wrt,
                      dc_value **grads);

#endif
