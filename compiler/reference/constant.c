/* Reference kernels of Constant, ConstantOfShape, Cast and Dropout. */
#include <inttypes.h>
#include <string.h>

#include "reference/ref_util.h"

/* ---- Constant --------------------------------------------------------------------- */

/* The dense tensor of a SparseTensorProto: values[NNZ] at indices[NNZ]
 * (linear) or indices[NNZ, rank], zeros elsewhere. */
static dc_status densify(const dc_node *node, const dc_sparse_tensor *sp, dc_tensor **outputs)
{
    const dc_tensor *values = sp->values, *indices = sp->indices;
    if (!values || !indices)
        return dc_error(DC_ERR_INVALID, "Constant: sparse_value lacks values or indices");
    int64_t nnz = (int64_t)dc_tensor_numel(values);
    bool linear = indices->rank == 1;
    if (!dc_dtype_is_integer(indices->dtype) ||
        !(linear ? indices->dims[0] == nnz
                 : indices->rank == 2 && indices->dims[0] == nnz && indices->dims[1] == sp->rank))
        return dc_error(DC_ERR_SHAPE, "Constant: sparse indices %s%s do not fit %" PRId64 " values of rank %d",
                        dc_dtype_short_name(indices->dtype), ref_shape_str(indices->rank, indices->dims),
                        nnz, sp->rank);
    DC_TRY(ref_new_output(node, outputs, 0, values->dtype, sp->rank, sp->dims));
    dc_tensor *y = outputs[0];
    int64_t strides[DC_MAX_RANK], numel = (int64_t)dc_tensor_numel(y);
    ref_strides(sp->rank, sp->dims, strides);
    for (int64_t e = 0; e < nnz; e++) {
        int64_t at = 0;
        for (int k = 0; k < (linear ? 1 : sp->rank); k++) {
            int64_t i = ref_get_int(indices, linear ? e : e * sp->rank + k);
            int64_t bound = linear ? numel : sp->dims[k];
            if (i < 0 || i >= bound)
                return dc_error(DC_ERR_INVALID, "Constant: sparse index %" PRId64 " out of range", i);
            at += linear ? i : i * strides[k];
        }
        ref_copy_elem(y, at, values, e);
    }
    return DC_OK;
}

/* () -> output: the value of the one value attribute (value, sparse_value,
 * value_float(s), value_int(s)). Strings are not supported. */
dc_status dc_ref_Constant(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                          dc_tensor **outputs)
{
    (void)opset;
    (void)inputs;
    for (int i = 0; i < node->n_attrs; i++) {
        const dc_attr *a = &node->attrs[i];
        const char *name = a->name;
        if (strcmp(name, "value") == 0 && a->type == DC_ATTR_TENSOR && a->t)
            return ref_new_view(node, outputs, 0, a->t, a->t->rank, a->t->dims);
        if (strcmp(name, "sparse_value") == 0 && a->type == DC_ATTR_SPARSE_TENSOR && a->sparse)
            return densify(node, a->sparse, outputs);
        bool scalar = a->type == DC_ATTR_FLOAT || a->type == DC_ATTR_INT;
        int64_t n = scalar ? 1 : a->n;
        if (strcmp(name, "value_float") == 0 || strcmp(name, "value_floats") == 0) {
            DC_TRY(ref_new_output(node, outputs, 0, DC_F32, scalar ? 0 : 1, &n));
            for (int64_t e = 0; e < n; e++)
                ref_set(outputs[0], e, scalar ? a->f : a->floats[e]);
            return DC_OK;
        }
        if (strcmp(name, "value_int") == 0 || strcmp(name, "value_ints") == 0) {
            DC_TRY(ref_new_output(node, outputs, 0, DC_I64, scalar ? 0 : 1, &n));
            for (int64_t e = 0; e < n; e++)
                ref_set_int(outputs[0], e, scalar ? a->i : a->ints[e]);
            return DC_OK;
        }
        if (strncmp(name, "value_string", 12) == 0)
            return dc_error(DC_ERR_UNSUPPORTED, "Constant: string values are not supported ('%s')", name);
    }
    return dc_error(DC_ERR_INVALID, "Constant: no value attribute");
}

/* ---- ConstantOfShape -------------------------------------------------------------- */

/* input: int64[r] shape -> output[shape] filled with the one element of the
 * `value` attribute (default f32 0). */
dc_status dc_ref_ConstantOfShape(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                 dc_tensor **outputs)
{
    (void)opset;
    const dc_attr *va;
    DC_TRY(dc_attr_get(node, "value", DC_ATTR_TENSOR, &va));
    const dc_tensor *value = va ? va->t : NULL;
    if (va && (!value || dc_tensor_numel(value) != 1))
        return dc_error(DC_ERR_INVALID, "ConstantOfShape: attribute 'value' must hold one element");
    ref_list shape;
    DC_TRY(ref_list_input(node, inputs[0], "shape", &shape));
    if (shape.n > DC_MAX_RANK)
        return dc_error(DC_ERR_SHAPE, "ConstantOfShape: shape has %d entries, more than rank %d",
                        shape.n, DC_MAX_RANK);
    DC_TRY(ref_new_output(node, outputs, 0, value ? value->dtype : DC_F32, shape.n, shape.v));
    int64_t n = (int64_t)dc_tensor_numel(outputs[0]);
    for (int64_t e = 0; value && e < n; e++)
        ref_copy_elem(outputs[0], e, value, 0);
    return DC_OK; /* without a value, the zeros of dc_tensor_create */
}

