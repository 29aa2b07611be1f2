/* The ViT backbone (timm VisionTransformer, Lightly's DINOv2 wrapper) as a
 * graph: parameter declaration with Lightly's initialisation, the forward
 * pass, presets, and the bicubic pos-embed resize matrix. See vit.h. */
#include "vit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "init_random.h"

typedef struct vit_block {
    dc_value *norm1_w, *norm1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ls1;
    dc_value *norm2_w, *norm2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b, *ls2;
} vit_block;

struct dc_vit {
    dc_vit_config cfg;
    const char *prefix;
    int grid;          /* image_size / patch_size: the grid pos_embed is declared for */
    int64_t hidden;    /* MLP width H (per branch with SwiGLU) */
    dc_value *cls, *reg, *pos, *mask_token, *patch_w, *patch_b, *norm_w, *norm_b;
    vit_block *blocks;
    dc_value **params; /* declaration order */
    int n_params, cap_params;
};

/* Records `s` as the graph's sticky builder error (the first one wins). */
static dc_status vit_fail(dc_graph *g, dc_status s)
{
    if (g->build_status == DC_OK)
        g->build_status = (int)s;
    return s;
}

/* ---- configuration ----------------------------------------------------------------- */

typedef struct vit_preset {
    const char *name;
    int image, patch, dim, depth, heads;
    bool swiglu;
    float drop_path;
} vit_preset;

static const vit_preset presets[] = {
    {"vit-ti/16", 224, 16, 192, 12, 3, false, 0.1f},
    {"vit-s/16", 224, 16, 384, 12, 6, false, 0.1f},
    {"vit-b/16", 224, 16, 768, 12, 12, false, 0.1f},
    {"vit-l/16", 224, 16, 1024, 24, 16, false, 0.1f},
    {"vit-g/14", 224, 14, 1536, 40, 24, true, 0.4f},
    {"vit-test/4", 32, 4, 32, 2, 2, false, 0.1f},
};
enum { N_PRESETS = sizeof presets / sizeof presets[0] };

/* "vit-s/16" and "vit-s16" name the same preset. */
static bool preset_name_matches(const char *preset, const char *name)
{
    for (; *preset; preset++) {
        if (*preset == '/' && *name != '/')
            continue;
        if (*preset != *name)
            return false;
        name++;
    }
    return *name == '\0';
}

dc_status dc_vit_preset(const char *name, dc_vit_config *out)
{
    for (int i = 0; name && i < N_PRESETS; i++) {
        const vit_preset *p = &presets[i];
        if (!preset_name_matches(p->name, name))
            continue;
        *out = (dc_vit_config){
            .image_size = p->image,
            .patch_size = p->patch,
            .in_chans = 3,
            .embed_dim = p->dim,
            .depth = p->depth,
            .num_heads = p->heads,
            .mlp_ratio = 4.0f,
            .swiglu = p->swiglu,
            .n_registers = 0,
            .layerscale_init = 1e-5f,
            .ln_eps = 1e-6f,
            .drop_path = p->drop_path,
        };
        return DC_OK;
    }
    char known[256] = "";
    for (int i = 0; i < N_PRESETS; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 presets[i].name);
    return dc_error(DC_ERR_INVALID, "unknown ViT '%s' (known: %s)", name ? name : "(null)", known);
}

int64_t dc_vit_mlp_hidden(const dc_vit_config *c)
{
    double width = (double)c->mlp_ratio * c->embed_dim;
    if (!(width >= 0 && width < 1e12))
        return -1;
    if (c->swiglu) /* dinov2/layers/swiglu_ffn.py: SwiGLUFFNFused */
        return ((int64_t)(width * 2 / 3) + 7) / 8 * 8;
    return (int64_t)width;
}

