/* The world of processes (dc_world.h): MPI when built with it and launched by
 * mpirun, else one process. */
#include "dc_world.h"

#include <limits.h>
#include <stdlib.h>

#ifdef DINOC_MPI
#include <mpi.h>
#endif

static int world_rank = 0, world_size = 1;
static bool joined = false;

static bool launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

bool dc_world_has_mpi(void)
{
#ifdef DINOC_MPI
    return true;
#else
    return false;
#endif
}

int dc_world_rank(void)
{
    return world_rank;
}

int dc_world_size(void)
{
    return world_size;
}

#ifdef DINOC_MPI

static dc_status mpi_error(int code, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        len = 0;
    text[len] = 0;
    return dc_error(DC_ERR_IO, "MPI %s (rank %d of %d): %s", what, world_rank, world_size, text);
}

dc_status dc_world_init(void)
{
    if (joined || !launched_by_mpi())
        return DC_OK;
    int initialized = 0, provided = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS)
            return dc_error(DC_ERR_IO, "MPI_Init_thread failed (code %d)", rc);
    }
    /* Errors come back as codes, to become messages, rather than aborting. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    joined = true;
    return DC_OK;
}

void dc_world_finalize(void)
{
    if (!joined)
        return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Finalize();
    joined = false;
    world_rank = 0;
    world_size = 1;
}

void dc_world_abort(int code)
{
    if (joined && world_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
}

/* MPI counts are ints: large buffers go in pieces. */
static dc_status allreduce(void *data, int64_t n, MPI_Datatype type, size_t size)
{
    for (int64_t at = 0; at < n;) {
        int count = n - at > INT_MAX / 2 ? INT_MAX / 2 : (int)(n - at);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)data + (size_t)at * size, count, type, MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "Allreduce");
        at += count;
    }
    return DC_OK;
}

dc_status dc_world_allreduce_f32(float *data, int64_t n)
{
    return world_size > 1 ? allreduce(data, n, MPI_FLOAT, sizeof(float)) : DC_OK;
}

dc_status dc_world_allreduce_f64(double *data, int64_t n)
{
    return world_size > 1 ? allreduce(data, n, MPI_DOUBLE, sizeof(double)) : DC_OK;
}

dc_status dc_world_broadcast(void *data, int64_t n, int root)
{
    if (world_size == 1)
        return DC_OK;
    for (int64_t at = 0; at < n;) {
        int count = n - at > INT_MAX / 2 ? INT_MAX / 2 : (int)(n - at);
        int rc = MPI_Bcast((char *)data + at, count, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "Bcast");
        at += count;
    }
    return DC_OK;
}

dc_status dc_world_allgather_f32(float *data, const int64_t *counts, const int64_t *offsets)
{
    if (world_size == 1)
        return DC_OK;
    int *c = malloc((size_t)world_size * sizeof *c), *d = malloc((size_t)world_size * sizeof *d);
    dc_status s = c && d ? DC_OK : dc_error(DC_ERR_NOMEM, "allgather of %d ranks", world_size);
    for (int r = 0; s == DC_OK && r < world_size; r++) {
        if (counts[r] > INT_MAX || offsets[r] > INT_MAX)
            s = dc_error(DC_ERR_INVALID, "allgather: %lld elements at %lld exceed MPI's int counts",
                         (long long)counts[r], (long long)offsets[r]);
        else {
            c[r] = (int)counts[r];
            d[r] = (int)offsets[r];
        }
    }
    if (s == DC_OK) {
        int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, c, d, MPI_FLOAT,
                                MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            s = mpi_error(rc, "Allgatherv");
    }
    free(c);
    free(d);
    return s;
}

#else /* a build without MPI: one process */

dc_status dc_world_init(void)
{
    if (launched_by_mpi())
        return dc_error(DC_ERR_UNSUPPORTED, "started by an MPI launcher, but this dinoc was built "
                        "without MPI (install libopenmpi-dev and rebuild with -DDINOC_MPI=ON)");
    joined = true;
    return DC_OK;
}

void dc_world_finalize(void)
{
    joined = false;
}

void dc_world_abort(int code)
{
    (void)code;
}

dc_status dc_world_allreduce_f32(float *data, int64_t n)
{
    (void)data;
    (void)n;
    return DC_OK;
}

dc_status dc_world_allreduce_f64(double *data, int64_t n)
{
    (void)data;
    (void)n;
    return DC_OK;
}

dc_status dc_world_broadcast(void *data, int64_t n, int root)
{
    (void)data;
    (void)n;
    (void)root;
    return DC_OK;
}

dc_status dc_world_allgather_f32(float *data, const int64_t *counts, const int64_t *offsets)
{
    (void)data;
    (void)counts;
    (void)offsets;
    return DC_OK;
}

#endif
