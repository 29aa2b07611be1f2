/* The ONNX backend node tests (libonnx-testdata) through the real `dinoc` binary.
 *
 * 1. `dinoc inspect` on every node model: it prints the model (exit 0) or says
 *    in one line that something is unsupported (exit 1). Never a signal, a
 *    sanitizer report, another exit status or another kind of error.
 * 2. `dinoc convert` on every node model whose ops are all ops dinoc supports
 *    (the `_expanded` function bodies included), then one run of
 *    tests/onnx/check_converted.py, which runs onnx.checker (full_check) on each
 *    converted model and compares it with the original: nodes, attributes,
 *    initializers, graph inputs and outputs.
 *
 * Both tests name every model that failed in the CUnit output. The dinoc runs go
 * in parallel (one process per CPU, two at least) so the suite stays well under
 * a minute. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "test_util.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"
#define PYTHON "/usr/bin/python3"
#define CHECK_SCRIPT DINOC_SOURCE_DIR "/tests/onnx/check_converted.py"

/* libonnx-testdata 1.12.0 has 932 node tests. */
#define N_NODE_TESTS 932

/* `dinoc inspect`, measured with the importer and the op registry in place
 * (47 ops): EXPECT_PRINTED models load (verified, shapes inferred) and print;
 * the other EXPECT_UNSUPPORTED fail with one "unsupported" line:
 *   549  an op outside the registry (110 distinct ops: Acos ... Xor, If, Loop, ...)
 *    17  a sequence type (16 + 1 inside an If branch)
 *    12  string tensors (Cast/CastLike to and from STRING, StringNormalizer)
 *     7  an optional type (6 + 1 inside an If branch)
 *     7  the domain ai.onnx.preview.training (Adagrad, Adam, Momentum tests)
 * The printed ones are exactly the 340 that convert below. */
#define EXPECT_PRINTED 340
#define EXPECT_UNSUPPORTED 592

/* `dinoc convert` on the 346 node tests whose ops are all in SUPPORTED_OPS
 * (the `_expanded` function bodies included): 340 convert and pass
 * check_converted.py; 6 are unsupported for their types, not their ops:
 * test_cast_FLOAT_to_STRING, test_cast_STRING_to_FLOAT,
 * test_castlike_{FLOAT_to_STRING,STRING_to_FLOAT}_expanded (string tensors),
 * test_identity_opt (optional), test_identity_sequence (sequence). */
#define EXPECT_CONVERTED 340
#define EXPECT_CONVERT_UNSUPPORTED 6

/* At most this many failures are listed one by one per category. */
#define MAX_LISTED 60

/* The ops of the registry (default domain). */
static const char *const SUPPORTED_OPS[] = {
    "MatMul", "Gemm", "Conv", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Exp",
    "Log", "Neg", "Abs", "Erf", "Tanh", "Sigmoid", "Relu", "Softmax", "LogSoftmax",
    "LayerNormalization", "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ArgMax",
    "ArgMin", "Transpose", "Reshape", "Flatten", "Concat", "Split", "Slice", "Gather",
    "Squeeze", "Unsqueeze", "Expand", "Where", "Equal", "Cast", "Constant", "ConstantOfShape",
    "Shape", "Size", "Identity", "Resize", "Dropout", NULL,
};

/* ---- reporting ------------------------------------------------------------- */

/* Records a failed assertion whose text is the formatted message, so the CUnit
 * output names the model (CUnit copies the text). */
__attribute__((format(printf, 2, 3))) static void fail_msg(int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    CU_assertImplementation(CU_FALSE, (unsigned)line, msg, __FILE__, "", CU_FALSE);
}
#define FAIL_MSG(...) fail_msg(__LINE__, __VA_ARGS__)

/* Lists one failure of a category, up to MAX_LISTED, then counts the rest. */
typedef struct failure_list {
    const char *what;
    int count;
} failure_list;

__attribute__((format(printf, 3, 4))) static void list_failure(failure_list *l, int line,
                                                               const char *fmt, ...)
{
    l->count++;
    if (l->count > MAX_LISTED)
        return;
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail_msg(line, "%s: %s", l->what, msg);
}

static void close_list(failure_list *l, int line)
{
    if (l->count > MAX_LISTED)
        fail_msg(line, "%s: ... and %d more (%d in all)", l->what, l->count - MAX_LISTED,
                 l->count);
}

/* ---- the node tests -------------------------------------------------------- */

