/* NumPy .npy files (format 1.0-3.0, little-endian, C order) as dc_tensors. */
#ifndef DC_NPY_H
#define DC_NPY_H

#include "dc_tensor.h"

/* Reads a .npy file; Fortran order, big-endian data, object arrays and
 * unsupported dtypes are errors naming the file and what was found. */
dc_status dc_npy_load(const char *path, dc_tensor **out);
/* Parses .npy bytes (`what` names the source in errors). */
dc_status dc_npy_parse(const void *data, size_t size, const char *what, dc_tensor **out);
/* Writes format 1.0 (a rank-8 header always fits its 64 KiB limit). */
dc_status dc_npy_save(const dc_tensor *t, const char *path);

#endif
