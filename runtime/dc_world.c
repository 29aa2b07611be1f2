/* The world of processes (dc_world.h): MPI when built with it and launched by
 * mpirun, else one process. */
#include "dc_world.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

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

/* The non-blocking operations in flight, oldest first: the bytes each works
 * on and its requests (one per piece of at most INT_MAX / 2 elements). */
typedef struct in_flight {
    const void *data;
    MPI_Request *requests;
    int n_requests;
} in_flight;

static in_flight *flights;
static int n_flights, flights_cap;

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
    for (int i = 0; i < n_flights; i++)
        free(flights[i].requests);
    free(flights);
    flights = NULL;
    n_flights = flights_cap = 0;
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

dc_status dc_world_start_allreduce_f32(float *data, int64_t n)
{
    if (world_size == 1)
        return DC_OK;
    for (int i = 0; i < n_flights; i++)
        if (flights[i].data == data)
            return dc_error(DC_ERR_INVALID, "all-reduce of %lld floats started on bytes an unfinished "
                            "one still uses (rank %d)", (long long)n, world_rank);
    if (n_flights == flights_cap) {
        int cap = flights_cap ? 2 * flights_cap : 16;
        in_flight *grown = realloc(flights, (size_t)cap * sizeof *grown);
        if (!grown)
            return dc_error(DC_ERR_NOMEM, "%d all-reduce operations in flight", cap);
        flights = grown;
        flights_cap = cap;
    }
    const int64_t piece = INT_MAX / 2;
    in_flight *f = &flights[n_flights];
    *f = (in_flight){.data = data, .requests = calloc((size_t)((n + piece - 1) / piece) + 1,
                                                      sizeof *f->requests)};
    if (!f->requests)
        return dc_error(DC_ERR_NOMEM, "all-reduce of %lld floats", (long long)n);
    n_flights++; /* even when a piece fails to start: dc_world_wait finishes the others */
    for (int64_t at = 0; at < n; at += piece) {
        int count = n - at > piece ? (int)piece : (int)(n - at);
        int rc = MPI_Iallreduce(MPI_IN_PLACE, data + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                                &f->requests[f->n_requests]);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "Iallreduce");
        f->n_requests++;
    }
    return DC_OK;
}

dc_status dc_world_wait(const void *data)
{
    for (int i = 0; i < n_flights; i++) {
        if (flights[i].data != data)
            continue;
        in_flight f = flights[i];
        memmove(flights + i, flights + i + 1, (size_t)(n_flights - i - 1) * sizeof *flights);
        n_flights--;
        int rc = f.n_requests ? MPI_Waitall(f.n_requests, f.requests, MPI_STATUSES_IGNORE)
                              : MPI_SUCCESS;
        free(f.requests);
        return rc == MPI_SUCCESS ? DC_OK : mpi_error(rc, "Waitall");
    }
    return DC_OK;
}

dc_status dc_world_progress(void)
{
    /* MPI_Test on one request runs the progress engine for all of them. */
    for (int i = 0; i < n_flights; i++)
        for (int k = 0; k < flights[i].n_requests; k++)
            if (flights[i].requests[k] != MPI_REQUEST_NULL) {
                int done = 0;
                int rc = MPI_Test(&flights[i].requests[k], &done, MPI_STATUS_IGNORE);
                return rc == MPI_SUCCESS ? DC_OK : mpi_error(rc, "Test");
            }
    return DC_OK;
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

dc_status dc_world_start_allreduce_f32(float *data, int64_t n)
{
    (void)data;
    (void)n;
    return DC_OK;
}

dc_status dc_world_wait(const void *data)
{
    (void)data;
    return DC_OK;
}

dc_status dc_world_progress(void)
{
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