dc_status dc_vit_check_config(const dc_vit_config *c)
{
    if (!c)
        return dc_error(DC_ERR_INVALID, "ViT config: NULL");
#define POSITIVE(field, max)                                                              \
    if (c->field <= 0 || c->field > (max))                                                \
        return dc_error(DC_ERR_INVALID, "ViT config: " #field " = %d, expected 1..%d",    \
                        (int)c->field, (int)(max));
    POSITIVE(image_size, 1 << 16)
    POSITIVE(patch_size, 1 << 16)
    POSITIVE(in_chans, 1 << 16)
    POSITIVE(embed_dim, 1 << 20)
    POSITIVE(depth, 1 << 12)
    POSITIVE(num_heads, 1 << 16)
#undef POSITIVE
    if (c->image_size % c->patch_size)
        return dc_error(DC_ERR_INVALID,
                        "ViT config: image_size %d is not a multiple of patch_size %d",
                        c->image_size, c->patch_size);
    if (c->embed_dim % c->num_heads)
        return dc_error(DC_ERR_INVALID,
                        "ViT config: embed_dim %d is not a multiple of num_heads %d",
                        c->embed_dim, c->num_heads);
    if (c->n_registers < 0 || c->n_registers > 1024)
        return dc_error(DC_ERR_INVALID, "ViT config: n_registers = %d, expected 0..1024",
                        c->n_registers);
    int64_t hidden = dc_vit_mlp_hidden(c);
    if (hidden <= 0 || hidden > (1 << 22))
        return dc_error(DC_ERR_INVALID,
                        "ViT config: mlp_ratio %g gives an MLP width of %lld for embed_dim %d",
                        (double)c->mlp_ratio, (long long)hidden, c->embed_dim);
    if (!(c->ln_eps > 0))
        return dc_error(DC_ERR_INVALID, "ViT config: ln_eps = %g, expected > 0", (double)c->ln_eps);
    if (!isfinite(c->layerscale_init))
        return dc_error(DC_ERR_INVALID, "ViT config: layerscale_init is not finite");
    if (!(c->drop_path >= 0 && c->drop_path < 1))
        return dc_error(DC_ERR_INVALID, "ViT config: drop_path = %g, expected [0, 1)",
                        (double)c->drop_path);
    if (!(c->interpolate_offset >= 0 && c->interpolate_offset < 1))
        return dc_error(DC_ERR_INVALID, "ViT config: interpolate_offset = %g, expected [0, 1)",
                        (double)c->interpolate_offset);
    return DC_OK;
}

int64_t dc_vit_param_count(const dc_vit_config *c)
{
    if (dc_vit_check_config(c) != DC_OK)
        return -1;
    int64_t d = c->embed_dim, h = dc_vit_mlp_hidden(c), g = c->image_size / c->patch_size;
    int64_t fc1_out = c->swiglu ? 2 * h : h;
    int64_t block = 2 * d                  /* norm1 */
                    + 3 * d * d + 3 * d    /* qkv */
                    + d * d + d            /* proj */
                    + 2 * d                /* norm2 */
                    + fc1_out * d + fc1_out + d * h + d
                    + (c->layerscale_init != 0 ? 2 * d : 0);
    return d * c->in_chans * c->patch_size * c->patch_size + d /* patch_embed */
           + d                                                 /* cls_token */
           + (int64_t)c->n_registers * d                       /* registers */
           + (1 + g * g) * d                                   /* pos_embed */
           + d                                                 /* mask_token */
           + c->depth * block + 2 * d;                         /* blocks, norm */
}

/* ---- initialisation ---------------------------------------------------------------- */

typedef enum init_kind {
    INIT_ZERO,
    INIT_FILL,      /* a */
    INIT_UNIFORM,   /* U(-a, a) */
    INIT_NORMAL,    /* N(0, a) */
    INIT_TRUNC,     /* N(0, a) truncated to [-2, 2] (timm trunc_normal_, absolute bounds) */
} init_kind;

typedef struct vit_decl {
    dc_graph *g;
    dc_vit *vit;
    uint64_t seed;
} vit_decl;

