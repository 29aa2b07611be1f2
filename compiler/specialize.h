/* Specialising a graph to the inputs it will run on, before lowering.
 *
 * Plans have static shapes and take some data at compile time (Reshape's
 * shape, Slice's starts, ...). A model may leave those to its inputs: ONNX's
 * own node tests feed Reshape's shape as a graph input, and exported models
 * may have symbolic batch dims. When the inputs are known up front (`dinoc
 * run MODEL.onnx`, the conformance runner), the graph is specialised to them:
 *   - a graph input from which a static input is computed becomes an
 *     initializer holding the given data (it is "bound": no longer a graph
 *     input, so constant folding sees through it);
 *   - unknown dims of the other inputs take the given tensor's dims;
 * then shapes are inferred again. */
#ifndef DC_SPECIALIZE_H
#define DC_SPECIALIZE_H

#include <stdbool.h>

#include "ir.h"

/* A tensor with the name of the input it is for (`dinoc run -i NAME=FILE`). */
typedef struct dc_named_tensor {
    const char *name;
    dc_tensor *tensor;
} dc_named_tensor;

/* Specialises `g` to `inputs` (borrowed; bound data is copied). Every name
 * must be a graph input, and a bound input's data must have its declared
 * type ("input 'shape': expected i64[2], got i64[3]"). bound[i] (may be
 * NULL) tells whether inputs[i] was bound. Inputs not given stay as they are. */
dc_status dc_specialize_inputs(dc_graph *g, const dc_named_tensor *inputs, int n_inputs,
                               bool *bound);

#endif
