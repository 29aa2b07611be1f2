/* Data-parallel training and gradient accumulation, end to end: `dinoc train`
 * on 1 process, on 1 process with grad_accum_steps=2, and on 2 processes
 * under mpirun (one thread each, the all-reduce overlapping the backward)
 * must train the same model (graphs/dinov2.h, the slices of a batch). Needs
 * mpirun; without it the MPI cases say so and pass nothing. Also `dinoc
 * compile --ranks`, which needs no mpirun. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dc_plan.h"
#include "dc_safetensors.h"
#include "test_util.h"

enum { N_IMAGES = 48, IMAGE = 16, STEPS = 5 };

static char root[64], data_dir[128], mpirun[512];

static int write_file(const char *dir, const char *name, const void *a, size_t na, const void *b,
                      size_t nb)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(a, 1, na, f) == na && fwrite(b, 1, nb, f) == nb;
    return fclose(f) == 0 && ok;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* IDX images of varied patterns: distinct enough for every loss term to move. */
static int write_idx(const char *dir)
{
    mkdir(dir, 0777);
    uint8_t head[16], lhead[8];
    be32(head, 0x803), be32(head + 4, N_IMAGES), be32(head + 8, IMAGE), be32(head + 12, IMAGE);
    be32(lhead, 0x801), be32(lhead + 4, N_IMAGES);
    static uint8_t px[N_IMAGES * IMAGE * IMAGE], labels[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) {
        labels[i] = (uint8_t)(i % 3);
        for (int y = 0; y < IMAGE; y++)
            for (int x = 0; x < IMAGE; x++)
                px[(i * IMAGE + y) * IMAGE + x] =
                    (uint8_t)((i % 3 == 0 ? (x + y) * 8 : i % 3 == 1 ? ((x / 4 + y / 4) % 2) * 255
                                                                     : (y % 4 < 2) * 200) +
                              37 * i);
    }
    return write_file(dir, "train-images-idx3-ubyte", head, sizeof head, px, sizeof px) &&
           write_file(dir, "train-labels-idx1-ubyte", lhead, sizeof lhead, labels, sizeof labels);
}

/* mpirun on the PATH, into `mpirun`; false when there is none. */
static bool find_mpirun(void)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", path ? path : "/usr/bin");
    for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(mpirun, sizeof mpirun, "%s/mpirun", d);
        if (access(mpirun, X_OK) == 0)
            return true;
    }
    mpirun[0] = 0;
    return false;
}

static int suite_init(void)
{
    snprintf(root, sizeof root, "/tmp/dinoc_mpi_XXXXXX");
    if (!mkdtemp(root))
        return 1;
    snprintf(data_dir, sizeof data_dir, "%s/idx", root);
    find_mpirun();
    return write_idx(data_dir) ? 0 : 1;
}

static int suite_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}

static bool have_mpirun(const char *test)
{
    if (!mpirun[0])
        fprintf(stderr, "\n    %s: skipped, no mpirun on the PATH (install openmpi-bin)", test);
    return mpirun[0] != 0;
}

/* `dinoc train` of test-tiny (one channel, batch 4, no KoLeo unless an
 * override says so) into root/<out> on `ranks` processes (0: without
 * mpirun), with extra arguments; returns the exit status. Output goes to
 * root/<out>.log. */
