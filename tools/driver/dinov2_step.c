#include "dinov2_step.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codegen_env.h"
#include "config_yaml.h"
#include "configs.h"
#include "dc_artifact.h"
#include "dc_safetensors.h"
#include "dc_session.h"
#include "dinov2.h"
#include "pipeline.h"

dc_status dc_dinov2_config_load(const char *config, const char *const *overrides, int n_overrides,
                                dc_dinov2_config *out)
{
    if (dc_config_is_yaml(config))
        DC_TRY(dc_config_read_yaml(config, out));
    else
        DC_TRY(dc_config_named(config, out));
    for (int i = 0; i < n_overrides; i++)
        DC_TRY(dc_config_override(out, overrides[i]));
    return dc_config_validate(out);
}

/* Optimizer state may be missing from a checkpoint of initial weights, and
 * gradient accumulators (zero between optimizer steps) are never saved. */
static bool is_optimizer_state(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, "optimizer.step") == 0 || (n > 6 && strcmp(name + n - 6, ".accum") == 0) ||
           (n > 8 && strcmp(name + n - 8, ".exp_avg") == 0) ||
           (n > 11 && strcmp(name + n - 11, ".exp_avg_sq") == 0);
}

dc_status dc_load_state(dc_graph *g, const char *path)
{
    dc_safetensors *st;
    DC_TRY(dc_safetensors_load(path, &st));
    dc_status s = DC_OK;
    char a[128], b[128];
    for (int i = 0; s == DC_OK && i < st->n_tensors; i++) {
        const dc_tensor *t = st->tensors[i];
        dc_value *v = dc_graph_find_value(g, t->name);
        if (!v && is_optimizer_state(t->name))
            continue; /* the moments of another process's share (optimizer_sharding) */
        if (!v || !v->is_state) {
            s = dc_error(DC_ERR_INVALID, "%s: tensor '%s' is not state of this graph (a checkpoint "
                         "of another config?)", path, t->name);
        } else if (!dc_tensor_same_type(t, v->constant)) {
            dc_type want = dc_type_make(v->constant->dtype, v->constant->rank, v->constant->dims);
            dc_type got = dc_type_make(t->dtype, t->rank, t->dims);
            s = dc_error(DC_ERR_SHAPE, "%s: tensor '%s': expected %s, found %s", path, t->name,
                         dc_type_str(&want, a, sizeof a), dc_type_str(&got, b, sizeof b));
        } else {
            memcpy(v->constant->data, t->data, t->nbytes);
        }
    }
    for (int i = 0; s == DC_OK && i < g->n_initializers; i++) {
        const dc_value *v = g->initializers[i];
        if (v->is_state && !is_optimizer_state(v->name) && !dc_safetensors_get(st, v->name))
            s = dc_error(DC_ERR_INVALID, "%s: tensor '%s' is missing", path, v->name);
    }
    dc_safetensors_destroy(st);
    return s;
}

/* A batch may pad ibot_index and ibot_weight to a larger bound than the
 * plan's M (the official code pads to ⌊2B·p⌋·⌊N·max⌋): t, its padding
 * (weight 0) past M cut off, when all its masked rows fit in M. */
static dc_status fit_masked_rows(const dc_safetensors *st, const dc_plan_buffer *want,
                                 const dc_tensor *t, dc_tensor *fitted)
{
    *fitted = *t;
    const dc_tensor *weight = dc_safetensors_get(st, "ibot_weight");
    if (t->rank != 1 || want->rank != 1 || t->dims[0] <= want->dims[0] || !weight ||
        weight->dtype != DC_F32 || weight->rank != 1 || weight->dims[0] != t->dims[0])
        return DC_OK; /* not padding: the session reports any mismatch */
    const float *w = weight->data;
    for (int64_t i = want->dims[0]; i < weight->dims[0]; i++)
        if (w[i] != 0.0f) {
            int64_t masked = 0;
            for (int64_t k = 0; k < weight->dims[0]; k++)
                masked += w[k] != 0.0f;
            return dc_error(DC_ERR_INVALID,
                            "%s: %lld masked patches, more than the step's bound M = %lld "
                            "(or not packed first)",
                            t->name, (long long)masked, (long long)want->dims[0]);
        }
    fitted->dims[0] = want->dims[0];
    fitted->nbytes = t->nbytes / (size_t)t->dims[0] * (size_t)want->dims[0];
    return DC_OK;
}