/* Declares "<prefix><name>" with the given shape and initialisation. */
static dc_value *declare(vit_decl *d, const char *name, int rank, const int64_t *dims,
                         init_kind kind, double a)
{
    dc_graph *g = d->g;
    dc_vit *vit = d->vit;
    if (g->build_status != DC_OK)
        return NULL;
    char full[512];
    if ((size_t)snprintf(full, sizeof full, "%s%s", vit->prefix, name) >= sizeof full) {
        vit_fail(g, dc_error(DC_ERR_INVALID, "ViT: parameter name '%s%s' is too long", vit->prefix,
                             name));
        return NULL;
    }
    dc_tensor *t;
    dc_status s = dc_tensor_create(&t, full, DC_F32, rank, dims);
    if (s != DC_OK) {
        vit_fail(g, dc_error_context(s, "ViT parameter '%s'", full));
        return NULL;
    }
    float *p = t->data;
    uint64_t n = dc_tensor_numel(t);
    dc_init_rng r = dc_init_rng_named(d->seed, name);
    for (uint64_t i = 0; i < n; i++) {
        double v = 0;
        switch (kind) {
        case INIT_ZERO: v = 0; break;
        case INIT_FILL: v = a; break;
        case INIT_UNIFORM: v = a * (2.0 * dc_init_uniform(&r) - 1.0); break;
        case INIT_NORMAL: v = a * dc_init_normal(&r); break;
        case INIT_TRUNC: v = dc_init_trunc_normal(&r, a, 2.0); break;
        }
        p[i] = (float)v;
    }
    dc_value *v = dc_state(g, full, t);
    if (!v)
        return NULL;
    if (vit->n_params == vit->cap_params) {
        vit->params = dc_arena_grow(g->arena, vit->params, sizeof *vit->params, &vit->cap_params,
                                    vit->n_params + 1);
        if (!vit->params) {
            vit_fail(g, dc_error(DC_ERR_NOMEM, "ViT: out of memory"));
            return NULL;
        }
    }
    vit->params[vit->n_params++] = v;
    return v;
}

/* A torch Linear (out, in): xavier_uniform weight, zero bias. */
static void declare_linear(vit_decl *d, const char *name, int64_t out, int64_t in, dc_value **w,
                           dc_value **b)
{
    char buf[256];
    int64_t wd[] = {out, in}, bd[] = {out};
    snprintf(buf, sizeof buf, "%s.weight", name);
    *w = declare(d, buf, 2, wd, INIT_UNIFORM, sqrt(6.0 / (double)(in + out)));
    snprintf(buf, sizeof buf, "%s.bias", name);
    *b = declare(d, buf, 1, bd, INIT_ZERO, 0);
}

static void declare_norm(vit_decl *d, const char *name, int64_t dim, dc_value **w, dc_value **b)
{
    char buf[256];
    int64_t dims[] = {dim};
    snprintf(buf, sizeof buf, "%s.weight", name);
    *w = declare(d, buf, 1, dims, INIT_FILL, 1.0);
    snprintf(buf, sizeof buf, "%s.bias", name);
    *b = declare(d, buf, 1, dims, INIT_ZERO, 0);
}

