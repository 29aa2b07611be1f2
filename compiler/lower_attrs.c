/* Step attributes for lowering: node attributes and static inputs in one form. */
#include "lower_attrs.h"

#include <stdlib.h>
#include <string.h>

#include "op_registry.h"

static const char *const attr_kind_names[] = {
    "undefined", "float", "int", "string", "tensor", "graph", "floats", "ints",
    "strings", "tensors", "graphs", "sparse_tensor", "sparse_tensors", "type_proto", "type_protos",
};

static void free_attr(dc_plan_attr *at)
{
    free(at->name);
    free(at->s);
    free(at->ints);
    free(at->floats);
}

/* Appends `at` (whose allocations the step takes over) or replaces the
 * attribute of the same name. */
static dc_status push_attr(dc_plan_step *st, dc_plan_attr at)
{
    for (int i = 0; i < st->n_attrs; i++)
        if (strcmp(st->attrs[i].name, at.name) == 0) {
            free_attr(&st->attrs[i]);
            st->attrs[i] = at;
            return DC_OK;
        }
    dc_plan_attr *grown = realloc(st->attrs, ((size_t)st->n_attrs + 1) * sizeof *grown);
    if (!grown) {
        dc_status s = dc_error(DC_ERR_NOMEM, "attribute '%s'", at.name);
        free_attr(&at);
        return s;
    }
    st->attrs = grown;
    st->attrs[st->n_attrs++] = at;
    return DC_OK;
}

dc_status dc_lower_set_int(dc_plan_step *step, const char *name, int64_t v)
{
    dc_plan_attr at = {.name = strdup(name), .type = DC_PLAN_ATTR_INT, .i = v};
    if (!at.name)
        return dc_error(DC_ERR_NOMEM, "attribute '%s'", name);
    return push_attr(step, at);
}

/* Tensor data as an attribute: integers and bools as INT(S), floats as
 * FLOAT(S); a rank-0 tensor as the scalar kind. *absent when it is empty. */
static dc_status attr_from_tensor(const dc_tensor *t, const char *name, dc_plan_attr *at,
                                  bool *absent)
{
    uint64_t n = dc_tensor_numel(t);
    *absent = n == 0;
    if (*absent)
        return DC_OK;
    bool is_float = dc_dtype_is_float(t->dtype);
    if (!is_float && !dc_dtype_is_integer(t->dtype) && t->dtype != DC_BOOL)
        return dc_error(DC_ERR_UNSUPPORTED, "'%s' holds %s data", name, dc_dtype_name(t->dtype));
    if (n > DC_PLAN_MAX_ATTR_VALUES)
        return dc_error(DC_ERR_UNSUPPORTED, "'%s' holds %llu values (limit %d)", name,
                        (unsigned long long)n, DC_PLAN_MAX_ATTR_VALUES);
    bool scalar = t->rank == 0;
    *at = (dc_plan_attr){.name = strdup(name), .n = scalar ? 0 : (int)n};
    if (is_float) {
        at->type = scalar ? DC_PLAN_ATTR_FLOAT : DC_PLAN_ATTR_FLOATS;
        at->floats = scalar ? NULL : malloc(n * sizeof *at->floats);
        for (uint64_t i = 0; at->floats && i < n; i++)
            at->floats[i] = (float)dc_tensor_get_f64(t, i);
        at->f = (float)dc_tensor_get_f64(t, 0);
    } else {
        at->type = scalar ? DC_PLAN_ATTR_INT : DC_PLAN_ATTR_INTS;
        at->ints = scalar ? NULL : malloc(n * sizeof *at->ints);
        for (uint64_t i = 0; at->ints && i < n; i++)
            at->ints[i] = dc_tensor_get_i64(t, i);
        at->i = dc_tensor_get_i64(t, 0);
    }
    if (!at->name || (!scalar && !at->floats && !at->ints)) {
        free_attr(at);
        return dc_error(DC_ERR_NOMEM, "attribute '%s'", name);
    }
    return DC_OK;
}

static void *dup_array(const void *src, int n, size_t size)
{
    void *p = malloc(n ? (size_t)n * size : 1);
    if (p && n)
        memcpy(p, src, (size_t)n * size);
    return p;
}

