/* Running a plan: regions, prepared kernels, inputs in, outputs out. */
#include "dc_session.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "dc_world.h"
#include "kernels/kernel_context.h"

typedef struct session_step {
    const dc_kernel *kernel;
    void *state;
    int prepared;
    dc_kernel_args args;
    /* n_inputs + n_outputs entries each; args.in/out/in_data/out_data point here. */
    const dc_plan_buffer **bufs;
    void **data;
    double profile_ms; /* accumulated run time when profiling */
} session_step;

struct dc_session {
    const dc_plan *plan;
    dc_kernel_context *ctx;
    uint8_t *region[3];      /* DC_PLAN_ALIGN-aligned inside region_block */
    void *region_block[3];
    session_step *steps;
    bool profile;
    int profiled_runs;
};

static const char *const region_names[3] = {"ARENA", "CONST", "STATE"};

/* "f32[2,3]" */
static void format_type(char *buf, size_t cap, dc_dtype dtype, int rank, const int64_t *dims)
{
    size_t n = (size_t)snprintf(buf, cap, "%s[", dc_dtype_short_name(dtype));
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static dc_status step_error(dc_status s, int index, const dc_plan_step *st)
{
    return dc_error_context(s, "step %d '%s' (%s)", index, st->node ? st->node : "", st->kernel);
}

void *dc_session_buffer(dc_session *s, int index)
{
    if (!s || index < 0 || index >= s->plan->n_buffers)
        return NULL;
    const dc_plan_buffer *b = &s->plan->buffers[index];
    return s->region[b->region] + b->offset;
}

/* Regions larger than the machine's memory would be killed by the kernel on
 * first touch rather than fail to allocate: say so up front. */
static dc_status fits_in_memory(const dc_plan *plan)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t total = plan->region_bytes[0] + plan->region_bytes[1] + plan->region_bytes[2];
    if (pages > 0 && page > 0 && total > (uint64_t)pages * (uint64_t)page)
        return dc_error(DC_ERR_NOMEM, "the plan needs %.1f GB of memory (ARENA %.1f, CONST %.1f, "
                        "STATE %.1f); this machine has %.1f GB", (double)total / 1e9,
                        (double)plan->region_bytes[0] / 1e9, (double)plan->region_bytes[1] / 1e9,
                        (double)plan->region_bytes[2] / 1e9, (double)pages * (double)page / 1e9);
    return DC_OK;
}

static dc_status create_session(const dc_plan *plan, const dc_artifact *artifact, int threads,
                                dc_session **out)
{
    *out = NULL;
    DC_TRY(dc_plan_validate(plan, "plan"));
#ifdef __GLIBC__
    /* A compiler run just before leaves gigabytes of freed IR inside malloc's
     * heap; give them back before the regions take their share. */
    malloc_trim(0);
#endif
    dc_session *s = calloc(1, sizeof *s);
    if (!s)
        return dc_error(DC_ERR_NOMEM, "session");
    s->plan = plan;
    dc_status st = fits_in_memory(plan);
    for (int r = 0; r < 3 && st == DC_OK; r++) {
        /* calloc, not aligned_alloc + memset: a large block comes zeroed from
         * the system untouched, so the arena's pages count towards the
         * resident size only once steps write them, not while the plan's
         * initial contents are still being copied. */
        size_t bytes = (size_t)plan->region_bytes[r] + DC_PLAN_ALIGN;
        s->region_block[r] = calloc(1, bytes);
        if (!s->region_block[r])
            st = dc_error(DC_ERR_NOMEM, "region %s of %llu bytes", region_names[r],
                          (unsigned long long)plan->region_bytes[r]);
        else
            s->region[r] = (uint8_t *)(((uintptr_t)s->region_block[r] + DC_PLAN_ALIGN - 1) /
                                       DC_PLAN_ALIGN * DC_PLAN_ALIGN);
    }
    if (st == DC_OK && plan->region_bytes[DC_REGION_CONST])
        memcpy(s->region[DC_REGION_CONST], plan->constants, (size_t)plan->region_bytes[DC_REGION_CONST]);
    if (st == DC_OK && plan->state_init)
        memcpy(s->region[DC_REGION_STATE], plan->state_init, (size_t)plan->region_bytes[DC_REGION_STATE]);
    if (st == DC_OK)
        st = dc_kernel_context_create(threads, &s->ctx);
    if (st == DC_OK)
        s->ctx->artifact = artifact;
    if (st == DC_OK && !(s->steps = calloc(plan->n_steps ? (size_t)plan->n_steps : 1, sizeof *s->steps)))
        st = dc_error(DC_ERR_NOMEM, "%d steps", plan->n_steps);

    for (int i = 0; st == DC_OK && i < plan->n_steps; i++) {
        const dc_plan_step *ps = &plan->steps[i];
        session_step *ss = &s->steps[i];
        ss->kernel = dc_kernel_find(ps->kernel);
        if (!ss->kernel) {
            st = step_error(dc_error(DC_ERR_UNSUPPORTED, "unknown kernel '%s' for op %s", ps->kernel,
                                     ps->op_type),
                            i, ps);
            break;
        }
        if (ss->kernel->op_type && strcmp(ss->kernel->op_type, ps->op_type) != 0) {
            st = step_error(dc_error(DC_ERR_INVALID, "kernel '%s' runs %s, not %s", ps->kernel,
                                     ss->kernel->op_type, ps->op_type),
                            i, ps);
            break;
        }
        int nargs = ps->n_inputs + ps->n_outputs;
        ss->bufs = calloc(nargs ? (size_t)nargs : 1, sizeof *ss->bufs);
        ss->data = calloc(nargs ? (size_t)nargs : 1, sizeof *ss->data);
        if (!ss->bufs || !ss->data) {
            st = dc_error(DC_ERR_NOMEM, "step %d arguments", i);
            break;
        }
        for (int a = 0; a < nargs; a++)
            if (ps->args[a] >= 0) {
                ss->bufs[a] = &plan->buffers[ps->args[a]];
                ss->data[a] = dc_session_buffer(s, ps->args[a]);
            }
        ss->args = (dc_kernel_args){
            .step = ps,
            .in = ss->bufs,
            .out = ss->bufs + ps->n_inputs,
            .in_data = ss->data,
            .out_data = ss->data + ps->n_inputs,
            .ctx = s->ctx,
        };
        st = ss->kernel->check(&ss->args);
        if (st == DC_OK)
            st = ss->kernel->prepare(&ss->args, &ss->state);
        if (st != DC_OK) {
            st = step_error(st, i, ps);
            break;
        }
        ss->prepared = 1;
    }
    if (st != DC_OK) {
        dc_session_destroy(s);
        return st;
    }
    *out = s;
    return DC_OK;
}

