/* Ops whose output type comes from attributes rather than input shapes:
 * Constant, ConstantOfShape, Cast, and Dropout (shape-preserving, with an
 * optional mask whose type changed over opsets). */
#include <inttypes.h>
#include <string.h>

#include "ops/infer_util.h"
#include "reference/reference.h"
#include "gradients/grad_util.h"

/* ---- Constant --------------------------------------------------------------- */

/* The attributes that can hold a Constant's value, the kind each must have and
 * the opset that introduced it. */
static const struct {
    const char *name;
    dc_attr_type kind;
    int since;
} constant_attrs[] = {
    {"value", DC_ATTR_TENSOR, 1},         {"sparse_value", DC_ATTR_SPARSE_TENSOR, 11},
    {"value_float", DC_ATTR_FLOAT, 12},   {"value_floats", DC_ATTR_FLOATS, 12},
    {"value_int", DC_ATTR_INT, 12},       {"value_ints", DC_ATTR_INTS, 12},
    {"value_string", DC_ATTR_STRING, 12}, {"value_strings", DC_ATTR_STRINGS, 12},
};
enum { N_CONSTANT_ATTRS = sizeof constant_attrs / sizeof constant_attrs[0] };

/* Output `y` becomes a new tensor of `count` elements copied from `data`
 * (rank 0 when `scalar`). */
static dc_status set_new_constant(dc_graph *g, dc_value *y, dc_dtype dtype, bool scalar,
                                  int count, const void *data)
{
    int64_t dims[1] = {count};
    dc_tensor *t;
    DC_TRY(dc_tensor_create(&t, NULL, dtype, scalar ? 0 : 1, dims));
    memcpy(t->data, data, t->nbytes);
    DC_TRY(dc_graph_own_tensor(g, t));
    y->type = dc_type_make(dtype, t->rank, t->dims);
    y->constant = t;
    return DC_OK;
}

/* The type (and data) of the one value attribute `a`. A sparse value gives the
 * type only (no dense copy); strings are unsupported, like string tensors
 * everywhere in dinoc. */
static dc_status constant_value(dc_graph *g, dc_node *n, const dc_attr *a)
{
    dc_value *y = n->outputs[0];
    switch (a->type) {
    case DC_ATTR_TENSOR:
        if (!a->t)
            return dc_error(DC_ERR_INVALID, "Constant: attribute 'value' holds no tensor");
        y->type = dc_type_make(a->t->dtype, a->t->rank, a->t->dims);
        y->constant = a->t; /* both owned by the graph */
        return DC_OK;
    case DC_ATTR_SPARSE_TENSOR: {
        const dc_sparse_tensor *sp = a->sparse;
        uint64_t numel;
        if (!sp || !sp->values)
            return dc_error(DC_ERR_INVALID, "Constant: attribute 'sparse_value' holds no values");
        dc_status s = dc_shape_numel(sp->rank, sp->dims, sp->values->dtype, &numel);
        if (s != DC_OK)
            return dc_error_context(s, "Constant: sparse_value");
        y->type = dc_type_make(sp->values->dtype, sp->rank, sp->dims);
        return DC_OK;
    }
    case DC_ATTR_FLOAT: return set_new_constant(g, y, DC_F32, true, 1, &a->f);
    case DC_ATTR_FLOATS: return set_new_constant(g, y, DC_F32, false, a->n, a->floats);
    case DC_ATTR_INT: return set_new_constant(g, y, DC_I64, true, 1, &a->i);
    case DC_ATTR_INTS: return set_new_constant(g, y, DC_I64, false, a->n, a->ints);
    default: /* STRING, STRINGS */
        return dc_error(DC_ERR_UNSUPPORTED, "Constant: string values are unsupported ('%s')",
                        a->name);
    }
}

/* Constant: exactly one value attribute, of the kind its name says. */
static dc_status infer_constant(dc_graph *g, dc_node *n, int64_t opset)
{
    const dc_attr *found = NULL;
    int count = 0;
    for (int i = 0; i < N_CONSTANT_ATTRS; i++) {
        const dc_attr *a;
        DC_TRY(dc_attr_get(n, constant_attrs[i].name, constant_attrs[i].kind, &a));
        if (a && opset < constant_attrs[i].since)
            return dc_error(DC_ERR_INVALID, "Constant: attribute '%s' needs opset %d, the graph imports %" PRId64,
                            a->name, constant_attrs[i].since, opset);
        count += a != NULL;
        found = a ? a : found;
    }
    if (count != 1)
        return dc_error(DC_ERR_INVALID, "Constant: expected exactly one of value, sparse_value, "
                        "value_float(s), value_int(s), value_string(s); found %d", count);
    return constant_value(g, n, found);
}

/* ---- ConstantOfShape -------------------------------------------------------- */

