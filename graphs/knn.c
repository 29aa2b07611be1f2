/* k-NN evaluation (DINO's eval_knn.py): teacher cls features from a compiled
 * inference graph, the evaluation transform, and the weighted vote. See knn.h. */
#include "knn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backbone_features.h"
#include "builder.h"
#include "configs.h"
#include "dc_pil_resample.h"
#include "dc_safetensors.h"
#include "dc_session.h"
#include "pipeline.h"
#include "vit.h"

enum {
    DEFAULT_K = 20,
    DEFAULT_BATCH = 256,
    /* Raw-pixel features hold at most this many values per image (3×36×36 for
     * 224 px colour, 64×64 grey); 60000 images of 3×224×224 would need 36 GB. */
    RAW_MAX_VALUES = 4096,
    /* Query rows per similarity MatMul: the [rows, n_train] f32 output stays
     * near this many bytes. */
    SIM_CHUNK_BYTES = 256 << 20,
    SIM_MAX_ROWS = 1024,
};
#define DEFAULT_TEMPERATURE 0.07f

static const char TEACHER_PREFIX[] = "teacher.backbone.";

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of every thread of the process: on a shared machine, the cost that
 * wall time hides behind other programs' load. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int thread_count(int threads)
{
    return threads > 0 ? threads : omp_get_num_procs();
}

/* The first error of an OpenMP loop. Messages are thread-local, so the failing
 * thread copies its own and the caller re-raises it. */
typedef struct par_error {
    dc_status status;
    char message[512];
} par_error;

static void par_fail(par_error *e, dc_status s)
{
#pragma omp critical(dc_knn_par_error)
    if (e->status == DC_OK) {
        e->status = s;
        snprintf(e->message, sizeof e->message, "%s", dc_error_message());
    }
}

static dc_status par_status(const par_error *e)
{
    return e->status == DC_OK ? DC_OK : dc_error(e->status, "%s", e->message);
}

/* ---- the vote ------------------------------------------------------------------------- */

void dc_knn_normalize(float *x, int64_t n, int64_t dim)
{
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        double ss = 0;
        for (int64_t j = 0; j < dim; j++)
            ss += (double)row[j] * row[j];
        float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12));
        for (int64_t j = 0; j < dim; j++)
            row[j] *= inv;
    }
}

/* The k largest of sim [n] in descending order (ties: the earlier index first). */
static void top_k(const float *sim, int64_t n, int k, float *best, int64_t *at)
{
    int filled = 0;
    for (int64_t j = 0; j < n; j++) {
        float s = sim[j];
        int pos;
        if (filled < k)
            pos = filled++;
        else if (s > best[k - 1])
            pos = k - 1;
        else
            continue;
        for (; pos > 0 && best[pos - 1] < s; pos--) {
            best[pos] = best[pos - 1];
            at[pos] = at[pos - 1];
        }
        best[pos] = s;
        at[pos] = j;
    }
}

/* The similarity plan: sim [rows, n_train] = query [rows, dim] · bank [dim, n_train]. */
static dc_status similarity_plan(int64_t rows, int64_t dim, int64_t n_train, dc_plan **plan)
{
    dc_graph *g = dc_graph_create("knn_similarity");
    if (!g)
        return dc_error(DC_ERR_NOMEM, "k-NN similarity graph");
    int64_t qd[2] = {rows, dim}, bd[2] = {dim, n_train};
    dc_value *sim = dc_matmul(g, dc_input(g, "query", DC_F32, 2, qd), dc_input(g, "bank", DC_F32, 2, bd));
    dc_status s = sim ? dc_output(g, sim) : dc_build_status(g);
    if (s == DC_OK)
        s = dc_build_status(g);
    if (s == DC_OK)
        s = dc_pipeline_compile(g, NULL, plan);
    dc_graph_destroy(g);
    return s == DC_OK ? DC_OK : dc_error_context(s, "k-NN similarity plan");
}

static int plan_input(const dc_plan *p, const char *name)
{
    for (int i = 0; i < p->n_inputs; i++)
        if (strcmp(p->inputs[i].name, name) == 0)
            return p->inputs[i].buffer;
    return -1;
}

static bool buffers_overlap(const dc_plan_buffer *a, const dc_plan_buffer *b)
{
    return a->region == b->region && a->offset < b->offset + b->nbytes &&
           b->offset < a->offset + a->nbytes;
}

