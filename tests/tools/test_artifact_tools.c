/* Shared-object artifacts through the programs:
 *   - build/dinort links libdinort alone: ldd lists oneDNN and neither LLVM,
 *     protobuf-c nor libyaml; its help, usage errors and one-line failures;
 *   - `dinort run` and `dinoc run` on a .so made at test time
 *     (artifact_fixture.h), inputs and outputs as .npy and safetensors;
 *   - `dinoc train STEP.so` trains exactly as `dinoc train STEP.dnc` does
 *     from the same plan (a .so holding a plan without generated kernels);
 *   - `dinort train STEP.so` (a step with generated kernels) gives the losses
 *     and checkpoints of `dinoc train STEP.so`, bit for bit: the same loop
 *     (tools/train/) runs the same kernels on the same batches; a resumed
 *     dinort run ends where an uninterrupted one does; its failures (missing
 *     data, an artifact that is not a training step, a corrupt one, gradient
 *     accumulation) are one line each;
 *   - end to end through the code generator: tests/models/tiny_vit.onnx
 *     compiled to a .so for x86-64-v2 runs in dinort and matches PyTorch. */
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "artifact_fixture.h"
#include "dc_artifact.h"
#include "dc_npy.h"
#include "dc_safetensors.h"
#include "test_util.h"
#include "train_config.h"

extern char **environ;

static char root[64];

enum { MAX_OUTPUT = 16384 };

typedef struct proc_result {
    int status; /* exit code, or -1 */
    char out[MAX_OUTPUT], err[MAX_OUTPUT];
} proc_result;

static void slurp(const char *path, char *buf)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, MAX_OUTPUT - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs `argv` (argv[0] the program's path), stdout and stderr kept apart. */
static void run(proc_result *r, const char *const *argv)
{
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/stdout", root);
    snprintf(err_path, sizeof err_path, "%s/stderr", root);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int wstatus = 0;
    r->status = -1;
    if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) == 0 &&
        waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus))
        r->status = WEXITSTATUS(wstatus);
    posix_spawn_file_actions_destroy(&fa);
    slurp(out_path, r->out);
    slurp(err_path, r->err);
}

#define RUN(r, ...) run((r), (const char *const[]){__VA_ARGS__, NULL})

static void in_root(char *buf, size_t cap, const char *leaf)
{
    snprintf(buf, cap, "%s/%s", root, leaf);
}

static int suite_init(void)
{
    snprintf(root, sizeof root, "/tmp/dinoc_artifact_tools_XXXXXX");
    return mkdtemp(root) ? 0 : 1;
}

static int suite_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}

/* ---- the lean program ---- */

static void test_dinort_links_runtime_only(void)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "ldd '%s'", DINORT_BINARY);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    int dnnl = 0, forbidden = 0;
    while (fgets(line, sizeof line, p)) {
        dnnl += strstr(line, "libdnnl") != NULL;
        if (strstr(line, "libLLVM") || strstr(line, "libprotobuf-c") || strstr(line, "libyaml")) {
            fprintf(stderr, "\n    dinort needs %s", line);
            forbidden++;
        }
    }
    CU_ASSERT_EQUAL(pclose(p), 0);
    CU_ASSERT_EQUAL(dnnl, 1);
    CU_ASSERT_EQUAL(forbidden, 0);
}

static void test_dinort_help_and_usage(void)
{
    proc_result *r = malloc(sizeof *r);
    RUN(r, DINORT_BINARY, "--help");
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out, "dinort run STEP.so"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out, "dinort train STEP.so"));
    RUN(r, DINORT_BINARY, "version");
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out, "artifact ABI dinoc-artifact-1"));
    RUN(r, DINORT_BINARY, "run", "--help");
    CU_ASSERT_EQUAL(r->status, 0);
    const char *const bad[][7] = {
        {DINORT_BINARY, NULL},
        {DINORT_BINARY, "frobnicate", NULL},
        {DINORT_BINARY, "run", NULL},
        {DINORT_BINARY, "run", "x.so", NULL},             /* no -o */
        {DINORT_BINARY, "run", "x.so", "--steps"},        /* no value */
        {DINORT_BINARY, "train", NULL},
        {DINORT_BINARY, "train", "x.so", NULL},           /* no --out */
        {DINORT_BINARY, "train", "x.so", "--out", "d", "--seed"}, /* no value */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        run(r, bad[i]);
        CU_ASSERT_EQUAL(r->status, 2);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->err, "usage"));
        CU_ASSERT_EQUAL(r->out[0], '\0');
    }
    RUN(r, DINORT_BINARY, "run", "x.so", "-o", "d", "--steps", "0");
    CU_ASSERT_EQUAL(r->status, 2);
    free(r);
}

