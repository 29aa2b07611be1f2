/* The collective kernels of data-parallel training, over the processes of
 * the world (dc_world.h; a world of one without a launcher).
 *
 * AllReduce(x1..xn) -> (y1..yn), f32, y_k [any shape] = scale · Σ_ranks x_k.
 * A step is one bucket: its tensors are packed into one contiguous buffer,
 * reduced by one MPI call, and unpacked with the scale. The packing buffer is
 * shared by every AllReduce step of the process (MPI is process-wide and
 * steps run one at a time), sized for the largest bucket.
 *
 * AllReduceStart(x1..xn) -> (bucket), f32, bucket [Σ numel x_k]: the x_k
 * packed one after another, then summed over the processes in place without
 * waiting (dc_world_start_allreduce_f32): until its AllReduceWait the bucket's
 * bytes belong to MPI, which the memory plan guarantees (the wait reads the
 * bucket, so it stays live and unshared). One tensor may be its own bucket
 * (written in place: no copy).
 * AllReduceWait(bucket) -> (y1..yn), f32, y_k [numel_k] = scale · the k-th part
 * of the bucket, once the sum is complete. The session advances the
 * operations in flight between steps (dc_world_progress).
 *
 * AllGather(x1..xn) -> (y1..yn), f32, y_k = x_k of rank owners[k]: one
 * MPI_Bcast per tensor from its owner straight into y_k (no packing, so no
 * second copy of the parameters). */
#include <stdlib.h>
#include <string.h>

#include "dc_kernel.h"
#include "dc_world.h"

typedef struct all_reduce_state {
    int n;
    const float **in;
    float **out;
    int64_t *numel, total;
    float scale;
} all_reduce_state;

/* The shared packing buffer and how many prepared steps use it. */
static float *bucket;
static int64_t bucket_capacity;
static int bucket_users;

static const dc_plan_attr *attr(const dc_plan_step *st, const char *name, dc_plan_attr_type type)
{
    const dc_plan_attr *a = dc_step_attr(st, name);
    return a && a->type == type ? a : NULL;
}

static dc_status all_reduce_check(const dc_kernel_args *a)
{
    const dc_plan_step *st = a->step;
    if (st->n_inputs < 1 || st->n_inputs != st->n_outputs)
        return dc_error(DC_ERR_UNSUPPORTED, "AllReduce: %d inputs and %d outputs, expected n and n",
                        st->n_inputs, st->n_outputs);
    for (int k = 0; k < st->n_inputs; k++) {
        const dc_plan_buffer *x = a->in[k], *y = a->out[k];
        if (!x || !y || x->dtype != DC_F32 || y->dtype != DC_F32 || x->nbytes != y->nbytes)
            return dc_error(DC_ERR_UNSUPPORTED, "AllReduce: pair %d must be f32 tensors of one size", k);
    }
    return DC_OK;
}

static void all_reduce_release(void *state)
{
    all_reduce_state *s = state;
    if (!s)
        return;
    free(s->in);
    free(s->out);
    free(s->numel);
    free(s);
    if (--bucket_users == 0) {
        free(bucket);
        bucket = NULL;
        bucket_capacity = 0;
    }
}

static dc_status all_reduce_prepare(const dc_kernel_args *a, void **out)
{
    const dc_plan_step *st = a->step;
    const dc_plan_attr *world = attr(st, "world_size", DC_PLAN_ATTR_INT);
    const dc_plan_attr *scale = attr(st, "scale", DC_PLAN_ATTR_FLOAT);
    int64_t want = world ? world->i : 1;
    if (want != dc_world_size())
        return dc_error(DC_ERR_INVALID, "AllReduce: the step was compiled for %lld processes, this "
                        "run has %d (recompile for this world)", (long long)want, dc_world_size());
    all_reduce_state *s = calloc(1, sizeof *s);
    if (!s)
        return dc_error(DC_ERR_NOMEM, "AllReduce");
    bucket_users++;
    s->n = st->n_inputs;
    s->scale = scale ? scale->f : 1.0f;
    s->in = calloc((size_t)s->n, sizeof *s->in);
    s->out = calloc((size_t)s->n, sizeof *s->out);
    s->numel = calloc((size_t)s->n, sizeof *s->numel);
    if (!s->in || !s->out || !s->numel) {
        all_reduce_release(s);
        return dc_error(DC_ERR_NOMEM, "AllReduce of %d tensors", st->n_inputs);
    }
    for (int k = 0; k < s->n; k++) {
        s->in[k] = a->in_data[k];
        s->out[k] = a->out_data[k];
        s->numel[k] = (int64_t)(a->in[k]->nbytes / sizeof(float));
        s->total += s->numel[k];
    }
    if (s->n > 1 && s->total > bucket_capacity) {
        float *grown = realloc(bucket, (size_t)s->total * sizeof *grown);
        if (!grown) {
            all_reduce_release(s);
            return dc_error(DC_ERR_NOMEM, "AllReduce bucket of %lld floats", (long long)s->total);
        }
        bucket = grown;
        bucket_capacity = s->total;
    }
    *out = s;
    return DC_OK;
}