dc_status dc_vit_declare(dc_graph *g, const dc_vit_config *c, const char *prefix, uint64_t seed,
                         dc_vit **out)
{
    *out = NULL;
    if (g->build_status != DC_OK)
        return (dc_status)g->build_status;
    dc_status s = dc_vit_check_config(c);
    if (s != DC_OK)
        return vit_fail(g, dc_error_context(s, "ViT '%s'", prefix ? prefix : ""));
    dc_vit *vit = dc_arena_alloc(g->arena, sizeof *vit);
    if (vit)
        vit->blocks = dc_arena_alloc(g->arena, (size_t)c->depth * sizeof *vit->blocks);
    if (!vit || !vit->blocks || !(vit->prefix = dc_arena_strdup(g->arena, prefix ? prefix : "")))
        return vit_fail(g, dc_error(DC_ERR_NOMEM, "ViT: out of memory"));
    vit->cfg = *c;
    vit->grid = c->image_size / c->patch_size;
    vit->hidden = dc_vit_mlp_hidden(c);

    vit_decl d = {g, vit, seed};
    const int64_t D = c->embed_dim, P = c->patch_size, C = c->in_chans, G = vit->grid;
    const int64_t tok[] = {1, 1, D}, reg[] = {1, c->n_registers, D}, pos[] = {1, 1 + G * G, D};
    const int64_t conv_w[] = {D, C, P, P}, conv_b[] = {D}, vec[] = {D}, fb_mask[] = {1, D};
    /* Without registers timm's layout, with them the official one (vit.h); both
     * in their state-dict order: the ViT's own parameters, then its submodules. */
    const bool official = c->n_registers > 0;
    vit->cls = declare(&d, "cls_token", 3, tok, INIT_NORMAL, 0.02);
    vit->pos = declare(&d, "pos_embed", 3, pos, INIT_TRUNC, 0.02);
    if (official)
        vit->reg = declare(&d, "register_tokens", 3, reg, INIT_NORMAL, 1e-6);
    vit->mask_token = official ? declare(&d, "mask_token", 2, fb_mask, INIT_ZERO, 0)
                               : declare(&d, "mask_token", 3, tok, INIT_ZERO, 0);
    /* xavier_uniform on the (D, C·p·p) view: fan_in C·p·p, fan_out D. */
    vit->patch_w = declare(&d, "patch_embed.proj.weight", 4, conv_w, INIT_UNIFORM,
                           sqrt(6.0 / (double)(C * P * P + D)));
    vit->patch_b = declare(&d, "patch_embed.proj.bias", 1, conv_b, INIT_UNIFORM,
                           1.0 / sqrt((double)(C * P * P)));
    const int64_t fc1_out = c->swiglu ? 2 * vit->hidden : vit->hidden;
    /* SwiGLU's two linears: timm's SwiGLUPacked fc1/fc2, the official w12/w3. */
    const char *mlp_in = official && c->swiglu ? "mlp.w12" : "mlp.fc1";
    const char *mlp_out = official && c->swiglu ? "mlp.w3" : "mlp.fc2";
    for (int i = 0; i < c->depth; i++) {
        vit_block *b = &vit->blocks[i];
        char name[64];
#define NAME(suffix) (snprintf(name, sizeof name, "blocks.%d.%s", i, suffix), name)
        declare_norm(&d, NAME("norm1"), D, &b->norm1_w, &b->norm1_b);
        declare_linear(&d, NAME("attn.qkv"), 3 * D, D, &b->qkv_w, &b->qkv_b);
        declare_linear(&d, NAME("attn.proj"), D, D, &b->proj_w, &b->proj_b);
        if (c->layerscale_init != 0)
            b->ls1 = declare(&d, NAME("ls1.gamma"), 1, vec, INIT_FILL, c->layerscale_init);
        declare_norm(&d, NAME("norm2"), D, &b->norm2_w, &b->norm2_b);
        declare_linear(&d, NAME(mlp_in), fc1_out, D, &b->fc1_w, &b->fc1_b);
        declare_linear(&d, NAME(mlp_out), D, vit->hidden, &b->fc2_w, &b->fc2_b);
        if (c->layerscale_init != 0)
            b->ls2 = declare(&d, NAME("ls2.gamma"), 1, vec, INIT_FILL, c->layerscale_init);
#undef NAME
    }
    declare_norm(&d, "norm", D, &vit->norm_w, &vit->norm_b);
    if (g->build_status != DC_OK)
        return (dc_status)g->build_status;
    *out = vit;
    return DC_OK;
}

int dc_vit_params(const dc_vit *vit, dc_value *const **params)
{
    *params = vit->params;
    return vit->n_params;
}

const dc_vit_config *dc_vit_get_config(const dc_vit *vit) { return &vit->cfg; }

/* ---- bicubic resize matrix --------------------------------------------------------- */

/* torch's cubic convolution (A = −0.75): |x| <= 1 and 1 < |x| < 2. */
static double cubic1(double x, double A) { return ((A + 2) * x - (A + 3)) * x * x + 1; }
static double cubic2(double x, double A) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; }

/* m[out][in] (zeroed by the caller): 1-D bicubic interpolation weights.
 * scale_factor 0: resize to the size `out`; else F.interpolate's scale_factor. */
static void bicubic_1d(int in, int out, double scale_factor, double *m)
{
    const double A = -0.75;
    /* torch: area_pixel_compute_scale<float>: (float)in / out for a size, and
     * for a scale factor (float)(1.0 / scale_factor) (compute_scales_value);
     * then the source index in double (the 0.5 literals are doubles). */
    const double scale = scale_factor > 0 ? (double)(float)(1.0 / scale_factor)
                                          : (double)((float)in / (float)out);
    for (int o = 0; o < out; o++) {
        double real = scale * (o + 0.5) - 0.5;
        double fl = floor(real);
        int64_t idx = (int64_t)fl;
        if (idx > in - 1)
            idx = in - 1;
        double t = fmin(fmax(real - (double)idx, 0.0), 1.0);
        const double w[4] = {cubic2(t + 1, A), cubic1(t, A), cubic1(1 - t, A), cubic2(2 - t, A)};
        for (int j = 0; j < 4; j++) {
            int64_t k = idx - 1 + j;
            k = k < 0 ? 0 : k > in - 1 ? in - 1 : k;
            m[(int64_t)o * in + k] += w[j];
        }
    }
}

