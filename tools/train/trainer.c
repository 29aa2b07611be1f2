/* The DINOv2 training loop (trainer.h): schedules, the compiled step run over
 * the batcher's batches, progress, metrics.csv, checkpoints, resume, the plot. */
#include "trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dc_artifact.h"
#include "dc_atomic_file.h"
#include "dc_data.h"
#include "dc_safetensors.h"
#include "dc_session.h"
#include "dc_world.h"

extern char **environ;

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---- schedules (lightly/utils/scheduler.py) ---- */

double dc_cosine_schedule(int64_t step, int64_t max_steps, double start, double end)
{
    if (max_steps <= 1 || step >= max_steps - 1)
        return end;
    return end - (end - start) * (cos(M_PI * (double)step / (double)(max_steps - 1)) + 1) / 2;
}

static int64_t clamp_steps(int64_t epochs, int64_t steps_per_epoch, int64_t total)
{
    int64_t w = epochs * steps_per_epoch;
    return w < 0 ? 0 : w > total ? total : w;
}

dc_schedule dc_train_schedule(const dc_train_recipe *c, int64_t step, int64_t total_steps,
                              int64_t steps_per_epoch)
{
    dc_schedule s;
    /* CosineWarmupScheduler as a LambdaLR on the base lr: step + 1 so the
     * warm-up ends at the peak; the cosine part runs over the rest. */
    int64_t warm = clamp_steps(c->warmup_epochs, steps_per_epoch, total_steps);
    if (step < warm)
        s.lr = c->lr * (double)(step + 1) / (double)warm;
    else
        s.lr = dc_cosine_schedule(step - warm, total_steps - warm, c->lr, c->min_lr);
    int64_t frozen = clamp_steps(c->freeze_last_layer_epochs, steps_per_epoch, total_steps);
    s.last_layer_lr = step < frozen ? 0.0 : s.lr;
    s.weight_decay = dc_cosine_schedule(step, total_steps, c->weight_decay, c->weight_decay_end);
    int64_t tw = (int64_t)c->warmup_teacher_temp_epochs * steps_per_epoch;
    s.teacher_temp = step < tw ? c->warmup_teacher_temp + (double)step / (double)tw *
                                                             (c->teacher_temp - c->warmup_teacher_temp)
                               : c->teacher_temp;
    s.momentum = dc_cosine_schedule(step, total_steps, c->momentum_teacher, c->momentum_teacher_end);
    return s;
}

const char *dc_train_default_data(const char *config_name)
{
    const char *c = config_name ? config_name : "";
    bool fmnist = !strcmp(c, "fashion-mnist") || !strcmp(c, "fashion-mnist-long");
    return fmnist ? FASHION_MNIST_DIR : NULL;
}

/* ---- small helpers ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void join_path(char *out, size_t cap, const char *dir, const char *file)
{
    snprintf(out, cap, "%s/%s", dir, file);
}

/* mkdir -p */
static dc_status make_dirs(const char *path)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return dc_error(DC_ERR_INVALID, "%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c != '/' && c != 0)
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return dc_error(DC_ERR_IO, "%s: %s", buf, strerror(errno));
        *p = c;
        if (!c)
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return dc_error(DC_ERR_IO, "%s: not a folder", path);
    return DC_OK;
}

/* Past the "# ..." comment lines (notes, whose wording may change between
 * versions) at the start of s. */
static const char *skip_comments(const char *s)
{
    while (*s == '#') {
        s += strcspn(s, "\n");
        s += *s == '\n';
    }
    return s;
}

/* Whether lines a and b both set `key` ("key = "). */
static bool both_set(const char *a, const char *b, const char *key)
{
    size_t n = strlen(key);
    return strncmp(a, key, n) == 0 && strncmp(b, key, n) == 0 && strncmp(a + n, " = ", 3) == 0 &&
           strncmp(b + n, " = ", 3) == 0;
}

/* The first line where two config texts differ, ignoring `epochs` (a resumed
 * run may be extended), `optimizer_sharding` and `allreduce_bucket_mb` (where
 * the moments live and how the sums travel, not what they are) and comments.
 * Returns false when they agree. */
static bool config_differs(const char *a, const char *b, char *what, size_t cap)
{
    while ((a = skip_comments(a), b = skip_comments(b), *a || *b)) {
        size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        bool ignored = both_set(a, b, "epochs") || both_set(a, b, "optimizer_sharding") ||
                       both_set(a, b, "allreduce_bucket_mb");
        if (!ignored && (na != nb || strncmp(a, b, na) != 0)) {
            snprintf(what, cap, "checkpoint has '%.*s', this run '%.*s'", (int)na, a, (int)nb, b);
            return true;
        }
        a += na + (a[na] == '\n');
        b += nb + (b[nb] == '\n');
    }
    return false;
}

/* ---- the run ---- */

enum { N_SCALARS = 5, N_LOSSES = 4 };
static const char *const scalar_names[N_SCALARS] = {"lr", "last_layer_lr", "weight_decay",
                                                     "teacher_temp", "momentum"};
static const char *const loss_names[N_LOSSES] = {"loss", "dino_loss", "ibot_loss", "koleo_loss"};

typedef struct run {
    const dc_train_options *opt;
    dc_train_result *res;
    const dc_train_compiler *cc; /* NULL: the step is an artifact's */
    dc_train_recipe c;
    const char *data;
    uint64_t seed;
    int64_t start, total, spe;
    dc_dataset *ds;
    dc_batcher *batcher;
    const dc_plan *plan;   /* the step: compiled here, or the loaded artifact's */
    dc_plan *compiled;
    dc_artifact *artifact; /* dinoc train STEP.so|STEP.dnc */
    dc_session *sess;
    dc_tensor *scalars[N_SCALARS];
    /* The batch divided over the processes (rank of world) and micro-batches
     * (dinov2.h): this process's images start at `first`, `slice` images per
     * run of the plan, fed from slice_t; accumulate is the input that keeps
     * the accumulators' sums. With accumulation the plan runs in two phases:
     * steps [0, phase_end) for every micro-batch, the rest once. */
    int rank, world;
    dc_train_slices slices;
    int64_t first, slice;
    dc_tensor *slice_t[7], *accumulate;
    int n_slice_t, phase_end;
    int loss_buffer[N_LOSSES];
    int similarity_buffer; /* teacher_cls_similarity, or -1 */
    dc_collapse_watch collapse;
    /* the state to checkpoint: views of the session's STATE buffers */
    dc_tensor *state;
    dc_tensor **state_ptrs;
    int n_state;
    FILE *metrics;
    FILE *progress;
    dc_progress mode;
    double t_begin, rate_ema;
    int64_t last_line_step;
    char path_ckpt[1024], path_metrics[1024];
    char data_buf[1024];
} run;