static dc_status all_reduce_run(void *state)
{
    const all_reduce_state *s = state;
    if (s->n == 1) { /* one tensor: reduced where it ends up */
        if (s->out[0] != s->in[0])
            memmove(s->out[0], s->in[0], (size_t)s->numel[0] * sizeof(float));
        DC_TRY(dc_world_allreduce_f32(s->out[0], s->numel[0]));
        if (s->scale != 1.0f)
            for (int64_t i = 0; i < s->numel[0]; i++)
                s->out[0][i] *= s->scale;
        return DC_OK;
    }
    int64_t at = 0;
    for (int k = 0; k < s->n; at += s->numel[k++])
        memcpy(bucket + at, s->in[k], (size_t)s->numel[k] * sizeof(float));
    DC_TRY(dc_world_allreduce_f32(bucket, s->total));
    at = 0;
    for (int k = 0; k < s->n; at += s->numel[k++])
        for (int64_t i = 0; i < s->numel[k]; i++)
            s->out[k][i] = s->scale * bucket[at + i];
    return DC_OK;
}

const dc_kernel dc_kernel_mpi_AllReduce = {"mpi.AllReduce", "AllReduce", all_reduce_check,
                                           all_reduce_prepare, all_reduce_run, all_reduce_release,
                                           NULL};

typedef struct bucket_state {
    int n;
    float **parts; /* AllReduceStart: its inputs; AllReduceWait: its outputs */
    int64_t *numel, total;
    float *bucket;
    float scale;
} bucket_state;

/* n f32 tensors on one side of the step and their bucket on the other. */
static dc_status bucket_check(const char *op, const dc_plan_buffer *const *parts, int n,
                              const dc_plan_buffer *bucket)
{
    if (!bucket || bucket->dtype != DC_F32)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: the bucket must be an f32 tensor", op);
    uint64_t total = 0;
    for (int k = 0; k < n; k++) {
        if (!parts[k] || parts[k]->dtype != DC_F32)
            return dc_error(DC_ERR_UNSUPPORTED, "%s: tensor %d must be f32", op, k);
        total += parts[k]->nbytes;
    }
    if (total != bucket->nbytes)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: the tensors hold %llu bytes, the bucket %llu", op,
                        (unsigned long long)total, (unsigned long long)bucket->nbytes);
    return DC_OK;
}

static dc_status start_check(const dc_kernel_args *a)
{
    const dc_plan_step *st = a->step;
    if (st->n_inputs < 1 || st->n_outputs != 1)
        return dc_error(DC_ERR_UNSUPPORTED, "AllReduceStart: %d inputs and %d outputs, expected n and 1",
                        st->n_inputs, st->n_outputs);
    return bucket_check("AllReduceStart", a->in, st->n_inputs, a->out[0]);
}

static dc_status wait_check(const dc_kernel_args *a)
{
    const dc_plan_step *st = a->step;
    if (st->n_inputs != 1 || st->n_outputs < 1)
        return dc_error(DC_ERR_UNSUPPORTED, "AllReduceWait: %d inputs and %d outputs, expected 1 and n",
                        st->n_inputs, st->n_outputs);
    return bucket_check("AllReduceWait", a->out, st->n_outputs, a->in[0]);
}

/* Also when a run stopped between a start and its wait: MPI must be done
 * with the bucket, and its persistent requests gone, before the session
 * frees it. */
static void bucket_release(void *state)
{
    bucket_state *s = state;
    if (!s)
        return;
    dc_world_release(s->bucket);
    free(s->parts);
    free(s->numel);
    free(s);
}

static dc_status bucket_prepare(const dc_kernel_args *a, const dc_plan_buffer *const *descs,
                                void *const *parts, int n, void *bucket, void **out)
{
    const dc_plan_attr *world = attr(a->step, "world_size", DC_PLAN_ATTR_INT);
    const dc_plan_attr *scale = attr(a->step, "scale", DC_PLAN_ATTR_FLOAT);
    if (world && world->i != dc_world_size())
        return dc_error(DC_ERR_INVALID, "%s: the step was compiled for %lld processes, this run has "
                        "%d (recompile for this world)", a->step->op_type, (long long)world->i,
                        dc_world_size());
    bucket_state *s = calloc(1, sizeof *s);
    if (!s)
        return dc_error(DC_ERR_NOMEM, "%s", a->step->op_type);
    s->n = n;
    s->bucket = bucket;
    s->scale = scale ? scale->f : 1.0f;
    s->parts = calloc((size_t)n, sizeof *s->parts);
    s->numel = calloc((size_t)n, sizeof *s->numel);
    if (!s->parts || !s->numel) {
        bucket_release(s);
        return dc_error(DC_ERR_NOMEM, "%s of %d tensors", a->step->op_type, n);
    }
    for (int k = 0; k < n; k++) {
        s->parts[k] = parts[k];
        s->numel[k] = (int64_t)(descs[k]->nbytes / sizeof(float));
        s->total += s->numel[k];
    }
    *out = s;
    return DC_OK;
}

