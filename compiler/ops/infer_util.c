/* Shared shape-inference helpers; see infer_util.h. */
#include "ops/infer_util.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

/* ---- dims and types --------------------------------------------------------- */

dc_type dc_type_ranked(dc_dtype dtype, int rank)
{
    dc_type t = {.dtype = dtype, .rank = rank};
    for (int i = 0; i < rank && i < DC_MAX_RANK; i++)
        t.dims[i] = dc_dim_any();
    return t;
}

const char *dc_ts(const dc_type *t)
{
    /* A message names at most a few types; rotate so they do not overwrite each other. */
    static _Thread_local char buf[4][256];
    static _Thread_local int next;
    char *b = buf[next++ & 3];
    return dc_type_str(t, b, sizeof buf[0]);
}

const char *dc_shape_s(const dc_type *t)
{
    const char *s = dc_ts(t), *bracket = strchr(s, '[');
    return bracket ? bracket : s;
}

dc_value *dc_opt_input(const dc_node *n, int i)
{
    return i < n->n_inputs ? n->inputs[i] : NULL;
}

dc_status dc_check_inputs(const dc_node *n, int min, int max, int64_t opset)
{
    if (n->n_inputs > max)
        return dc_error(DC_ERR_INVALID, "%s: opset %" PRId64 " takes at most %d input%s, found %d",
                        n->op_type, opset, max, max == 1 ? "" : "s", n->n_inputs);
    for (int i = 0; i < min; i++)
        if (!dc_opt_input(n, i))
            return dc_error(DC_ERR_INVALID, "%s: opset %" PRId64 " needs input %d, which is missing",
                            n->op_type, opset, i);
    return DC_OK;
}

dc_status dc_same_dtype(const dc_node *n, const dc_type *a, const dc_type *b)
{
    if (a->dtype != DC_UNDEFINED && b->dtype != DC_UNDEFINED && a->dtype != b->dtype)
        return dc_error(DC_ERR_SHAPE, "%s: input types differ: %s vs %s", n->op_type, dc_ts(a),
                        dc_ts(b));
    return DC_OK;
}

dc_status dc_need_float(const dc_node *n, const dc_type *t, const char *what)
{
    if (t->dtype != DC_UNDEFINED && !dc_dtype_is_float(t->dtype))
        return dc_error(DC_ERR_SHAPE, "%s: %s must be a float tensor, found %s", n->op_type, what,
                        dc_ts(t));
    return DC_OK;
}

dc_status dc_need_integer(const dc_node *n, const dc_type *t, const char *what)
{
    if (t->dtype != DC_UNDEFINED && !dc_dtype_is_integer(t->dtype))
        return dc_error(DC_ERR_SHAPE, "%s: %s must be an integer tensor, found %s", n->op_type,
                        what, dc_ts(t));
    return DC_OK;
}

/* ---- attributes ------------------------------------------------------------- */

