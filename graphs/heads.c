/* The DINOv2 projection head (heads.h). */
#include "heads.h"

#include <math.h>
#include <stdio.h>

#include "builder.h"
#include "init_random.h"

/* Records a failure in the graph's sticky builder status (as builder.c does
 * for its own calls), so callers see it in dc_build_status. */
static void *build_fail(dc_graph *g, dc_status s)
{
    if (g->build_status == DC_OK)
        g->build_status = s;
    return NULL;
}

/* ---- initialisation (init_random.h) ---------------------------------------- */

enum { INIT_TRUNC_NORMAL, INIT_ZERO, INIT_UNIFORM, INIT_ONE };

/* A [rows, cols] (cols 0: [rows]) f32 state tensor named prefix+suffix. */
static dc_value *declare(dc_graph *g, const char *prefix, const char *suffix, int64_t rows,
                         int64_t cols, int init, double scale, dc_init_rng *r)
{
    if (g->build_status != DC_OK)
        return NULL;
    char name[512];
    int len = snprintf(name, sizeof name, "%s%s", prefix, suffix);
    if (len < 0 || (size_t)len >= sizeof name)
        return build_fail(g, dc_error(DC_ERR_INVALID, "head: parameter name '%s%s' is too long",
                                      prefix, suffix));
    const int64_t dims[] = {rows, cols};
    dc_tensor *t;
    dc_status s = dc_tensor_create(&t, NULL, DC_F32, cols ? 2 : 1, dims);
    if (s != DC_OK)
        return build_fail(g, dc_error_context(s, "head parameter '%s'", name));
    float *p = t->data;
    for (uint64_t i = 0; i < dc_tensor_numel(t); i++) {
        switch (init) {
        case INIT_TRUNC_NORMAL: p[i] = (float)dc_init_trunc_normal(r, scale, 2.0); break;
        case INIT_UNIFORM: p[i] = (float)(scale * (2.0 * dc_init_uniform(r) - 1.0)); break;
        case INIT_ONE: p[i] = 1.0f; break;
        default: p[i] = 0.0f; break;
        }
    }
    return dc_state(g, name, t);
}

dc_status dc_head_declare(dc_graph *g, const dc_head_config *cfg, int in_dim, const char *prefix,
                          uint64_t seed, dc_head **out)
{
    *out = NULL;
    DC_TRY(dc_build_status(g));
    if (!prefix)
        prefix = "";
    if (in_dim < 1 || cfg->hidden_dim < 1 || cfg->bottleneck_dim < 1 || cfg->output_dim < 1) {
        dc_status s = dc_error(DC_ERR_INVALID,
                               "head '%s': dimensions must be positive (in %d, hidden %d, "
                               "bottleneck %d, output %d)",
                               prefix, in_dim, cfg->hidden_dim, cfg->bottleneck_dim,
                               cfg->output_dim);
        build_fail(g, s);
        return s;
    }
    dc_head *h = dc_arena_alloc(g->arena, sizeof *h);
    if (!h)
        return dc_error(DC_ERR_NOMEM, "head '%s'", prefix);
    h->cfg = *cfg;
    h->in_dim = in_dim;
    dc_init_rng r = {seed}; /* one stream for the whole head, in declaration order */
    static const char *const w_names[] = {"layers.0.weight", "layers.2.weight", "layers.4.weight"};
    static const char *const b_names[] = {"layers.0.bias", "layers.2.bias", "layers.4.bias"};
    const int64_t outs[] = {cfg->hidden_dim, cfg->hidden_dim, cfg->bottleneck_dim};
    const int64_t ins[] = {in_dim, cfg->hidden_dim, cfg->hidden_dim};
    for (int i = 0; i < 3; i++) {
        h->weight[i] = declare(g, prefix, w_names[i], outs[i], ins[i], INIT_TRUNC_NORMAL, 0.02, &r);
        h->bias[i] = declare(g, prefix, b_names[i], outs[i], 0, INIT_ZERO, 0, &r);
    }
    /* Lightly fills g with 1 after weight_norm; v keeps nn.Linear's default
     * init, kaiming_uniform(a=√5) = U(±1/√fan_in), because apply(_init_weights)
     * ran before the last layer was created. */
    h->weight_g = declare(g, prefix, "last_layer.weight_g", cfg->output_dim, 1, INIT_ONE, 0, &r);
    h->weight_v = declare(g, prefix, "last_layer.weight_v", cfg->output_dim, cfg->bottleneck_dim,
                          INIT_UNIFORM, 1.0 / sqrt((double)cfg->bottleneck_dim), &r);
    DC_TRY(dc_build_status(g));
    *out = h;
    return DC_OK;
}

