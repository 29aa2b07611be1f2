#include "training.h"

#include <fnmatch.h>
#include <stdlib.h>

#include "autodiff.h"

dc_status dc_find_loss(const dc_graph *g, const char *name, dc_value **out)
{
    *out = name ? dc_graph_find_value(g, name) : g->n_outputs ? g->outputs[0] : NULL;
    if (!*out)
        return dc_error(DC_ERR_INVALID, name ? "no value named '%s' for the loss"
                                             : "the graph has no output to take as the loss%s",
                        name ? name : "");
    if (dc_type_numel(&(*out)->type) != 1 || !dc_dtype_is_float((*out)->type.dtype)) {
        char ty[128];
        return dc_error(DC_ERR_SHAPE, "loss '%s' must be one float element, found %s",
                        (*out)->name, dc_type_str(&(*out)->type, ty, sizeof ty));
    }
    return DC_OK;
}

static bool is_frozen(const dc_train_options *opt, const char *name)
{
    for (int i = 0; i < opt->n_frozen; i++)
        if (fnmatch(opt->frozen[i], name, 0) == 0)
            return true;
    return false;
}

dc_status dc_make_training_step(dc_graph *g, const dc_train_options *opt, int *n_trained)
{
    dc_value *loss;
    DC_TRY(dc_find_loss(g, opt->loss, &loss));
    int n = 0;
    dc_value **params = malloc(((size_t)g->n_initializers + 1) * sizeof *params);
    dc_value **grads = malloc(((size_t)g->n_initializers + 1) * sizeof *grads);
    dc_status s = params && grads ? DC_OK : dc_error(DC_ERR_NOMEM, "training step");
    for (int i = 0; s == DC_OK && i < g->n_initializers; i++) {
        dc_value *v = g->initializers[i];
        if (dc_dtype_is_float(v->type.dtype) && !v->is_state && !is_frozen(opt, v->name))
            params[n++] = v;
    }
    if (s == DC_OK)
        s = dc_autodiff(g, loss, params, n, grads);
    /* Parameters the loss does not depend on get no update, as in PyTorch
     * (their .grad stays None and AdamW skips them). */
    int kept = 0;
    for (int i = 0; s == DC_OK && i < n; i++)
        if (grads[i]) {
            params[kept] = params[i];
            grads[kept++] = grads[i];
        }
    if (s == DC_OK)
        s = dc_add_adamw(g, params, grads, kept, &opt->adamw);
    if (s == DC_OK && n_trained)
        *n_trained = kept;
    free(params);
    free(grads);
    return s;
}

dc_status dc_add_gradient_outputs(dc_graph *g, const char *loss_name, const char *const *names,
                                  int n, bool *reached)
{
    dc_value *loss;
    DC_TRY(dc_find_loss(g, loss_name, &loss));
    dc_value **wrt = malloc(((size_t)n + 1) * sizeof *wrt);
    dc_value **grads = malloc(((size_t)n + 1) * sizeof *grads);
    dc_status s = wrt && grads ? DC_OK : dc_error(DC_ERR_NOMEM, "gradients");
    for (int i = 0; s == DC_OK && i < n; i++) {
        wrt[i] = dc_graph_find_value(g, names[i]);
        if (!wrt[i] || (!wrt[i]->is_initializer && wrt[i]->producer))
            s = dc_error(DC_ERR_INVALID, "'%s': no initializer or graph input of that name", names[i]);
        else
            wrt[i]->is_state = true; /* a variable: folding must keep its uses */
    }
    if (s == DC_OK)
        s = dc_autodiff(g, loss, wrt, n, grads);
    if (s == DC_OK) {
        g->n_outputs = 0;
        s = dc_graph_add_output(g, loss);
    }
    for (int i = 0; s == DC_OK && i < n; i++)
        if ((reached[i] = grads[i] != NULL))
            s = dc_graph_add_output(g, grads[i]);
    free(wrt);
    free(grads);
    return s;
}