dc_status dc_knn_classify(const float *train, const int *train_labels, int64_t n_train,
                          const float *test, int64_t n_test, int64_t dim, int n_classes, int k,
                          float temperature, int threads, int *pred)
{
    if (n_train <= 0 || n_test < 0 || dim <= 0 || n_classes <= 0 || k <= 0 || !(temperature > 0))
        return dc_error(DC_ERR_INVALID, "k-NN: need train images, a positive dimension, classes, k "
                        "and temperature (n_train %lld, dim %lld, classes %d, k %d, T %g)",
                        (long long)n_train, (long long)dim, n_classes, k, temperature);
    for (int64_t i = 0; i < n_train; i++)
        if (train_labels[i] < 0 || train_labels[i] >= n_classes)
            return dc_error(DC_ERR_INVALID, "k-NN: train label %d of image %lld is not in [0, %d)",
                            train_labels[i], (long long)i, n_classes);
    if (n_test == 0)
        return DC_OK;
    if (k > n_train)
        k = (int)n_train;
    int nt = thread_count(threads);
    int64_t rows = SIM_CHUNK_BYTES / (n_train * (int64_t)sizeof(float));
    rows = rows < 1 ? 1 : rows > SIM_MAX_ROWS ? SIM_MAX_ROWS : rows;
    rows = rows > n_test ? n_test : rows;

    dc_plan *plan = NULL;
    dc_session *sess = NULL;
    DC_TRY(similarity_plan(rows, dim, n_train, &plan));
    dc_status s = dc_session_create(plan, threads, &sess);
    int qb = plan_input(plan, "query"), bb = plan_input(plan, "bank");
    int ob = plan->n_outputs == 1 ? plan->outputs[0].buffer : -1;
    /* The bank is written once: the plan's one MatMul must not write over it. */
    if (s == DC_OK && (qb < 0 || bb < 0 || ob < 0 ||
                       buffers_overlap(&plan->buffers[bb], &plan->buffers[ob]) ||
                       buffers_overlap(&plan->buffers[bb], &plan->buffers[qb])))
        s = dc_error(DC_ERR_INVALID, "k-NN similarity plan: unexpected buffer layout");
    if (s == DC_OK) {
        float *bank = dc_session_buffer(sess, bb);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t d = 0; d < dim; d++)
            for (int64_t j = 0; j < n_train; j++)
                bank[d * n_train + j] = train[j * dim + d];
    }
    float *query = s == DC_OK ? dc_session_buffer(sess, qb) : NULL;
    const float *sim = s == DC_OK ? dc_session_buffer(sess, ob) : NULL;
    par_error err = {DC_OK, ""};
    for (int64_t r0 = 0; s == DC_OK && r0 < n_test; r0 += rows) {
        int64_t nr = n_test - r0 < rows ? n_test - r0 : rows;
        memcpy(query, test + r0 * dim, (size_t)(nr * dim) * sizeof(float));
        memset(query + nr * dim, 0, (size_t)((rows - nr) * dim) * sizeof(float)); /* padding rows */
        if ((s = dc_session_run(sess)) != DC_OK)
            break;
#pragma omp parallel num_threads(nt)
        {
            float *best = malloc((size_t)k * sizeof *best);
            int64_t *at = malloc((size_t)k * sizeof *at);
            double *votes = malloc((size_t)n_classes * sizeof *votes);
            if (!best || !at || !votes)
                par_fail(&err, dc_error(DC_ERR_NOMEM, "k-NN vote buffers"));
#pragma omp for schedule(dynamic, 4)
            for (int64_t r = 0; r < nr; r++) {
                if (!best || !at || !votes)
                    continue;
                top_k(sim + r * n_train, n_train, k, best, at);
                memset(votes, 0, (size_t)n_classes * sizeof *votes);
                for (int i = 0; i < k; i++)
                    votes[train_labels[at[i]]] += exp((double)best[i] / temperature);
                int arg = 0;
                for (int c = 1; c < n_classes; c++)
                    if (votes[c] > votes[arg])
                        arg = c;
                pred[r0 + r] = arg;
            }
            free(best);
            free(at);
            free(votes);
        }
        s = par_status(&err);
    }
    dc_session_destroy(sess);
    dc_plan_destroy(plan);
    return s;
}

/* ---- the evaluation transform --------------------------------------------------------- */

/* Pixel (y, x) of the image as `channels` values in [0, 255]. */
static void pixel(const dc_image *img, int y, int x, int channels, float *v)
{
    const uint8_t *p = img->pixels + ((size_t)y * img->w + x) * img->c;
    if (channels == 1) {
        v[0] = img->c >= 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
    } else {
        for (int c = 0; c < 3; c++)
            v[c] = img->c >= 3 ? p[c] : p[0];
    }
}