/* The 2-D matrix, the Kronecker product of the two 1-D ones. */
static dc_status bicubic_matrix(int in_h, int in_w, int out_h, int out_w, double sf_h, double sf_w,
                                dc_tensor **out)
{
    *out = NULL;
    const int lim = 1 << 12;
    if (in_h <= 0 || in_w <= 0 || out_h <= 0 || out_w <= 0 || in_h > lim || in_w > lim ||
        out_h > lim || out_w > lim)
        return dc_error(DC_ERR_INVALID, "bicubic matrix: grid %dx%d -> %dx%d, expected sizes 1..%d",
                        in_h, in_w, out_h, out_w, lim);
    int64_t dims[] = {(int64_t)out_h * out_w, (int64_t)in_h * in_w};
    dc_tensor *t;
    DC_TRY(dc_tensor_create(&t, NULL, DC_F32, 2, dims));
    double *mh = calloc((size_t)out_h * in_h, sizeof *mh);
    double *mw = calloc((size_t)out_w * in_w, sizeof *mw);
    if (!mh || !mw) {
        free(mh);
        free(mw);
        dc_tensor_destroy(t);
        return dc_error(DC_ERR_NOMEM, "bicubic matrix: out of memory");
    }
    bicubic_1d(in_h, out_h, sf_h, mh);
    bicubic_1d(in_w, out_w, sf_w, mw);
    float *m = t->data;
    /* M[(oy·out_w + ox), (iy·in_w + ix)] = mh[oy][iy] · mw[ox][ix] */
    for (int oy = 0; oy < out_h; oy++)
        for (int ox = 0; ox < out_w; ox++)
            for (int iy = 0; iy < in_h; iy++)
                for (int ix = 0; ix < in_w; ix++)
                    m[((int64_t)oy * out_w + ox) * dims[1] + (int64_t)iy * in_w + ix] =
                        (float)(mh[(int64_t)oy * in_h + iy] * mw[(int64_t)ox * in_w + ix]);
    free(mh);
    free(mw);
    *out = t;
    return DC_OK;
}

dc_status dc_bicubic_matrix(int in_h, int in_w, int out_h, int out_w, dc_tensor **out)
{
    return bicubic_matrix(in_h, in_w, out_h, out_w, 0, 0, out);
}

dc_status dc_bicubic_matrix_scale(int in_h, int in_w, double scale_h, double scale_w,
                                  dc_tensor **out)
{
    *out = NULL;
    if (!(scale_h > 0 && scale_w > 0 && scale_h < 1e6 && scale_w < 1e6))
        return dc_error(DC_ERR_INVALID, "bicubic matrix: scale factors %g, %g, expected > 0",
                        scale_h, scale_w);
    /* torch's compute_output_size: the double product, truncated. */
    double oh = (double)in_h * scale_h, ow = (double)in_w * scale_w;
    if (!(oh < 1 << 13 && ow < 1 << 13))
        return dc_error(DC_ERR_INVALID, "bicubic matrix: grid %dx%d scaled by %g, %g is too large",
                        in_h, in_w, scale_h, scale_w);
    return bicubic_matrix(in_h, in_w, (int)oh, (int)ow, scale_h, scale_w, out);
}

/* The offset as the config text writes it (the shortest decimal that reads
 * back as the float), so 0.1f is the 0.1 of the official Python config. */
static double config_decimal(float v)
{
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    return strtod(buf, NULL);
}

dc_status dc_pos_embed_resize_matrix(int grid, int h, int w, float interpolate_offset,
                                     dc_tensor **out)
{
    *out = NULL;
    if (interpolate_offset == 0)
        return dc_bicubic_matrix(grid, grid, h, w, out);
    if (grid <= 0)
        return dc_error(DC_ERR_INVALID, "pos-embed resize: grid %d", grid);
    /* interpolate_pos_encoding: scale_factor = ((h + offset) / M, (w + offset) / M). */
    double offset = config_decimal(interpolate_offset);
    dc_tensor *m;
    DC_TRY(dc_bicubic_matrix_scale(grid, grid, (h + offset) / grid, (w + offset) / grid, &m));
    if (m->dims[0] != (int64_t)h * w) { /* the official code asserts this as well */
        dc_tensor_destroy(m);
        return dc_error(DC_ERR_INVALID, "pos-embed resize: grid %dx%d scaled by (%d + %g) / %d "
                        "does not give %dx%d", grid, grid, h, offset, grid, h, w);
    }
    *out = m;
    return DC_OK;
}

