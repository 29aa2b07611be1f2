/* ONNX model and tensor files: import into the dinoc IR and export from it.
 *
 * Import accepts ONNX IR versions 3..8, the default domain ("" or "ai.onnx") up
 * to opset 17 and the "ai.dinoc" domain. Every failure returns a status with a
 * one-line message naming the file and the tensor, value or node at fault; bad
 * bytes never crash, hang or make the loader allocate more than the input
 * justifies. A loaded graph has passed dc_graph_verify and dc_infer_shapes.
 *
 * Export always writes IR version 8, initializers as little-endian raw_data,
 * and value_info for every intermediate value whose element type is known; the
 * result passes onnx.checker.check_model(full_check=True).
 *
 * Dimension bounds (dc_graph_set_dim_bound) travel as metadata entries
 * "dinoc.dim_bound.<symbol>" = "<decimal bound>". */
#ifndef DC_ONNX_IO_H
#define DC_ONNX_IO_H

#include <stddef.h>

#include "dc_status.h"
#include "dc_tensor.h"
#include "ir.h"

/* The metadata key prefix that carries symbolic-dimension bounds. */
#define DC_ONNX_DIM_BOUND_PREFIX "dinoc.dim_bound."
/* Training state: metadata "dinoc.state_update.<state>" = "<next value>". */
#define DC_ONNX_STATE_UPDATE_PREFIX "dinoc.state_update."

/* Flags for dc_onnx_load_buffer_ex. */
enum {
    /* Build the IR only: skip dc_graph_verify and dc_infer_shapes. For tools
     * that show models with ops dinoc does not know (`dinoc inspect`) and for
     * tests of the importer itself. Structural errors (dangling or duplicate
     * names, bad tensors, unsupported types/domains) are still reported. */
    DC_ONNX_NO_CHECK = 1u << 0,
};

/* Reads a .onnx file. External tensor data is resolved relative to the
 * directory of `path`. */
dc_status dc_onnx_load(const char *path, dc_graph **out);

/* Reads a model from memory. `base_dir` is where external data files live;
 * NULL means a model with external data is an error. */
dc_status dc_onnx_load_buffer(const void *data, size_t size, const char *base_dir,
                              dc_graph **out);
dc_status dc_onnx_load_buffer_ex(const void *data, size_t size, const char *base_dir,
                                 unsigned flags, dc_graph **out);
/* dc_onnx_load with flags. */
dc_status dc_onnx_load_ex(const char *path, unsigned flags, dc_graph **out);

/* Writes `g` as an ONNX model. The buffer variant returns malloc'd bytes the
 * caller frees with free(). */
/* Initializers above this many bytes in total go to external data: a
 * protobuf message cannot exceed 2 GiB. */
#define DC_ONNX_INLINE_LIMIT (((uint64_t)2 << 30) - ((uint64_t)64 << 20))

/* Writes the model; when its initializers hold more than DC_ONNX_INLINE_LIMIT
 * bytes, those of 1 KiB or more go to "<path>.data" beside it (ONNX external
 * data, offsets 4 KiB-aligned), which onnx.load and ONNX Runtime read. */
dc_status dc_onnx_save(const dc_graph *g, const char *path);
/* The same with another threshold (0: every initializer of 1 KiB or more). */
dc_status dc_onnx_save_ex(const dc_graph *g, const char *path, uint64_t external_above);
dc_status dc_onnx_save_buffer(const dc_graph *g, void **data, size_t *size);

/* Standalone serialized TensorProto files (the ONNX backend tests'
 * test_data_set_N/input_K.pb). External data is resolved relative to the
 * file's directory (load) / not written (save: always raw_data). */
dc_status dc_tensor_load_pb(const char *path, dc_tensor **out);
dc_status dc_tensor_save_pb(const dc_tensor *t, const char *path);
dc_status dc_tensor_load_pb_buffer(const void *data, size_t size, const char *base_dir,
                                   dc_tensor **out);
dc_status dc_tensor_save_pb_buffer(const dc_tensor *t, void **data, size_t *size);

#endif
