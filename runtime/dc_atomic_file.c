/* Temporary file, fsync, rename, fsync of the folder (dc_atomic_file.h). */
#include "dc_atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmp_name(const char *path)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (tmp) {
        memcpy(tmp, path, n);
        memcpy(tmp + n, ".tmp", 5);
    }
    return tmp;
}

dc_status dc_atomic_file_begin(dc_atomic_file *af, const char *path)
{
    *af = (dc_atomic_file){0};
    af->path = strdup(path);
    af->tmp = tmp_name(path);
    if (!af->path || !af->tmp) {
        dc_atomic_file_abandon(af);
        return dc_error(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !(af->f = fdopen(fd, "wb"))) {
        dc_status s = dc_error(DC_ERR_IO, "%s: cannot create: %s", af->tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(af->tmp);
        }
        free(af->path);
        free(af->tmp);
        *af = (dc_atomic_file){0};
        return s;
    }
    return DC_OK;
}

/* Makes the rename durable; a failure here is not worth failing the write
 * (the data itself is on disk). */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

dc_status dc_atomic_file_commit(dc_atomic_file *af)
{
    dc_status s = DC_OK;
    if (ferror(af->f) || fflush(af->f) != 0)
        s = dc_error(DC_ERR_IO, "%s: write failed: %s", af->tmp, strerror(errno));
    else if (fsync(fileno(af->f)) != 0)
        s = dc_error(DC_ERR_IO, "%s: fsync failed: %s", af->tmp, strerror(errno));
    if (fclose(af->f) != 0 && s == DC_OK)
        s = dc_error(DC_ERR_IO, "%s: close failed: %s", af->tmp, strerror(errno));
    af->f = NULL;
    if (s == DC_OK && rename(af->tmp, af->path) != 0)
        s = dc_error(DC_ERR_IO, "%s: cannot rename %s into place: %s", af->path, af->tmp,
                     strerror(errno));
    if (s == DC_OK) {
        sync_folder(af->path);
        free(af->path);
        free(af->tmp);
        *af = (dc_atomic_file){0};
        return DC_OK;
    }
    dc_atomic_file_abandon(af);
    return s;
}

void dc_atomic_file_abandon(dc_atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    if (af->tmp)
        unlink(af->tmp);
    free(af->path);
    free(af->tmp);
    *af = (dc_atomic_file){0};
}

void dc_atomic_file_clean(const char *path)
{
    char *tmp = tmp_name(path);
    if (tmp)
        unlink(tmp);
    free(tmp);
}