dc_status dc_knn_preprocess(const dc_image *img, int channels, int size, const float mean[3],
                            const float std[3], float *out)
{
    if (!img || !img->pixels || img->h <= 0 || img->w <= 0 || img->c < 1 || img->c > 4)
        return dc_error(DC_ERR_INVALID, "image of %dx%dx%d is not an 8-bit image with 1 to 4 channels",
                        img ? img->h : 0, img ? img->w : 0, img ? img->c : 0);
    if ((channels != 1 && channels != 3) || size <= 0)
        return dc_error(DC_ERR_INVALID, "evaluation transform to %d channels of %d px: need 1 or 3 "
                        "channels and a positive size", channels, size);
    int m = img->h < img->w ? img->h : img->w;
    int y0 = (img->h - m) / 2, x0 = (img->w - m) / 2;
    size_t plane = (size_t)size * size;
    float v[3];
    if (m == size) {
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                pixel(img, y0 + y, x0 + x, channels, v);
                for (int c = 0; c < channels; c++)
                    out[c * plane + (size_t)y * size + x] = (v[c] / 255.0f - mean[c]) / std[c];
            }
        return DC_OK;
    }
    /* Separable: rows of the crop to [m, size, channels], then columns. */
    int *b = NULL; /* output o reads taps b[2o] .. b[2o] + b[2o+1] of the crop */
    float *w = NULL;
    float *tmp = malloc((size_t)m * size * channels * sizeof *tmp);
    int max_taps = dc_pil_bicubic_coeffs(m, size, &w, &b);
    dc_status s = DC_OK;
    if (!max_taps || !tmp) {
        s = dc_error(DC_ERR_NOMEM, "evaluation transform of a %dx%d image", img->h, img->w);
        goto done;
    }
    for (int y = 0; y < m; y++)
        for (int ox = 0; ox < size; ox++) {
            float acc[3] = {0, 0, 0};
            const float *wr = w + (size_t)ox * max_taps;
            for (int t = 0; t < b[2 * ox + 1]; t++) {
                pixel(img, y0 + y, x0 + b[2 * ox] + t, channels, v);
                for (int c = 0; c < channels; c++)
                    acc[c] += wr[t] * v[c];
            }
            for (int c = 0; c < channels; c++)
                tmp[((size_t)y * size + ox) * channels + c] = acc[c];
        }
    for (int oy = 0; oy < size; oy++) {
        const float *wr = w + (size_t)oy * max_taps;
        for (int ox = 0; ox < size; ox++)
            for (int c = 0; c < channels; c++) {
                float acc = 0;
                for (int t = 0; t < b[2 * oy + 1]; t++)
                    acc += wr[t] * tmp[((size_t)(b[2 * oy] + t) * size + ox) * channels + c];
                acc = acc < 0 ? 0 : acc > 255 ? 255 : acc; /* PIL works in 8 bits */
                out[c * plane + (size_t)oy * size + ox] = (acc / 255.0f - mean[c]) / std[c];
            }
    }
done:
    free(b);
    free(w);
    free(tmp);
    return s;
}

/* ---- features ------------------------------------------------------------------------- */


const char *dc_knn_features_name(dc_knn_features f)
{
    return f == DC_KNN_PATCH ? "mean patch token" : f == DC_KNN_BOTH ? "cls + mean patch token" : "cls";
}

int64_t dc_knn_feature_dim(const dc_vit_config *v, dc_knn_features f)
{
    return f == DC_KNN_BOTH ? 2 * (int64_t)v->embed_dim : v->embed_dim;
}

/* The images of one split that take part, and their features. */
typedef struct knn_split {
    const char *what; /* "train" / "test" */
    dc_dataset *ds;
    int64_t n, size;  /* used / in the dataset */
    int *labels;
    float *feat[3];   /* teacher, random, raw: [n, dim] */
} knn_split;

enum { FEAT_TEACHER = 0, FEAT_RANDOM = 1, FEAT_RAW = 2, N_FEAT = 3 };
static const char *const feat_names[N_FEAT] = {"teacher", "random backbone", "raw pixels"};

static void split_free(knn_split *sp)
{
    dc_dataset_close(sp->ds);
    free(sp->labels);
    for (int f = 0; f < N_FEAT; f++)
        free(sp->feat[f]);
}