static dc_status set_batch(dc_session *sess, const dc_plan *p, const char *path)
{
    dc_safetensors *st;
    DC_TRY(dc_safetensors_load(path, &st));
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < p->n_inputs; i++) {
        const char *name = p->inputs[i].name;
        const dc_tensor *t = dc_safetensors_get(st, name);
        dc_tensor fitted;
        if (!t)
            s = dc_error(DC_ERR_INVALID, "%s: input '%s' is missing", path, name);
        else if (strcmp(name, "ibot_index") && strcmp(name, "ibot_weight"))
            s = dc_session_set_input(sess, name, t);
        else if ((s = fit_masked_rows(st, &p->buffers[p->inputs[i].buffer], t, &fitted)) == DC_OK)
            s = dc_session_set_input(sess, name, &fitted);
    }
    dc_safetensors_destroy(st);
    return s == DC_OK ? DC_OK : dc_error_context(s, "%s", path);
}

/* Buffer b of the session as a tensor named `name`, without copying it: the
 * results are written straight from the session's regions. */
static dc_tensor buffer_view(dc_session *sess, const dc_plan *p, int b, char *name)
{
    const dc_plan_buffer *pb = &p->buffers[b];
    dc_tensor t = {.name = name, .dtype = pb->dtype, .rank = pb->rank,
                   .data = dc_session_buffer(sess, b), .nbytes = (size_t)pb->nbytes};
    memcpy(t.dims, pb->dims, sizeof(int64_t) * (size_t)pb->rank);
    return t;
}

static char *join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static dc_status write_tensors(const char *dir, const char *file, dc_tensor *ts, int n)
{
    char *path = join(dir, file);
    dc_tensor **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    for (int i = 0; ptrs && i < n; i++)
        ptrs[i] = &ts[i];
    dc_status s = path && ptrs ? dc_safetensors_save(path, ptrs, n, NULL, NULL, 0)
                               : dc_error(DC_ERR_NOMEM, "%s", file);
    free(ptrs);
    free(path);
    return s;
}

/* The state buffers a session reads and writes: each once (an in-place
 * update's output views its state). */
static bool is_state_root(const dc_plan *p, int b)
{
    bool root = p->buffers[b].region == DC_REGION_STATE;
    for (int k = 0; root && k < b; k++)
        root = !(p->buffers[k].region == DC_REGION_STATE &&
                 p->buffers[k].offset == p->buffers[b].offset);
    return root;
}