/* x for the fixture: 37x5, a few sign changes. */
static dc_tensor *fixture_input(void)
{
    dc_tensor *x;
    const int64_t dims[2] = {FIX_ROWS, FIX_COLS};
    if (dc_tensor_create(&x, "x", DC_F32, 2, dims) != DC_OK)
        return NULL;
    float *d = x->data;
    for (int i = 0; i < FIX_ROWS * FIX_COLS; i++)
        d[i] = (float)((i * 7) % 13) - 6.5f;
    return x;
}

/* y = relu(x + w), exactly. */
static void check_output(const dc_tensor *x, const dc_tensor *y)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(y->dtype, DC_F32);
    CU_ASSERT_EQUAL(y->rank, 2);
    CU_ASSERT_EQUAL(y->nbytes, x->nbytes);
    if (y->nbytes != x->nbytes)
        return;
    const float *xd = x->data, *yd = y->data;
    int bad = 0;
    for (int i = 0; i < FIX_ROWS * FIX_COLS; i++) {
        float want = xd[i] + fixture_w[i % FIX_COLS];
        bad += yd[i] != (want > 0 ? want : 0);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_run_shared_object(void)
{
    char so[128], npy[128], st_in[128], dir[128], path[192];
    in_root(so, sizeof so, "add_relu.so");
    in_root(npy, sizeof npy, "x.npy");
    in_root(st_in, sizeof st_in, "in.safetensors");
    CU_ASSERT_EQUAL_FATAL(fixture_build(so, &(fixture_options){.features = "sse2"}), 0);
    dc_tensor *x = fixture_input();
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    DC_ASSERT_OK(dc_npy_save(x, npy));
    DC_ASSERT_OK(dc_safetensors_save(st_in, &x, 1, NULL, NULL, 0));
    proc_result *r = malloc(sizeof *r);
    char spec[160];
    snprintf(spec, sizeof spec, "x=%s", npy);

    /* dinort, .npy in and out, two threads. */
    in_root(dir, sizeof dir, "out_dinort");
    RUN(r, DINORT_BINARY, "run", so, "-i", spec, "-o", dir, "--threads", "2");
    CU_ASSERT_EQUAL(r->status, 0);
    if (r->status)
        fprintf(stderr, "\n    %s", r->err);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    dc_tensor *y = NULL;
    DC_ASSERT_OK(dc_npy_load(path, &y));
    check_output(x, y);
    dc_tensor_destroy(y);

    /* dinort, every input from a safetensors file, outputs into one. */
    in_root(dir, sizeof dir, "out_dinort_st");
    RUN(r, DINORT_BINARY, "run", so, "-i", st_in, "-o", dir, "--safetensors", "--threads", "1");
    CU_ASSERT_EQUAL(r->status, 0);
    snprintf(path, sizeof path, "%s/outputs.safetensors", dir);
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    if (st)
        check_output(x, dc_safetensors_get(st, "y"));
    dc_safetensors_destroy(st);

    /* dinoc run takes the same artifact. */
    in_root(dir, sizeof dir, "out_dinoc");
    RUN(r, DINOC_BINARY, "run", so, "-i", spec, "-o", dir, "--npy", "--threads", "1");
    CU_ASSERT_EQUAL(r->status, 0);
    if (r->status)
        fprintf(stderr, "\n    %s", r->err);
    snprintf(path, sizeof path, "%s/y.npy", dir);
    y = NULL;
    DC_ASSERT_OK(dc_npy_load(path, &y));
    check_output(x, y);
    dc_tensor_destroy(y);

    /* Failures: one line each, exit 1. */
    in_root(dir, sizeof dir, "out_fail");
    RUN(r, DINORT_BINARY, "run", so, "-o", dir);
    CU_ASSERT_EQUAL(r->status, 1);
    CU_ASSERT_STRING_EQUAL(r->err, "dinort run: input 'x' is missing\n");
    RUN(r, DINORT_BINARY, "run", npy, "-i", spec, "-o", dir);
    CU_ASSERT_EQUAL(r->status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, "not a dinoc artifact"));
    CU_ASSERT_PTR_EQUAL(strchr(r->err, '\n'), r->err + strlen(r->err) - 1); /* one line */
    snprintf(spec, sizeof spec, "x=%s", st_in);
    RUN(r, DINORT_BINARY, "run", so, "-i", spec, "-i", st_in, "-o", dir);
    CU_ASSERT_EQUAL(r->status, 1);
    CU_ASSERT_STRING_EQUAL(r->err, "dinort run: input 'x' is given twice\n");
    free(r);
    dc_tensor_destroy(x);
}