static char **models; /* sorted test folder names */
static int n_models;
static int models_listed;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_models(void)
{
    for (int i = 0; i < n_models; i++)
        free(models[i]);
    free(models);
    models = NULL;
    n_models = 0;
    models_listed = 0;
}

/* The dinoc binary is there to run; a failure saying so otherwise. */
static bool have_binary(void)
{
    if (access(DINOC_BINARY, X_OK) == 0)
        return true;
    FAIL_MSG("%s: %s; build the dinoc target first", DINOC_BINARY, strerror(errno));
    return false;
}

/* Lists NODE_DIR once; false (with a failure) when the data is not installed. */
static bool list_models(void)
{
    if (models_listed && n_models > 0)
        return true;
    free_models();
    models_listed = 1;
    DIR *d = opendir(NODE_DIR);
    if (!d) {
        FAIL_MSG("%s: %s; install the ONNX backend test data: apt-get install libonnx-testdata",
                 NODE_DIR, strerror(errno));
        return false;
    }
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/model.onnx", NODE_DIR, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (n_models == cap) {
            cap = cap ? 2 * cap : 1024;
            models = realloc(models, (size_t)cap * sizeof *models);
        }
        models[n_models++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(models, (size_t)n_models, sizeof *models, cmp_str);
    if (n_models == 0)
        FAIL_MSG("%s holds no model.onnx; reinstall libonnx-testdata", NODE_DIR);
    return n_models > 0;
}

static void model_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/model.onnx", NODE_DIR, name);
}

/* ---- running dinoc in parallel --------------------------------------------- */

/* Sanitizer reports must not pass for dinoc's own "exit 1": they exit with
 * this status instead. */
#define SANITIZER_EXIT 86

/* One run of the dinoc binary with up to 3 arguments; stdout goes to
 * /dev/null, stderr is kept. */
typedef struct job {
    const char *args[3];
    pid_t pid;
    int wstatus;
    char *err; /* what the run wrote on stderr (malloc'd, NUL-terminated) */
} job;

extern char **environ;

/* The environment of the children: ours, with sanitizer reports mapped to
 * SANITIZER_EXIT (ASan's default status is 1, dinoc's own failure status). */
static char **child_env(void)
{
    static char **env;
    static char asan[1024], ubsan[1024];
    if (env)
        return env;
    int n = 0;
    while (environ[n])
        n++;
    env = calloc((size_t)n + 3, sizeof *env);
    const char *a = getenv("ASAN_OPTIONS"), *u = getenv("UBSAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sexitcode=%d", a ? a : "", a && *a ? ":" : "",
             SANITIZER_EXIT);
    snprintf(ubsan, sizeof ubsan, "UBSAN_OPTIONS=%s%sexitcode=%d:print_stacktrace=1",
             u ? u : "", u && *u ? ":" : "", SANITIZER_EXIT);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0 &&
            strncmp(environ[i], "UBSAN_OPTIONS=", 14) != 0)
            env[k++] = environ[i];
    env[k++] = asan;
    env[k++] = ubsan;
    env[k] = NULL;
    return env;
}

static char *read_file(const char *path, size_t *size_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (size_out)
        *size_out = n;
    return buf;
}

/* posix_spawn, not fork: forking a sanitizer-built test process copies its huge
 * shadow mappings and doubles the time of every run. */