static int train(const char *out, int ranks, const char *const *extra, int n_extra)
{
    const char *argv[64];
    int n = 0;
    char np[16];
    snprintf(np, sizeof np, "%d", ranks);
    if (ranks > 0) {
        const char *launch[] = {mpirun, "--allow-run-as-root", "--oversubscribe", "-np", np, "-x",
                                "OMP_NUM_THREADS=1", "-x", "LSAN_OPTIONS", "-x",
                                "OMPI_MCA_mca_base_component_disable_dlclose", "-x",
                                "PMIX_MCA_mca_base_component_disable_dlclose"};
        for (size_t i = 0; i < sizeof launch / sizeof *launch; i++)
            argv[n++] = launch[i];
    }
    char dir[256], log[300];
    snprintf(dir, sizeof dir, "%s/%s", root, out);
    snprintf(log, sizeof log, "%s/%s.log", root, out);
    const char *args[] = {DINOC_BINARY, "train", "--config", "test-tiny", "vit.in_chans=1",
                          "batch_size=4", "koleo_weight=0", "--data", data_dir, "--out", dir,
                          "--threads", "1", "--seed", "5", "--no-plot", "--no-knn",
                          "--progress", "none"};
    for (size_t i = 0; i < sizeof args / sizeof *args; i++)
        argv[n++] = args[i];
    for (int i = 0; i < n_extra; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("OMP_NUM_THREADS", "1", 1);
        /* In the sanitizer build: Open MPI's own allocations are not leaks of dinoc's.
         * Its plugins stay loaded to the end, so that LeakSanitizer can name them. */
        setenv("LSAN_OPTIONS",
               "suppressions=" DINOC_SOURCE_DIR "/tests/tools/mpi_lsan.supp:fast_unwind_on_malloc=0", 1);
        setenv("OMPI_MCA_mca_base_component_disable_dlclose", "1", 1);
        setenv("PMIX_MCA_mca_base_component_disable_dlclose", "1", 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0)
        fprintf(stderr, "\n    dinoc train (%s, %d ranks) exited %d; see %s", out, ranks, code, log);
    return code;
}

/* The loss terms (loss, dino, ibot, koleo) of metrics.csv's rows; returns the row count. */
static int read_losses(const char *out, double losses[][4], int max)
{
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", root, out);
    FILE *f = fopen(path, "r");
    int rows = 0;
    while (f && fgets(line, sizeof line, f))
        if (line[0] >= '0' && line[0] <= '9' && rows < max) {
            double skip[6];
            long long step;
            if (sscanf(line, "%lld,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &step, &skip[0], &skip[1],
                       &skip[2], &skip[3], &skip[4], &losses[rows][0], &losses[rows][1],
                       &losses[rows][2], &losses[rows][3]) == 10)
                rows++;
        }
    if (f)
        fclose(f);
    return rows;
}

/* Every loss term of every step within `rel` of the reference run's. */
static void check_losses(const char *want, const char *got, double rel)
{
    double a[16][4], b[16][4];
    int na = read_losses(want, a, 16), nb = read_losses(got, b, 16);
    CU_ASSERT_EQUAL(na, STEPS);
    CU_ASSERT_EQUAL(nb, STEPS);
    for (int s = 0; s < na && s < nb; s++)
        for (int k = 0; k < 4; k++) {
            bool close = fabs(a[s][k] - b[s][k]) <= rel * fabs(a[s][k]) + 1e-12;
            if (!close)
                fprintf(stderr, "\n    step %d term %d: %s %.9g, %s %.9g", s, k, want, a[s][k], got,
                        b[s][k]);
            CU_ASSERT(close);
        }
}

static dc_safetensors *load_checkpoint(const char *out)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s/checkpoint.safetensors", root, out);
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    return st;
}

/* The student parameter a checkpoint tensor belongs to (its moments, its
 * teacher copy), or NULL for the centers and the step count. */
static const char *owner_parameter(const char *name, char *buf, size_t cap)
{
    if (strncmp(name, "teacher.", 8) == 0)
        snprintf(buf, cap, "student.%s", name + 8);
    else if (strncmp(name, "student.", 8) == 0)
        snprintf(buf, cap, "%s", name);
    else
        return NULL;
    size_t n = strlen(buf);
    if (n > 11 && strcmp(buf + n - 11, ".exp_avg_sq") == 0)
        buf[n - 11] = 0;
    else if (n > 8 && strcmp(buf + n - 8, ".exp_avg") == 0)
        buf[n - 8] = 0;
    return buf;
}

/* Every f32 tensor of `got` within tol · max|want| of `want`'s, elementwise.
 * Exempt are the elements whose true gradient is zero (the attention key
 * bias: softmax ignores a constant per row): there the gradient is float32
 * rounding noise, which Adam's normalisation turns into full-size steps in
 * directions that depend on the summation order. They are found from the
 * reference run itself: an AdamW first moment at most 1e-6 of the largest
 * of its tensor. Returns the largest relative difference seen. */