/* One node attribute in plan form; *absent for an empty TENSOR. */
static dc_status attr_from_node(const dc_attr *a, dc_plan_attr *at, bool *absent)
{
    *absent = false;
    *at = (dc_plan_attr){.name = strdup(a->name), .n = a->n};
    switch (a->type) {
    case DC_ATTR_INT: at->type = DC_PLAN_ATTR_INT; at->i = a->i; at->n = 0; break;
    case DC_ATTR_FLOAT: at->type = DC_PLAN_ATTR_FLOAT; at->f = a->f; at->n = 0; break;
    case DC_ATTR_STRING:
        at->type = DC_PLAN_ATTR_STRING;
        at->n = 0;
        if (a->s.data && strlen(a->s.data) != a->s.len) {
            free_attr(at);
            return dc_error(DC_ERR_UNSUPPORTED, "attribute '%s': a string with a NUL byte", a->name);
        }
        at->s = strdup(a->s.data ? a->s.data : "");
        break;
    case DC_ATTR_INTS: at->type = DC_PLAN_ATTR_INTS; at->ints = dup_array(a->ints, a->n, sizeof(int64_t)); break;
    case DC_ATTR_FLOATS: at->type = DC_PLAN_ATTR_FLOATS; at->floats = dup_array(a->floats, a->n, sizeof(float)); break;
    case DC_ATTR_TENSOR:
        free_attr(at);
        return attr_from_tensor(a->t, a->name, at, absent);
    default:
        free_attr(at);
        return dc_error(DC_ERR_UNSUPPORTED, "attribute '%s' of kind %s is not supported", a->name,
                        a->type > 0 && a->type <= DC_ATTR_TYPE_PROTOS ? attr_kind_names[a->type] : "?");
    }
    if (!at->name || (at->type == DC_PLAN_ATTR_STRING && !at->s) ||
        (at->type == DC_PLAN_ATTR_INTS && !at->ints) || (at->type == DC_PLAN_ATTR_FLOATS && !at->floats)) {
        free_attr(at);
        return dc_error(DC_ERR_NOMEM, "attribute '%s'", a->name);
    }
    return DC_OK;
}

dc_status dc_lower_check_static(const dc_node *n)
{
    const dc_op_schema *op = n->schema;
    for (int i = 0; i < op->n_static_inputs && i < n->n_inputs; i++)
        if (op->static_inputs[i] && n->inputs[i] && !n->inputs[i]->constant)
            return dc_error(DC_ERR_UNSUPPORTED, "%s '%s': input '%s' must be known at compile time",
                            n->op_type, n->name, op->static_inputs[i]);
    return DC_OK;
}

/* Input i of `n` (named `attr` by the schema, known: dc_lower_check_static)
 * as an attribute. */
static dc_status attr_from_static_input(const dc_node *n, int i, const char *attr,
                                        dc_plan_step *st)
{
    const dc_value *v = i < n->n_inputs ? n->inputs[i] : NULL;
    if (!v)
        return DC_OK;
    dc_plan_attr at;
    bool absent;
    dc_status s = attr_from_tensor(v->constant, attr, &at, &absent);
    if (s != DC_OK)
        return dc_error_context(s, "%s '%s': input '%s'", n->op_type, n->name, attr);
    return absent ? DC_OK : push_attr(st, at);
}

dc_status dc_lower_attrs(const dc_graph *g, const dc_node *n, dc_plan_step *st)
{
    DC_TRY(dc_lower_check_static(n));
    for (int i = 0; i < n->n_attrs; i++) {
        dc_plan_attr at;
        bool absent;
        dc_status s = attr_from_node(&n->attrs[i], &at, &absent);
        if (s != DC_OK)
            return dc_error_context(s, "%s '%s'", n->op_type, n->name);
        if (!absent)
            DC_TRY(push_attr(st, at));
    }
    const dc_op_schema *op = n->schema;
    for (int i = 0; i < op->n_static_inputs; i++)
        if (op->static_inputs[i])
            DC_TRY(attr_from_static_input(n, i, op->static_inputs[i], st));
    return dc_lower_set_int(st, "opset", dc_graph_opset(g, n->domain));
}
