/* Writing a file so that it is either the old one or the complete new one,
 * whatever happens meanwhile (a kill -9, a full disk, a power cut): the bytes
 * go to PATH.tmp, which is flushed, fsync'ed and renamed over PATH, and the
 * folder is fsync'ed so the rename itself lasts. Checkpoints, artifacts,
 * metrics.csv rewrites and plots are written this way.
 *
 *   dc_atomic_file af;
 *   DC_TRY(dc_atomic_file_begin(&af, path));
 *   fprintf(af.f, ...);               // or fwrite
 *   DC_TRY(dc_atomic_file_commit(&af)); // or dc_atomic_file_abandon(&af)
 *
 * A PATH.tmp left by a process killed while writing is never read; the next
 * write replaces it, and dc_atomic_file_clean removes it. */
#ifndef DC_ATOMIC_FILE_H
#define DC_ATOMIC_FILE_H

#include <stdio.h>

#include "dc_status.h"

typedef struct dc_atomic_file {
    FILE *f;    /* PATH.tmp, open for writing */
    char *path; /* PATH */
    char *tmp;  /* PATH.tmp */
} dc_atomic_file;

/* Opens PATH.tmp (created or emptied). On failure nothing is left open. */
dc_status dc_atomic_file_begin(dc_atomic_file *af, const char *path);
/* Flushes, fsyncs and closes PATH.tmp, renames it to PATH and fsyncs the
 * folder. On any failure (a write error since begin included) PATH.tmp is
 * removed and PATH is as it was. Frees `af` either way. */
dc_status dc_atomic_file_commit(dc_atomic_file *af);
/* Closes and removes PATH.tmp; PATH is as it was. */
void dc_atomic_file_abandon(dc_atomic_file *af);
/* Removes a PATH.tmp that a killed writer left behind (none: nothing). */
void dc_atomic_file_clean(const char *path);

#endif
