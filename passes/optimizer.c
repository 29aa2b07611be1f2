#include "optimizer.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>

#include "builder.h"

dc_param_group dc_param_group_of(const dc_adamw_options *opt, const char *name)
{
    for (int i = 0; opt && i < opt->n_groups; i++)
        if (fnmatch(opt->groups[i].pattern, name, 0) == 0)
            return opt->groups[i];
    return (dc_param_group){"*", 1.0f, true, NULL};
}

/* A scalar f32 graph input, reused when the graph already has it. */
static dc_value *scalar_input(dc_graph *g, const char *name)
{
    dc_value *v = dc_graph_find_value(g, name);
    return v ? v : dc_input(g, name, DC_F32, 0, NULL);
}

/* A zero-filled state tensor shaped like `like`. */
static dc_value *zero_state(dc_graph *g, const char *name, const dc_value *like)
{
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < like->type.rank; i++)
        dims[i] = like->type.dims[i].size;
    dc_tensor *t;
    dc_status s = dc_tensor_create(&t, name, like->type.dtype, like->type.rank, dims);
    return s == DC_OK ? dc_state(g, name, t) : NULL;
}

/* PyTorch's clip_grad_norm_ over the gradients grads[members[0..n)]: total =
 * ‖(‖g_1‖, …, ‖g_n‖)‖, and each of them is scaled by min(1, max_norm / (total
 * + 1e-6)). min(1, c) is written (1 + c − |1 − c|) / 2 with the ops the
 * registry has. */
static void clip_gradients(dc_graph *g, dc_value **grads, const int *members, int n, float max_norm)
{
    dc_value *sum_sq = NULL;
    for (int i = 0; i < n; i++) {
        dc_value *gi = grads[members[i]];
        dc_value *sq = dc_reduce(g, "ReduceSum", dc_mul(g, gi, gi), NULL, 0, false);
        sum_sq = sum_sq ? dc_add(g, sum_sq, sq) : sq;
    }
    /* One builder call a statement, so the graph (and its printed names) does
     * not depend on the compiler's order of evaluating arguments. */
    dc_value *total = dc_unary(g, "Sqrt", sum_sq);
    dc_value *eps = dc_scalar_f32(g, 1e-6f);
    dc_value *denominator = dc_add(g, total, eps);
    dc_value *norm = dc_scalar_f32(g, max_norm);
    dc_value *coef = dc_div(g, norm, denominator);
    dc_value *one = dc_scalar_f32(g, 1.0f);
    dc_value *gap = dc_unary(g, "Abs", dc_sub(g, one, coef));
    dc_value *twice_min = dc_sub(g, dc_add(g, one, coef), gap);
    dc_value *half = dc_scalar_f32(g, 0.5f);
    dc_value *scale = dc_mul(g, twice_min, half);
    for (int i = 0; i < n; i++)
        grads[members[i]] = dc_mul(g, grads[members[i]], scale);
}

/* Clipping as the options ask: clip_norm is the one group "*"; otherwise each
 * parameter joins the first clip group its name matches, and every group with
 * a positive max_norm and at least one parameter is clipped on its own. */
