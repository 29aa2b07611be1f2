/* A scratch folder for the fuzz targets whose loaders read files (IDX,
 * images, artifacts and checkpoints written back): one per process, in
 * $DINOC_FUZZ_TMP, else /dev/shm when there is one (the writers fsync: on a
 * disk that would be most of the time of a run), else /tmp; removed at exit. */
#ifndef FUZZ_SCRATCH_H
#define FUZZ_SCRATCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_scratch_root[256];

static inline void fuzz_scratch_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_scratch_root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_scratch_root);
}

/* The folder (created on the first call); aborts when it cannot be made, as
 * no input could then be tried. */
static inline const char *fuzz_scratch(void)
{
    if (!fuzz_scratch_root[0]) {
        const char *tmp = getenv("DINOC_FUZZ_TMP");
        if (!tmp || !*tmp)
            tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_scratch_root, sizeof fuzz_scratch_root, "%s/dinoc_fuzz_XXXXXX", tmp);
        if (!mkdtemp(fuzz_scratch_root)) {
            perror(fuzz_scratch_root);
            abort();
        }
        atexit(fuzz_scratch_remove);
    }
    return fuzz_scratch_root;
}

/* Writes `size` bytes to `path` (replacing it); aborts on failure. */
static inline void fuzz_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
