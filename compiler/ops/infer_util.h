/* Helpers shared by the shape-inference functions of compiler/ops/: checked
 * attribute access, integer lists that come from an attribute or from a
 * constant input, axis normalisation, numpy broadcasting, and the small
 * constant folding that resolves torch's Shape->Gather->Concat->Reshape chains.
 *
 * Every error names the op (node->op_type) and what was expected vs found; the
 * driver (dc_infer_node) prefixes the node name. */
#ifndef DC_INFER_UTIL_H
#define DC_INFER_UTIL_H

#include "ops/ops.h"

/* ---- dims and types --------------------------------------------------------- */

static inline bool dc_dim_known(dc_dim d) { return d.size >= 0; }
static inline dc_dim dc_dim_of(int64_t size) { return (dc_dim){size, NULL}; }
static inline dc_dim dc_dim_any(void) { return (dc_dim){DC_DIM_UNKNOWN, NULL}; }

/* A type of known rank whose dims are all unknown. */
dc_type dc_type_ranked(dc_dtype dtype, int rank);
/* "f32[2,3]" in one of a few thread-local buffers, for error messages. */
const char *dc_ts(const dc_type *t);
/* The same without the element type: "[2,3]". */
const char *dc_shape_s(const dc_type *t);

/* Input i, or NULL when it is omitted (past the end or a NULL entry). */
dc_value *dc_opt_input(const dc_node *n, int i);
/* The inputs this opset's version of the op takes: the registry's arity covers
 * every version, e.g. Reshape-1 has 1 input and Reshape-5 has 2. */
dc_status dc_check_inputs(const dc_node *n, int min, int max, int64_t opset);
/* Two element types agree (DC_UNDEFINED, from an unknown input, agrees with any). */
dc_status dc_same_dtype(const dc_node *n, const dc_type *a, const dc_type *b);
/* Both known and not a float type: "Sqrt: input must be a float tensor, found i64[2]". */
dc_status dc_need_float(const dc_node *n, const dc_type *t, const char *what);
dc_status dc_need_integer(const dc_node *n, const dc_type *t, const char *what);

/* ---- attributes, type-checked (a wrong kind is an error, absent = default) --- */

/* The attribute `name` (NULL when absent); a present one of another kind is an error. */
dc_status dc_attr_get(const dc_node *n, const char *name, dc_attr_type kind, const dc_attr **out);
dc_status dc_attr_i(const dc_node *n, const char *name, int64_t dflt, int64_t *out);
dc_status dc_attr_f(const dc_node *n, const char *name, float dflt, float *out);
dc_status dc_attr_s(const dc_node *n, const char *name, const char *dflt, const char **out);

/* In versions where attribute `name` became input `input`, giving the
 * attribute is an error rather than silently ignored. */
dc_status dc_attr_moved(const dc_node *n, const char *name, int input, int64_t opset);
/* Cast's `to`: an INT from opset 6, a TensorProto name ("FLOAT") before;
 * an element type other than STRING, else an error. */
dc_status dc_attr_cast_to(const dc_node *n, int64_t opset, dc_dtype *to);

/* ---- integer lists: an INTS attribute or a 0/1-D integer input --------------- */

typedef struct dc_ints {
    bool present;         /* the attribute or input is given */
    bool known;           /* the values are known (attribute, or constant input) */
    int64_t n;            /* length; -1 when not known */
    const int64_t *attr;  /* values of an attribute */
    const dc_tensor *t;   /* values of a constant input */
} dc_ints;

dc_status dc_ints_attr(const dc_node *n, const char *name, dc_ints *out);
/* Input `i` as a list; a non-integer or rank > 1 input is an error. */
dc_status dc_ints_input(const dc_node *n, int i, dc_ints *out);
int64_t dc_ints_at(const dc_ints *l, int64_t i);

/* ---- axes ------------------------------------------------------------------- */

/* Maps axis in [-rank, rank-1] to [0, rank-1]: "axis 3 out of range for rank 2". */
dc_status dc_norm_axis(const dc_node *n, int64_t axis, int rank, int *out);
/* Marks mask[axis] for each axis of a known list (cleared first); duplicate
 * and out-of-range axes are errors. */
dc_status dc_norm_axes(const dc_node *n, const dc_ints *axes, int rank, bool mask[DC_MAX_RANK]);

/* ---- broadcasting ----------------------------------------------------------- */

/* Numpy (multidirectional) broadcast of the shapes of a and b into out (dtype
 * kept from out). A symbol with 1 gives the symbol, equal symbols match, a
 * symbol against a static size other than 1 gives that size. */
dc_status dc_broadcast_shapes(const dc_node *n, const dc_type *a, const dc_type *b, dc_type *out);
/* `from` broadcasts to `to` without changing it (Gemm's C, LayerNorm's scale). */
dc_status dc_check_broadcast_to(const dc_node *n, const dc_type *from, const dc_type *to,
                                const char *what);

/* ---- small constant folding ------------------------------------------------- */

/* Folding is for shape arithmetic only: integer or bool tensors of at most
 * this many elements. */
enum { DC_FOLD_MAX = 64 };

/* Element count of a static type of at most DC_FOLD_MAX elements, else -1. */
int64_t dc_small_numel(const dc_type *t);
/* v has compile-time data that may be folded (integer/bool, small, and
 * consistent with its static type). */
bool dc_foldable(const dc_value *v);
/* Sets out->constant from int64 values in out->type's element type; does
 * nothing when out's type is not static, not integer/bool or too large. */
dc_status dc_fold_store(dc_graph *g, dc_value *out, const int64_t *vals);
/* Output 0 holds input 0's elements in the same order (Reshape, Squeeze,
 * Unsqueeze, Flatten, Identity, Cast): folds when input 0 is foldable. */
dc_status dc_fold_copy(dc_graph *g, dc_node *n);
/* One element of a folded elementwise op over x[0..n_args-1]; false = do not
 * fold (e.g. x / 0). */
typedef bool (*dc_fold_fn)(const int64_t *x, int64_t *r);
/* Output 0 = fn over the first n_args (<= 3) inputs, broadcast to output 0's
 * shape: folds when those inputs are foldable and the output is small. */
dc_status dc_fold_elementwise(dc_graph *g, dc_node *n, int n_args, dc_fold_fn fn);

#endif