/* losses.json, gradients.safetensors, state.safetensors */
static dc_status write_results(dc_session *sess, const dc_plan *p, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dc_error(DC_ERR_IO, "%s: %s", dir, strerror(errno));
    json_object *losses = json_object_new_object();
    dc_tensor *ts = calloc((size_t)p->n_buffers + 1, sizeof *ts);
    /* Gradient names without ".grad", one per output at most. */
    char **names = calloc((size_t)p->n_outputs + 1, sizeof *names);
    if (!losses || !ts || !names) {
        json_object_put(losses);
        free(ts);
        free(names);
        return dc_error(DC_ERR_NOMEM, "results");
    }
    int n = 0, n_names = 0;
    dc_status s = DC_OK;
    for (int i = 0; s == DC_OK && i < p->n_outputs; i++) {
        const char *name = p->outputs[i].name;
        size_t len = strlen(name);
        if (len > 5 && strcmp(name + len - 5, ".grad") == 0) {
            char *param = names[n_names++] = strndup(name, len - 5);
            if (param)
                ts[n++] = buffer_view(sess, p, p->outputs[i].buffer, param);
            else
                s = dc_error(DC_ERR_NOMEM, "output name");
        } else {
            double v = *(const float *)dc_session_buffer(sess, p->outputs[i].buffer);
            json_object_object_add(losses, name, json_object_new_double(v));
        }
    }
    if (s == DC_OK && n > 0) /* a step compiled without gradient outputs has none */
        s = write_tensors(dir, "gradients.safetensors", ts, n);
    n = 0;
    for (int b = 0; s == DC_OK && b < p->n_buffers; b++)
        if (is_state_root(p, b))
            ts[n++] = buffer_view(sess, p, b, p->buffers[b].name);
    if (s == DC_OK)
        s = write_tensors(dir, "state.safetensors", ts, n);
    for (int i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    free(ts);
    char *path = join(dir, "losses.json");
    if (s == DC_OK && (!path || json_object_to_file_ext(path, losses, JSON_C_TO_STRING_PRETTY) != 0))
        s = dc_error(DC_ERR_IO, "%s: cannot write", path ? path : "losses.json");
    free(path);
    json_object_put(losses);
    return s;
}


typedef struct step_request {
    dc_dinov2_training training;
    const char *init;
} step_request;

/* The training step, then the initial state (optimizer moments included,
 * which exist only once the step is made). */
static dc_status make_step(dc_graph *g, void *ctx)
{
    step_request *r = ctx;
    DC_TRY(dc_dinov2_add_training(g, &r->training));
    return dc_load_state(g, r->init);
}

/* The plan of a config's step with `init` as its starting state; the
 * session runs generated kernels when DINOC_CODEGEN asks for them. */
static dc_status compile_step(const char *config, const char *const *overrides, int n_overrides,
                              const char *init_path, int threads, dc_plan **plan,
                              dc_artifact **generated, dc_session **sess)
{
    dc_dinov2_config c;
    DC_TRY(dc_dinov2_config_load(config, overrides, n_overrides, &c));
    dc_dinov2_options build_opt = {.training = false, .seed = 0};
    dc_graph *g;
    DC_TRY(dc_dinov2_build(&c, &build_opt, &g));
    step_request req = {.training = {.config = &c, .grad_outputs = true}, .init = init_path};
    dc_graph_transform step = {make_step, &req};
    dc_status s = dc_pipeline_compile(g, &(dc_pipeline_options){.training = &step}, plan);
    /* The plan owns everything the session needs; the graph (with its copy
     * of every parameter) and, once copied, the plan's initial contents
     * would only add to the step's peak memory. */
    dc_graph_destroy(g);
    if (s == DC_OK)
        s = dc_codegen_env_artifact(*plan, generated);
    if (s == DC_OK)
        s = *generated ? dc_session_create_artifact(*generated, threads, sess)
                       : dc_session_create(*plan, threads, sess);
    if (s == DC_OK)
        dc_plan_release_contents(*plan);
    return s;
}

/* A compiled step's state replaced by `init`, with dc_load_state's rules:
 * every parameter and center there with its exact type, nothing else, and
 * optimizer state that is absent keeps the artifact's (zero) values. */
static dc_status load_session_state(dc_session *sess, const dc_plan *p, const char *path)
{
    dc_safetensors *st;
    DC_TRY(dc_safetensors_load(path, &st));
    dc_status s = DC_OK;
    int found = 0;
    char a[128], b[128];
    for (int i = 0; s == DC_OK && i < p->n_buffers; i++) {
        const dc_plan_buffer *pb = &p->buffers[i];
        if (!is_state_root(p, i))
            continue;
        const dc_tensor *t = dc_safetensors_get(st, pb->name);
        dc_type want = dc_type_make(pb->dtype, pb->rank, pb->dims);
        if (!t) {
            if (!is_optimizer_state(pb->name))
                s = dc_error(DC_ERR_INVALID, "%s: tensor '%s' is missing", path, pb->name);
            continue;
        }
        found++;
        dc_type got = dc_type_make(t->dtype, t->rank, t->dims);
        bool same = t->dtype == pb->dtype && t->rank == pb->rank &&
                    memcmp(t->dims, pb->dims, sizeof(int64_t) * (size_t)pb->rank) == 0;
        if (!same)
            s = dc_error(DC_ERR_SHAPE, "%s: tensor '%s': expected %s, found %s", path, pb->name,
                         dc_type_str(&want, a, sizeof a), dc_type_str(&got, b, sizeof b));
        else
            memcpy(dc_session_buffer(sess, i), t->data, t->nbytes);
    }
    for (int i = 0; s == DC_OK && found < st->n_tensors && i < st->n_tensors; i++) {
        bool known = false;
        for (int k = 0; !known && k < p->n_buffers; k++)
            known = is_state_root(p, k) && strcmp(p->buffers[k].name, st->tensors[i]->name) == 0;
        if (!known && !is_optimizer_state(st->tensors[i]->name))
            s = dc_error(DC_ERR_INVALID, "%s: tensor '%s' is not state of this step (a checkpoint "
                         "of another config?)", path, st->tensors[i]->name);
    }
    dc_safetensors_destroy(st);
    return s;
}

/* A step compiled ahead of time (`dinoc compile --config NAME -o STEP.so`)
 * with `init` as its starting state. */
static dc_status open_step(const char *path, const char *init_path, int threads,
                           dc_artifact **artifact, dc_session **sess)
{
    DC_TRY(dc_artifact_open(path, artifact));
    const dc_plan *p = dc_artifact_plan(*artifact);
    if (!p->recipe || !p->recipe[0])
        return dc_error(DC_ERR_INVALID, "%s: not a DINOv2 training step (compile it with dinoc "
                        "compile --config NAME)", path);
    DC_TRY(dc_session_create_artifact(*artifact, threads, sess));
    return load_session_state(*sess, p, init_path);
}

dc_status dc_dinov2_step(const char *config, const char *const *overrides, int n_overrides,
                         const char *init_path, const char *batch_path, const char *out_dir,
                         dc_dinov2_step_options *opt)
{
    bool compiled = dc_artifact_is_file(config);
    if (compiled && n_overrides > 0)
        return dc_error(DC_ERR_INVALID, "%s: overrides change the compiled step; recompile with "
                        "them (dinoc compile --config NAME FIELD=VALUE...)", config);
    int threads = opt ? opt->threads : 0;
    dc_plan *own_plan = NULL;
    dc_session *sess = NULL;
    dc_artifact *artifact = NULL;
    dc_status s = compiled ? open_step(config, init_path, threads, &artifact, &sess)
                           : compile_step(config, overrides, n_overrides, init_path, threads,
                                          &own_plan, &artifact, &sess);
    const dc_plan *plan = own_plan ? own_plan : artifact ? dc_artifact_plan(artifact) : NULL;
    if (s == DC_OK && opt)
        dc_session_memory_use(sess, &opt->memory);
    if (s == DC_OK)
        s = set_batch(sess, plan, batch_path);
    bool profile = opt && opt->profile, timed = opt && opt->repeat > 0;
    if (s == DC_OK && profile && !timed)
        dc_session_set_profile(sess, true);
    if (s == DC_OK)
        s = dc_session_run(sess);
    if (s == DC_OK)
        s = write_results(sess, plan, out_dir);
    if (s == DC_OK && profile && timed)
        dc_session_set_profile(sess, true);
    if (s == DC_OK && timed)
        s = dc_session_time_runs(sess, opt->repeat, &opt->median_ms, &opt->min_ms);
    if (s == DC_OK && profile)
        dc_session_print_profile(sess, stdout);
    dc_session_destroy(sess);
    dc_artifact_close(artifact);
    dc_plan_destroy(own_plan);
    return s;
}