/* ---- training from a shared object ---- */

/* IDX images of simple shapes (train split), n of them, 16x16. */
static int write_idx(const char *dir, int n)
{
    mkdir(dir, 0777);
    char path[256];
    uint8_t head[16] = {0, 0, 8, 3}, lhead[8] = {0, 0, 8, 1};
    for (int k = 0; k < 4; k++) {
        head[4 + k] = lhead[4 + k] = (uint8_t)((uint32_t)n >> (24 - 8 * k));
        head[8 + k] = head[12 + k] = (uint8_t)(16u >> (24 - 8 * k));
    }
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(head, 1, sizeof head, f);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < 256; p++)
            fputc((p % 16 + p / 16 * (i % 3) + 29 * i) % 256, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    if (!(f = fopen(path, "wb")))
        return 0;
    fwrite(lhead, 1, sizeof lhead, f);
    for (int i = 0; i < n; i++)
        fputc(i % 3, f);
    fclose(f);
    return 1;
}

static void test_train_shared_object(void)
{
    char data[128], dnc[128], so[128], out_dnc[128], out_so[128];
    in_root(data, sizeof data, "idx");
    in_root(dnc, sizeof dnc, "tiny.dnc");
    in_root(so, sizeof so, "tiny.so");
    in_root(out_dnc, sizeof out_dnc, "train_dnc");
    in_root(out_so, sizeof out_so, "train_so");
    CU_ASSERT_FATAL(write_idx(data, 24));
    proc_result *r = malloc(sizeof *r);
    RUN(r, DINOC_BINARY, "compile", "--config", "test-tiny", "vit.in_chans=1", "epoch_length=3",
        "-o", dnc);
    CU_ASSERT_EQUAL(r->status, 0);
    if (r->status)
        fprintf(stderr, "\n    %s", r->err);
    free(r);
    CU_ASSERT_EQUAL_FATAL(fixture_build(so, &(fixture_options){.plan_file = dnc}), 0);

    dc_train_result res[2];
    const char *steps[2] = {dnc, so}, *outs[2] = {out_dnc, out_so};
    for (int i = 0; i < 2; i++) {
        dc_train_options o = {.config = steps[i], .data = data, .steps = 4, .out_dir = outs[i],
                              .threads = 1, .seed = 5, .seed_set = true,
                              .progress = DC_PROGRESS_NONE, .version = "test"};
        DC_ASSERT_OK(dc_train(&o, &res[i]));
        CU_ASSERT_EQUAL(res[i].steps_done, 4);
    }
    CU_ASSERT(res[0].loss > 0);
    CU_ASSERT_EQUAL(res[0].loss, res[1].loss);
    CU_ASSERT_EQUAL(res[0].dino_loss, res[1].dino_loss);
    CU_ASSERT_EQUAL(res[0].ibot_loss, res[1].ibot_loss);

    /* The same state after the same steps, tensor for tensor. */
    dc_safetensors *ck[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        char path[192];
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", outs[i]);
        DC_ASSERT_OK(dc_safetensors_load(path, &ck[i]));
    }
    if (ck[0] && ck[1]) {
        CU_ASSERT_EQUAL(ck[0]->n_tensors, ck[1]->n_tensors);
        int differ = 0;
        for (int t = 0; t < ck[0]->n_tensors; t++) {
            const dc_tensor *a = ck[0]->tensors[t], *b = dc_safetensors_get(ck[1], a->name);
            differ += !b || a->nbytes != b->nbytes || memcmp(a->data, b->data, a->nbytes) != 0;
        }
        CU_ASSERT_EQUAL(differ, 0);
        CU_ASSERT(ck[0]->n_tensors > 10);
    }
    dc_safetensors_destroy(ck[0]);
    dc_safetensors_destroy(ck[1]);

    /* Resuming the .so run continues it. */
    dc_train_options o = {.config = so, .out_dir = out_so, .resume = true, .steps = 6,
                          .threads = 1, .progress = DC_PROGRESS_NONE, .version = "test"};
    dc_train_result more;
    DC_ASSERT_OK(dc_train(&o, &more));
    CU_ASSERT_EQUAL(more.steps_done, 6);
}

