/* The processes of a data-parallel run: MPI's world when the program was
 * started by mpirun (or another MPI launcher), else a world of one process.
 *
 * dc_world_init joins MPI only when a launcher's environment says so
 * (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK), so a plain `dinoc train`
 * never starts MPI and runs exactly as a build without it. Without MPI in the
 * build (CMake option DINOC_MPI off) the world is always one process and a
 * launcher's environment is an error, since N copies training the same
 * slices would silently waste N−1 machines. MPI is called from the thread
 * that called dc_world_init only (MPI_THREAD_FUNNELED). */
#ifndef DC_WORLD_H
#define DC_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "dc_status.h"

/* Joins the launcher's world (idempotent); a world of one without a launcher. */
dc_status dc_world_init(void);
/* Leaves MPI if dc_world_init joined it. */
void dc_world_finalize(void);
/* Ends every process of the world (MPI_Abort) after an error on this one, so
 * the others do not wait forever in a collective; returns when the world is
 * one process. */
void dc_world_abort(int code);

bool dc_world_has_mpi(void);  /* this build can join an MPI world */
int dc_world_rank(void);      /* 0 .. size−1; 0 before dc_world_init */
int dc_world_size(void);      /* 1 before dc_world_init or without a launcher */

/* In place, over every process: data[i] = Σ_ranks data[i]. */
dc_status dc_world_allreduce_f32(float *data, int64_t n);
dc_status dc_world_allreduce_f64(double *data, int64_t n);
/* Non-blocking, in place: starts data[i] = Σ_ranks data[i] and returns at
 * once; the bytes belong to the operation until dc_world_wait(data). The
 * operation on (data, n) is a persistent MPI request, made (collectively) on
 * its first start and restarted on the next ones, until dc_world_release.
 * Every process must start its collectives in the same order. Nothing
 * happens in a world of one. */
dc_status dc_world_start_allreduce_f32(float *data, int64_t n);
/* Waits for the operation started on `data`; returns at once when none is
 * in flight there. */
dc_status dc_world_wait(const void *data);
/* Waits as dc_world_wait, then frees the persistent requests on `data`:
 * before its bytes are freed, so that a later buffer at the same address
 * gets requests of its own on every process alike. */
dc_status dc_world_release(const void *data);
/* Lets the operations in flight advance: Open MPI progresses non-blocking
 * collectives only inside MPI calls, so a session calls this between steps.
 * One MPI_Test; nothing at all when no operation is in flight. */
dc_status dc_world_progress(void);
/* The bytes data[0, n) of rank `root` on every process. */
dc_status dc_world_broadcast(void *data, int64_t n, int root);
/* Every process contributes counts[rank] f32 at data + offsets[rank]
 * (in place) and receives everyone's. */
dc_status dc_world_allgather_f32(float *data, const int64_t *counts, const int64_t *offsets);

#endif