static double compare_checkpoints(const char *want_dir, const char *got_dir, double tol,
                                   int64_t *exempt)
{
    dc_safetensors *want = load_checkpoint(want_dir), *got = load_checkpoint(got_dir);
    double worst = 0;
    *exempt = 0;
    for (int t = 0; want && got && t < want->n_tensors; t++) {
        const dc_tensor *a = want->tensors[t], *b = dc_safetensors_get(got, a->name);
        CU_ASSERT_PTR_NOT_NULL(b);
        if (!b || a->dtype != DC_F32)
            continue;
        CU_ASSERT_EQUAL(a->nbytes, b->nbytes);
        if (a->nbytes != b->nbytes)
            continue;
        char buf[512], moment[520];
        const char *param = owner_parameter(a->name, buf, sizeof buf);
        const dc_tensor *m = NULL;
        if (param) {
            snprintf(moment, sizeof moment, "%s.exp_avg", param);
            m = dc_safetensors_get(want, moment);
        }
        int64_t n = (int64_t)(a->nbytes / 4);
        const float *x = a->data, *y = b->data, *mx = m ? m->data : NULL;
        double scale = 0, mmax = 0;
        for (int64_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(x[i]));
            if (mx)
                mmax = fmax(mmax, fabs(mx[i]));
        }
        for (int64_t i = 0; i < n; i++) {
            if (mx && fabs(mx[i]) <= 1e-6 * mmax) {
                (*exempt)++;
                continue;
            }
            double d = fabs(x[i] - y[i]) / (scale > 0 ? scale : 1);
            if (d > tol)
                fprintf(stderr, "\n    %s[%lld]: %s %.9g, %s %.9g", a->name, (long long)i, want_dir,
                        x[i], got_dir, y[i]);
            worst = fmax(worst, d);
        }
    }
    CU_ASSERT(worst <= tol);
    dc_safetensors_destroy(want);
    dc_safetensors_destroy(got);
    return worst;
}

static const char *const five_steps[] = {"--steps", "5"};

/* 1 process × batch 4, 1 process with 2 micro-batches of 2, 2 processes × 2
 * (the gradients in one bucket, or in several of 20 KB overlapping the
 * backward): the same loss terms at every step and the same final checkpoint. */
static void test_slices_train_alike(void)
{
    const char *accum[] = {"--steps", "5", "grad_accum_steps=2"};
    CU_ASSERT_EQUAL(train("one", 0, five_steps, 2), 0);
    CU_ASSERT_EQUAL(train("accum", 0, accum, 3), 0);
    check_losses("one", "accum", 1e-5);
    int64_t exempt;
    double d = compare_checkpoints("one", "accum", 1e-4, &exempt);
    fprintf(stderr, "\n    grad_accum_steps=2: largest difference %.2g of a tensor's max (%lld "
            "elements with zero true gradient exempt)", d, (long long)exempt);
    CU_ASSERT(exempt > 0 && exempt < 10000); /* the key biases and their copies, not everything */
    if (!have_mpirun("two ranks"))
        return;
    CU_ASSERT_EQUAL(train("two", 2, five_steps, 2), 0);
    check_losses("one", "two", 1e-5);
    d = compare_checkpoints("one", "two", 1e-4, &exempt);
    fprintf(stderr, "\n    2 ranks: largest difference %.2g of a tensor's max", d);
    /* Buckets of 20 KB: several all-reduces in flight during the backward. */
    const char *small[] = {"--steps", "5", "allreduce_bucket_mb=0.02"};
    CU_ASSERT_EQUAL(train("two_buckets", 2, small, 3), 0);
    check_losses("one", "two_buckets", 1e-5);
    d = compare_checkpoints("one", "two_buckets", 1e-4, &exempt);
    fprintf(stderr, "\n    2 ranks, 20 KB buckets: largest difference %.2g of a tensor's max", d);
    const char *both[] = {"--steps", "5", "grad_accum_steps=2", "batch_size=8"};
    CU_ASSERT_EQUAL(train("two_accum", 2, both, 4), 0);
    const char *b8[] = {"--steps", "5", "batch_size=8"};
    CU_ASSERT_EQUAL(train("one_b8", 0, b8, 3), 0);
    check_losses("one_b8", "two_accum", 1e-5);
    d = compare_checkpoints("one_b8", "two_accum", 1e-4, &exempt);
    fprintf(stderr, "\n    2 ranks x 2 micro-batches: largest difference %.2g of a tensor's max", d);
}

/* masks_per_slice: each slice draws its own masks, so 2 ranks × 2 images and
 * 1 process with 2 micro-batches of 2 see the same masks and train alike;
 * their iBOT terms differ from those of the whole batch's masks. */
