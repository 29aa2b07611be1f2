/* Compiling and running a model once (`dinoc compile`, `dinoc run`). */
#include "run_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dc_artifact.h"
#include "codegen_env.h"
#include "dc_npy.h"
#include "dc_session.h"
#include "onnx_io.h"

/* The first bytes of `path`; fewer when the file is shorter. */
static dc_status read_magic(const char *path, char *magic, size_t n, size_t *got)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    *got = fread(magic, 1, n, f);
    fclose(f);
    return DC_OK;
}

dc_status dc_tensor_load_file(const char *path, dc_tensor **out)
{
    char magic[6];
    size_t got = 0;
    DC_TRY(read_magic(path, magic, sizeof magic, &got));
    if (got == sizeof magic && memcmp(magic, "\x93NUMPY", 6) == 0)
        return dc_npy_load(path, out);
    return dc_tensor_load_pb(path, out);
}

void dc_tensors_free(dc_tensor **tensors, int n)
{
    for (int i = 0; tensors && i < n; i++)
        dc_tensor_destroy(tensors[i]);
    free(tensors);
}

dc_status dc_read_named_tensor(const char *spec, dc_named_tensor *out)
{
    const char *eq = strchr(spec, '=');
    *out = (dc_named_tensor){0};
    if (!eq || eq == spec || !eq[1])
        return dc_error(DC_ERR_INVALID, "-i '%s': expected NAME=FILE", spec);
    if (!(out->name = strndup(spec, (size_t)(eq - spec))))
        return dc_error(DC_ERR_NOMEM, "input name");
    dc_status s = dc_tensor_load_file(eq + 1, &out->tensor);
    return s == DC_OK ? DC_OK : dc_error_context(s, "input '%s'", out->name);
}

dc_status dc_read_named_scalar(const char *spec, dc_named_tensor *out)
{
    const char *eq = strchr(spec, '=');
    *out = (dc_named_tensor){0};
    char *end = NULL;
    double v = eq ? strtod(eq + 1, &end) : 0;
    if (!eq || eq == spec || end == eq + 1 || *end)
        return dc_error(DC_ERR_INVALID, "--scalar '%s': expected NAME=NUMBER", spec);
    if (!(out->name = strndup(spec, (size_t)(eq - spec))))
        return dc_error(DC_ERR_NOMEM, "input name");
    DC_TRY(dc_tensor_create(&out->tensor, out->name, DC_F32, 0, NULL));
    *(float *)out->tensor->data = (float)v;
    return DC_OK;
}

dc_status dc_compile_onnx(const char *path, const dc_named_tensor *inputs, int n_inputs,
                          bool *bound, const dc_pipeline_options *opt, dc_plan **out)
{
    *out = NULL;
    dc_graph *g;
    DC_TRY(dc_onnx_load(path, &g));
    char producer[512];
    snprintf(producer, sizeof producer, "dinoc lower of %s", path);
    dc_pipeline_options o = opt ? *opt : (dc_pipeline_options){0};
    if (!o.producer)
        o.producer = producer;
    dc_status s = n_inputs ? dc_specialize_inputs(g, inputs, n_inputs, bound) : DC_OK;
    if (s == DC_OK)
        s = dc_pipeline_compile(g, &o, out);
    dc_graph_destroy(g);
    return s == DC_OK ? DC_OK : dc_error_context(s, "%s", path);
}

/* Copies the given inputs into the session; every plan input exactly once. */
static dc_status set_inputs(dc_session *sess, const dc_plan *plan, const dc_named_tensor *inputs,
                            int n_inputs, const bool *skip)
{
    for (int i = 0; i < n_inputs; i++) {
        if (skip && skip[i])
            continue;
        for (int k = 0; k < i; k++)
            if (!(skip && skip[k]) && strcmp(inputs[k].name, inputs[i].name) == 0)
                return dc_error(DC_ERR_INVALID, "input '%s' is given twice", inputs[i].name);
        DC_TRY(dc_session_set_input(sess, inputs[i].name, inputs[i].tensor));
    }
    for (int p = 0; p < plan->n_inputs; p++) {
        bool given = false;
        for (int i = 0; i < n_inputs && !given; i++)
            given = !(skip && skip[i]) && strcmp(inputs[i].name, plan->inputs[p].name) == 0;
        if (!given)
            return dc_error(DC_ERR_INVALID, "input '%s' is missing", plan->inputs[p].name);
    }
    return DC_OK;
}

static dc_status get_outputs(dc_session *sess, const dc_plan *plan, dc_tensor ***outputs)
{
    *outputs = calloc(plan->n_outputs ? (size_t)plan->n_outputs : 1, sizeof **outputs);
    if (!*outputs)
        return dc_error(DC_ERR_NOMEM, "%d outputs", plan->n_outputs);
    for (int i = 0; i < plan->n_outputs; i++)
        DC_TRY(dc_session_get_output(sess, i, &(*outputs)[i]));
    return DC_OK;
}


/* One line per step: "step 3: loss=0.4123 ..." for the plan's scalar outputs. */
static void log_step(dc_session *sess, const dc_plan *plan, int step, FILE *log)
{
    fprintf(log, "step %d:", step);
    for (int i = 0; i < plan->n_outputs; i++) {
        const dc_plan_buffer *b = &plan->buffers[plan->outputs[i].buffer];
        if (b->nbytes != dc_dtype_size(b->dtype) || (b->dtype != DC_F32 && b->dtype != DC_F64))
            continue;
        const void *p = dc_session_buffer(sess, plan->outputs[i].buffer);
        double v = b->dtype == DC_F32 ? *(const float *)p : *(const double *)p;
        fprintf(log, " %s=%.6g", plan->outputs[i].name, v);
    }
    fputc('\n', log);
}