/* ---- forward ----------------------------------------------------------------------- */

/* The constant resize matrix for (h, w), shared by every use in the graph
 * (student and teacher, global and local calls): found by name. */
static dc_value *resize_matrix(dc_graph *g, int grid, int h, int w, float offset)
{
    char name[96], by[32] = "";
    if (offset != 0)
        snprintf(by, sizeof by, "_offset%g", config_decimal(offset));
    snprintf(name, sizeof name, "pos_embed_bicubic_%dx%d_to_%dx%d%s", grid, grid, h, w, by);
    dc_value *m = dc_graph_find_value(g, name);
    if (m && m->is_initializer && !m->is_state && m->type.rank == 2 &&
        m->type.dims[0].size == (int64_t)h * w && m->type.dims[1].size == (int64_t)grid * grid)
        return m;
    if (m) {
        vit_fail(g, dc_error(DC_ERR_INVALID, "ViT: value '%s' exists and is not the resize matrix",
                             name));
        return NULL;
    }
    dc_tensor *t;
    dc_status s = dc_pos_embed_resize_matrix(grid, h, w, offset, &t);
    if (s != DC_OK) {
        vit_fail(g, s);
        return NULL;
    }
    return dc_param(g, name, t);
}

/* keep4 [depth·2, B, 1, 1] -> this block's branch scales [B, 1, 1]. */
static dc_value *keep_scale(dc_graph *g, dc_value *keep4, int block, int branch)
{
    if (!keep4)
        return NULL;
    return dc_gather(g, keep4, dc_scalar(g, DC_I64, 2.0 * block + branch), 0);
}

/* x + keep ⊙ (γ ⊙ branch) */
static dc_value *residual(dc_graph *g, dc_value *x, dc_value *branch, dc_value *gamma,
                          dc_value *keep)
{
    if (gamma)
        branch = dc_mul(g, branch, gamma);
    if (keep)
        branch = dc_mul(g, branch, keep);
    return dc_add(g, x, branch);
}

/* timm Attention: x [B, N, D] -> [B, N, D]. */
static dc_value *attention(dc_graph *g, const dc_vit *vit, const vit_block *b, dc_value *x,
                           int64_t B, int64_t N)
{
    const int64_t D = vit->cfg.embed_dim, H = vit->cfg.num_heads, hd = D / H;
    dc_value *qkv = dc_linear(g, x, b->qkv_w, b->qkv_b); /* [B, N, 3D] = [q | k | v], heads contiguous */
    const int64_t split[] = {B, N, H, hd};
    const int64_t to_bhnd[] = {0, 2, 1, 3}, to_bhdn[] = {0, 2, 3, 1};
    dc_value *q = dc_reshape(g, dc_slice(g, qkv, 2, 0, D), split, 4);
    dc_value *k = dc_reshape(g, dc_slice(g, qkv, 2, D, 2 * D), split, 4);
    dc_value *v = dc_reshape(g, dc_slice(g, qkv, 2, 2 * D, 3 * D), split, 4);
    q = dc_mul(g, dc_transpose(g, q, to_bhnd, 4), dc_scalar(g, DC_F32, pow((double)hd, -0.5)));
    k = dc_transpose(g, k, to_bhdn, 4); /* kᵀ: [B, H, hd, N] */
    v = dc_transpose(g, v, to_bhnd, 4);
    dc_value *attn = dc_softmax(g, dc_matmul(g, q, k), -1); /* [B, H, N, N] */
    dc_value *o = dc_transpose(g, dc_matmul(g, attn, v), to_bhnd, 4); /* [B, N, H, hd] */
    const int64_t merged[] = {B, N, D};
    return dc_linear(g, dc_reshape(g, o, merged, 3), b->proj_w, b->proj_b);
}