/* What every split shares: the transform and the backbones. */
typedef struct knn_job {
    const dc_dinov2_config *config;
    dc_backbone_features *ex[2]; /* teacher, random; NULL entries are skipped */
    bool raw;
    int raw_size;      /* side of the raw-pixel features */
    int batch, threads;
    dc_knn_features features;
    float mean[3], std[3];
    FILE *log;
    double seconds_prepare;    /* loading and transforming images, both splits */
    double seconds_forward[2]; /* each backbone's forward passes, both splits */
    double seconds_cpu;        /* CPU time of the feature extraction, both splits */
} knn_job;

static dc_status split_open(knn_split *sp, const char *dir, const char *split, int64_t max)
{
    DC_TRY(dc_dataset_open(dir, split, &sp->ds));
    sp->size = dc_dataset_size(sp->ds);
    if (sp->size <= 0)
        return dc_error(DC_ERR_INVALID, "%s: no images in the %s split", dir, split);
    sp->n = max > 0 && max < sp->size ? max : sp->size;
    return DC_OK;
}

/* Loads and transforms one image into x [C·S·S] and its raw features. */
static dc_status prepare_image(const knn_job *job, const knn_split *sp, int64_t i, float *x,
                               float *raw)
{
    const dc_vit_config *v = &job->config->vit;
    int64_t index = sp->n == sp->size ? i : i * sp->size / sp->n; /* evenly spaced subset */
    dc_image img = {0};
    int label = 0;
    DC_TRY(dc_dataset_get(sp->ds, index, &img, &label));
    dc_status s = DC_OK;
    if (label < 0)
        s = dc_error(DC_ERR_INVALID, "%s image %lld: negative label %d", sp->what, (long long)index,
                     label);
    if (s == DC_OK)
        s = dc_knn_preprocess(&img, v->in_chans, v->image_size, job->mean, job->std, x);
    if (s == DC_OK && raw) {
        if (job->raw_size == v->image_size)
            memcpy(raw, x, (size_t)v->in_chans * v->image_size * v->image_size * sizeof *raw);
        else
            s = dc_knn_preprocess(&img, v->in_chans, job->raw_size, job->mean, job->std, raw);
    }
    free(img.pixels);
    sp->labels[i] = label;
    return s == DC_OK ? DC_OK : dc_error_context(s, "%s image %lld", sp->what, (long long)index);
}

static dc_status extract(knn_job *job, knn_split *sp)
{
    const dc_vit_config *v = &job->config->vit;
    int64_t per = (int64_t)v->in_chans * v->image_size * v->image_size;
    int64_t raw_dim = (int64_t)v->in_chans * job->raw_size * job->raw_size;
    int batch = job->batch, nt = thread_count(job->threads);
    sp->labels = malloc((size_t)sp->n * sizeof *sp->labels);
    float *x = calloc((size_t)(batch * per), sizeof *x);
    bool ok = sp->labels && x;
    for (int f = 0; f < 2; f++)
        if (job->ex[f])
            ok = ok && (sp->feat[f] = malloc((size_t)(sp->n * job->ex[f]->per_image) * sizeof(float)));
    if (job->raw)
        ok = ok && (sp->feat[FEAT_RAW] = malloc((size_t)(sp->n * raw_dim) * sizeof(float)));
    if (!ok) {
        free(x);
        return dc_error(DC_ERR_NOMEM, "k-NN features of %lld %s images", (long long)sp->n, sp->what);
    }
    double t0 = now_seconds(), c0 = cpu_seconds();
    dc_status s = DC_OK;
    for (int64_t b0 = 0; s == DC_OK && b0 < sp->n; b0 += batch) {
        int64_t nb = sp->n - b0 < batch ? sp->n - b0 : batch;
        par_error err = {DC_OK, ""};
        double tp = now_seconds();
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt)
        for (int64_t i = 0; i < nb; i++) {
            float *raw = job->raw ? sp->feat[FEAT_RAW] + (b0 + i) * raw_dim : NULL;
            dc_status si = prepare_image(job, sp, b0 + i, x + i * per, raw);
            if (si != DC_OK)
                par_fail(&err, si);
        }
        if ((s = par_status(&err)) != DC_OK)
            break;
        memset(x + nb * per, 0, (size_t)((batch - nb) * per) * sizeof *x); /* padding images */
        job->seconds_prepare += now_seconds() - tp;
        for (int f = 0; s == DC_OK && f < 2; f++) {
            dc_backbone_features *e = job->ex[f];
            if (!e)
                continue;
            double tf = now_seconds();
            memcpy(e->images, x, (size_t)(batch * per) * sizeof *x);
            if ((s = dc_backbone_features_run(e)) == DC_OK)
                memcpy(sp->feat[f] + b0 * e->per_image, e->out,
                       (size_t)(nb * e->per_image) * sizeof(float));
            job->seconds_forward[f] += now_seconds() - tf;
        }
    }
    free(x);
    double dt = now_seconds() - t0, dc = cpu_seconds() - c0;
    job->seconds_cpu += dc;
    if (s == DC_OK && job->log)
        fprintf(job->log, "knn: %s features of %lld images in %.1f s, %.1f s CPU (%.0f images/s, "
                "%.0f per CPU second; loading and transform %.1f s, forward %.1f s)\n", sp->what,
                (long long)sp->n, dt, dc, dt > 0 ? (double)sp->n / dt : 0.0,
                dc > 0 ? (double)sp->n / dc : 0.0, job->seconds_prepare, job->seconds_forward[0]);
    return s;
}