static const char *attr_kind(dc_attr_type t)
{
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "INT",     "STRING", "TENSOR",
                                        "GRAPH",     "FLOATS", "INTS",    "STRINGS", "TENSORS",
                                        "GRAPHS",    "SPARSE_TENSOR", "SPARSE_TENSORS",
                                        "TYPE_PROTO", "TYPE_PROTOS"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

dc_status dc_attr_get(const dc_node *n, const char *name, dc_attr_type kind,
                              const dc_attr **out)
{
    *out = dc_node_attr(n, name);
    if (*out && (*out)->type != kind)
        return dc_error(DC_ERR_INVALID, "%s: attribute '%s' must be %s, found %s", n->op_type,
                        name, attr_kind(kind), attr_kind((*out)->type));
    return DC_OK;
}

dc_status dc_attr_i(const dc_node *n, const char *name, int64_t dflt, int64_t *out)
{
    const dc_attr *a;
    DC_TRY(dc_attr_get(n, name, DC_ATTR_INT, &a));
    *out = a ? a->i : dflt;
    return DC_OK;
}

dc_status dc_attr_f(const dc_node *n, const char *name, float dflt, float *out)
{
    const dc_attr *a;
    DC_TRY(dc_attr_get(n, name, DC_ATTR_FLOAT, &a));
    *out = a ? a->f : dflt;
    return DC_OK;
}

dc_status dc_attr_s(const dc_node *n, const char *name, const char *dflt, const char **out)
{
    const dc_attr *a;
    DC_TRY(dc_attr_get(n, name, DC_ATTR_STRING, &a));
    *out = a && a->s.data ? a->s.data : dflt;
    return DC_OK;
}

dc_status dc_attr_moved(const dc_node *n, const char *name, int input, int64_t opset)
{
    if (dc_node_attr(n, name))
        return dc_error(DC_ERR_INVALID, "%s: opset %" PRId64 " takes '%s' as input %d, not as an attribute",
                        n->op_type, opset, name, input);
    return DC_OK;
}

dc_status dc_attr_cast_to(const dc_node *n, int64_t opset, dc_dtype *to)
{
    static const char *const names[DC_DTYPE_COUNT] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
        "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    if (!dc_node_attr(n, "to"))
        return dc_error(DC_ERR_INVALID, "Cast: attribute 'to' is required");
    int64_t t = 0;
    if (opset < 6) {
        const char *s;
        DC_TRY(dc_attr_s(n, "to", "", &s));
        while (t < DC_DTYPE_COUNT && strcasecmp(names[t], s) != 0)
            t++;
    } else {
        DC_TRY(dc_attr_i(n, "to", 0, &t));
    }
    if (t < 0 || t >= DC_DTYPE_COUNT || !dc_dtype_valid((int)t))
        return dc_error(DC_ERR_INVALID, "Cast: 'to' is not an element type (%" PRId64 ")", t);
    if (t == DC_STRING)
        return dc_error(DC_ERR_UNSUPPORTED, "Cast: string tensors are not supported");
    *to = (dc_dtype)t;
    return DC_OK;
}

/* ---- integer lists ---------------------------------------------------------- */

dc_status dc_ints_attr(const dc_node *n, const char *name, dc_ints *out)
{
    const dc_attr *a;
    DC_TRY(dc_attr_get(n, name, DC_ATTR_INTS, &a));
    *out = (dc_ints){.present = a != NULL, .known = a != NULL, .n = a ? a->n : -1,
                     .attr = a ? a->ints : NULL};
    return DC_OK;
}

dc_status dc_ints_input(const dc_node *n, int i, dc_ints *out)
{
    *out = (dc_ints){.n = -1};
    const dc_value *v = dc_opt_input(n, i);
    if (!v)
        return DC_OK;
    out->present = true;
    char what[32];
    snprintf(what, sizeof what, "input %d", i);
    DC_TRY(dc_need_integer(n, &v->type, what));
    const dc_tensor *c = v->is_state ? NULL : v->constant;
    int rank = c ? c->rank : v->type.rank;
    if (rank > 1 || (c && !dc_dtype_is_integer(c->dtype)))
        return dc_error(DC_ERR_SHAPE, "%s: %s must be a 1-D integer tensor, found %s", n->op_type,
                        what, dc_ts(&v->type));
    if (c) {
        out->known = true;
        out->t = c;
        out->n = (int64_t)dc_tensor_numel(c);
    } else if (rank == 0) {
        out->n = 1;
    } else if (rank == 1) {
        out->n = v->type.dims[0].size >= 0 ? v->type.dims[0].size : -1;
    }
    return DC_OK;
}

int64_t dc_ints_at(const dc_ints *l, int64_t i)
{
    return l->attr ? l->attr[i] : dc_tensor_get_i64(l->t, (uint64_t)i);
}

/* ---- axes ------------------------------------------------------------------- */

dc_status dc_norm_axis(const dc_node *n, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return dc_error(DC_ERR_SHAPE, "%s: axis %" PRId64 " out of range for rank %d (expected %d..%d)",
                        n->op_type, axis, rank, -rank, rank - 1);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return DC_OK;
}

dc_status dc_norm_axes(const dc_node *n, const dc_ints *axes, int rank, bool mask[DC_MAX_RANK])
{
    memset(mask, 0, DC_MAX_RANK * sizeof *mask);
    for (int64_t i = 0; i < axes->n; i++) {
        int a = 0;
        DC_TRY(dc_norm_axis(n, dc_ints_at(axes, i), rank, &a));
        if (mask[a])
            return dc_error(DC_ERR_SHAPE, "%s: axis %" PRId64 " repeated in axes", n->op_type,
                            dc_ints_at(axes, i));
        mask[a] = true;
    }
    return DC_OK;
}

/* ---- broadcasting ----------------------------------------------------------- */

/* One output dim from two aligned input dims; false when they cannot broadcast. */
static bool merge_dim(dc_dim a, dc_dim b, dc_dim *out)
{
    if (dc_dim_known(a) && dc_dim_known(b)) {
        if (a.size != b.size && a.size != 1 && b.size != 1)
            return false;
        *out = a.size == 1 ? b : a;
    } else if (dc_dim_known(a)) {
        *out = a.size == 1 ? b : a; /* a symbol against n > 1 must be n (or 1) */
    } else if (dc_dim_known(b)) {
        *out = b.size == 1 ? a : b;
    } else {
        *out = dc_dim_equal(a, b) ? a : dc_dim_any(); /* M vs N: either may be 1 */
    }
    return true;
}

dc_status dc_broadcast_shapes(const dc_node *n, const dc_type *a, const dc_type *b, dc_type *out)
{
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return DC_OK;
    }
    int rank = a->rank > b->rank ? a->rank : b->rank;
    dc_dim dims[DC_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        int ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        dc_dim da = ia >= 0 ? a->dims[ia] : dc_dim_of(1);
        dc_dim db = ib >= 0 ? b->dims[ib] : dc_dim_of(1);
        if (!merge_dim(da, db, &dims[i]))
            return dc_error(DC_ERR_SHAPE, "%s: shapes %s and %s do not broadcast (axis %d: %" PRId64
                            " vs %" PRId64 ")", n->op_type, dc_ts(a), dc_ts(b), i, da.size, db.size);
    }
    out->rank = rank;
    memcpy(out->dims, dims, (size_t)rank * sizeof dims[0]);
    return DC_OK;
}