static void test_masks_per_slice(void)
{
    const char *whole[] = {"--steps", "5", "grad_accum_steps=2"};
    const char *accum[] = {"--steps", "5", "grad_accum_steps=2", "masks_per_slice=true"};
    CU_ASSERT_EQUAL(train("batch_masks", 0, whole, 3), 0);
    CU_ASSERT_EQUAL(train("slice_masks", 0, accum, 4), 0);
    double a[16][4], b[16][4];
    int n = read_losses("batch_masks", a, 16);
    CU_ASSERT_EQUAL(read_losses("slice_masks", b, 16), n);
    bool differ = false;
    for (int i = 0; i < n; i++)
        differ |= a[i][2] != b[i][2];
    CU_ASSERT(differ);
    if (!have_mpirun("masks per slice"))
        return;
    const char *two[] = {"--steps", "5", "masks_per_slice=true"};
    CU_ASSERT_EQUAL(train("slice_masks_two", 2, two, 3), 0);
    check_losses("slice_masks", "slice_masks_two", 1e-5);
    int64_t exempt;
    double d = compare_checkpoints("slice_masks", "slice_masks_two", 1e-4, &exempt);
    fprintf(stderr, "\n    masks per slice, 2 ranks: largest difference %.2g of a tensor's max", d);
}

/* An accumulation that does not divide the batch is refused, naming the key. */
static void test_accum_must_divide(void)
{
    const char *bad[] = {"--steps", "1", "grad_accum_steps=3"};
    CU_ASSERT_EQUAL(train("bad_accum", 0, bad, 3), 1);
    char path[256], text[4096] = {0};
    snprintf(path, sizeof path, "%s/bad_accum.log", root);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "grad_accum_steps 3"));
}

/* KoLeo stays per process: the 2-rank term is the mean of the terms of the
 * two halves of the batch. With the lr 0, no masks and no drop-path, a
 * 1-process run of batch 2 sees those halves as its steps 0 and 1 with the
 * same student backbone. */
static void test_koleo_per_rank(void)
{
    if (!have_mpirun("KoLeo per rank"))
        return;
    const char *common[] = {"koleo_weight=0.1", "lr=0",          "min_lr=0",
                            "mask_probability=0", "vit.drop_path=0", "--steps"};
    const char *two[8], *halves[8];
    memcpy(two, common, sizeof common);
    memcpy(halves, common, sizeof common);
    two[6] = "1";
    halves[6] = "2";
    halves[7] = "batch_size=2";
    CU_ASSERT_EQUAL(train("koleo_two", 2, two, 7), 0);
    CU_ASSERT_EQUAL(train("koleo_halves", 0, halves, 8), 0);
    double a[4][4], b[4][4];
    CU_ASSERT_EQUAL(read_losses("koleo_two", a, 4), 1);
    CU_ASSERT_EQUAL(read_losses("koleo_halves", b, 4), 2);
    double mean = (b[0][3] + b[1][3]) / 2;
    fprintf(stderr, "\n    KoLeo: 2 ranks %.9g, halves %.9g and %.9g", a[0][3], b[0][3], b[1][3]);
    CU_ASSERT(a[0][3] > 0);
    CU_ASSERT(fabs(a[0][3] - mean) <= 1e-5 * fabs(mean));
}

/* A 2-rank run of 3 steps, continued to 5 with --resume on 2 ranks or on 1,
 * ends where a 1-process run trained the same way does (3 steps, then
 * resumed to 5: the schedules follow the total of each invocation). */
static void test_resume_across_ranks(void)
{
    if (!have_mpirun("resume"))
        return;
    const char *three[] = {"--steps", "3"}, *resume[] = {"--steps", "5", "--resume"};
    CU_ASSERT_EQUAL(train("ref_resumed", 0, three, 2), 0);
    CU_ASSERT_EQUAL(train("ref_resumed", 0, resume, 3), 0);
    CU_ASSERT_EQUAL(train("resumed", 2, three, 2), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r '%s/resumed' '%s/resumed_one'", root, root);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL(train("resumed", 2, resume, 3), 0);
    CU_ASSERT_EQUAL(train("resumed_one", 0, resume, 3), 0);
    int64_t exempt;
    check_losses("ref_resumed", "resumed", 1e-5);
    double d = compare_checkpoints("ref_resumed", "resumed", 1e-4, &exempt);
    fprintf(stderr, "\n    resumed on 2 ranks: largest difference %.2g", d);
    check_losses("ref_resumed", "resumed_one", 1e-5);
    d = compare_checkpoints("ref_resumed", "resumed_one", 1e-4, &exempt);
    fprintf(stderr, "\n    resumed on 1 rank: largest difference %.2g", d);
}

/* The "AdamW moments per process" bytes rank 0 reports in out's log. */
static int read_moment_bytes(const char *out, double bytes[2])
{
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/%s.log", root, out);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *at = strstr(line, "AdamW moments per process");
        const char *colon = at ? strchr(at, ':') : NULL;
        if (colon && sscanf(colon + 1, "%lf %lf", &bytes[0], &bytes[1]) == 2)
            found = 1;
    }
    if (f)
        fclose(f);
    return found;
}

