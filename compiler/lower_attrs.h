/* Step attributes in the canonical form kernels read (dc_plan.h): a node's
 * attributes, its static inputs turned into attributes, and "opset".
 * Internal to lowering (lower.c). */
#ifndef DC_LOWER_ATTRS_H
#define DC_LOWER_ATTRS_H

#include "dc_plan.h"
#include "ir.h"

/* Fills step->attrs for node `n` of `g`. Static inputs (the schema's
 * static_inputs) must have data known at compile time; int data becomes INTS,
 * float data FLOATS, a scalar INT or FLOAT; empty or omitted ones are left
 * out. TENSOR attributes convert the same way; GRAPH and other kinds are
 * unsupported. Errors name the node: "Reshape 'r1': input 'shape' must be
 * known at compile time". */
dc_status dc_lower_attrs(const dc_graph *g, const dc_node *n, dc_plan_step *step);

/* DC_OK when every static input of `n` has data known at compile time, else
 * the error above (views need this check without the attributes). */
dc_status dc_lower_check_static(const dc_node *n);

/* Adds an INT attribute to a step, replacing one of the same name. */
dc_status dc_lower_set_int(dc_plan_step *step, const char *name, int64_t v);

#endif