static pid_t spawn(const job *j, const char *err_path, char **env)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[5] = {(char *)DINOC_BINARY, NULL, NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        argv[i + 1] = (char *)j->args[i];
    pid_t pid;
    int rc = posix_spawn(&pid, DINOC_BINARY, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

static int n_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : n > 16 ? 16 : (int)n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A run longer than this is a hang: it is killed and reported. */
#define RUN_TIMEOUT_SECS 60.0

/* Runs every job, n_workers() at a time; fills wstatus and err. */
static void run_jobs(job *jobs, int n, const char *tmpdir)
{
    int workers = n_workers();
    char **env = child_env();
    struct slot {
        int job; /* -1 when free */
        double start;
        char err_path[4096];
    } slots[16];
    for (int s = 0; s < workers; s++) {
        slots[s].job = -1;
        snprintf(slots[s].err_path, sizeof slots[s].err_path, "%s/stderr.%d", tmpdir, s);
    }
    int next = 0, running = 0;
    while (next < n || running > 0) {
        for (int s = 0; s < workers && next < n; s++) {
            if (slots[s].job >= 0)
                continue;
            job *j = &jobs[next++];
            j->pid = spawn(j, slots[s].err_path, env);
            if (j->pid < 0) {
                j->wstatus = -1;
                j->err = strdup(strerror(errno));
                continue;
            }
            slots[s].job = (int)(j - jobs);
            slots[s].start = now();
            running++;
        }
        int reaped = 0;
        for (int s = 0; s < workers; s++) {
            if (slots[s].job < 0)
                continue;
            job *j = &jobs[slots[s].job];
            int wstatus;
            pid_t pid = waitpid(j->pid, &wstatus, WNOHANG);
            if (pid == 0) {
                if (now() - slots[s].start > RUN_TIMEOUT_SECS)
                    kill(j->pid, SIGKILL); /* reaped as "killed by signal 9" */
                continue;
            }
            if (pid < 0 && errno == EINTR)
                continue;
            j->wstatus = pid < 0 ? -1 : wstatus;
            j->err = read_file(slots[s].err_path, NULL);
            if (!j->err)
                j->err = strdup("");
            slots[s].job = -1;
            running--;
            reaped++;
        }
        if (!reaped && running > 0) {
            struct timespec pause = {0, 500 * 1000}; /* 0.5 ms */
            nanosleep(&pause, NULL);
        }
    }
    for (int s = 0; s < workers; s++)
        unlink(slots[s].err_path);
}

static void free_jobs(job *jobs, int n)
{
    for (int i = 0; i < n; i++)
        free(jobs[i].err);
    free(jobs);
}

static char *make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/dinoc_node_models.XXXXXX", base && *base ? base : "/tmp");
    char *dir = mkdtemp(tmpl);
    if (!dir) {
        FAIL_MSG("mkdtemp %s: %s", tmpl, strerror(errno));
        return NULL;
    }
    return strdup(dir);
}

/* The line of `s` that says most (without the newline), for messages: a
 * sanitizer's "ERROR:"/"runtime error:" line if any, else the first line. */
static const char *first_line(const char *s, char *buf, size_t size)
{
    const char *p = strstr(s, "ERROR: ");
    if (!p)
        p = strstr(s, "runtime error: ");
    if (p)
        while (p > s && p[-1] != '\n')
            p--;
    else
        p = s;
    size_t n = strcspn(p, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* True for exactly one non-empty line that ends in a newline. */
static bool one_line(const char *s)
{
    const char *nl = strchr(s, '\n');
    return nl && nl != s && nl[1] == '\0';
}

static bool mentions_unsupported(const char *s)
{
    return strcasestr(s, "unsupported") != NULL;
}

/* Describes how a run ended, for messages: "signal 11", "exit 86 (sanitizer)". */
static const char *describe_end(int wstatus, char *buf, size_t size)
{
    if (wstatus == -1)
        snprintf(buf, size, "could not start");
    else if (WIFSIGNALED(wstatus))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else if (WEXITSTATUS(wstatus) == SANITIZER_EXIT)
        snprintf(buf, size, "sanitizer report (exit %d)", SANITIZER_EXIT);
    else
        snprintf(buf, size, "exit %d", WEXITSTATUS(wstatus));
    return buf;
}

/* ---- 1. dinoc inspect on every node test ----------------------------------- */

static void test_inspect_every_node_model(void)
{
    if (!list_models() || !have_binary())
        return;
    char *tmpdir = make_tmpdir();
    if (!tmpdir)
        return;
    job *jobs = calloc((size_t)n_models, sizeof *jobs);
    char (*paths)[4096] = calloc((size_t)n_models, sizeof *paths);
    for (int i = 0; i < n_models; i++) {
        model_path(models[i], paths[i], sizeof paths[i]);
        jobs[i].args[0] = "inspect";
        jobs[i].args[1] = paths[i];
    }
    double t0 = now();
    run_jobs(jobs, n_models, tmpdir);
    double secs = now() - t0;

    int printed = 0, unsupported = 0;
    failure_list crashes = {"inspect crashed", 0};
    failure_list others = {"inspect failed other than unsupported", 0};
    for (int i = 0; i < n_models; i++) {
        job *j = &jobs[i];
        char end[128], line[400];
        bool exited = j->wstatus != -1 && WIFEXITED(j->wstatus);
        int code = exited ? WEXITSTATUS(j->wstatus) : -1;
        if (j->wstatus == -1) {
            list_failure(&others, __LINE__, "%s: could not run %s: %s", models[i],
                         DINOC_BINARY, j->err);
        } else if (!exited || code == SANITIZER_EXIT) {
            list_failure(&crashes, __LINE__, "%s: %s: %s", models[i],
                         describe_end(j->wstatus, end, sizeof end),
                         first_line(j->err, line, sizeof line));
        } else if (code == 0) {
            if (j->err[0])
                list_failure(&others, __LINE__, "%s: printed, but wrote on stderr: %s",
                             models[i], first_line(j->err, line, sizeof line));
            else
                printed++;
        } else if (code == 1 && one_line(j->err) && mentions_unsupported(j->err)) {
            unsupported++;
        } else {
            list_failure(&others, __LINE__, "%s: %s: %s%s", models[i],
                         describe_end(j->wstatus, end, sizeof end),
                         first_line(j->err, line, sizeof line),
                         code == 1 && !one_line(j->err) ? " (not one line)" : "");
        }
    }
    close_list(&crashes, __LINE__);
    close_list(&others, __LINE__);
    printf("\n    dinoc inspect on %d node models: %d printed, %d unsupported, %d crashed, "
           "%d other failures (%.1f s, %d at a time)\n",
           n_models, printed, unsupported, crashes.count, others.count, secs, n_workers());
    CU_ASSERT_EQUAL(n_models, N_NODE_TESTS);
    CU_ASSERT_EQUAL(crashes.count, 0);
    CU_ASSERT_EQUAL(others.count, 0);
    if (printed != EXPECT_PRINTED || unsupported != EXPECT_UNSUPPORTED)
        FAIL_MSG("inspect counts changed: %d printed (expected %d), %d unsupported "
                 "(expected %d); update EXPECT_* when the change is intended",
                 printed, EXPECT_PRINTED, unsupported, EXPECT_UNSUPPORTED);
    CU_ASSERT_EQUAL(printed + unsupported, N_NODE_TESTS);

    free_jobs(jobs, n_models);
    free(paths);
    rmdir(tmpdir);
    free(tmpdir);
}

/* ---- 2. dinoc convert + check_converted.py --------------------------------- */

static bool supported_op(const char *op, const char *domain)
{
    if (domain && *domain && strcmp(domain, "ai.onnx") != 0)
        return false;
    for (const char *const *s = SUPPORTED_OPS; *s; s++)
        if (strcmp(op, *s) == 0)
            return true;
    return false;
}

/* Whether every node of the model is a supported op. Reads the protobuf
 * directly, so the choice does not depend on the importer under test.
 * -1 when the file does not parse. */
static int all_ops_supported(const char *path)
{
    size_t size;
    char *data = read_file(path, &size);
    if (!data)
        return -1;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, (const uint8_t *)data);
    free(data);
    if (!m)
        return -1;
    int ok = m->graph && m->graph->n_node > 0;
    for (size_t i = 0; ok && i < m->graph->n_node; i++)
        ok = supported_op(m->graph->node[i]->op_type, m->graph->node[i]->domain);
    onnx__model_proto__free_unpacked(m, NULL);
    return ok;
}

/* Runs check_converted.py on the pairs file; lists its mismatch lines and
 * returns its "N passed, M failed" counts (-1 when it did not run). */
static void run_check_script(const char *pairs_file, int *passed, int *failed)
{
    *passed = *failed = -1;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", PYTHON, CHECK_SCRIPT, pairs_file);
    FILE *p = popen(cmd, "r");
    if (!p) {
        FAIL_MSG("popen %s: %s", cmd, strerror(errno));
        return;
    }
    failure_list mismatches = {"converted model differs", 0};
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        int a, b;
        if (sscanf(line, "%d passed, %d failed", &a, &b) == 2) {
            *passed = a;
            *failed = b;
        } else if (line[0]) {
            list_failure(&mismatches, __LINE__, "%s", line);
        }
        snprintf(last, sizeof last, "%s", line);
    }
    int st = pclose(p);
    close_list(&mismatches, __LINE__);
    if (*passed < 0)
        FAIL_MSG("%s did not finish (status %d); last line: %s (needs python3-onnx under %s)",
                 CHECK_SCRIPT, st, last, PYTHON);
}

static void rm_tree_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void test_convert_supported_node_models(void)
{
    unsigned failures_before = CU_get_number_of_failures();
    if (!list_models() || !have_binary())
        return;
    char *tmpdir = make_tmpdir();
    if (!tmpdir)
        return;
    int n = 0;
    job *jobs = calloc((size_t)n_models, sizeof *jobs);
    char (*in)[4096] = calloc((size_t)n_models, sizeof *in);
    char (*out)[4096] = calloc((size_t)n_models, sizeof *out);
    const char **names = calloc((size_t)n_models, sizeof *names);
    for (int i = 0; i < n_models; i++) {
        char path[4096];
        model_path(models[i], path, sizeof path);
        int ok = all_ops_supported(path);
        if (ok < 0)
            FAIL_MSG("%s: not a ModelProto", path);
        if (ok <= 0)
            continue;
        names[n] = models[i];
        snprintf(in[n], sizeof in[n], "%s", path);
        snprintf(out[n], sizeof out[n], "%s/%s.onnx", tmpdir, models[i]);
        jobs[n].args[0] = "convert";
        jobs[n].args[1] = in[n];
        jobs[n].args[2] = out[n];
        n++;
    }
    double t0 = now();
    run_jobs(jobs, n, tmpdir);
    double convert_secs = now() - t0;

    char pairs_file[4200];
    snprintf(pairs_file, sizeof pairs_file, "%s/pairs.tsv", tmpdir);
    FILE *pairs = fopen(pairs_file, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pairs);
    int converted = 0, unsupported = 0;
    failure_list failures = {"convert failed", 0};
    for (int i = 0; i < n; i++) {
        job *j = &jobs[i];
        char end[128], line[400];
        bool exited = j->wstatus != -1 && WIFEXITED(j->wstatus);
        int code = exited ? WEXITSTATUS(j->wstatus) : -1;
        if (code == 0 && !j->err[0]) {
            converted++;
            fprintf(pairs, "%s\t%s\t%s\n", names[i], in[i], out[i]);
        } else if (code == 1 && one_line(j->err) && mentions_unsupported(j->err)) {
            unsupported++;
            printf("\n    convert, unsupported: %s: %s", names[i],
                   first_line(j->err, line, sizeof line));
        } else {
            list_failure(&failures, __LINE__, "%s: %s: %s", names[i],
                         describe_end(j->wstatus, end, sizeof end),
                         first_line(j->err, line, sizeof line));
        }
    }
    fclose(pairs);
    close_list(&failures, __LINE__);

    int passed = -1, failed = -1;
    t0 = now();
    if (converted > 0)
        run_check_script(pairs_file, &passed, &failed);
    double check_secs = now() - t0;
    printf("\n    dinoc convert on %d node models with supported ops: %d converted, "
           "%d unsupported, %d failed (%.1f s); check_converted.py: %d passed, %d failed "
           "(%.1f s)\n",
           n, converted, unsupported, failures.count, convert_secs, passed, failed, check_secs);
    CU_ASSERT_EQUAL(failures.count, 0);
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(passed, converted);
    if (n != EXPECT_CONVERTED + EXPECT_CONVERT_UNSUPPORTED || converted != EXPECT_CONVERTED ||
        unsupported != EXPECT_CONVERT_UNSUPPORTED)
        FAIL_MSG("convert counts changed: %d models with supported ops (expected %d), %d "
                 "converted (expected %d), %d unsupported (expected %d); update EXPECT_* "
                 "when the change is intended",
                 n, EXPECT_CONVERTED + EXPECT_CONVERT_UNSUPPORTED, converted, EXPECT_CONVERTED,
                 unsupported, EXPECT_CONVERT_UNSUPPORTED);

    /* A failing run's files are kept for a look, in one fixed place so failing
     * runs do not pile up in /tmp; a passing run removes them. */
    char kept[4200];
    snprintf(kept, sizeof kept, "%s", tmpdir);
    char *slash = strrchr(kept, '/');
    snprintf(slash + 1, sizeof kept - (size_t)(slash + 1 - kept), "dinoc_node_models.failed");
    rm_tree_files(kept);
    if (CU_get_number_of_failures() == failures_before) {
        rm_tree_files(tmpdir);
    } else {
        if (rename(tmpdir, kept) == 0)
            printf("\n    converted models and pairs.tsv kept in %s\n", kept);
        else
            rm_tree_files(tmpdir);
    }
    free_jobs(jobs, n);
    free(in);
    free(out);
    free(names);
    free(tmpdir);
}

static int release_models(void)
{
    free_models();
    return 0;
}

void register_compiler_node_models(void)
{
    CU_pSuite s = CU_add_suite("compiler_node_models", NULL, release_models);
    if (!s)
        return;
    CU_add_test(s, "dinoc inspect on every ONNX node test", test_inspect_every_node_model);
    CU_add_test(s, "dinoc convert + onnx.checker on node tests with supported ops",
                test_convert_supported_node_models);
}