/* optimizer_sharding=true on 2 ranks (and buckets of 20 KB): each keeps half
 * the moments, the checkpoint is the whole state and equals the unsharded
 * run's; it resumes on 2 ranks sharded, and on 1 rank. */
static void test_sharded_optimizer(void)
{
    if (!have_mpirun("sharding"))
        return;
    const char *sharded[] = {"--steps", "5", "optimizer_sharding=true", "allreduce_bucket_mb=0.02",
                             "--progress", "lines"};
    const char *plain[] = {"--steps", "5", "--progress", "lines"};
    CU_ASSERT_EQUAL(train("sharded", 2, sharded, 6), 0);
    CU_ASSERT_EQUAL(train("replicated", 2, plain, 4), 0);
    int64_t exempt;
    double d = compare_checkpoints("replicated", "sharded", 1e-6, &exempt);
    check_losses("replicated", "sharded", 1e-6);
    double full[2] = {0, 0}, half[2] = {0, 0};
    CU_ASSERT(read_moment_bytes("replicated", full));
    CU_ASSERT(read_moment_bytes("sharded", half));
    fprintf(stderr, "\n    sharded vs replicated: largest difference %.2g; AdamW moments per rank "
            "%.0f and %.0f bytes, replicated %.0f", d, half[0], half[1], full[0]);
    CU_ASSERT(full[0] > 0 && full[0] == full[1]);
    CU_ASSERT(half[0] + half[1] == full[0]);
    CU_ASSERT(half[0] <= 0.6 * full[0] && half[1] <= 0.6 * full[0]);

    const char *three[] = {"--steps", "3", "optimizer_sharding=true"};
    const char *resume[] = {"--steps", "5", "--resume", "optimizer_sharding=true"};
    CU_ASSERT_EQUAL(train("sharded_resumed", 2, three, 3), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp -r '%s/sharded_resumed' '%s/sharded_resumed_one'", root, root);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL(train("sharded_resumed", 2, resume, 4), 0);
    CU_ASSERT_EQUAL(train("sharded_resumed_one", 0, resume, 3), 0);
    const char *ref[] = {"--steps", "3"}, *ref_resume[] = {"--steps", "5", "--resume"};
    CU_ASSERT_EQUAL(train("ref_sharded_resumed", 0, ref, 2), 0);
    CU_ASSERT_EQUAL(train("ref_sharded_resumed", 0, ref_resume, 3), 0);
    compare_checkpoints("ref_sharded_resumed", "sharded_resumed", 1e-4, &exempt);
    compare_checkpoints("ref_sharded_resumed", "sharded_resumed_one", 1e-4, &exempt);
}

/* The text of root/<name>, into buf (empty when it cannot be read). */
static void read_log(const char *name, char *buf, size_t cap)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, cap - 1, f);
        buf[n] = 0;
        fclose(f);
    }
}

/* `dinoc compile --config --ranks 2 --explain` compiles rank 0's step and
 * says where each all-reduce bucket starts and waits; a process count that
 * does not divide the batch is refused, naming both; grad_accum_steps alone
 * compiles the micro-batch's step. */
