/* Internal to the ONNX reader/writer (onnx_import.c, onnx_export.c,
 * onnx_tensor.c): TensorProto conversion, file helpers and the wire-format
 * pre-check. Not part of the public API; include onnx_io.h instead. */
#ifndef DC_ONNX_TENSOR_H
#define DC_ONNX_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "dc_status.h"
#include "dc_tensor.h"
#include "onnx.pb-c.h"

/* Deepest message nesting accepted (ModelProto = 1). protobuf-c unpacks
 * recursively without a limit, so a few MB of nested GRAPH attributes would
 * overflow the stack; this is checked on the bytes before unpacking.
 * Each subgraph level costs 3 (Graph -> Node -> Attribute). */
enum { DC_ONNX_MAX_NESTING = 100 };

/* Models above this size are rejected: protobuf itself cannot exceed 2 GiB,
 * larger models keep their weights in external data. */
#define DC_ONNX_MAX_FILE_BYTES ((size_t)2 << 30)

/* Checks that `data` is a structurally sound protobuf message of type `desc`
 * whose message nesting stays within DC_ONNX_MAX_NESTING. */
dc_status dc_onnx_check_wire(const ProtobufCMessageDescriptor *desc, const void *data, size_t size);

/* Converts a TensorProto. The data comes from raw_data, a typed field or an
 * external file under `base_dir` (NULL: external data refused). The shape is
 * checked against the data length before anything is allocated. */
dc_status dc_onnx_tensor_from_proto(const Onnx__TensorProto *p, const char *base_dir,
                                    dc_tensor **out);

/* Fills a TensorProto (allocated from `a`) that borrows `t`'s data as raw_data;
 * `t` must outlive the proto. `name` may be NULL. NULL when out of memory. */
Onnx__TensorProto *dc_onnx_tensor_to_proto(const dc_tensor *t, const char *name, dc_arena *a);

/* Whole-file helpers. read_file refuses files above `max_bytes`. */
dc_status dc_onnx_read_file(const char *path, size_t max_bytes, void **data, size_t *size);
dc_status dc_onnx_write_file(const char *path, const void *data, size_t size);
/* The directory part of `path` ("." when it has none); malloc'd, NULL on OOM. */
char *dc_onnx_dirname(const char *path);

#endif