/* The slices one optimizer step computes: processes times micro-batches. */
static int n_slices(dc_train_slices s)
{
    return (s.world_size > 1 ? s.world_size : 1) * (s.accum_steps > 1 ? s.accum_steps : 1);
}

/* The processes of the run and the slice of each batch this one computes:
 * batch_size / world images per process, grad_accum_steps micro-batches of
 * them per optimizer step. */
static dc_status divide_batch(run *r)
{
    DC_TRY(dc_world_init());
    r->rank = dc_world_rank();
    r->world = dc_world_size();
    int B = r->c.batch.batch_size, N = r->c.grad_accum_steps;
    if (B % (r->world * N) != 0)
        return dc_error(DC_ERR_INVALID, "batch_size %d is not divisible by %d processes x "
                        "grad_accum_steps %d", B, r->world, N);
    if (r->plan && r->world * N > 1)
        return dc_error(DC_ERR_INVALID, "%s: a compiled step trains one process without gradient "
                        "accumulation; with %d processes and grad_accum_steps %d, train from the "
                        "config (dinoc train --config NAME)", r->opt->config, r->world, N);
    r->slices = (dc_train_slices){r->world, N, r->c.optimizer_sharding && r->world > 1, r->rank};
    r->slice = B / (r->world * N);
    r->first = (int64_t)r->rank * (B / r->world);
    if (r->rank != 0)
        r->mode = DC_PROGRESS_NONE; /* rank 0 reports for all */
    return DC_OK;
}

static dc_status open_data(run *r)
{
    const char *split = r->opt->split ? r->opt->split : "train";
    DC_TRY(dc_dataset_open(r->data, split, &r->ds));
    int64_t n = dc_dataset_size(r->ds);
    if (n < r->c.batch.batch_size)
        return dc_error(DC_ERR_INVALID, "%s (%s): %" PRId64 " readable images, fewer than one batch "
                        "of %d", r->data, split, n, r->c.batch.batch_size);
    dc_batch_spec spec = r->c.batch;
    spec.mask_slices = r->c.masks_per_slice ? n_slices(r->slices) : 1;
    int64_t sliced_masks = dc_batch_max_masked(&spec); /* the slices' own masks, together */
    if (spec.max_masked < sliced_masks)
        spec.max_masked = sliced_masks;
    if (n_slices(r->slices) > 1) {
        spec.slice_first = (int)r->first;
        spec.slice_count = r->c.batch.batch_size / r->world;
    }
    int threads = r->opt->threads >= 4 ? r->opt->threads / 4 : 1;
    DC_TRY(dc_batcher_create(r->ds, &spec, r->seed, threads, &r->batcher));
    r->spe = r->c.epoch_length > 0 ? r->c.epoch_length : dc_batcher_steps_per_epoch(r->batcher);
    if (r->spe <= 0)
        return dc_error(DC_ERR_INVALID, "%s: no complete batch of %d images", r->data, r->c.batch.batch_size);
    return DC_OK;
}

/* The inputs of one slice of the batch (divide_batch), with as many masked
 * tokens (M) as the step's ibot_index holds. */
static dc_status make_slices(run *r)
{
    if (n_slices(r->slices) <= 1)
        return DC_OK;
    const dc_plan *p = r->plan;
    int64_t m = 0;
    for (int i = 0; i < p->n_inputs; i++)
        if (strcmp(p->inputs[i].name, "ibot_index") == 0 && p->buffers[p->inputs[i].buffer].rank == 1)
            m = p->buffers[p->inputs[i].buffer].dims[0];
    if (m < 1)
        return dc_error(DC_ERR_INVALID, "the training step has no input 'ibot_index' [M]");
    DC_TRY(dc_batch_slice_tensors(&r->c.batch, r->slice, m, r->slice_t, &r->n_slice_t));
    return dc_tensor_create(&r->accumulate, "accumulate", DC_F32, 0, NULL);
}

/* The plan's STATE buffers that own their bytes (in-place updates alias them). */
static dc_status collect_state(run *r)
{
    const dc_plan *p = r->plan;
    r->state = calloc((size_t)p->n_buffers, sizeof *r->state);
    r->state_ptrs = calloc((size_t)p->n_buffers, sizeof *r->state_ptrs);
    if (!r->state || !r->state_ptrs)
        return dc_error(DC_ERR_NOMEM, "checkpoint table");
    for (int b = 0; b < p->n_buffers; b++) {
        const dc_plan_buffer *pb = &p->buffers[b];
        bool root = pb->region == DC_REGION_STATE;
        for (int k = 0; root && k < b; k++)
            root = !(p->buffers[k].region == DC_REGION_STATE && p->buffers[k].offset == pb->offset);
        size_t len = strlen(pb->name);
        if (!root || (len > 6 && strcmp(pb->name + len - 6, ".accum") == 0))
            continue; /* views of other state; accumulators, zero between optimizer steps */
        dc_tensor *t = &r->state[r->n_state];
        *t = (dc_tensor){.name = pb->name, .dtype = pb->dtype, .rank = pb->rank,
                         .data = dc_session_buffer(r->sess, b), .nbytes = (size_t)pb->nbytes};
        memcpy(t->dims, pb->dims, sizeof t->dims);
        r->state_ptrs[r->n_state++] = t;
    }
    return DC_OK;
}

static dc_status find_io(run *r)
{
    const dc_plan *p = r->plan;
    for (int i = 0; i < N_LOSSES; i++) {
        r->loss_buffer[i] = -1;
        for (int k = 0; k < p->n_outputs; k++)
            if (strcmp(p->outputs[k].name, loss_names[i]) == 0)
                r->loss_buffer[i] = p->outputs[k].buffer;
        if (r->loss_buffer[i] < 0)
            return dc_error(DC_ERR_INVALID, "training step has no output '%s'", loss_names[i]);
    }
    r->similarity_buffer = -1; /* a compiled step may lack it: the loss signs still work */
    for (int k = 0; k < p->n_outputs; k++)
        if (strcmp(p->outputs[k].name, "teacher_cls_similarity") == 0)
            r->similarity_buffer = p->outputs[k].buffer;
    for (int i = 0; i < N_SCALARS; i++)
        DC_TRY(dc_tensor_create(&r->scalars[i], scalar_names[i], DC_F32, 0, NULL));
    return DC_OK;
}