static void test_compile_ranks_explain(void)
{
    char cmd[1024], text[1 << 16];
    snprintf(cmd, sizeof cmd, "'%s' compile --config test-tiny vit.in_chans=1 batch_size=4 "
             "allreduce_bucket_mb=0.02 --ranks 2 -o '%s/r2.dnc' --explain > '%s/r2.log' 2>&1",
             DINOC_BINARY, root, root);
    CU_ASSERT_EQUAL(system(cmd), 0);
    read_log("r2.log", text, sizeof text);
    int buckets = 0;
    for (const char *p = text; (p = strstr(p, "schedule-collectives: bucket")); p++)
        buckets++;
    fprintf(stderr, "\n    --ranks 2 --explain: %d buckets", buckets);
    CU_ASSERT(buckets >= 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "wrote its last input; waits at step"));
    snprintf(cmd, sizeof cmd, "'%s' compile --config test-tiny batch_size=4 --ranks 3 -o "
             "'%s/r3.dnc' > '%s/r3.log' 2>&1", DINOC_BINARY, root, root);
    int status = system(cmd);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    read_log("r3.log", text, sizeof text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "batch_size 4 is not divisible by 3 processes"));

    /* grad_accum_steps on one process: the micro-batch's step, as `dinoc train` runs it
     * (an 'accumulate' input, 2·2 global views of batch 4), not the whole batch's. */
    snprintf(cmd, sizeof cmd, "'%s' compile --config test-tiny batch_size=4 grad_accum_steps=2 "
             "-o '%s/a2.dnc' > '%s/a2.log' 2>&1", DINOC_BINARY, root, root);
    CU_ASSERT_EQUAL(system(cmd), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/a2.dnc", root);
    dc_plan *plan = NULL;
    DC_ASSERT_OK(dc_plan_read(path, &plan));
    int accumulate = 0;
    int64_t views = 0;
    for (int i = 0; plan && i < plan->n_inputs; i++) {
        accumulate += strcmp(plan->inputs[i].name, "accumulate") == 0;
        if (strcmp(plan->inputs[i].name, "global_views") == 0)
            views = plan->buffers[plan->inputs[i].buffer].dims[0];
    }
    CU_ASSERT_EQUAL(accumulate, 1);
    CU_ASSERT_EQUAL(views, 2 * 2);
    dc_plan_destroy(plan);
}

/* A checkpoint written before the grad_accum_steps and optimizer_sharding
 * fields existed (its config text lacks them) still resumes: they take their
 * defaults. */
static void test_resume_older_checkpoint(void)
{
    const char *two[] = {"--steps", "2"}, *resume[] = {"--steps", "3", "--resume"};
    CU_ASSERT_EQUAL(train("older", 0, two, 2), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/older/checkpoint.safetensors", root);
    dc_safetensors *st = NULL;
    DC_ASSERT_OK(dc_safetensors_load(path, &st));
    if (!st)
        return;
    int removed = 0;
    for (int k = 0; k < st->n_meta; k++) {
        if (strcmp(st->meta_keys[k], "config") != 0)
            continue;
        char *text = st->meta_values[k], *out = text;
        for (char *line = text; *line;) {
            size_t len = strcspn(line, "\n");
            bool drop = !strncmp(line, "grad_accum_steps", 16) || !strncmp(line, "optimizer_sharding", 18);
            removed += drop;
            if (!drop) {
                memmove(out, line, len + (line[len] == '\n'));
                out += len + (line[len] == '\n');
            }
            line += len + (line[len] == '\n');
        }
        *out = 0;
    }
    CU_ASSERT_EQUAL(removed, 2);
    DC_ASSERT_OK(dc_safetensors_save(path, st->tensors, st->n_tensors,
                                     (const char *const *)st->meta_keys,
                                     (const char *const *)st->meta_values, st->n_meta));
    dc_safetensors_destroy(st);
    CU_ASSERT_EQUAL(train("older", 0, resume, 3), 0);
    double losses[8][4];
    CU_ASSERT_EQUAL(read_losses("older", losses, 8), 3);
}

void register_tools_mpi(void)
{
    CU_pSuite s = CU_add_suite("tools_mpi", suite_init, suite_cleanup);
    CU_add_test(s, "1 rank, 1 rank x 2 micro-batches, 2 ranks train alike", test_slices_train_alike);
    CU_add_test(s, "masks_per_slice: 2 ranks and 2 micro-batches draw the same masks",
                test_masks_per_slice);
    CU_add_test(s, "grad_accum_steps must divide batch_size", test_accum_must_divide);
    CU_add_test(s, "KoLeo is per rank: the mean of the halves", test_koleo_per_rank);
    CU_add_test(s, "resume a 2-rank run on 2 ranks and on 1", test_resume_across_ranks);
    CU_add_test(s, "optimizer_sharding: half the moments per rank, same weights", test_sharded_optimizer);
    CU_add_test(s, "a checkpoint from before these fields resumes", test_resume_older_checkpoint);
    CU_add_test(s, "compile --ranks 2 --explain shows each bucket's start and wait; "
                   "grad_accum_steps, a micro-batch's step",
                test_compile_ranks_explain);
}
