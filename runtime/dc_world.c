/* The world of processes (dc_world.h): MPI when built with it and launched by
 * mpirun, else one process. */
#include "dc_world.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef DINOC_MPI
#include <mpi.h>
#if defined(OPEN_MPI) && MPI_VERSION < 4
#include <mpi-ext.h> /* MPIX_Allreduce_init: Open MPI 4's persistent collectives */
#endif
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

/* The non-blocking all-reduces, by the bytes they sum, in the order of
 * their first start: persistent requests (one per piece of at most
 * INT_MAX / 2 elements) made on a buffer's first start and restarted on the
 * next ones. MPI then sets up its schedule and temporary buffer once rather
 * than every step; fresh temporaries cost ViT-S/16 ~20k page faults per step
 * and rank, faults this virtual machine takes at ~5-20 us each. */
typedef struct collective {
    const void *data;
    int64_t n;
    MPI_Request *requests;
    int n_requests;
    bool active; /* started and not yet waited for */
    int tested;  /* requests[0, tested) of this start are known complete */
} collective;

static collective *collectives;
static int n_collectives, collectives_cap;

static int allreduce_init(float *data, int count, MPI_Request *request)
{
#if MPI_VERSION >= 4
    return MPI_Allreduce_init(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                              MPI_INFO_NULL, request);
#elif defined(OMPI_HAVE_MPI_EXT_PCOLLREQ)
    return MPIX_Allreduce_init(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                               MPI_INFO_NULL, request);
#else
#error "dinoc needs persistent collectives: MPI 4, or Open MPI 4 with its pcollreq extension"
#endif
}

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
    for (int i = 0; i < n_collectives; i++) {
        for (int k = 0; k < collectives[i].n_requests && !finalized; k++)
            MPI_Request_free(&collectives[i].requests[k]);
        free(collectives[i].requests);
    }
    free(collectives);
    collectives = NULL;
    n_collectives = collectives_cap = 0;
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

/* The persistent all-reduce of data[0, n), made on first use. */
static dc_status collective_of(float *data, int64_t n, collective **out)
{
    for (int i = 0; i < n_collectives; i++)
        if (collectives[i].data == data && collectives[i].n == n) {
            *out = &collectives[i];
            return DC_OK;
        }
    if (n_collectives == collectives_cap) {
        int cap = collectives_cap ? 2 * collectives_cap : 16;
        collective *grown = realloc(collectives, (size_t)cap * sizeof *grown);
        if (!grown)
            return dc_error(DC_ERR_NOMEM, "%d all-reduce operations", cap);
        collectives = grown;
        collectives_cap = cap;
    }
    const int64_t piece = INT_MAX / 2;
    collective *c = &collectives[n_collectives];
    *c = (collective){.data = data, .n = n,
                      .requests = calloc((size_t)((n + piece - 1) / piece) + 1, sizeof *c->requests)};
    if (!c->requests)
        return dc_error(DC_ERR_NOMEM, "all-reduce of %lld floats", (long long)n);
    n_collectives++; /* even when a piece fails: finalize frees those made */
    for (int64_t at = 0; at < n; at += piece) {
        int rc = allreduce_init(data + at, n - at > piece ? (int)piece : (int)(n - at),
                                &c->requests[c->n_requests]);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, "Allreduce_init");
        c->n_requests++;
    }
    *out = c;
    return DC_OK;
}

dc_status dc_world_start_allreduce_f32(float *data, int64_t n)
{
    if (world_size == 1)
        return DC_OK;
    for (int i = 0; i < n_collectives; i++)
        if (collectives[i].active && collectives[i].data == data)
            return dc_error(DC_ERR_INVALID, "all-reduce of %lld floats started on bytes an unfinished "
                            "one still uses (rank %d)", (long long)n, world_rank);
    collective *c = NULL;
    DC_TRY(collective_of(data, n, &c));
    int rc = c->n_requests ? MPI_Startall(c->n_requests, c->requests) : MPI_SUCCESS;
    if (rc != MPI_SUCCESS)
        return mpi_error(rc, "Startall");
    c->active = c->n_requests > 0;
    c->tested = 0;
    return DC_OK;
}

dc_status dc_world_wait(const void *data)
{
    for (int i = 0; i < n_collectives; i++) {
        collective *c = &collectives[i];
        if (!c->active || c->data != data)
            continue;
        c->active = false;
        int rc = MPI_Waitall(c->n_requests, c->requests, MPI_STATUSES_IGNORE);
        return rc == MPI_SUCCESS ? DC_OK : mpi_error(rc, "Waitall");
    }
    return DC_OK;
}

dc_status dc_world_release(const void *data)
{
    dc_status st = dc_world_wait(data);
    for (int i = 0; i < n_collectives;) {
        collective *c = &collectives[i];
        if (c->data != data) {
            i++;
            continue;
        }
        for (int k = 0; k < c->n_requests; k++)
            MPI_Request_free(&c->requests[k]);
        free(c->requests);
        memmove(c, c + 1, (size_t)(n_collectives - i - 1) * sizeof *c);
        n_collectives--;
    }
    return st;
}

dc_status dc_world_progress(void)
{
    /* MPI_Test on one request runs the progress engine for all of them; a
     * completed persistent request is inactive, and testing it would not. */
    for (int i = 0; i < n_collectives; i++) {
        collective *c = &collectives[i];
        if (c->active && c->tested < c->n_requests) {
            int done = 0;
            int rc = MPI_Test(&c->requests[c->tested], &done, MPI_STATUS_IGNORE);
            c->tested += done;
            return rc == MPI_SUCCESS ? DC_OK : mpi_error(rc, "Test");
        }
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

dc_status dc_world_release(const void *data)
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