/* The inputs of micro-batch `micro` of step `step`. */
static dc_status feed(run *r, int64_t step, int micro, const dc_schedule *sch)
{
    dc_tensor **ts;
    int n;
    DC_TRY(dc_batcher_get(r->batcher, step, &ts, &n));
    if (r->n_slice_t) {
        DC_TRY(dc_batch_slice(&r->c.batch, ts, n, r->first + micro * r->slice, r->slice, r->slice_t,
                              r->n_slice_t));
        ts = r->slice_t;
        n = r->n_slice_t;
    }
    if (r->accumulate)
        *(float *)r->accumulate->data = micro + 1 < r->slices.accum_steps ? 1.0f : 0.0f;
    const dc_plan *p = r->plan;
    double values[N_SCALARS] = {sch->lr, sch->last_layer_lr, sch->weight_decay, sch->teacher_temp,
                                sch->momentum};
    for (int i = 0; i < p->n_inputs; i++) {
        const char *name = p->inputs[i].name;
        const dc_tensor *t = NULL;
        for (int k = 0; !t && k < n; k++)
            if (ts[k]->name && strcmp(ts[k]->name, name) == 0)
                t = ts[k];
        for (int k = 0; !t && k < N_SCALARS; k++)
            if (strcmp(scalar_names[k], name) == 0) {
                *(float *)r->scalars[k]->data = (float)values[k];
                t = r->scalars[k];
            }
        if (!t && r->accumulate && strcmp(name, "accumulate") == 0)
            t = r->accumulate;
        if (!t)
            return dc_error(DC_ERR_INVALID, "step %" PRId64 ": nothing feeds input '%s'", step, name);
        DC_TRY(dc_session_set_input(r->sess, name, t));
    }
    return DC_OK;
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

static bool is_moment(const char *name)
{
    return ends_with(name, ".exp_avg") || ends_with(name, ".exp_avg_sq");
}

/* This process's AdamW moments, in bytes. */
static int64_t moment_bytes(const run *r)
{
    int64_t bytes = 0;
    for (int i = 0; i < r->n_state; i++)
        if (is_moment(r->state_ptrs[i]->name))
            bytes += (int64_t)r->state_ptrs[i]->nbytes;
    return bytes;
}

static const dc_tensor *state_named(const run *r, const char *name)
{
    for (int i = 0; i < r->n_state; i++)
        if (strcmp(r->state_ptrs[i]->name, name) == 0)
            return r->state_ptrs[i];
    return NULL;
}

/* With a sharded optimizer, the moments of the parameters other processes
 * own, brought to rank 0 for the checkpoint (every rank takes part; on rank
 * 0 they are appended to *out, which the caller frees). Each parameter's
 * owner is the rank holding its moments; the ranks agree on the order, as
 * their plans declare the parameters alike. */
static dc_status gather_moments(run *r, dc_tensor ***out, int *n_out)
{
    *out = NULL;
    *n_out = 0;
    int n = 0;
    const dc_tensor **params = calloc((size_t)r->n_state + 1, sizeof *params);
    double *owner = calloc((size_t)r->n_state + 1, sizeof *owner);
    dc_tensor **got = calloc(2 * (size_t)r->n_state + 1, sizeof *got);
    dc_status s = params && owner && got ? DC_OK : dc_error(DC_ERR_NOMEM, "checkpoint moments");
    for (int i = 0; s == DC_OK && i < r->n_state; i++) {
        const dc_tensor *t = r->state_ptrs[i];
        if (strncmp(t->name, "student.", 8) != 0 || is_moment(t->name))
            continue;
        char name[600];
        snprintf(name, sizeof name, "%s.exp_avg", t->name);
        owner[n] = state_named(r, name) ? r->rank + 1 : 0;
        params[n++] = t;
    }
    if (s == DC_OK)
        s = dc_world_allreduce_f64(owner, n);
    static const char *const suffix[2] = {".exp_avg", ".exp_avg_sq"};
    for (int i = 0; s == DC_OK && i < n; i++) {
        int from = (int)owner[i] - 1;
        for (int k = 0; s == DC_OK && from > 0 && k < 2; k++) {
            char name[600];
            snprintf(name, sizeof name, "%s%s", params[i]->name, suffix[k]);
            dc_tensor *t;
            s = dc_tensor_create(&t, name, params[i]->dtype, params[i]->rank, params[i]->dims);
            if (s != DC_OK)
                break;
            if (r->rank == from)
                memcpy(t->data, state_named(r, name)->data, t->nbytes);
            s = dc_world_broadcast(t->data, (int64_t)t->nbytes, from);
            if (r->rank == 0)
                got[(*n_out)++] = t;
            else
                dc_tensor_destroy(t);
        }
    }
    free(params);
    free(owner);
    *out = got;
    return s;
}

static dc_status save_checkpoint(run *r, int64_t steps_done, dc_tensor *const *state, int n_state);

/* The whole state at `steps_done`, written by rank 0. */
static dc_status write_checkpoint(run *r, int64_t steps_done)
{
    dc_tensor **gathered = NULL;
    int n_gathered = 0;
    if (r->slices.shard_optimizer) {
        dc_status s = gather_moments(r, &gathered, &n_gathered);
        dc_tensor **all = s == DC_OK && r->rank == 0
                                    ? calloc((size_t)(r->n_state + n_gathered), sizeof *all)
                                    : NULL;
        if (all) {
            memcpy(all, r->state_ptrs, (size_t)r->n_state * sizeof *all);
            memcpy(all + r->n_state, gathered, (size_t)n_gathered * sizeof *all);
            s = save_checkpoint(r, steps_done, all, r->n_state + n_gathered);
        } else if (s == DC_OK && r->rank == 0) {
            s = dc_error(DC_ERR_NOMEM, "checkpoint table");
        }
        free(all);
        for (int i = 0; i < n_gathered; i++)
            dc_tensor_destroy(gathered[i]);
        free(gathered);
        return s;
    }
    /* Every rank holds the same state; rank 0 writes it. */
    return r->rank == 0 ? save_checkpoint(r, steps_done, r->state_ptrs, r->n_state) : DC_OK;
}

static dc_status save_checkpoint(run *r, int64_t steps_done, dc_tensor *const *state, int n_state)
{
    char step[32], epoch[32], total[32], spe[32], seed[32], rng[96], images[32];
    snprintf(images, sizeof images, "%" PRId64, dc_dataset_size(r->ds));
    snprintf(step, sizeof step, "%" PRId64, steps_done);
    snprintf(epoch, sizeof epoch, "%" PRId64, steps_done / r->spe);
    snprintf(total, sizeof total, "%" PRId64, r->total);
    snprintf(spe, sizeof spe, "%" PRId64, r->spe);
    snprintf(seed, sizeof seed, "%" PRIu64, r->seed);
    snprintf(rng, sizeof rng, "seed=%" PRIu64 " step=%" PRId64, r->seed, steps_done);
    const char *keys[] = {"format", "step", "epoch", "total_steps", "steps_per_epoch", "seed",
                          "rng", "config", "data", "dataset_size", "dinoc_version"};
    const char *values[] = {DC_CHECKPOINT_FORMAT, step, epoch, total, spe, seed, rng,
                            r->c.config_text, r->data, images,
                            r->opt->version ? r->opt->version : "dev"};
    dc_status s = dc_safetensors_save(r->path_ckpt, state, n_state, keys, values,
                                      (int)(sizeof keys / sizeof keys[0]));
    if (s != DC_OK)
        return dc_error_context(s, "checkpoint at step %" PRId64 " not written (the previous "
                                "checkpoint, if any, is intact)", steps_done);
    return DC_OK;
}

/* metrics.csv: a fresh file, or on resume the rows before `start` kept;
 * then opened for appending a row per step. The new file replaces the old
 * one atomically: a kill while it is written leaves the old rows, never a
 * file cut short (the rows of the steps after the checkpoint are dropped
 * on the next resume anyway). */
static dc_status open_metrics(run *r)
{
    dc_atomic_file af;
    DC_TRY(dc_atomic_file_begin(&af, r->path_metrics));
    fprintf(af.f, "%s\n", DC_TRAIN_CSV_HEADER);
    FILE *old = r->start > 0 ? fopen(r->path_metrics, "r") : NULL;
    char line[1024];
    bool header = true;
    while (old && fgets(line, sizeof line, old)) {
        if (header) { /* written above */
            header = false;
            continue;
        }
        char *end;
        long long step = strtoll(line, &end, 10);
        if (end == line || *end != ',' || step >= r->start || !strchr(line, '\n'))
            continue;
        fputs(line, af.f);
        /* the losses of a run that is already complete */
        long long epoch;
        double lr, wd, tt, m, l[N_LOSSES];
        if (sscanf(line, "%lld,%lld,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &step, &epoch, &lr, &wd, &tt,
                   &m, &l[0], &l[1], &l[2], &l[3]) == 10) {
            r->res->loss = l[0];
            r->res->dino_loss = l[1];
            r->res->ibot_loss = l[2];
            r->res->koleo_loss = l[3];
        }
    }
    if (old)
        fclose(old);
    DC_TRY(dc_atomic_file_commit(&af));
    r->metrics = fopen(r->path_metrics, "a");
    return r->metrics ? DC_OK : dc_error(DC_ERR_IO, "%s: %s", r->path_metrics, strerror(errno));
}

/* The temporary files of a run killed while writing (dc_atomic_file.h). */
static void remove_stale_files(run *r)
{
    static const char *const names[] = {"checkpoint.safetensors", "metrics.csv", "losses.gp",
                                        "losses.png"};
    char path[1100];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        join_path(path, sizeof path, r->opt->out_dir, names[i]);
        dc_atomic_file_clean(path);
    }
}