/* Linear-GELU-Linear, or SwiGLU (packed fc1 = [x1; x2], silu(x1) ⊙ x2). */
static dc_value *mlp(dc_graph *g, const dc_vit *vit, const vit_block *b, dc_value *x)
{
    dc_value *h = dc_linear(g, x, b->fc1_w, b->fc1_b);
    if (vit->cfg.swiglu) {
        const int64_t H = vit->hidden;
        dc_value *x1 = dc_slice(g, h, 2, 0, H), *x2 = dc_slice(g, h, 2, H, 2 * H);
        h = dc_mul(g, dc_mul(g, x1, dc_unary(g, "Sigmoid", x1)), x2);
    } else {
        h = dc_gelu(g, h);
    }
    return dc_linear(g, h, b->fc2_w, b->fc2_b);
}

static bool static_type(const dc_value *v)
{
    return v && v->type.rank >= 0 && dc_type_is_static(&v->type);
}

/* Checks one optional input against the expected shape. */
static dc_status check_input(const dc_vit *vit, const char *what, const dc_value *v, dc_dtype dtype,
                             int rank, const int64_t *dims)
{
    char got[128], want[128];
    dc_type t = dc_type_make(dtype, rank, dims);
    if (static_type(v) && v->type.dtype == dtype && v->type.rank == rank) {
        bool same = true;
        for (int i = 0; i < rank; i++)
            same = same && v->type.dims[i].size == dims[i];
        if (same)
            return DC_OK;
    }
    return dc_error(DC_ERR_SHAPE, "ViT '%s': %s '%s' is %s, expected %s", vit->prefix, what,
                    v->name, dc_type_str(&v->type, got, sizeof got),
                    dc_type_str(&t, want, sizeof want));
}

