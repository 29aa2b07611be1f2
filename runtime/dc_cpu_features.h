/* CPU features by name, as an artifact lists those its generated code needs.
 *
 * Names are spelled as GCC's __builtin_cpu_supports spells them ("sse4.2",
 * "avx2", "fma", "avx512f", ...). The runtime knows a fixed table of them;
 * a name outside it is not guessed at: the loader refuses an artifact that
 * needs a feature this runtime cannot check. */
#ifndef DC_CPU_FEATURES_H
#define DC_CPU_FEATURES_H

#include <stddef.h>

/* 1 if this CPU (and the OS, for vector state) supports `name`, 0 if not,
 * -1 if the name is not one this runtime knows. `name` needs no NUL: its
 * length is `len`. */
int dc_cpu_has_feature(const char *name, size_t len);

/* The known names, comma-separated (for error messages and --help). */
const char *dc_cpu_known_features(void);

#endif