static dc_status start_prepare(const dc_kernel_args *a, void **out)
{
    return bucket_prepare(a, a->in, a->in_data, a->step->n_inputs, a->out_data[0], out);
}

static dc_status wait_prepare(const dc_kernel_args *a, void **out)
{
    return bucket_prepare(a, a->out, a->out_data, a->step->n_outputs, a->in_data[0], out);
}

static dc_status start_run(void *state)
{
    const bucket_state *s = state;
    int64_t at = 0;
    for (int k = 0; k < s->n; at += s->numel[k++])
        if (s->numel[k] && s->parts[k] != s->bucket + at)
            memmove(s->bucket + at, s->parts[k], (size_t)s->numel[k] * sizeof(float));
    return dc_world_start_allreduce_f32(s->bucket, s->total);
}

static dc_status wait_run(void *state)
{
    const bucket_state *s = state;
    DC_TRY(dc_world_wait(s->bucket));
    int64_t at = 0;
    for (int k = 0; k < s->n; at += s->numel[k++])
        for (int64_t i = 0; i < s->numel[k]; i++)
            s->parts[k][i] = s->scale * s->bucket[at + i];
    return DC_OK;
}

const dc_kernel dc_kernel_mpi_AllReduceStart = {"mpi.AllReduceStart", "AllReduceStart", start_check,
                                                start_prepare, start_run, bucket_release, NULL};
const dc_kernel dc_kernel_mpi_AllReduceWait = {"mpi.AllReduceWait", "AllReduceWait", wait_check,
                                               wait_prepare, wait_run, bucket_release, NULL};

typedef struct all_gather_state {
    int n;
    const float **in;
    float **out;
    int64_t *bytes;
    const int64_t *owners;
} all_gather_state;

static dc_status all_gather_check(const dc_kernel_args *a)
{
    DC_TRY(all_reduce_check(a));
    const dc_plan_attr *owners = attr(a->step, "owners", DC_PLAN_ATTR_INTS);
    if (!owners || owners->n != a->step->n_inputs)
        return dc_error(DC_ERR_UNSUPPORTED, "AllGather: expected one owner per input");
    return DC_OK;
}

static void all_gather_release(void *state)
{
    all_gather_state *s = state;
    if (!s)
        return;
    free(s->in);
    free(s->out);
    free(s->bytes);
    free(s);
}

static dc_status all_gather_prepare(const dc_kernel_args *a, void **out)
{
    const dc_plan_step *st = a->step;
    const dc_plan_attr *world = attr(st, "world_size", DC_PLAN_ATTR_INT);
    int64_t want = world ? world->i : 1;
    if (want != dc_world_size())
        return dc_error(DC_ERR_INVALID, "AllGather: the step was compiled for %lld processes, this "
                        "run has %d (recompile for this world)", (long long)want, dc_world_size());
    all_gather_state *s = calloc(1, sizeof *s);
    if (!s)
        return dc_error(DC_ERR_NOMEM, "AllGather");
    s->n = st->n_inputs;
    s->owners = attr(st, "owners", DC_PLAN_ATTR_INTS)->ints;
    s->in = calloc((size_t)s->n, sizeof *s->in);
    s->out = calloc((size_t)s->n, sizeof *s->out);
    s->bytes = calloc((size_t)s->n, sizeof *s->bytes);
    if (!s->in || !s->out || !s->bytes) {
        all_gather_release(s);
        return dc_error(DC_ERR_NOMEM, "AllGather of %d tensors", st->n_inputs);
    }
    for (int k = 0; k < s->n; k++) {
        s->in[k] = a->in_data[k];
        s->out[k] = a->out_data[k];
        s->bytes[k] = (int64_t)a->in[k]->nbytes;
    }
    *out = s;
    return DC_OK;
}

static dc_status all_gather_run(void *state)
{
    const all_gather_state *s = state;
    for (int k = 0; k < s->n; k++) {
        if (s->owners[k] == dc_world_rank() && s->out[k] != s->in[k])
            memmove(s->out[k], s->in[k], (size_t)s->bytes[k]);
        DC_TRY(dc_world_broadcast(s->out[k], s->bytes[k], (int)s->owners[k]));
    }
    return DC_OK;
}

const dc_kernel dc_kernel_mpi_AllGather = {"mpi.AllGather", "AllGather", all_gather_check,
                                           all_gather_prepare, all_gather_run, all_gather_release,
                                           NULL};