dc_value *dc_vit_forward(dc_graph *g, const dc_vit *vit, dc_value *x, dc_value *mask,
                         dc_value *keep)
{
    if (g->build_status != DC_OK)
        return NULL;
    if (!vit || !x) {
        vit_fail(g, dc_error(DC_ERR_INVALID, "ViT forward: %s is NULL", vit ? "x" : "the ViT"));
        return NULL;
    }
    const dc_vit_config *c = &vit->cfg;
    const int64_t D = c->embed_dim, P = c->patch_size, R = c->n_registers, G = vit->grid;
    char buf[128];
    if (!static_type(x) || x->type.rank != 4 || x->type.dtype != DC_F32 ||
        x->type.dims[1].size != c->in_chans || x->type.dims[2].size % P ||
        x->type.dims[3].size % P || x->type.dims[0].size < 1 || x->type.dims[2].size < P ||
        x->type.dims[3].size < P) {
        vit_fail(g, dc_error(DC_ERR_SHAPE,
                             "ViT '%s': images '%s' are %s, expected f32[B, %d, H, W] with H and W "
                             "multiples of the patch size %d",
                             vit->prefix, x->name, dc_type_str(&x->type, buf, sizeof buf),
                             c->in_chans, c->patch_size));
        return NULL;
    }
    const int64_t B = x->type.dims[0].size, h = x->type.dims[2].size / P,
                  w = x->type.dims[3].size / P, HW = h * w, N = 1 + R + HW;
    if (h > (1 << 12) || w > (1 << 12)) {
        vit_fail(g, dc_error(DC_ERR_SHAPE, "ViT '%s': a %lldx%lld patch grid is too large",
                             vit->prefix, (long long)h, (long long)w));
        return NULL;
    }
    const int64_t mask_dims[] = {B, HW}, keep_dims[] = {c->depth, 2, B};
    dc_status s = DC_OK;
    if (mask)
        s = check_input(vit, "mask", mask, DC_F32, 2, mask_dims);
    if (s == DC_OK && keep)
        s = check_input(vit, "drop-path scales", keep, DC_F32, 3, keep_dims);
    if (s != DC_OK) {
        vit_fail(g, s);
        return NULL;
    }

    /* Patch embedding: [B, C, H, W] -> [B, D, h, w] -> [B, h·w, D] (row-major grid). */
    const int64_t strides[] = {P, P}, pads[] = {0, 0, 0, 0};
    const int64_t flat[] = {B, D, HW}, swap12[] = {0, 2, 1};
    dc_value *t = dc_conv(g, x, vit->patch_w, vit->patch_b, strides, pads, 2);
    t = dc_transpose(g, dc_reshape(g, t, flat, 3), swap12, 3);

    /* Masking before the position embedding: (1 − m)·token + m·mask_token. */
    if (mask) {
        const int64_t m3[] = {B, HW, 1};
        dc_value *m = dc_reshape(g, mask, m3, 3);
        dc_value *unmasked = dc_sub(g, dc_scalar(g, DC_F32, 1.0), m);
        t = dc_add(g, dc_mul(g, unmasked, t), dc_mul(g, m, vit->mask_token));
    }

    /* Position embedding: the cls row as it is, the patch rows resized to (h, w). */
    dc_value *pos_cls = dc_slice(g, vit->pos, 1, 0, 1);         /* [1, 1, D] */
    dc_value *pos_patch = dc_slice(g, vit->pos, 1, 1, 1 + G * G); /* [1, G·G, D] */
    if (h != G || w != G) {
        const int64_t table[] = {G * G, D}, resized[] = {1, HW, D};
        dc_value *m = resize_matrix(g, (int)G, (int)h, (int)w, c->interpolate_offset);
        pos_patch = dc_reshape(g, dc_matmul(g, m, dc_reshape(g, pos_patch, table, 2)), resized, 3);
    }
    t = dc_add(g, t, pos_patch);

    /* Tokens: [cls + pos_0, registers, patches]. */
    const int64_t cls_dims[] = {B, 1, D}, reg_dims[] = {B, R, D};
    dc_value *parts[3];
    int n_parts = 0;
    parts[n_parts++] = dc_expand(g, dc_add(g, vit->cls, pos_cls), cls_dims, 3);
    if (R > 0)
        parts[n_parts++] = dc_expand(g, vit->reg, reg_dims, 3);
    parts[n_parts++] = t;
    t = dc_concat(g, parts, n_parts, 1); /* [B, N, D] */

    dc_value *keep4 = NULL;
    if (keep) {
        const int64_t k4[] = {2 * (int64_t)c->depth, B, 1, 1};
        keep4 = dc_reshape(g, keep, k4, 4);
    }
    for (int i = 0; i < c->depth; i++) {
        const vit_block *b = &vit->blocks[i];
        dc_value *a = attention(g, vit, b, dc_layer_norm(g, t, b->norm1_w, b->norm1_b, -1, c->ln_eps),
                                B, N);
        t = residual(g, t, a, b->ls1, keep_scale(g, keep4, i, 0));
        dc_value *f = mlp(g, vit, b, dc_layer_norm(g, t, b->norm2_w, b->norm2_b, -1, c->ln_eps));
        t = residual(g, t, f, b->ls2, keep_scale(g, keep4, i, 1));
    }
    t = dc_layer_norm(g, t, vit->norm_w, vit->norm_b, -1, c->ln_eps);
    if (t && (t->type.rank != 3 || t->type.dims[1].size != N)) {
        vit_fail(g, dc_error(DC_ERR_SHAPE, "ViT '%s': output has %s, expected %lld tokens",
                             vit->prefix, dc_type_str(&t->type, buf, sizeof buf), (long long)N));
        return NULL;
    }
    return g->build_status == DC_OK ? t : NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

dc_status dc_vit_load_checkpoint(const dc_vit *vit, const dc_safetensors *ckpt, const char *path,
                                 const char *config_name)
{
    dc_value *const *params;
    int n = dc_vit_params(vit, &params);
    for (int i = 0; i < n; i++) {
        dc_value *v = params[i];
        const dc_tensor *t = dc_safetensors_get(ckpt, v->name);
        if (!t) {
            if (ends_with(v->name, ".mask_token"))
                continue;
            return dc_error(DC_ERR_INVALID, "%s: tensor '%s' is missing (the backbone of config '%s')",
                            path, v->name, config_name);
        }
        if (!dc_tensor_same_type(t, v->constant)) {
            char a[128], b[128];
            dc_type want = dc_type_make(v->constant->dtype, v->constant->rank, v->constant->dims);
            dc_type got = dc_type_make(t->dtype, t->rank, t->dims);
            return dc_error(DC_ERR_SHAPE, "%s: tensor '%s': expected %s, found %s (config '%s')", path,
                            v->name, dc_type_str(&want, a, sizeof a), dc_type_str(&got, b, sizeof b),
                            config_name);
        }
        memcpy(v->constant->data, t->data, t->nbytes);
    }
    return DC_OK;
}