/* Top-1 of one kind of features (normalised in place). */
static dc_status vote(const knn_job *job, knn_split *train, knn_split *test, int f, int64_t dim,
                      int n_classes, int k, float temperature, double *top1)
{
    double t0 = now_seconds();
    dc_knn_normalize(train->feat[f], train->n, dim);
    dc_knn_normalize(test->feat[f], test->n, dim);
    int *pred = malloc((size_t)test->n * sizeof *pred);
    if (!pred)
        return dc_error(DC_ERR_NOMEM, "k-NN predictions");
    dc_status s = dc_knn_classify(train->feat[f], train->labels, train->n, test->feat[f], test->n,
                                  dim, n_classes, k, temperature, job->threads, pred);
    int64_t correct = 0;
    for (int64_t i = 0; s == DC_OK && i < test->n; i++)
        correct += pred[i] == test->labels[i];
    free(pred);
    if (s != DC_OK)
        return dc_error_context(s, "k-NN vote on %s features", feat_names[f]);
    *top1 = (double)correct / (double)test->n;
    if (job->log)
        fprintf(job->log, "knn: %s (%lld dims): top-1 %.4f, vote in %.1f s\n", feat_names[f],
                (long long)dim, *top1, now_seconds() - t0);
    return DC_OK;
}

/* Takes the checkpoint (may be NULL) and frees it once the teacher is compiled. */
static dc_status evaluate(const dc_dinov2_config *c, dc_safetensors *ckpt, const char *path,
                          const char *train_dir, const char *test_dir, const dc_knn_options *opt,
                          dc_knn_result *out)
{
    knn_job job = {.config = c, .raw = opt->baselines, .threads = opt->threads, .log = opt->log,
                   .features = opt->features_given ? opt->features : c->knn_features};
    job.batch = opt->batch_size > 0 ? opt->batch_size : DEFAULT_BATCH;
    int k = opt->k > 0 ? opt->k : DEFAULT_K;
    float temperature = opt->temperature > 0 ? opt->temperature : DEFAULT_TEMPERATURE;
    dc_config_normalization(c, job.mean, job.std);
    int C = c->vit.in_chans;
    job.raw_size = c->vit.image_size;
    while (job.raw_size > 1 && (int64_t)C * job.raw_size * job.raw_size > RAW_MAX_VALUES)
        job.raw_size--;
    if (C != 1 && C != 3) {
        dc_safetensors_destroy(ckpt);
        return dc_error(DC_ERR_UNSUPPORTED, "config '%s': vit.in_chans %d; k-NN evaluates 1- or "
                        "3-channel images", c->name, C);
    }

    dc_backbone_features ex[2] = {{0}};
    knn_split train = {.what = "train"}, test = {.what = "test"};
    dc_status s = DC_OK;
    s = split_open(&train, train_dir, "train", opt->max_train);
    if (s == DC_OK)
        s = split_open(&test, test_dir, "test", opt->max_test);
    if (s == DC_OK) { /* no larger batch than the larger split */
        int64_t most = train.n > test.n ? train.n : test.n;
        job.batch = most < job.batch ? (int)most : job.batch;
    }
    if (s == DC_OK && ckpt &&
        (s = dc_backbone_features_create(c, ckpt, path, TEACHER_PREFIX, job.batch,
                                         (dc_backbone_output)job.features, opt->threads,
                                         &ex[0])) == DC_OK)
        job.ex[FEAT_TEACHER] = &ex[0];
    dc_safetensors_destroy(ckpt); /* a training checkpoint holds much more than the teacher */
    if (s == DC_OK && opt->baselines &&
        (s = dc_backbone_features_create(c, NULL, NULL, TEACHER_PREFIX, job.batch,
                                         (dc_backbone_output)job.features, opt->threads,
                                         &ex[1])) == DC_OK)
        job.ex[FEAT_RANDOM] = &ex[1];
    if (s == DC_OK && job.log)
        fprintf(job.log, "knn: config '%s', %d px, %d channel%s; %s features (%lld dims), batch %d; "
                "%lld train and %lld test images\n", c->name, c->vit.image_size, C, C == 1 ? "" : "s",
                dc_knn_features_name(job.features), (long long)dc_knn_feature_dim(&c->vit, job.features),
                job.batch, (long long)train.n, (long long)test.n);
    if (s == DC_OK)
        s = extract(&job, &train);
    if (s == DC_OK)
        s = extract(&job, &test);
    for (int f = 0; f < 2; f++)
        dc_backbone_features_destroy(&ex[f]);
    int n_classes = 0;
    for (int64_t i = 0; s == DC_OK && i < train.n; i++)
        n_classes = train.labels[i] >= n_classes ? train.labels[i] + 1 : n_classes;
    for (int64_t i = 0; s == DC_OK && i < test.n; i++)
        n_classes = test.labels[i] >= n_classes ? test.labels[i] + 1 : n_classes;
    double *dst[N_FEAT] = {&out->top1, &out->top1_random, &out->top1_raw};
    for (int f = 0; s == DC_OK && f < N_FEAT; f++) {
        int64_t dim = f == FEAT_RAW ? (int64_t)C * job.raw_size * job.raw_size
                                    : dc_knn_feature_dim(&c->vit, job.features);
        if (train.feat[f])
            s = vote(&job, &train, &test, f, dim, n_classes, k, temperature, dst[f]);
    }
    out->n_train = train.n;
    out->n_test = test.n;
    out->features = job.features;
    double teacher_seconds = job.seconds_prepare + job.seconds_forward[FEAT_TEACHER];
    if (job.ex[FEAT_TEACHER] && teacher_seconds > 0)
        out->images_per_second = (double)(train.n + test.n) / teacher_seconds;
    if (job.ex[FEAT_TEACHER] && !job.ex[FEAT_RANDOM] && job.seconds_cpu > 0)
        out->images_per_cpu_second = (double)(train.n + test.n) / job.seconds_cpu;
    split_free(&train);
    split_free(&test);
    return s;
}