/* metrics.csv without its last column (images/s, which depends on timing). */
static void metrics_without_rate(const char *dir, char *out, size_t cap)
{
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    size_t used = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *comma = strrchr(line, ',');
        if (comma)
            *comma = '\0';
        used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s\n", line);
    }
    if (f)
        fclose(f);
}

/* Both checkpoints hold the same tensors, byte for byte, and the same
 * metadata (but the program's version). */
static void check_same_checkpoint(const char *dir_a, const char *dir_b)
{
    dc_safetensors *ck[2] = {NULL, NULL};
    const char *dirs[2] = {dir_a, dir_b};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/checkpoint.safetensors", dirs[i]);
        DC_ASSERT_OK(dc_safetensors_load(path, &ck[i]));
    }
    if (ck[0] && ck[1]) {
        CU_ASSERT(ck[0]->n_tensors > 10);
        CU_ASSERT_EQUAL(ck[0]->n_tensors, ck[1]->n_tensors);
        int differ = 0;
        for (int t = 0; t < ck[0]->n_tensors; t++) {
            const dc_tensor *a = ck[0]->tensors[t], *b = dc_safetensors_get(ck[1], a->name);
            differ += !b || a->nbytes != b->nbytes || memcmp(a->data, b->data, a->nbytes) != 0;
        }
        CU_ASSERT_EQUAL(differ, 0);
        CU_ASSERT_EQUAL(ck[0]->n_meta, ck[1]->n_meta);
        for (int m = 0; m < ck[0]->n_meta; m++) {
            if (strcmp(ck[0]->meta_keys[m], "dinoc_version") == 0)
                continue;
            const char *other = dc_safetensors_meta(ck[1], ck[0]->meta_keys[m]);
            CU_ASSERT_STRING_EQUAL(other ? other : "(none)", ck[0]->meta_values[m]);
        }
    }
    dc_safetensors_destroy(ck[0]);
    dc_safetensors_destroy(ck[1]);
}