dc_status dc_check_broadcast_to(const dc_node *n, const dc_type *from, const dc_type *to,
                                const char *what)
{
    if (from->rank < 0 || to->rank < 0)
        return DC_OK;
    bool ok = from->rank <= to->rank;
    for (int i = 0; ok && i < from->rank; i++) {
        dc_dim f = from->dims[i], t = to->dims[i + to->rank - from->rank];
        ok = !dc_dim_known(f) || !dc_dim_known(t) || f.size == 1 || f.size == t.size;
    }
    if (!ok)
        return dc_error(DC_ERR_SHAPE, "%s: %s %s does not broadcast to %s", n->op_type, what,
                        dc_ts(from), dc_ts(to));
    return DC_OK;
}

/* ---- small constant folding ------------------------------------------------- */

static bool foldable_dtype(dc_dtype t)
{
    return dc_dtype_is_integer(t) || t == DC_BOOL;
}

int64_t dc_small_numel(const dc_type *t)
{
    if (t->rank < 0 || t->rank > DC_MAX_RANK)
        return -1;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i].size < 0 || (t->dims[i].size > 0 && n > DC_FOLD_MAX / t->dims[i].size))
            return -1; /* conservative: [100,0] is not folded */
        n *= t->dims[i].size;
    }
    return n;
}

bool dc_foldable(const dc_value *v)
{
    if (!v || !v->constant || v->is_state || !foldable_dtype(v->constant->dtype) ||
        v->constant->dtype != v->type.dtype || dc_small_numel(&v->type) < 0 ||
        v->constant->rank != v->type.rank)
        return false;
    for (int i = 0; i < v->type.rank; i++)
        if (v->constant->dims[i] != v->type.dims[i].size)
            return false;
    return true;
}