int dc_head_parameters(const dc_head *head, dc_value **out)
{
    int n = 0;
    for (int i = 0; i < 3; i++) {
        out[n++] = head->weight[i];
        out[n++] = head->bias[i];
    }
    out[n++] = head->weight_g;
    out[n++] = head->weight_v;
    return n;
}

dc_value *dc_l2_normalize(dc_graph *g, dc_value *x, double eps)
{
    if (g->build_status != DC_OK)
        return NULL;
    if (!x)
        return build_fail(g, dc_error(DC_ERR_INVALID, "l2 normalize: input is NULL"));
    dc_dtype t = x->type.dtype;
    const int64_t last = -1;
    dc_value *sum_sq = dc_reduce(g, "ReduceSum", dc_mul(g, x, x), &last, 1, true); /* [..., 1] */
    dc_value *norm = dc_unary(g, "Sqrt", dc_add(g, sum_sq, dc_scalar(g, t, eps * eps)));
    return dc_div(g, x, norm);
}

dc_value *dc_head_forward(dc_graph *g, const dc_head *head, dc_value *x)
{
    if (g->build_status != DC_OK)
        return NULL;
    if (!head || !x)
        return build_fail(g, dc_error(DC_ERR_INVALID, "head forward: %s is NULL",
                                      head ? "input" : "head"));
    int rank = x->type.rank;
    if (rank < 1 || x->type.dims[rank - 1].size != head->in_dim) {
        char buf[128];
        return build_fail(g, dc_error(DC_ERR_SHAPE,
                                      "head '%s': input '%s' must be [..., %d], found %s",
                                      head->weight[0]->name, x->name, head->in_dim,
                                      dc_type_str(&x->type, buf, sizeof buf)));
    }
    dc_value *h = x;                                                    /* [N, in] */
    h = dc_gelu(g, dc_linear(g, h, head->weight[0], head->bias[0]));   /* [N, hidden] */
    h = dc_gelu(g, dc_linear(g, h, head->weight[1], head->bias[1]));   /* [N, hidden] */
    h = dc_linear(g, h, head->weight[2], head->bias[2]);                /* [N, bottleneck] */
    /* fp32 eps as Lightly (it switches to 1e-6 only for fp16 activations). */
    double eps = x->type.dtype == DC_F16 || x->type.dtype == DC_BF16 ? 1e-6 : 1e-12;
    dc_value *z = dc_l2_normalize(g, h, eps);                           /* [N, bottleneck] */
    /* W = g · v / ‖v‖ row by row (torch weight_norm, dim 0, no eps). */
    const int64_t cols = 1;
    dc_value *v = head->weight_v;                                       /* [K, bottleneck] */
    dc_value *v_norm = dc_unary(g, "Sqrt", dc_reduce(g, "ReduceSum", dc_mul(g, v, v), &cols, 1,
                                                     true));            /* [K, 1] */
    dc_value *w = dc_mul(g, v, dc_div(g, head->weight_g, v_norm));      /* [K, bottleneck] */
    return dc_linear(g, z, w, NULL);                                    /* [N, K] */
}