/* A one-line failure (exit 1) of `dinort train` whose message holds `needle`. */
static void expect_train_failure(proc_result *r, const char *needle)
{
    CU_ASSERT_EQUAL(r->status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, "dinort train: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->err, needle));
    CU_ASSERT_PTR_EQUAL(strchr(r->err, '\n'), r->err + strlen(r->err) - 1);
    if (r->status != 1 || !strstr(r->err, needle))
        fprintf(stderr, "\n    expected '%s', got (%d) %s", needle, r->status, r->err);
}

static void test_dinort_train(void)
{
    char data[128], so[128], out_dinoc[128], out_dinort[128], out_whole[128], out_resumed[128];
    in_root(data, sizeof data, "idx_rt");
    in_root(so, sizeof so, "tiny_gen.so");
    in_root(out_dinoc, sizeof out_dinoc, "train_dinoc");
    in_root(out_dinort, sizeof out_dinort, "train_dinort");
    in_root(out_whole, sizeof out_whole, "train_dinort_whole");
    in_root(out_resumed, sizeof out_resumed, "train_dinort_resumed");
    CU_ASSERT_FATAL(write_idx(data, 24));
    proc_result *r = malloc(sizeof *r);
    RUN(r, DINOC_BINARY, "compile", "--config", "test-tiny", "vit.in_chans=1", "epoch_length=3",
        "-o", so);
    CU_ASSERT_EQUAL_FATAL(r->status, 0);

    /* Four steps each way. */
    RUN(r, DINOC_BINARY, "train", so, "--data", data, "--steps", "4", "--out", out_dinoc,
        "--threads", "1", "--seed", "5", "--progress", "none", "--no-plot", "--no-knn");
    CU_ASSERT_EQUAL(r->status, 0);
    RUN(r, DINORT_BINARY, "train", so, "--data", data, "--steps", "4", "--out", out_dinort,
        "--threads", "1", "--seed", "5", "--progress", "none", "--no-plot");
    CU_ASSERT_EQUAL(r->status, 0);
    if (r->status)
        fprintf(stderr, "\n    %s", r->err);
    enum { CSV = 4096 };
    char *csv = malloc(4 * CSV), *csv_b = csv + CSV, *csv_c = csv + 2 * CSV;
    metrics_without_rate(out_dinoc, csv, CSV);
    metrics_without_rate(out_dinort, csv_b, CSV);
    CU_ASSERT_PTR_NOT_NULL(strstr(csv, "\n3,1,"));
    CU_ASSERT_STRING_EQUAL(csv, csv_b);
    check_same_checkpoint(out_dinoc, out_dinort);

    /* dinort extends its run to six steps. */
    RUN(r, DINORT_BINARY, "train", so, "--out", out_dinort, "--resume", "--steps", "6",
        "--threads", "1", "--progress", "none", "--no-plot");
    CU_ASSERT_EQUAL(r->status, 0);
    metrics_without_rate(out_dinort, csv_b, CSV);
    CU_ASSERT_PTR_NOT_NULL(strstr(csv_b, "\n5,1,"));

    /* dinort's loop (no compiler) stopped after step 4 of 6 and resumed ends
     * where dinort's uninterrupted run does: the schedules span the same
     * six steps, the batches are functions of (seed, step). */
    RUN(r, DINORT_BINARY, "train", so, "--data", data, "--steps", "6", "--out", out_whole,
        "--threads", "1", "--seed", "5", "--progress", "none", "--no-plot");
    CU_ASSERT_EQUAL(r->status, 0);
    dc_train_options o = {.config = so, .data = data, .steps = 6, .out_dir = out_resumed,
                          .threads = 1, .seed = 5, .seed_set = true,
                          .progress = DC_PROGRESS_NONE, .stop_after_step = 4};
    dc_train_result res;
    DC_ASSERT_OK(dc_train_run(&o, NULL, &res));
    CU_ASSERT(res.interrupted);
    CU_ASSERT_EQUAL(res.steps_done, 4);
    o = (dc_train_options){.config = so, .out_dir = out_resumed, .resume = true, .threads = 1,
                           .progress = DC_PROGRESS_NONE};
    DC_ASSERT_OK(dc_train_run(&o, NULL, &res));
    CU_ASSERT_EQUAL(res.steps_done, 6);
    metrics_without_rate(out_whole, csv_b, CSV);
    metrics_without_rate(out_resumed, csv_c, CSV);
    CU_ASSERT_PTR_NOT_NULL(strstr(csv_c, "\n5,1,"));
    CU_ASSERT_STRING_EQUAL(csv_b, csv_c);
    check_same_checkpoint(out_whole, out_resumed);

    /* Failures, one line each. */
    char dir[128], path[160], plain[128], bad[128], acc[128];
    in_root(dir, sizeof dir, "train_fail");
    RUN(r, DINORT_BINARY, "train", so, "--data", "/nonexistent/idx", "--out", dir, "--progress", "none");
    expect_train_failure(r, "/nonexistent/idx");
    in_root(plain, sizeof plain, "plain.dnc");
    dc_plan *p = fixture_plan(false);
    DC_ASSERT_OK(dc_plan_write(p, plain));
    dc_plan_destroy(p);
    RUN(r, DINORT_BINARY, "train", plain, "--data", data, "--out", dir, "--progress", "none");
    expect_train_failure(r, "not a DINOv2 training step");
    in_root(bad, sizeof bad, "cut.so");
    size_t size = 0;
    uint8_t *bytes = fixture_read(so, &size);
    FILE *f = fopen(bad, "wb");
    CU_ASSERT_FATAL(bytes && f);
    fwrite(bytes, 1, size / 2, f); /* a copy cut in half */
    fclose(f);
    free(bytes);
    RUN(r, DINORT_BINARY, "train", bad, "--data", data, "--out", dir, "--progress", "none");
    expect_train_failure(r, "cut.so");
    RUN(r, DINORT_BINARY, "train", data, "--data", data, "--out", dir, "--progress", "none");
    expect_train_failure(r, "idx_rt");
    in_root(acc, sizeof acc, "accum.dnc");
    RUN(r, DINOC_BINARY, "compile", "--config", "test-tiny", "vit.in_chans=1", "grad_accum_steps=2",
        "-o", acc);
    CU_ASSERT_EQUAL(r->status, 0);
    RUN(r, DINORT_BINARY, "train", acc, "--data", data, "--out", dir, "--progress", "none");
    expect_train_failure(r, "gradient accumulation");
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    CU_ASSERT_NOT_EQUAL(access(path, F_OK), 0); /* none of them trained */
    free(csv);
    free(r);
}

/* dinoc compile -o X.so (LLVM kernels, x86-64-v2 so any x86-64 CPU of the
 * last decade runs it), then dinort alone runs it: PyTorch's logits. */
static void test_generated_end_to_end(void)
{
    char so[128], dir[128], model[512], input[512], want_path[512], spec[600], got_path[192];
    in_root(so, sizeof so, "tiny_vit.so");
    in_root(dir, sizeof dir, "tiny_vit_out");
    snprintf(model, sizeof model, "%s/tests/models/tiny_vit.onnx", DINOC_SOURCE_DIR);
    snprintf(input, sizeof input, "%s/tests/models/tiny_vit_input.npy", DINOC_SOURCE_DIR);
    snprintf(want_path, sizeof want_path, "%s/tests/models/tiny_vit_output.npy", DINOC_SOURCE_DIR);
    snprintf(spec, sizeof spec, "pixels=%s", input);
    proc_result *r = malloc(sizeof *r);
    RUN(r, DINOC_BINARY, "compile", model, "-o", so, "--target", "x86-64-v2");
    CU_ASSERT_EQUAL(r->status, 0);
    if (r->status)
        fprintf(stderr, "\n    %s", r->err);
    dc_artifact *a = NULL;
    DC_ASSERT_OK(dc_artifact_open(so, &a));
    int generated = 0;
    for (int i = 0; a && i < dc_artifact_plan(a)->n_steps; i++)
        generated += strncmp(dc_artifact_plan(a)->steps[i].kernel, "llvm.", 5) == 0;
    CU_ASSERT(generated > 0);
    CU_ASSERT_STRING_EQUAL(a ? dc_artifact_target(a) : "", "x86-64-v2");
    dc_artifact_close(a);

    RUN(r, DINORT_BINARY, "run", so, "-i", spec, "-o", dir, "--threads", "2");
    CU_ASSERT_EQUAL(r->status, 0);
    if (r->status)
        fprintf(stderr, "\n    %s", r->err);
    snprintf(got_path, sizeof got_path, "%s/logits.npy", dir);
    dc_tensor *got = NULL, *want = NULL;
    DC_ASSERT_OK(dc_npy_load(got_path, &got));
    DC_ASSERT_OK(dc_npy_load(want_path, &want));
    if (got && want) {
        CU_ASSERT_EQUAL_FATAL(got->nbytes, want->nbytes);
        double worst = 0;
        for (size_t i = 0; i < got->nbytes / 4; i++) {
            double d = fabs((double)((float *)got->data)[i] - (double)((float *)want->data)[i]);
            worst = d > worst ? d : worst;
        }
        CU_ASSERT(worst < 1e-4);
    }
    dc_tensor_destroy(got);
    dc_tensor_destroy(want);
    free(r);
}

void register_tools_artifact(void)
{
    static const dc_test_case tests[] = {
        {"dinort_links_runtime_only", test_dinort_links_runtime_only},
        {"dinort_help_and_usage", test_dinort_help_and_usage},
        {"run_shared_object", test_run_shared_object},
        {"train_shared_object", test_train_shared_object},
        {"dinort_train", test_dinort_train},
        {"generated_end_to_end", test_generated_end_to_end},
        {NULL, NULL},
    };
    CU_pSuite s = CU_add_suite("tools_artifact", suite_init, suite_cleanup);
    for (const dc_test_case *t = tests; s && t->name; t++)
        CU_add_test(s, t->name, t->fn);
}