dc_status dc_fold_store(dc_graph *g, dc_value *out, const int64_t *vals)
{
    int64_t numel = dc_small_numel(&out->type);
    if (numel < 0 || !foldable_dtype(out->type.dtype))
        return DC_OK;
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < out->type.rank; i++)
        dims[i] = out->type.dims[i].size;
    dc_tensor *t;
    DC_TRY(dc_tensor_create(&t, NULL, out->type.dtype, out->type.rank, dims));
    for (int64_t i = 0; i < numel; i++) {
        int64_t v = vals[i];
        void *p = t->data;
        switch (t->dtype) {
        case DC_I64: ((int64_t *)p)[i] = v; break;
        case DC_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
        case DC_I32: ((int32_t *)p)[i] = (int32_t)v; break;
        case DC_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
        case DC_I16: ((int16_t *)p)[i] = (int16_t)v; break;
        case DC_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
        case DC_I8: ((int8_t *)p)[i] = (int8_t)v; break;
        case DC_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
        default: ((uint8_t *)p)[i] = v != 0; break; /* bool */
        }
    }
    DC_TRY(dc_graph_own_tensor(g, t));
    out->constant = t;
    return DC_OK;
}

dc_status dc_fold_copy(dc_graph *g, dc_node *n)
{
    const dc_value *in = n->inputs[0];
    dc_value *out = n->outputs[0];
    if (!dc_foldable(in) || !out || dc_small_numel(&out->type) != (int64_t)dc_tensor_numel(in->constant))
        return DC_OK;
    int64_t vals[DC_FOLD_MAX];
    for (uint64_t i = 0; i < dc_tensor_numel(in->constant); i++)
        vals[i] = dc_tensor_get_i64(in->constant, i);
    return dc_fold_store(g, out, vals);
}

/* Flat index into `in` (whose shape broadcasts to `out`) of output element `flat`. */
static uint64_t bcast_offset(const dc_tensor *in, const dc_type *out, uint64_t flat)
{
    uint64_t offset = 0, stride = 1;
    for (int k = out->rank - 1; k >= 0; k--) {
        uint64_t size = (uint64_t)out->dims[k].size, coord = size ? flat % size : 0;
        flat = size ? flat / size : 0;
        int j = k - (out->rank - in->rank);
        if (j < 0)
            break;
        if (in->dims[j] != 1)
            offset += coord * stride;
        stride *= (uint64_t)in->dims[j];
    }
    return offset;
}

/* c's shape broadcasts to out (right-aligned; each dim 1 or equal). */
static bool broadcasts_to(const dc_tensor *c, const dc_type *out)
{
    if (c->rank > out->rank)
        return false;
    for (int i = 0; i < c->rank; i++) {
        int64_t d = c->dims[i], o = out->dims[i + out->rank - c->rank].size;
        if (d != 1 && d != o)
            return false;
    }
    return true;
}

dc_status dc_fold_elementwise(dc_graph *g, dc_node *n, int n_args, dc_fold_fn fn)
{
    const dc_type *out = &n->outputs[0]->type;
    int64_t numel = dc_small_numel(out);
    if (numel < 0 || !foldable_dtype(out->dtype))
        return DC_OK;
    /* Legacy (opset < 7) broadcasting aligns differently: those do not fold. */
    for (int i = 0; i < n_args; i++)
        if (!dc_foldable(n->inputs[i]) || !broadcasts_to(n->inputs[i]->constant, out))
            return DC_OK;
    int64_t vals[DC_FOLD_MAX], x[3];
    for (int64_t e = 0; e < numel; e++) {
        for (int i = 0; i < n_args; i++) {
            const dc_tensor *c = n->inputs[i]->constant;
            x[i] = dc_tensor_get_i64(c, bcast_offset(c, out, (uint64_t)e));
        }
        if (!fn(x, &vals[e]))
            return DC_OK;
    }
    return dc_fold_store(g, n->outputs[0], vals);
}
