/* The ViT backbone as a graph: timm's VisionTransformer as Lightly builds it
 * for DINOv2 (graphs/DINOV2.md §2.1), declared with the builder.
 *
 * One dc_vit is the set of parameter values of one backbone in one graph. It
 * can be applied any number of times (the student runs on the masked global
 * crops and on the local crops with shared parameters; autodiff sums the
 * gradients of the uses). The teacher is another dc_vit under another prefix.
 *
 * Parameters carry state-dict names under a caller-chosen prefix
 * ("student.backbone." + "blocks.3.attn.qkv.weight"). Without registers they
 * are timm's VisionTransformer's, plus Lightly's "mask_token" (1, 1, D):
 *   cls_token (1,1,D)  pos_embed (1,1+g·g,D)  mask_token (1,1,D)
 *   patch_embed.proj.weight (D,C,p,p) / .bias (D)
 *   blocks.i.{norm1,norm2}.weight/.bias (D)
 *   blocks.i.attn.qkv.weight (3D,D) / .bias (3D)  blocks.i.attn.proj.weight (D,D) / .bias
 *   blocks.i.ls1.gamma, blocks.i.ls2.gamma (D)     (only when layerscale_init != 0)
 *   blocks.i.mlp.fc1.weight (H,D) / .bias (H)  blocks.i.mlp.fc2.weight (D,H) / .bias (D)
 *   norm.weight / norm.bias (D)
 * With SwiGLU the MLP uses timm's SwiGLUPacked naming: fc1 is the packed
 * [x1; x2] projection (2H, D), out = fc2(silu(x1) ⊙ x2), fc2 (D, H); timm's
 * checkpoint filter maps the official w12/w3 onto exactly these.
 * With R > 0 registers the backbone is the official DinoVisionTransformer
 * (facebookresearch/dinov2, hub layout: block_chunks 0), because dinoc
 * computes registers its way: pos_embed keeps its cls row, the registers are
 * inserted after the cls token once the position embedding is added, and get
 * none (timm's reg_token instead needs its no_embed_class layout, where the
 * cls token gets no position either). The names are then the official ones:
 *   cls_token (1,1,D)  pos_embed (1,1+g·g,D)  register_tokens (1,R,D)
 *   mask_token (1,D)   SwiGLU as blocks.i.mlp.w12 (2H,D) / blocks.i.mlp.w3 (D,H)
 * and the rest as above, so the backbone's tensors load with
 * load_state_dict(strict=True) into DinoVisionTransformer(..., num_register_tokens=R).
 * The order of declaration (dc_vit_params) follows the layout's state dict. */
#ifndef DC_VIT_H
#define DC_VIT_H

#include <stdint.h>

#include "dc_safetensors.h"
#include "dinov2_config.h"
#include "ir.h"

typedef struct dc_vit dc_vit; /* owned by the graph it was declared in */

/* Copies a checkpoint's tensors into the backbone's declared parameters (by
 * their full names, exact types). The mask token may be absent: a backbone
 * run without masks (features, export) does not use it. Errors name the file,
 * the tensor and the config. */
dc_status dc_vit_load_checkpoint(const dc_vit *vit, const dc_safetensors *ckpt,
                                 const char *path, const char *config_name);

/* Fills `out` with a named architecture: "vit-ti/16", "vit-s/16", "vit-b/16",
 * "vit-l/16" (timm's dims, GELU MLP, 224 px), "vit-g/14" (official DINOv2
 * ViT-g: 1536, depth 40, 24 heads, SwiGLU, 224 px), and "vit-test/4" (32 px,
 * patch 4, D 32, depth 2, 2 heads: for tests). The slash may be omitted
 * ("vit-s16"). Common fields: 3 channels, mlp_ratio 4, no registers,
 * LayerScale 1e-5, LN eps 1e-6, drop-path 0.1 (Lightly; 0.4 for vit-g as the
 * official recipe). Unknown names are an error listing the known ones. */
dc_status dc_vit_preset(const char *name, dc_vit_config *out);

/* Checks a configuration: positive sizes, image_size % patch_size == 0,
 * embed_dim % num_heads == 0, a positive MLP width, drop_path in [0, 1).
 * Errors name the field and its value. */
dc_status dc_vit_check_config(const dc_vit_config *c);

/* The MLP hidden width H: int(mlp_ratio·D) (timm); with SwiGLU the official
 * DINOv2 rule round_up_8(int(mlp_ratio·D·2/3)) per branch (4096 for vit-g). */
int64_t dc_vit_mlp_hidden(const dc_vit_config *c);

/* Number of parameter elements dc_vit_declare creates (mask token included,
 * no classifier head): 21,675,264 for vit-s/16. -1 for an invalid config. */
int64_t dc_vit_param_count(const dc_vit_config *c);