dc_status dc_clip_gradients(dc_graph *g, dc_value *const *params, dc_value **grads, int n,
                            const dc_adamw_options *opt)
{
    if (opt->clip_norm < 0 || (opt->clip_norm > 0 && opt->n_clip_groups > 0))
        return dc_error(DC_ERR_INVALID, "AdamW: clip_norm %g with %d clip groups: give a positive "
                        "clip_norm or clip groups, not both", opt->clip_norm, opt->n_clip_groups);
    const dc_clip_group all = {"*", opt->clip_norm};
    const dc_clip_group *groups = opt->clip_norm > 0 ? &all : opt->clip_groups;
    int n_groups = opt->clip_norm > 0 ? 1 : opt->n_clip_groups;
    if (n_groups == 0)
        return DC_OK;
    for (int k = 0; k < n_groups; k++)
        if (!groups[k].pattern || !(groups[k].max_norm >= 0))
            return dc_error(DC_ERR_INVALID, "AdamW: clip group %d ('%s'): max_norm %g, expected a "
                            "pattern and a norm >= 0", k, groups[k].pattern ? groups[k].pattern : "",
                            groups[k].max_norm);
    int *group_of = malloc(((size_t)n + 1) * sizeof *group_of);
    int *members = malloc(((size_t)n + 1) * sizeof *members);
    if (!group_of || !members) {
        free(group_of);
        free(members);
        return dc_error(DC_ERR_NOMEM, "AdamW: clip groups");
    }
    for (int i = 0; i < n; i++) {
        group_of[i] = -1;
        for (int k = 0; k < n_groups && group_of[i] < 0; k++)
            if (fnmatch(groups[k].pattern, params[i]->name, 0) == 0)
                group_of[i] = k;
    }
    for (int k = 0; k < n_groups; k++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (group_of[i] == k)
                members[m++] = i;
        if (m > 0 && groups[k].max_norm > 0)
            clip_gradients(g, grads, members, m, groups[k].max_norm);
    }
    free(group_of);
    free(members);
    return dc_build_status(g);
}

dc_status dc_add_adamw(dc_graph *g, dc_value *const *params, dc_value *const *grads_in, int n,
                       const dc_adamw_options *opt)
{
    float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
    if (opt && (opt->beta1 || opt->beta2 || opt->epsilon)) {
        beta1 = opt->beta1;
        beta2 = opt->beta2;
        eps = opt->epsilon;
    }
    if (!dc_graph_opset(g, "ai.dinoc"))
        DC_TRY(dc_graph_set_opset(g, "ai.dinoc", 1));
    dc_value *grads[n > 0 ? n : 1];
    for (int i = 0; i < n; i++)
        grads[i] = grads_in[i];
    if (opt)
        DC_TRY(dc_clip_gradients(g, params, grads, n, opt));

    dc_value *lr = scalar_input(g, "lr"), *wd = scalar_input(g, "weight_decay");
    /* The 1-based step count: state incremented by every run. */
    dc_tensor *zero;
    DC_TRY(dc_tensor_create(&zero, NULL, DC_I64, 0, NULL));
    dc_value *step = dc_state(g, "optimizer.step", zero);
    dc_value *next_step = dc_add(g, step, dc_scalar(g, DC_I64, 1));
    DC_TRY(dc_build_status(g));
    DC_TRY(dc_graph_add_state_update(g, step, next_step));

    for (int i = 0; i < n; i++) {
        const dc_value *p = params[i];
        char name[512];
        snprintf(name, sizeof name, "%s.exp_avg", p->name);
        dc_value *m = zero_state(g, name, p);
        snprintf(name, sizeof name, "%s.exp_avg_sq", p->name);
        dc_value *v = zero_state(g, name, p);
        if (!m || !v)
            return dc_error(DC_ERR_NOMEM, "AdamW moments of '%s'", p->name);
        dc_param_group grp = dc_param_group_of(opt, p->name);
        dc_value *group_lr = grp.lr_input ? scalar_input(g, grp.lr_input) : lr;
        dc_value *in[] = {(dc_value *)p, grads[i], m, v, group_lr, wd, next_step};
        dc_node *node = dc_node_begin(g, "AdamW", "ai.dinoc", in, 7, 3);
        DC_TRY(dc_build_status(g));
        DC_TRY(dc_node_set_float(node, g, "beta1", beta1));
        DC_TRY(dc_node_set_float(node, g, "beta2", beta2));
        DC_TRY(dc_node_set_float(node, g, "epsilon", eps));
        DC_TRY(dc_node_set_float(node, g, "lr_scale", grp.lr_scale));
        DC_TRY(dc_node_set_int(node, g, "decay", grp.weight_decay));
        dc_node_finish(g, node);
        DC_TRY(dc_build_status(g));
        DC_TRY(dc_graph_add_state_update(g, (dc_value *)p, node->outputs[0]));
        DC_TRY(dc_graph_add_state_update(g, m, node->outputs[1]));
        DC_TRY(dc_graph_add_state_update(g, v, node->outputs[2]));
    }
    return DC_OK;
}