/* ConstantOfShape(shape: int64[r]) -> `value`'s type (default f32 0) of that shape. */
static dc_status infer_constant_of_shape(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)opset;
    const dc_attr *va;
    DC_TRY(dc_attr_get(n, "value", DC_ATTR_TENSOR, &va));
    const dc_tensor *value = va ? va->t : NULL;
    if (va && (!value || dc_tensor_numel(value) != 1))
        return dc_error(DC_ERR_INVALID, "ConstantOfShape: attribute 'value' must hold one element, found %" PRIu64,
                        value ? dc_tensor_numel(value) : 0);
    dc_dtype dtype = value ? value->dtype : DC_F32;
    dc_ints shape;
    DC_TRY(dc_ints_input(n, 0, &shape));
    if (shape.n > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "ConstantOfShape: shape has %" PRId64 " entries, more than rank %d",
                        shape.n, DC_MAX_RANK);
    dc_value *y = n->outputs[0];
    y->type = dc_type_ranked(dtype, (int)shape.n);
    if (!shape.known)
        return DC_OK;
    int64_t dims[DC_MAX_RANK];
    for (int i = 0; i < shape.n; i++)
        dims[i] = dc_ints_at(&shape, i);
    uint64_t numel;
    dc_status s = dc_shape_numel((int)shape.n, dims, dtype, &numel);
    if (s != DC_OK) /* a negative size, or a tensor too large to ever create */
        return dc_error_context(s, "ConstantOfShape");
    y->type = dc_type_make(dtype, (int)shape.n, dims);
    int64_t vals[DC_FOLD_MAX];
    for (uint64_t i = 0; i < numel && i < DC_FOLD_MAX; i++)
        vals[i] = value ? dc_tensor_get_i64(value, 0) : 0;
    return dc_fold_store(g, y, vals);
}

/* ---- Cast ------------------------------------------------------------------- */

/* Cast: same shape, element type `to`; small integer constants fold. */
static dc_status infer_cast(dc_graph *g, dc_node *n, int64_t opset)
{
    dc_dtype to = DC_UNDEFINED;
    DC_TRY(dc_attr_cast_to(n, opset, &to));
    n->outputs[0]->type = n->inputs[0]->type;
    n->outputs[0]->type.dtype = to;
    return dc_fold_copy(g, n);
}

/* ---- Dropout ---------------------------------------------------------------- */

/* Dropout: output and optional mask shaped like the input. The ratio is an
 * attribute before opset 12 and input 1 (with training_mode, input 2) after;
 * the mask is bool from opset 10, the input's type before. */
static dc_status infer_dropout(dc_graph *g, dc_node *n, int64_t opset)
{
    (void)g;
    DC_TRY(dc_check_inputs(n, 1, opset < 12 ? 1 : 3, opset));
    const dc_type *x = &n->inputs[0]->type;
    DC_TRY(dc_need_float(n, x, "data"));
    if (opset < 12) {
        float ratio;
        DC_TRY(dc_attr_f(n, "ratio", 0.5f, &ratio));
        if (!(ratio >= 0.0f && ratio < 1.0f))
            return dc_error(DC_ERR_INVALID, "Dropout: ratio %g is not in [0, 1)", (double)ratio);
    } else {
        if (dc_opt_input(n, 1))
            DC_TRY(dc_need_float(n, &n->inputs[1]->type, "ratio"));
        if (dc_opt_input(n, 2) && n->inputs[2]->type.dtype != DC_UNDEFINED &&
            n->inputs[2]->type.dtype != DC_BOOL)
            return dc_error(DC_ERR_SHAPE, "Dropout: training_mode must be bool, found %s",
                            dc_ts(&n->inputs[2]->type));
    }
    n->outputs[0]->type = *x;
    if (n->n_outputs > 1 && n->outputs[1]) {
        n->outputs[1]->type = *x;
        n->outputs[1]->type.dtype = opset < 10 ? x->dtype : DC_BOOL;
    }
    return DC_OK;
}

const dc_op_schema dc_op_Constant = {
    .name = "Constant", .domain = "",
    .min_inputs = 0, .max_inputs = 0, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_constant,
    .reference = dc_ref_Constant,
};
static const char *const static_inputs_ConstantOfShape[] = {"shape"};
const dc_op_schema dc_op_ConstantOfShape = {
    .name = "ConstantOfShape", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_constant_of_shape,
    .reference = dc_ref_ConstantOfShape,
    .static_inputs = static_inputs_ConstantOfShape, .n_static_inputs = 1,
};
const dc_op_schema dc_op_Cast = {
    .name = "Cast", .domain = "",
    .min_inputs = 1, .max_inputs = 1, .min_outputs = 1, .max_outputs = 1,
    .infer = infer_cast,
    .reference = dc_ref_Cast,
    .gradient = dc_grad_Cast,
};
static const char *const static_inputs_Dropout[] = {NULL, "ratio", "training_mode"};
const dc_op_schema dc_op_Dropout = {
    .name = "Dropout", .domain = "",
    .min_inputs = 1, .max_inputs = 3, .min_outputs = 1, .max_outputs = 2,
    .infer = infer_dropout,
    .reference = dc_ref_Dropout,
    .gradient = dc_grad_Dropout,
    .static_inputs = static_inputs_Dropout, .n_static_inputs = 3,
};