dc_status dc_save_state(dc_session *sess, const dc_plan *plan, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dc_error(DC_ERR_IO, "%s: %s", dir, strerror(errno));
    for (int i = 0; i < plan->n_buffers; i++) {
        const dc_plan_buffer *b = &plan->buffers[i];
        bool root = true; /* views of state (in-place updates) share a root's bytes */
        for (int k = 0; k < i && root; k++)
            root = !(plan->buffers[k].region == DC_REGION_STATE && plan->buffers[k].offset == b->offset);
        if (b->region != DC_REGION_STATE || !root)
            continue;
        dc_tensor *t;
        DC_TRY(dc_tensor_create(&t, b->name, b->dtype, b->rank, b->dims));
        memcpy(t->data, dc_session_buffer(sess, i), b->nbytes);
        size_t n = strlen(dir) + strlen(b->name) + 8;
        char *path = malloc(n);
        dc_status s = path ? DC_OK : dc_error(DC_ERR_NOMEM, "state path");
        if (s == DC_OK) {
            snprintf(path, n, "%s/%s.pb", dir, b->name);
            for (char *c = path + strlen(dir) + 1; *c; c++)
                *c = *c == '/' ? '_' : *c;
            s = dc_tensor_save_pb(t, path);
        }
        free(path);
        dc_tensor_destroy(t);
        DC_TRY(s);
    }
    return DC_OK;
}

/* dc_run_plan on `plan`, or on the artifact's when `artifact` is given (its
 * generated kernels then run). */
static dc_status run_plan(const dc_plan *plan, const dc_artifact *artifact,
                          const dc_named_tensor *inputs, int n_inputs, const bool *skip,
                          dc_run_options *opt, dc_tensor ***outputs, int *n_outputs)
{
    *outputs = NULL;
    *n_outputs = 0;
    dc_session *sess;
    int threads = opt ? opt->threads : 0;
    DC_TRY(artifact ? dc_session_create_artifact(artifact, threads, &sess)
                    : dc_session_create(plan, threads, &sess));
    dc_status s = set_inputs(sess, plan, inputs, n_inputs, skip);
    int steps = opt && opt->steps > 1 ? opt->steps : 1;
    for (int i = 0; i < steps && s == DC_OK; i++) {
        s = dc_session_run(sess);
        if (s == DC_OK && opt && opt->step_log)
            log_step(sess, plan, i + 1, opt->step_log);
    }
    if (s == DC_OK && opt && opt->save_state)
        s = dc_save_state(sess, plan, opt->save_state);
    if (opt && opt->profile)
        dc_session_set_profile(sess, true);
    if (s == DC_OK && opt && opt->repeat > 0)
        s = dc_session_time_runs(sess, opt->repeat, &opt->median_ms, &opt->min_ms);
    if (s == DC_OK && opt && opt->profile)
        dc_session_print_profile(sess, stderr);
    if (s == DC_OK)
        s = get_outputs(sess, plan, outputs);
    dc_session_destroy(sess);
    if (s != DC_OK) {
        dc_tensors_free(*outputs, plan->n_outputs);
        *outputs = NULL;
        return s;
    }
    *n_outputs = plan->n_outputs;
    return DC_OK;
}

dc_status dc_run_plan(const dc_plan *plan, const dc_named_tensor *inputs, int n_inputs,
                      const bool *skip, dc_run_options *opt, dc_tensor ***outputs,
                      int *n_outputs)
{
    dc_artifact *generated;
    *outputs = NULL;
    *n_outputs = 0;
    DC_TRY(dc_codegen_env_artifact(plan, &generated));
    dc_status s = run_plan(plan, generated, inputs, n_inputs, skip, opt, outputs, n_outputs);
    dc_artifact_close(generated);
    return s;
}

dc_status dc_run_model(const char *path, const dc_named_tensor *inputs, int n_inputs,
                       dc_run_options *opt, dc_tensor ***outputs, int *n_outputs)
{
    *outputs = NULL;
    *n_outputs = 0;
    char magic[8];
    size_t got = 0;
    DC_TRY(read_magic(path, magic, sizeof magic, &got));
    bool *bound = calloc(n_inputs ? (size_t)n_inputs : 1, sizeof *bound);
    if (!bound)
        return dc_error(DC_ERR_NOMEM, "%d inputs", n_inputs);
    dc_plan *plan = NULL;
    dc_artifact *artifact = NULL;
    dc_status s;
    if (got == sizeof magic && (memcmp(magic, "DINOCPLN", sizeof magic) == 0 ||
                                memcmp(magic, "\x7f" "ELF", 4) == 0))
        s = dc_artifact_open(path, &artifact);
    else
        s = dc_compile_onnx(path, inputs, n_inputs, bound, NULL, &plan);
    if (s == DC_OK)
        s = run_plan(artifact ? dc_artifact_plan(artifact) : plan, artifact, inputs, n_inputs,
                     bound, opt, outputs, n_outputs);
    dc_plan_destroy(plan);
    dc_artifact_close(artifact);
    free(bound);
    return s;
}
