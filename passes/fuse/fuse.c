/* The fusion pass: the rules in their fixed order (fuse.h). A rule earlier in
 * the table sees the graph before the later ones: MatMul + bias claims its
 * bias Add before the element-wise chains would, and finds the GELU and
 * attention compositions already fused, and folds its transposed weights
 * before the transpose rule turns what is left into Gemms. */
#include "fuse.h"

static const dc_fuse_rule rules[] = {
    {"gelu", dc_fuse_gelu, DC_FUSE_FORWARD},
    {"attention", dc_fuse_attention, DC_FUSE_FORWARD},
    {"layer-norm", dc_fuse_layer_norm, DC_FUSE_FORWARD},
    {"matmul-bias", dc_fuse_matmul_bias, DC_FUSE_FORWARD | DC_FUSE_FINAL},
    {"transpose", dc_fuse_transpose, DC_FUSE_FINAL},
    {"elementwise", dc_fuse_elementwise, DC_FUSE_FINAL},
    {"adamw", dc_fuse_adamw, DC_FUSE_FINAL},
    {"gelu-recompute", dc_fuse_gelu_recompute, DC_FUSE_FINAL},
};

const dc_fuse_rule *dc_fuse_rules(int *count)
{
    *count = (int)(sizeof rules / sizeof rules[0]);
    return rules;
}

dc_status dc_fuse(dc_graph *g, dc_fuse_stage stage, FILE *log, int *n_fused)
{
    int total = 0;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (!(rules[i].stages & (unsigned)stage))
            continue;
        int n = 0;
        dc_status s = rules[i].apply(g, &n);
        if (s != DC_OK)
            return dc_error_context(s, "fusion rule %s", rules[i].name);
        if (log && n)
            fprintf(log, "fuse: %s %d\n", rules[i].name, n);
        total += n;
    }
    if (n_fused)
        *n_fused = total;
    return dc_graph_verify(g);
}