static void format_duration(double s, char *out, size_t cap)
{
    long t = s < 0 || !isfinite(s) ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(out, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else
        snprintf(out, cap, "%ldm%02lds", t / 60, t % 60);
}

static int terminal_width(FILE *f)
{
    struct winsize ws;
    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
        return ws.ws_col;
    return 120;
}

static void report_progress(run *r, int64_t step, const double loss[N_LOSSES],
                            const dc_schedule *sch, double elapsed, int64_t done_here)
{
    int64_t done = step + 1;
    double rate = elapsed > 0 ? (double)done_here / elapsed : 0; /* steps/s */
    char eta[32];
    format_duration(rate > 0 ? (double)(r->total - done) / rate : 0, eta, sizeof eta);
    int epochs = (int)((r->total + r->spe - 1) / r->spe);
    char text[512];
    snprintf(text, sizeof text,
             "step %" PRId64 "/%" PRId64 " epoch %" PRId64 "/%d loss %.4f dino %.4f ibot %.4f "
             "koleo %.4f lr %.3g %.0f img/s eta %s",
             done, r->total, step / r->spe + 1, epochs, loss[0], loss[1], loss[2], loss[3], sch->lr,
             r->rate_ema, eta);
    char tag[96];
    dc_collapse_tag(&r->collapse, tag, sizeof tag);
    if (tag[0])
        snprintf(text + strlen(text), sizeof text - strlen(text), " [%s]", tag);
    if (r->mode == DC_PROGRESS_BAR) {
        int width = terminal_width(r->progress);
        int bar = 20;
        int filled = (int)((double)done / (double)r->total * bar);
        char line[640];
        int n = snprintf(line, sizeof line, "[%.*s%.*s] %s", filled, "####################",
                         bar - filled, "....................", text);
        if (n >= width)
            line[width - 1] = 0;
        fprintf(r->progress, "\r%s\033[K", line);
        if (done == r->total)
            fputc('\n', r->progress);
        fflush(r->progress);
    } else if (r->mode == DC_PROGRESS_LINES) {
        int64_t every = r->total / 100 > 1 ? r->total / 100 : 1;
        if (done_here == 1 || done == r->total || done - r->last_line_step >= every) {
            fprintf(r->progress, "%s\n", text);
            fflush(r->progress);
            r->last_line_step = done;
        }
    }
}

/* losses.png from metrics.csv with gnuplot (a subprocess running a generated
 * script, kept as losses.gp so the plot can be redrawn or restyled). Both
 * files appear whole or not at all: the script is written atomically, and
 * gnuplot draws into losses.png.tmp, renamed when it succeeded. */
static void draw_plot(run *r)
{
    const dc_train_options *o = r->opt;
    char script[1024], png[1024], png_tmp[1100], out_arg[1200];
    join_path(script, sizeof script, o->out_dir, "losses.gp");
    join_path(png, sizeof png, o->out_dir, "losses.png");
    snprintf(png_tmp, sizeof png_tmp, "%s.tmp", png);
    dc_atomic_file af;
    if (dc_atomic_file_begin(&af, script) != DC_OK) {
        fprintf(r->progress, "plot: %s\n", dc_error_message());
        return;
    }
    char title[256];
    if (r->res->knn_done)
        snprintf(title, sizeof title, "%s: k-NN top-1 %.2f%% (baselines: raw pixels %.2f%%, random backbone %.2f%%)", r->c.name,
                 r->res->knn_accuracy, r->res->knn_baseline[0], r->res->knn_baseline[1]);
    else
        snprintf(title, sizeof title, "%s: DINOv2 loss terms", r->c.name);
    fprintf(af.f,
            "# Drawn by dinoc train from metrics.csv; rerun with: gnuplot losses.gp\n"
            "set terminal pngcairo size 1200,700 noenhanced font ',10'\n"
            "if (!exists('out')) out = '%s'\n"
            "set output out\n"
            "set datafile separator ','\n"
            "set title '%s'\n"
            "set xlabel 'step'\nset ylabel 'loss'\nset grid\nset key outside right top\n"
            "lnk = %.6f\n"
            "plot '%s' every ::1 using 1:7 with lines lw 1.5 title 'loss', \\\n"
            "     '' every ::1 using 1:8 with lines title 'dino_loss', \\\n"
            "     '' every ::1 using 1:9 with lines title 'ibot_loss', \\\n"
            "     '' every ::1 using 1:10 with lines title 'koleo_loss', \\\n"
            "     lnk with lines dt 2 lc rgb 'gray40' title sprintf('ln K = %%.2f (collapse)', lnk)\n",
            png, title, r->res->ln_k, r->path_metrics);
    if (dc_atomic_file_commit(&af) != DC_OK) {
        fprintf(r->progress, "plot: %s\n", dc_error_message());
        return;
    }
    snprintf(out_arg, sizeof out_arg, "out = '%s'", png_tmp);
    pid_t pid;
    char *argv[] = {"gnuplot", "-e", out_arg, script, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    int err = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    if (err == 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    if (err != 0 || !WIFEXITED(status) || WEXITSTATUS(status) == 127) {
        fprintf(r->progress, "plot: gnuplot not found (Debian: gnuplot-nox); the script is %s\n", script);
    } else if (WEXITSTATUS(status) != 0) {
        fprintf(r->progress, "plot: gnuplot %s failed (exit %d)\n", script, WEXITSTATUS(status));
    } else if (rename(png_tmp, png) != 0) {
        fprintf(r->progress, "plot: %s: %s\n", png, strerror(errno));
    } else {
        snprintf(r->res->plot, sizeof r->res->plot, "%s", png);
    }
    unlink(png_tmp); /* after a failure */
}

/* k-NN top-1 of the final checkpoint's teacher, beside the raw-pixel and
 * random-backbone baselines, by the compiler's evaluate (tools/driver/knn.h).
 * An IDX folder holds the test split too; a folder of images needs DIR/test
 * (else the note says why). */
static void evaluate_knn(run *r)
{
    if (r->mode != DC_PROGRESS_NONE)
        fprintf(r->progress, "k-NN evaluation of %s ...\n", r->path_ckpt);
    if (r->cc->evaluate(r->cc->ctx, r->opt, r->path_ckpt, r->data, r->res) != DC_OK)
        fprintf(r->progress, "k-NN skipped: %s\n", dc_error_message());
}

static void print_summary(run *r)
{
    dc_train_result *res = r->res;
    FILE *out = r->opt->summary_out ? r->opt->summary_out : stdout;
    fprintf(out, "%s after %" PRId64 "/%" PRId64 " steps (%d epochs of %" PRId64 "):\n",
            res->interrupted ? "interrupted" : "trained", res->steps_done, res->total_steps,
            res->epochs, res->steps_per_epoch);
    if (res->step_seconds > 0)
        fprintf(out, "  %.1f ms/step, %.0f images/s (%.1f%% of the time waiting for data)\n",
                res->step_seconds * 1e3, res->images_per_s,
                100 * res->data_wait_seconds / (res->step_seconds * (double)(res->steps_done - r->start)));
    fprintf(out, "  last step: loss %.4f = dino %.4f + ibot %.4f + koleo %.4f\n", res->loss,
            res->dino_loss, res->ibot_loss, res->koleo_loss);
    fprintf(out, "  collapse reference: ln K = %.4f (K = %d); a DINO or iBOT term stuck at it means a "
            "uniform output, one near 0 a constant one\n", res->ln_k, r->c.head_output_dim);
    if (!isnan(res->teacher_similarity))
        fprintf(out, "  teacher cls similarity (mean pairwise cosine over the batch): %.4f\n",
                res->teacher_similarity);
    /* dinov2#272, #407: a term that settles at ln K has collapsed to uniform
     * outputs (after centering); one near 0 to a single prototype. */
    if (res->collapse) {
        char why[2048];
        dc_collapse_explain(&r->collapse, "  ", why, sizeof why);
        fputs(why, out);
        if (res->stopped_on_collapse)
            fprintf(out, "  stopped at step %" PRId64 " (--stop-on-collapse)\n", res->steps_done);
    } else if (res->steps_done > 0 && res->dino_loss < 0.01) {
        fprintf(out, "  note: the DINO term is near 0: the outputs may have collapsed to one "
                "prototype\n");
    }
    if (res->knn_done)
        fprintf(out, "  k-NN top-1: %.2f%% (baselines: raw pixels %.2f%%, random backbone %.2f%%; "
                "%s features, k 20, %" PRId64 " train and %" PRId64 " test images)\n",
                res->knn_accuracy, res->knn_baseline[0], res->knn_baseline[1],
                res->knn_features ? res->knn_features : "", res->knn_images[0], res->knn_images[1]);
    fprintf(out, "  checkpoint: %s\n  log:        %s (every step's schedule values, losses, images/s)\n",
            res->checkpoint, res->metrics);
    if (res->plot[0])
        fprintf(out, "  plot:       %s\n", res->plot);
}

/* `dinoc train STEP.so|STEP.dnc`, `dinort train STEP.so`: the plan as
 * compiled, with the recipe dinoc compile --config stored in it. Overrides
 * would change the compiled step, so they are refused. */
static dc_status load_artifact(run *r, const char *path)
{
    if (r->opt->n_overrides)
        return dc_error(DC_ERR_INVALID, "%s: overrides change the compiled step; recompile with "
                        "them (dinoc compile --config NAME FIELD=VALUE...)", path);
    DC_TRY(dc_artifact_open(path, &r->artifact));
    r->plan = dc_artifact_plan(r->artifact);
    if (!r->plan->recipe || !r->plan->recipe[0])
        return dc_error(DC_ERR_INVALID, "%s: not a DINOv2 training step (compile it with dinoc "
                        "compile --config NAME)", path);
    return dc_train_recipe_parse(r->plan->recipe, path, &r->c);
}

/* Settles config, seed, data and lengths; on resume, from the checkpoint. */
static dc_status setup(run *r, dc_safetensors **ckpt)
{
    const dc_train_options *o = r->opt;
    *ckpt = NULL;
    join_path(r->path_ckpt, sizeof r->path_ckpt, o->out_dir, "checkpoint.safetensors");
    join_path(r->path_metrics, sizeof r->path_metrics, o->out_dir, "metrics.csv");
    if (o->resume) {
        if (access(r->path_ckpt, F_OK) != 0)
            return dc_error(DC_ERR_IO, "%s: no checkpoint to resume (%s)", r->path_ckpt, strerror(errno));
        DC_TRY(dc_safetensors_load(r->path_ckpt, ckpt));
        const char *fmt = dc_safetensors_meta(*ckpt, "format");
        if (!fmt || strcmp(fmt, DC_CHECKPOINT_FORMAT) != 0)
            return dc_error(DC_ERR_INVALID, "%s: not a dinoc training checkpoint (metadata 'format' "
                            "is '%s')", r->path_ckpt, fmt ? fmt : "");
    } else if (access(r->path_ckpt, F_OK) == 0) {
        return dc_error(DC_ERR_INVALID, "%s exists: pass --resume to continue that run, or choose "
                        "another output folder", r->path_ckpt);
    }
    const char *stored = *ckpt ? dc_safetensors_meta(*ckpt, "config") : NULL;
    if (*ckpt && !stored)
        return dc_error(DC_ERR_INVALID, "%s: metadata 'config' is missing", r->path_ckpt);
    if (!r->cc || (o->config && dc_artifact_is_file(o->config))) {
        if (!o->config)
            return dc_error(DC_ERR_INVALID, "no compiled training step given (STEP.so)");
        if (!r->cc && access(o->config, F_OK) != 0)
            return dc_error(DC_ERR_IO, "%s: %s (a compiled training step is needed: dinoc compile "
                            "--config NAME -o STEP.so makes one)", o->config, strerror(errno));
        DC_TRY(load_artifact(r, o->config));
    } else if (o->config || stored) {
        DC_TRY(r->cc->recipe(r->cc->ctx, o, o->config ? NULL : stored, r->path_ckpt, &r->c));
    } else {
        return dc_error(DC_ERR_INVALID, "no config given (--config NAME)");
    }
    if (o->epochs > 0)
        DC_TRY(dc_train_recipe_set_epochs(&r->c, o->epochs));

    r->seed = o->seed;
    if (*ckpt && !o->seed_set) {
        const char *s = dc_safetensors_meta(*ckpt, "seed");
        r->seed = s ? strtoull(s, NULL, 10) : 0;
    }
    r->data = o->data;
    if (!r->data && *ckpt && dc_safetensors_meta(*ckpt, "data")) {
        snprintf(r->data_buf, sizeof r->data_buf, "%s", dc_safetensors_meta(*ckpt, "data"));
        r->data = r->data_buf;
    }
    if (!r->data)
        r->data = dc_train_default_data(r->c.name);
    if (!r->data)
        return dc_error(DC_ERR_INVALID, "config '%s' has no default dataset: pass --data DIR", r->c.name);
    return DC_OK;
}

static dc_status lengths(run *r, const dc_safetensors *ckpt)
{
    const dc_train_options *o = r->opt;
    r->total = o->steps > 0 ? o->steps : (int64_t)r->c.epochs * r->spe;
    r->start = 0;
    if (ckpt) {
        const char *step = dc_safetensors_meta(ckpt, "step");
        const char *total = dc_safetensors_meta(ckpt, "total_steps");
        const char *images = dc_safetensors_meta(ckpt, "dataset_size");
        if (!step || !total || !images)
            return dc_error(DC_ERR_INVALID, "%s: metadata 'step', 'total_steps' or 'dataset_size' "
                            "is missing", r->path_ckpt);
        r->start = strtoll(step, NULL, 10);
        if (strtoll(images, NULL, 10) != dc_dataset_size(r->ds))
            return dc_error(DC_ERR_INVALID, "%s: trained on %s images, %s has %" PRId64 " (another "
                            "dataset? its batches would differ)", r->path_ckpt, images, r->data,
                            dc_dataset_size(r->ds));
        if (o->steps <= 0 && o->epochs <= 0)
            r->total = strtoll(total, NULL, 10);
    }
    if (r->total <= 0)
        return dc_error(DC_ERR_INVALID, "nothing to train: %" PRId64 " steps", r->total);
    return DC_OK;
}

/* Resuming a run of an artifact: the checkpoint's tensors go straight into
 * the session's state buffers (same names, exact types). */
static dc_status load_session_state(run *r)
{
    dc_safetensors *st;
    DC_TRY(dc_safetensors_load(r->path_ckpt, &st));
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < r->n_state; i++) {
        dc_tensor *want = r->state_ptrs[i];
        const dc_tensor *got = dc_safetensors_get(st, want->name);
        bool same = got && got->dtype == want->dtype && got->rank == want->rank &&
                    got->nbytes == want->nbytes &&
                    memcmp(got->dims, want->dims, (size_t)want->rank * sizeof *want->dims) == 0;
        if (!same)
            s = dc_error(DC_ERR_INVALID, "%s: tensor '%s' is missing or of another type than the "
                         "artifact's", r->path_ckpt, want->name);
        else
            memcpy(want->data, got->data, got->nbytes);
    }
    dc_safetensors_destroy(st);
    return s;
}

/* Whether plan buffer b shares bytes with one of the buffers[0, n). */
static bool overlaps_any(const dc_plan *p, int b, const int *buffers, int n)
{
    const dc_plan_buffer *x = &p->buffers[b];
    for (int i = 0; i < n; i++) {
        const dc_plan_buffer *y = &p->buffers[buffers[i]];
        if (x->region == y->region && x->offset < y->offset + y->nbytes &&
            y->offset < x->offset + x->nbytes)
            return true;
    }
    return false;
}

/* With gradient accumulation, the end of the first phase: the last step that
 * writes an accumulator or an output (losses), so that every step before it
 * is the micro-batch's forward and backward. The steps after it (clipping,
 * AdamW, the EMA, the center updates) run once per optimizer step; none
 * before it may write other state, which would then change per micro-batch. */
static dc_status find_phases(run *r)
{
    const dc_plan *p = r->plan;
    r->phase_end = p->n_steps;
    if (r->slices.accum_steps <= 1)
        return DC_OK;
    int *marks = malloc(((size_t)p->n_buffers + (size_t)p->n_outputs + 1) * sizeof *marks);
    if (!marks)
        return dc_error(DC_ERR_NOMEM, "phases of the plan");
    int n_marks = 0;
    for (int b = 0; b < p->n_buffers; b++) {
        size_t len = strlen(p->buffers[b].name);
        if (p->buffers[b].region == DC_REGION_STATE && len > 6 &&
            strcmp(p->buffers[b].name + len - 6, ".accum") == 0)
            marks[n_marks++] = b;
    }
    int n_accum = n_marks;
    for (int k = 0; k < p->n_outputs; k++)
        marks[n_marks++] = p->outputs[k].buffer;
    int end = 0;
    for (int i = 0; i < p->n_steps; i++) {
        const dc_plan_step *st = &p->steps[i];
        for (int a = st->n_inputs; a < st->n_inputs + st->n_outputs; a++)
            if (st->args[a] >= 0 && overlaps_any(p, st->args[a], marks, n_marks))
                end = i + 1;
    }
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < end; i++) {
        const dc_plan_step *st = &p->steps[i];
        for (int a = st->n_inputs; s == DC_OK && a < st->n_inputs + st->n_outputs; a++) {
            int b = st->args[a];
            if (b >= 0 && p->buffers[b].region == DC_REGION_STATE && !overlaps_any(p, b, marks, n_accum))
                s = dc_error(DC_ERR_INVALID, "gradient accumulation: step %d '%s' writes state '%s' "
                             "before the last micro-batch's gradients are complete (step %d)", i,
                             st->node, p->buffers[b].name, end - 1);
        }
    }
    free(marks);
    r->phase_end = end;
    return s;
}

static dc_status compile(run *r)
{
    if (!r->plan) { /* an artifact was loaded already */
        DC_TRY(r->cc->compile(r->cc->ctx, &r->slices, r->seed,
                              r->opt->resume ? r->path_ckpt : NULL, &r->compiled));
        r->plan = r->compiled;
        DC_TRY(dc_session_create(r->plan, r->opt->threads, &r->sess));
        DC_TRY(collect_state(r));
        dc_plan_release_contents(r->compiled); /* the session holds its own copy */
    } else {
        DC_TRY(dc_session_create_artifact(r->artifact, r->opt->threads, &r->sess));
        DC_TRY(collect_state(r));
        if (r->opt->resume)
            DC_TRY(load_session_state(r));
    }
    DC_TRY(find_phases(r));
    DC_TRY(make_slices(r));
    return find_io(r);
}

static dc_status train_loop(run *r)
{
    const dc_train_options *o = r->opt;
    dc_train_result *res = r->res;
    int64_t every = o->checkpoint_every > 0 ? o->checkpoint_every : r->spe;
    double t0 = now_seconds(), t_prev = t0;
    int64_t done_here = 0;
    int micro_batches = r->slices.accum_steps > 1 ? r->slices.accum_steps : 1;
    for (int64_t step = r->start; step < r->total; step++) {
        dc_schedule sch = dc_train_schedule(&r->c, step, r->total, r->spe);
        /* --profile times the steps after the first, whose run also creates
         * the kernels' primitives (a run of one step is timed as it is). */
        if (o->profile && (done_here == 1 || r->total - r->start == 1))
            dc_session_set_profile(r->sess, true);
        /* The losses (and similarity) of the slices, then the stop signal. */
        double sums[N_LOSSES + 2] = {0};
        for (int micro = 0; micro < micro_batches; micro++) {
            double tf = now_seconds();
            DC_TRY(feed(r, step, micro, &sch));
            res->data_wait_seconds += now_seconds() - tf;
            bool last = micro + 1 == micro_batches;
            DC_TRY(dc_session_run_steps(r->sess, 0, last ? r->plan->n_steps : r->phase_end));
            for (int i = 0; i < N_LOSSES; i++)
                sums[i] += *(const float *)dc_session_buffer(r->sess, r->loss_buffer[i]);
            sums[N_LOSSES] += r->similarity_buffer >= 0
                                  ? *(const float *)dc_session_buffer(r->sess, r->similarity_buffer)
                                  : NAN;
        }
        int local_sig = o->stop ? (int)*o->stop : 0;
        sums[N_LOSSES + 1] = local_sig;
        /* Every rank takes the same decisions (stop, collapse, NaN) from the
         * same means: the losses are means over the slices, as one process
         * computes them over the whole batch (KoLeo: the mean of the slices'). */
        if (r->world > 1)
            DC_TRY(dc_world_allreduce_f64(sums, N_LOSSES + 2));
        double slices = (double)n_slices(r->slices);
        double loss[N_LOSSES];
        for (int i = 0; i < N_LOSSES; i++)
            loss[i] = sums[i] / slices;
        double similarity = sums[N_LOSSES] / slices;
        if (!isfinite(loss[0]))
            return dc_error(DC_ERR_INVALID, "step %" PRId64 ": the loss is %g (dino %g, ibot %g, "
                            "koleo %g); stopping without a checkpoint of this state", step, loss[0],
                            loss[1], loss[2], loss[3]);
        double t = now_seconds(), dt = t - t_prev;
        t_prev = t;
        done_here++;
        double ips = dt > 0 ? r->c.batch.batch_size / dt : 0;
        r->rate_ema = done_here == 1 ? ips : 0.9 * r->rate_ema + 0.1 * ips;
        if (r->metrics)
            fprintf(r->metrics, "%" PRId64 ",%" PRId64 ",%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g\n",
                    step, step / r->spe, sch.lr, sch.weight_decay, sch.teacher_temp, sch.momentum,
                    loss[0], loss[1], loss[2], loss[3], similarity, ips);
        if (r->metrics && fflush(r->metrics) != 0)
            return dc_error(DC_ERR_IO, "%s: %s", r->path_metrics, strerror(errno));
        res->steps_done = step + 1;
        res->loss = loss[0];
        res->dino_loss = loss[1];
        res->ibot_loss = loss[2];
        res->koleo_loss = loss[3];
        res->step_seconds = (t - t0) / (double)done_here;
        res->images_per_s = (double)(done_here * r->c.batch.batch_size) / (t - t0);
        res->teacher_similarity = similarity;
        int reached = dc_collapse_update(&r->collapse, step, loss[1], loss[2], similarity);
        if (reached && !res->collapse)
            res->collapse_step = step + 1;
        res->collapse = r->collapse.signs;
        report_progress(r, step, loss, &sch, t - t0, done_here);
        if (reached && r->mode != DC_PROGRESS_NONE) {
            char why[2048];
            dc_collapse_explain(&r->collapse, "", why, sizeof why);
            fprintf(r->progress, "%s%s%s", r->mode == DC_PROGRESS_BAR ? "\n" : "", why,
                    o->stop_on_collapse ? "stopping (--stop-on-collapse)\n" : "");
            fflush(r->progress);
        }

        int sig = sums[N_LOSSES + 1] != 0 ? (local_sig ? local_sig : SIGTERM) : 0;
        bool stop = sig != 0 || (o->stop_after_step > 0 && step + 1 >= o->stop_after_step);
        bool collapsed = o->stop_on_collapse && res->collapse;
        if (stop || collapsed || (step + 1) % every == 0 || step + 1 == r->total)
            DC_TRY(write_checkpoint(r, step + 1));
        if (collapsed && !stop) {
            res->stopped_on_collapse = step + 1 < r->total;
            break;
        }
        if (stop && step + 1 < r->total) {
            res->interrupted = true;
            res->signal = sig;
            if (r->mode == DC_PROGRESS_BAR)
                fputc('\n', r->progress);
            break;
        }
    }
    return DC_OK;
}

static void run_destroy(run *r)
{
    if (r->metrics)
        fclose(r->metrics);
    dc_session_destroy(r->sess);
    dc_plan_destroy(r->compiled);
    dc_artifact_close(r->artifact);
    dc_batcher_destroy(r->batcher);
    dc_dataset_close(r->ds);
    for (int i = 0; i < N_SCALARS; i++)
        dc_tensor_destroy(r->scalars[i]);
    for (int i = 0; i < r->n_slice_t; i++)
        dc_tensor_destroy(r->slice_t[i]);
    dc_tensor_destroy(r->accumulate);
    free(r->state);
    free(r->state_ptrs);
    dc_train_recipe_clear(&r->c);
}

dc_status dc_train_run(const dc_train_options *opt, const dc_train_compiler *compiler,
                       dc_train_result *result)
{
    memset(result, 0, sizeof *result);
    if (!opt->out_dir)
        return dc_error(DC_ERR_INVALID, "no output folder (--out DIR)");
    run r = {.opt = opt, .res = result, .cc = compiler};
    r.progress = opt->progress_out ? opt->progress_out : stderr;
    r.mode = opt->progress;
    if (r.mode == DC_PROGRESS_AUTO)
        r.mode = isatty(fileno(r.progress)) ? DC_PROGRESS_BAR : DC_PROGRESS_LINES;
    DC_TRY(make_dirs(opt->out_dir));

    dc_safetensors *ckpt = NULL;
    dc_status s = setup(&r, &ckpt);
    if (s == DC_OK)
        s = divide_batch(&r);
    if (s == DC_OK)
        s = open_data(&r);
    if (s == DC_OK)
        s = lengths(&r, ckpt);
    if (s == DC_OK && ckpt) {
        /* Tensors first (a checkpoint of another shape names its first odd
         * tensor), then the remaining fields of the config. */
        char what[512];
        s = compile(&r);
        /* The stored text read and printed again: fields added since it was
         * written take their defaults rather than count as differences. */
        const char *stored = dc_safetensors_meta(ckpt, "config");
        char *reprinted = r.cc && r.cc->reprint ? r.cc->reprint(r.cc->ctx, stored) : NULL;
        if (s == DC_OK && config_differs(reprinted ? reprinted : stored, r.c.config_text, what,
                                         sizeof what))
            s = dc_error(DC_ERR_INVALID, "%s: another config: %s", r.path_ckpt, what);
        free(reprinted);
    } else if (s == DC_OK) {
        s = compile(&r);
    }
    dc_safetensors_destroy(ckpt);
    result->total_steps = r.total;
    result->steps_per_epoch = r.spe;
    result->epochs = r.spe > 0 ? (int)((r.total + r.spe - 1) / r.spe) : 0;
    result->ln_k = log((double)r.c.head_output_dim);
    result->teacher_similarity = NAN;
    dc_collapse_init(&r.collapse, result->ln_k, r.total,
                     clamp_steps(r.c.warmup_epochs, r.spe, r.total));
    result->steps_done = r.start;
    snprintf(result->checkpoint, sizeof result->checkpoint, "%s", r.path_ckpt);
    snprintf(result->metrics, sizeof result->metrics, "%s", r.path_metrics);
    if (s == DC_OK && r.rank == 0)
        remove_stale_files(&r);
    if (s == DC_OK && r.rank == 0)
        s = open_metrics(&r);
    double *moments = r.world > 1 && s == DC_OK ? calloc((size_t)r.world, sizeof *moments) : NULL;
    if (moments) { /* every rank's AdamW moments, for rank 0 to report */
        moments[r.rank] = (double)moment_bytes(&r);
        s = dc_world_allreduce_f64(moments, r.world);
    }
    if (s == DC_OK && r.mode != DC_PROGRESS_NONE) {
        fprintf(r.progress, "%s: config %s, %s (%" PRId64 " images), %" PRId64 " steps of %d "
                "images per epoch, ", opt->program ? opt->program : "dinoc train", r.c.name, r.data, dc_dataset_size(r.ds), r.spe, r.c.batch.batch_size);
        if (r.start < r.total)
            fprintf(r.progress, "steps %" PRId64 "..%" PRId64 ", out %s\n", r.start + 1, r.total,
                    opt->out_dir);
        else
            fprintf(r.progress, "all %" PRId64 " steps done already, out %s\n", r.total, opt->out_dir);
        if (n_slices(r.slices) > 1)
            fprintf(r.progress, "  %d process%s x %d micro-batch%s of %" PRId64 " images per step; "
                    "plan memory per process: %.1f MB working, %.1f MB state\n", r.world,
                    r.world > 1 ? "es" : "", r.slices.accum_steps, r.slices.accum_steps > 1 ? "es" : "",
                    r.slice, (double)r.plan->region_bytes[DC_REGION_ARENA] / 1e6,
                    (double)r.plan->region_bytes[DC_REGION_STATE] / 1e6);
        if (moments) {
            fprintf(r.progress, "  AdamW moments per process (%s):", r.slices.shard_optimizer
                                                                      ? "sharded" : "replicated");
            for (int k = 0; k < r.world; k++)
                fprintf(r.progress, " %.0f", moments[k]);
            fprintf(r.progress, " bytes\n");
        }
    }
    free(moments);
    if (s == DC_OK)
        s = train_loop(&r);
    if (opt->stop && !*opt->stop)
        *opt->stop = -1; /* the loop is over: a signal now need not wait for anything */
    if (s == DC_OK && opt->knn && r.cc && r.cc->evaluate && !result->interrupted && r.rank == 0)
        evaluate_knn(&r);
    if (s == DC_OK && opt->plot && r.rank == 0)
        draw_plot(&r);
    if (s == DC_OK && r.mode != DC_PROGRESS_NONE)
        print_summary(&r);
    if (opt->profile && r.sess)
        dc_session_print_profile(r.sess, r.progress);
    run_destroy(&r);
    return s;
}
