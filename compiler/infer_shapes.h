/* Shape and type inference: per node (each op's registry inference) and over a
 * whole graph in schedule order. Part of the compiler core, since the importer
 * and the builder infer as they go; the pipeline runs it as its first pass. */
#ifndef DC_INFER_SHAPES_H
#define DC_INFER_SHAPES_H

#include "ir.h"

/* Infers one node's outputs and reconciles them with types already declared on
 * the outputs (from an ONNX file's value_info/outputs): declared dims that
 * contradict the inferred ones are an error; unknown ones are filled in. */
dc_status dc_infer_node(dc_graph *g, dc_node *node);

/* Runs each node's registry inference; the first failure is returned with the
 * node named in the message. The graph should have passed dc_graph_verify. */
dc_status dc_infer_shapes(dc_graph *g);

#endif