/* Declares the parameters under `prefix` (NULL = "") as training state
 * (dc_state), initialised as Lightly re-initialises timm's ViT (§2.1):
 * Linear weights xavier_uniform and biases 0; patch-embed weight
 * xavier_uniform on its (D, C·p·p) view, bias U(±1/√(C·p·p)); cls_token
 * N(0, 0.02); pos_embed trunc_normal(std 0.02, ±2); mask_token 0; register_tokens
 * N(0, 1e-6) (timm and the official repo); LayerNorm 1 / 0; LayerScale
 * layerscale_init. Every parameter draws from its own stream, seeded by
 * `seed` and its name without the prefix: the same seed gives the same values
 * under any prefix (the teacher starts as a copy of the student, as in
 * Lightly), and adding a parameter does not change the others.
 * On failure (bad config, or an earlier builder error) *out is NULL, the
 * graph's sticky builder status holds the error, and it is returned. */
dc_status dc_vit_declare(dc_graph *g, const dc_vit_config *c, const char *prefix, uint64_t seed,
                         dc_vit **out);

/* The parameter values in declaration order; valid while the graph lives. */
int dc_vit_params(const dc_vit *vit, dc_value *const **params);
const dc_vit_config *dc_vit_get_config(const dc_vit *vit);

/* Appends one forward pass and returns the tokens after the final LayerNorm,
 * [B, 1+R+h·w, D] in the order (cls, registers, patches row-major), for
 * static f32 inputs:
 *   x     [B, C, H, W]: H and W multiples of the patch size (H = W for DINOv2
 *         crops; h = H/p, w = W/p). When (h, w) is not the declared grid
 *         (g, g), the patch rows of pos_embed are resized bicubically by a
 *         constant matrix [h·w, g·g] (dc_pos_embed_resize_matrix, by the
 *         config's interpolate_offset) applied with MatMul, so its gradient
 *         is the transposed matrix; one initializer per grid,
 *         "pos_embed_bicubic_GxG_to_HxW" (with "_offsetO" appended for an
 *         offset), shared by every backbone of the graph. The cls row is used
 *         as it is. Registers get no position embedding.
 *   mask  [B, h·w] (1 = masked, 0 = kept) or NULL: a masked patch token
 *         becomes (1−m)·token + m·mask_token BEFORE the position embedding.
 *   keep  [depth, 2, B] or NULL: per-sample drop-path scales (0 or
 *         1/(1−p)); branch 0 is the attention, 1 the MLP. Each sample's branch
 *         output (after LayerScale) is multiplied by keep[block, branch, b]
 *         before the residual add.
 * Uses only standard ops (Conv, MatMul, Add, Mul, Sub, Softmax,
 * LayerNormalization, Erf or Sigmoid, Reshape, Transpose, Slice, Gather,
 * Concat, Expand), so autodiff and lowering apply unchanged. Returns NULL on
 * a shape error or an earlier builder error; dc_build_status(g) tells which. */
dc_value *dc_vit_forward(dc_graph *g, const dc_vit *vit, dc_value *x, dc_value *mask,
                         dc_value *keep);

/* PyTorch's F.interpolate(mode="bicubic", align_corners=False,
 * antialias=False) from an (in_h, in_w) grid to (out_h, out_w) as a matrix
 * M [out_h·out_w, in_h·in_w] (f32, row-major grids): out = M · in for each
 * channel. Per axis: scale = (float)in/out as torch rounds it, source
 * coordinate (o + 0.5)·scale − 0.5, cubic convolution A = −0.75 on the four
 * taps floor(x)−1 .. floor(x)+2 clamped to [0, in−1]; the 2-D matrix is the
 * Kronecker product of the two 1-D ones (computed in double, rounded once).
 * Torch evaluates the weights in float, so entries agree with it to ~1e-6. */
dc_status dc_bicubic_matrix(int in_h, int in_w, int out_h, int out_w, dc_tensor **out);

/* The same with F.interpolate's scale_factor=(scale_h, scale_w) in place of a
 * size (recompute_scale_factor=None, torch 1.13): the output grid is
 * (⌊in_h·scale_h⌋, ⌊in_w·scale_w⌋) (the product in double, truncated), and the
 * source coordinate is (o + 0.5)·(float)(1/scale) − 0.5 — the scale factor
 * itself, not in/out. The matrix's first dimension tells the output size. */
dc_status dc_bicubic_matrix_scale(int in_h, int in_w, double scale_h, double scale_w,
                                  dc_tensor **out);

/* The pos-embed resize from the declared (grid, grid) to (h, w) for an
 * interpolate_offset (dinov2_config.h): 0 is dc_bicubic_matrix to the size
 * (timm's resample_abs_pos_embed); > 0 is the official
 * interpolate_pos_encoding, dc_bicubic_matrix_scale with scale factors
 * ((h + offset)/grid, (w + offset)/grid), the offset taken as its shortest
 * decimal (0.1f is Python's 0.1). As the official code asserts, the scaled
 * grid must come out as (h, w); otherwise an error names both. */
dc_status dc_pos_embed_resize_matrix(int grid, int h, int w, float interpolate_offset,
                                     dc_tensor **out);

#endif