dc_status dc_session_create(const dc_plan *plan, int threads, dc_session **out)
{
    return create_session(plan, NULL, threads, out);
}

dc_status dc_session_create_artifact(const dc_artifact *artifact, int threads, dc_session **out)
{
    if (!dc_artifact_plan(artifact)) {
        *out = NULL;
        return dc_error(DC_ERR_INVALID, "no artifact");
    }
    return create_session(dc_artifact_plan(artifact), artifact, threads, out);
}

void dc_session_destroy(dc_session *s)
{
    if (!s)
        return;
    for (int i = 0; s->steps && i < s->plan->n_steps; i++) {
        session_step *ss = &s->steps[i];
        if (ss->prepared && ss->kernel->release)
            ss->kernel->release(ss->state);
        free(ss->bufs);
        free(ss->data);
    }
    free(s->steps);
    dc_kernel_context_destroy(s->ctx);
    for (int r = 0; r < 3; r++)
        free(s->region_block[r]);
    free(s);
}

dc_status dc_session_set_input(dc_session *s, const char *name, const dc_tensor *t)
{
    const dc_plan *p = s->plan;
    for (int i = 0; i < p->n_inputs; i++) {
        if (strcmp(p->inputs[i].name, name) != 0)
            continue;
        const dc_plan_buffer *b = &p->buffers[p->inputs[i].buffer];
        int same = t->dtype == b->dtype && t->rank == b->rank;
        for (int d = 0; same && d < b->rank; d++)
            same = t->dims[d] == b->dims[d];
        if (!same || t->nbytes != b->nbytes) {
            char want[160], got[160];
            format_type(want, sizeof want, b->dtype, b->rank, b->dims);
            format_type(got, sizeof got, t->dtype, t->rank, t->dims);
            return dc_error(DC_ERR_SHAPE, "input '%s': expected %s, got %s", name, want, got);
        }
        if (b->nbytes)
            memcpy(dc_session_buffer(s, p->inputs[i].buffer), t->data, b->nbytes);
        return DC_OK;
    }
    char names[512];
    size_t n = 0;
    names[0] = '\0';
    for (int i = 0; i < p->n_inputs && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", p->inputs[i].name);
    return dc_error(DC_ERR_INVALID, "no input named '%s' (the plan's inputs: %s)", name,
                    p->n_inputs ? names : "none");
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

dc_status dc_session_run(dc_session *s)
{
    return dc_session_run_steps(s, 0, s->plan->n_steps);
}

dc_status dc_session_run_steps(dc_session *s, int first, int end)
{
    if (first < 0 || end > s->plan->n_steps || first > end)
        return dc_error(DC_ERR_INVALID, "steps [%d, %d) of a plan of %d", first, end, s->plan->n_steps);
    dc_kernel_context_apply_threads(s->ctx);
    for (int i = first; i < end; i++) {
        session_step *ss = &s->steps[i];
        double t0 = s->profile ? now_ms() : 0;
        dc_status st = ss->kernel->run(ss->state);
        /* All-reduces started by earlier steps advance only inside MPI calls. */
        if (st == DC_OK)
            st = dc_world_progress();
        if (s->profile)
            ss->profile_ms += now_ms() - t0;
        if (st != DC_OK)
            return step_error(st, i, &s->plan->steps[i]);
    }
    s->profiled_runs += s->profile && end == s->plan->n_steps;
    return DC_OK;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

dc_status dc_session_time_runs(dc_session *s, int repeat, double *median_ms, double *min_ms)
{
    double *ms = malloc((size_t)(repeat > 0 ? repeat : 1) * sizeof *ms);
    if (!ms)
        return dc_error(DC_ERR_NOMEM, "%d timings", repeat);
    dc_status st = DC_OK;
    for (int i = 0; i < repeat && st == DC_OK; i++) {
        double t0 = now_ms();
        st = dc_session_run(s);
        ms[i] = now_ms() - t0;
    }
    if (st == DC_OK && repeat > 0) {
        qsort(ms, (size_t)repeat, sizeof *ms, compare_doubles);
        *median_ms = ms[repeat / 2];
        *min_ms = ms[0];
    }
    free(ms);
    return st;
}

void dc_session_set_profile(dc_session *s, bool on)
{
    s->profile = on;
}

/* Time per kernel (summed over its steps) and the slowest steps, per run. */
void dc_session_print_profile(const dc_session *s, FILE *out)
{
    const dc_plan *p = s->plan;
    int runs = s->profiled_runs ? s->profiled_runs : 1, n = p->n_steps;
    double total = 0;
    for (int i = 0; i < n; i++)
        total += s->steps[i].profile_ms / runs;
    fprintf(out, "profile: %.3f ms per run over %d runs\n  by kernel:\n", total, s->profiled_runs);
    bool *done = calloc((size_t)n + 1, sizeof *done);
    for (int i = 0; done && i < n; i++) {
        if (done[i])
            continue;
        double ms = 0;
        int count = 0;
        for (int k = i; k < n; k++)
            if (!done[k] && strcmp(p->steps[k].kernel, p->steps[i].kernel) == 0) {
                ms += s->steps[k].profile_ms / runs;
                count++;
                done[k] = true;
            }
        fprintf(out, "    %-28s %4d steps %10.3f ms %5.1f%%\n", p->steps[i].kernel, count, ms,
                total > 0 ? 100 * ms / total : 0);
    }
    free(done);
    /* The slowest steps, by selection: a profile is printed once. */
    enum { SLOWEST = 12 };
    int picked[SLOWEST], n_picked = 0;
    fprintf(out, "  slowest steps:\n");
    while (n_picked < SLOWEST && n_picked < n) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            bool taken = false;
            for (int k = 0; k < n_picked && !taken; k++)
                taken = picked[k] == i;
            if (!taken && (best < 0 || s->steps[i].profile_ms > s->steps[best].profile_ms))
                best = i;
        }
        picked[n_picked++] = best;
        const dc_plan_step *ps = &p->steps[best];
        const dc_plan_buffer *y = ps->n_outputs && ps->args[ps->n_inputs] >= 0
                                      ? &p->buffers[ps->args[ps->n_inputs]] : NULL;
        char shape[160] = "";
        if (y)
            format_type(shape, sizeof shape, y->dtype, y->rank, y->dims);
        fprintf(out, "    %5d %-24s %10.3f ms  %s -> %s\n", best, ps->kernel,
                s->steps[best].profile_ms / runs, ps->node ? ps->node : "", shape);
    }
}

void dc_session_memory_use(const dc_session *s, dc_session_memory *out)
{
    *out = (dc_session_memory){.scratchpad_bytes = s->ctx->scratchpad_bytes,
                               .scratchpad_sum = s->ctx->scratchpad_sum};
    memcpy(out->region_bytes, s->plan->region_bytes, sizeof out->region_bytes);
}

dc_status dc_session_get_output(dc_session *s, int index, dc_tensor **out)
{
    *out = NULL;
    const dc_plan *p = s->plan;
    if (index < 0 || index >= p->n_outputs)
        return dc_error(DC_ERR_INVALID, "output %d: the plan has %d outputs", index, p->n_outputs);
    const dc_plan_buffer *b = &p->buffers[p->outputs[index].buffer];
    DC_TRY(dc_tensor_create(out, p->outputs[index].name, b->dtype, b->rank, b->dims));
    if (b->nbytes)
        memcpy((*out)->data, dc_session_buffer(s, p->outputs[index].buffer), b->nbytes);
    return DC_OK;
}