/* ---- Cast ------------------------------------------------------------------------- */

/* The `to` element type, one the reference kernels compute in. */
static dc_status cast_target(const dc_node *n, int64_t opset, dc_dtype *to)
{
    DC_TRY(dc_attr_cast_to(n, opset, to));
    if (ref_kind_of(*to) == REF_NONE)
        return dc_error(DC_ERR_UNSUPPORTED, "Cast: cannot cast to element type %d", (int)*to);
    return DC_OK;
}

/* input[*] -> output[*] of type `to`: floats round to nearest (f16/bf16 via
 * float), floats to integers truncate toward zero (saturating, NaN -> 0),
 * integers wrap to a narrower width, anything to bool is x != 0. */
dc_status dc_ref_Cast(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                      dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    dc_dtype to = DC_UNDEFINED;
    DC_TRY(cast_target(node, opset, &to));
    DC_TRY(ref_need_kind(node, x, "input", REF_KINDS_ANY));
    DC_TRY(ref_new_output(node, outputs, 0, to, x->rank, x->dims));
    dc_tensor *y = outputs[0];
    bool exact = ref_kind_of(x->dtype) != REF_FLOAT && ref_kind_of(to) != REF_FLOAT;
    int64_t n = (int64_t)dc_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        if (exact)
            ref_set_int(y, i, ref_get_int(x, i));
        else
            ref_set(y, i, ref_get(x, i));
    }
    return DC_OK;
}

/* ---- Dropout ---------------------------------------------------------------------- */

/* splitmix64: a small, well-mixed generator, so training-mode runs repeat. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* data[*] float (ratio, training_mode: scalar inputs from opset 12) ->
 * output[*], mask[*] (optional; bool from opset 10, data's type before).
 * Inference (the default from opset 7; is_test=1 before): output = data, mask
 * all true. Training: each element is kept with probability 1 - ratio and
 * scaled by 1 / (1 - ratio). Training mode is random by definition: this
 * kernel draws from splitmix64 seeded with `seed` (default 0), so it repeats
 * run to run but matches no other implementation's stream. */
dc_status dc_ref_Dropout(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                         dc_tensor **outputs)
{
    const dc_tensor *x = inputs[0];
    DC_TRY(ref_need_kind(node, x, "data", REF_KINDS_FLOAT));
    double ratio = 0.5;
    bool training = false;
    if (opset < 12) {
        float r;
        DC_TRY(dc_attr_f(node, "ratio", 0.5f, &r));
        ratio = r;
        if (opset < 7) {
            int64_t is_test;
            DC_TRY(dc_attr_i(node, "is_test", 0, &is_test));
            training = !is_test;
        }
    } else {
        const dc_tensor *r = node->n_inputs > 1 ? inputs[1] : NULL;
        const dc_tensor *t = node->n_inputs > 2 ? inputs[2] : NULL;
        if (r && dc_tensor_numel(r) != 1)
            return dc_error(DC_ERR_SHAPE, "Dropout: ratio must be a scalar, found %s", ref_shape_str(r->rank, r->dims));
        if (t && dc_tensor_numel(t) != 1)
            return dc_error(DC_ERR_SHAPE, "Dropout: training_mode must be a scalar, found %s",
                            ref_shape_str(t->rank, t->dims));
        ratio = r ? ref_get(r, 0) : 0.5;
        training = t && ref_get_int(t, 0) != 0;
    }
    if (training && !(ratio >= 0 && ratio < 1))
        return dc_error(DC_ERR_INVALID, "Dropout: ratio %g is not in [0, 1)", ratio);
    int64_t seed;
    DC_TRY(dc_attr_i(node, "seed", 0, &seed));
    uint64_t state = (uint64_t)seed;
    DC_TRY(ref_new_output(node, outputs, 0, x->dtype, x->rank, x->dims));
    bool want_mask = ref_wants_output(node, 1);
    if (want_mask)
        DC_TRY(ref_new_output(node, outputs, 1, opset < 10 ? x->dtype : DC_BOOL, x->rank, x->dims));
    int64_t n = (int64_t)dc_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        bool keep = true;
        if (training && ratio > 0)
            keep = (double)(splitmix64(&state) >> 11) * 0x1p-53 >= ratio;
        double scale = training ? 1.0 / (1.0 - ratio) : 1.0;
        ref_set(outputs[0], i, keep ? ref_get(x, i) * scale : 0.0);
        if (want_mask)
            ref_set_int(outputs[1], i, keep);
    }
    return DC_OK;
}