dc_status dc_knn_evaluate_opts(const char *checkpoint, const char *train_dir, const char *test_dir,
                               const dc_knn_options *opt, dc_knn_result *out)
{
    static const dc_knn_options defaults = {0};
    opt = opt ? opt : &defaults;
    *out = (dc_knn_result){.top1 = -1, .top1_raw = -1, .top1_random = -1};
    if (!train_dir || !test_dir)
        return dc_error(DC_ERR_INVALID, "k-NN: a train and a test dataset are needed");
    if (!checkpoint) {
        if (!opt->config)
            return dc_error(DC_ERR_INVALID, "k-NN: neither a checkpoint nor a config");
        DC_TRY(dc_vit_check_config(&opt->config->vit));
        dc_knn_options baselines = *opt;
        baselines.baselines = true;
        return evaluate(opt->config, NULL, NULL, train_dir, test_dir, &baselines, out);
    }
    dc_safetensors *ckpt;
    DC_TRY(dc_safetensors_load(checkpoint, &ckpt));
    dc_dinov2_config c;
    dc_status s = dc_config_of_checkpoint(ckpt, &c);
    if (s != DC_OK) {
        dc_safetensors_destroy(ckpt);
        return dc_error_context(s, "%s", checkpoint);
    }
    if (opt->log) {
        const char *step = dc_safetensors_meta(ckpt, "step");
        fprintf(opt->log, "knn: %s (step %s)\n", checkpoint, step ? step : "?");
    }
    return evaluate(&c, ckpt, checkpoint, train_dir, test_dir, opt, out);
}

dc_status dc_knn_evaluate(const char *checkpoint, const char *train_dir, const char *test_dir,
                          bool baselines, int threads, dc_knn_result *out)
{
    dc_knn_options opt = {.baselines = baselines, .threads = threads};
    return dc_knn_evaluate_opts(checkpoint, train_dir, test_dir, &opt, out);
}
