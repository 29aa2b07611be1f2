#include "dnnl_util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_context.h"

static const char *dnnl_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    }
    return "unknown status";
}

static const char *node_name(const dc_plan_step *step)
{
    return step && step->node ? step->node : "?";
}

static const char *op_name(const dc_plan_step *step)
{
    return step && step->op_type ? step->op_type : "?";
}

dc_status dc_dnnl_fail(const dc_plan_step *step, dnnl_status_t s, const char *what)
{
    int len = (int)strcspn(what, "(");
    dc_status st = s == dnnl_unimplemented   ? DC_ERR_UNSUPPORTED
                   : s == dnnl_out_of_memory ? DC_ERR_NOMEM
                                             : DC_ERR_INVALID;
    return dc_error(st, "node '%s' (dnnl.%s): oneDNN %.*s failed: %s", node_name(step),
                    op_name(step), len, what, dnnl_status_str(s));
}

dc_status dc_dnnl_refuse(const dc_kernel_args *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)a;
    /* Short on purpose: --explain prints it next to the node already. */
    return dc_error(DC_ERR_UNSUPPORTED, "%s", msg);
}

dc_status dc_dnnl_shape_error(const dc_kernel_args *a, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dc_error(DC_ERR_SHAPE, "node '%s' (dnnl.%s): %s", node_name(a->step),
                    op_name(a->step), msg);
}

int64_t dc_dnnl_numel(const dc_plan_buffer *b)
{
    int64_t n = 1;
    for (int i = 0; i < b->rank; i++)
        n *= b->dims[i];
    return n;
}

const char *dc_dnnl_dims_str(char *buf, size_t size, int rank, const int64_t *dims)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)dims[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

static dc_status check_buffer(const dc_kernel_args *a, const dc_plan_buffer *b, const char *kind,
                              int index, int max_rank)
{
    if (b->dtype != DC_F32)
        return dc_dnnl_refuse(a, "%s %d ('%s') is %s; dnnl kernels take float32 only", kind, index,
                              b->name ? b->name : "?", dc_dtype_name(b->dtype));
    if (b->rank > max_rank)
        return dc_dnnl_refuse(a, "%s %d has rank %d; at most %d here", kind, index, b->rank,
                              max_rank);
    for (int i = 0; i < b->rank; i++)
        if (b->dims[i] <= 0)
            return dc_dnnl_refuse(a, "%s %d is empty", kind, index);
    return DC_OK;
}

dc_status dc_dnnl_check_args(const dc_kernel_args *a, int min_in, int max_in, int min_out,
                             int max_out, int max_rank)
{
    const dc_plan_step *s = a->step;
    if (s->n_inputs < min_in || s->n_inputs > max_in)
        return dc_dnnl_shape_error(a, "%d inputs; expected %d to %d", s->n_inputs, min_in, max_in);
    if (s->n_outputs < min_out || s->n_outputs > max_out)
        return dc_dnnl_shape_error(a, "%d outputs; expected %d to %d", s->n_outputs, min_out,
                                   max_out);
    for (int i = 0; i < s->n_inputs; i++) {
        if (!a->in[i]) {
            if (i < min_in)
                return dc_dnnl_shape_error(a, "required input %d is missing", i);
            continue;
        }
        DC_TRY(check_buffer(a, a->in[i], "input", i, max_rank));
    }
    for (int i = 0; i < s->n_outputs; i++) {
        if (!a->out[i]) {
            if (i < min_out)
                return dc_dnnl_shape_error(a, "required output %d is missing", i);
            continue;
        }
        DC_TRY(check_buffer(a, a->out[i], "output", i, max_rank));
    }
    return DC_OK;
}

dc_status dc_dnnl_md(const dc_kernel_args *a, dnnl_memory_desc_t *md, int rank,
                     const int64_t *dims, const int64_t *strides)
{
    dnnl_dims_t d = {1}, s = {1};
    if (rank > DNNL_MAX_NDIMS)
        return dc_dnnl_refuse(a, "rank %d is above oneDNN's %d", rank, DNNL_MAX_NDIMS);
    for (int i = 0; i < rank; i++) {
        d[i] = dims[i];
        if (strides)
            s[i] = strides[i];
    }
    DC_DNNL_TRY(a, dnnl_memory_desc_init_by_strides(md, rank ? rank : 1, d, dnnl_f32,
                                                    strides && rank ? s : NULL));
    return DC_OK;
}

/* The engine `check` uses when the compiler calls it without a context. */
static pthread_once_t check_engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t check_engine;
static dnnl_status_t check_engine_status;

static void make_check_engine(void)
{
    check_engine_status = dnnl_engine_create(&check_engine, dnnl_cpu, 0);
}

dc_status dc_dnnl_engine(const dc_kernel_args *a, dnnl_engine_t *engine)
{
    if (a->ctx) {
        *engine = a->ctx->engine;
        return DC_OK;
    }
    pthread_once(&check_engine_once, make_check_engine);
    if (check_engine_status != dnnl_success)
        return dc_dnnl_fail(a->step, check_engine_status, "dnnl_engine_create");
    *engine = check_engine;
    return DC_OK;
}

static dc_status make_attr(const dc_kernel_args *a, const dc_dnnl_attr *spec,
                           dnnl_primitive_attr_t *out)
{
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po = NULL;
    DC_DNNL_TRY(a, dnnl_primitive_attr_create(&attr));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    const char *what = "dnnl_primitive_attr_set_scratchpad_mode";
    if (s == dnnl_success && spec && spec->scale != 1.0f) {
        s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &spec->scale);
        what = "dnnl_primitive_attr_set_output_scales";
    }
    if (s == dnnl_success && spec && spec->n_post > 0) {
        s = dnnl_post_ops_create(&po);
        what = "dnnl_post_ops_create";
        for (int i = 0; s == dnnl_success && i < spec->n_post; i++) {
            if (spec->post[i].binary) {
                s = dnnl_post_ops_append_binary(po, spec->post[i].alg, &spec->post[i].md);
                what = "dnnl_post_ops_append_binary";
            } else {
                s = dnnl_post_ops_append_eltwise(po, 1.0f, spec->post[i].alg,
                                                 spec->post[i].alpha, spec->post[i].beta);
                what = "dnnl_post_ops_append_eltwise";
            }
        }
        if (s == dnnl_success) {
            s = dnnl_primitive_attr_set_post_ops(attr, po);
            what = "dnnl_primitive_attr_set_post_ops";
        }
        if (po)
            dnnl_post_ops_destroy(po);
    }
    if (s != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return dc_dnnl_fail(a->step, s, what);
    }
    *out = attr;
    return DC_OK;
}

static const char *impl_of(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return "?";
    return impl;
}

dc_status dc_dnnl_pd(const dc_kernel_args *a, const void *op_desc, const dc_dnnl_attr *spec,
                     const char *what, dnnl_primitive_desc_t *pd)
{
    return dc_dnnl_pd_hint(a, op_desc, spec, what, NULL, pd);
}

dc_status dc_dnnl_pd_hint(const dc_kernel_args *a, const void *op_desc, const dc_dnnl_attr *spec,
                          const char *what, const_dnnl_primitive_desc_t hint,
                          dnnl_primitive_desc_t *pd)
{
    dnnl_engine_t engine = NULL;
    dnnl_primitive_attr_t attr;
    DC_TRY(dc_dnnl_engine(a, &engine));
    DC_TRY(make_attr(a, spec, &attr));
    dnnl_status_t s = dnnl_primitive_desc_create(pd, op_desc, attr, engine, hint);
    dnnl_primitive_attr_destroy(attr);
    if (s == dnnl_unimplemented)
        return dc_dnnl_refuse(a, "oneDNN has no %s implementation for these shapes/attributes",
                              what);
    if (s != dnnl_success)
        return dc_dnnl_fail(a->step, s, what);
    const char *impl = impl_of(*pd);
    if (strncmp(impl, "ref", 3) == 0) {
        dc_status st = dc_dnnl_refuse(a, "oneDNN has only its reference %s implementation (%s) "
                                         "for these shapes", what, impl);
        dnnl_primitive_desc_destroy(*pd);
        *pd = NULL;
        return st;
    }
    return DC_OK;
}

dc_status dc_dnnl_reorder_pd(const dc_kernel_args *a, const dnnl_memory_desc_t *from,
                             const dnnl_memory_desc_t *to, dnnl_primitive_desc_t *pd)
{
    dnnl_engine_t engine = NULL;
    dnnl_primitive_attr_t attr;
    DC_TRY(dc_dnnl_engine(a, &engine));
    DC_TRY(make_attr(a, NULL, &attr));
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(pd, from, engine, to, engine, attr);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success)
        return dc_dnnl_fail(a->step, s, "dnnl_reorder_primitive_desc_create");
    return DC_OK;
}

dc_status dc_dnnl_memory(const dc_kernel_args *a, dc_dnnl_state *st,
                         const dnnl_memory_desc_t *md, void *data, dnnl_memory_t *out)
{
    dnnl_engine_t engine = NULL;
    if (st->n_mems >= DC_DNNL_MAX_MEMS)
        return dc_error(DC_ERR_INVALID, "node '%s' (dnnl.%s): too many oneDNN memories",
                        node_name(a->step), op_name(a->step));
    DC_TRY(dc_dnnl_engine(a, &engine));
    DC_DNNL_TRY(a, dnnl_memory_create(out, md, engine, data ? data : DNNL_MEMORY_ALLOCATE));
    st->mems[st->n_mems++] = *out;
    return DC_OK;
}

static void append_impl(dc_dnnl_state *st, const char *impl)
{
    size_t used = strlen(st->impl);
    snprintf(st->impl + used, sizeof st->impl - used, "%s%s", used ? " + " : "", impl);
}

static dc_status add_exec(const dc_kernel_args *a, dc_dnnl_state *st,
                            const_dnnl_primitive_desc_t pd, const dc_dnnl_bind *binds,
                            int n_binds, bool once)
{
    if (st->n_exec >= DC_DNNL_MAX_EXECS || n_binds + 1 > DC_DNNL_MAX_ARGS)
        return dc_error(DC_ERR_INVALID, "node '%s' (dnnl.%s): too many primitives or arguments",
                        node_name(a->step), op_name(a->step));
    dc_dnnl_exec *ex = &st->exec[st->n_exec];
    ex->nargs = 0;
    for (int i = 0; i < n_binds; i++) {
        dnnl_memory_t mem = binds[i].mem;
        if (!mem) {
            const dnnl_memory_desc_t *md =
                dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, binds[i].arg);
            if (!md || md->ndims == 0)
                return dc_error(DC_ERR_INVALID,
                                "node '%s' (dnnl.%s): primitive has no argument %d",
                                node_name(a->step), op_name(a->step), binds[i].arg);
            DC_TRY(dc_dnnl_memory(a, st, md, binds[i].data, &mem));
        }
        ex->args[ex->nargs++] = (dnnl_exec_arg_t){binds[i].arg, mem};
    }
    /* User scratchpad: the session's shared one, so no run allocates and the
     * primitives together need only the largest one's bytes. */
    const dnnl_memory_desc_t *spmd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    ex->scratchpad = NULL;
    if (spmd && dnnl_memory_desc_get_size(spmd) > 0) {
        DC_TRY(dc_kernel_context_reserve_scratchpad(a->ctx, dnnl_memory_desc_get_size(spmd)));
        DC_TRY(dc_dnnl_memory(a, st, spmd, a->ctx->scratchpad, &ex->scratchpad));
        ex->scratchpad_at = a->ctx->scratchpad;
        ex->args[ex->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, ex->scratchpad};
    }
    DC_DNNL_TRY(a, dnnl_primitive_create(&ex->prim, pd));
    ex->once = once;
    ex->done = false;
    st->n_exec++;
    append_impl(st, impl_of(pd));
    return DC_OK;
}

dc_status dc_dnnl_add(const dc_kernel_args *a, dc_dnnl_state *st, dnnl_primitive_desc_t pd,
                      const dc_dnnl_bind *binds, int n_binds, bool once)
{
    dc_status s = st ? add_exec(a, st, pd, binds, n_binds, once) : DC_OK;
    dnnl_primitive_desc_destroy(pd);
    return s;
}

dc_status dc_dnnl_check(const dc_kernel_args *a, dc_dnnl_build_fn build)
{
    dc_status s = build(a, NULL);
    /* A oneDNN error while only describing the step means "not here": the
     * c.* kernel will run it (and report any real problem). */
    if (s == DC_ERR_INVALID)
        s = DC_ERR_UNSUPPORTED;
    return s;
}

dc_status dc_dnnl_prepare(const dc_kernel_args *a, dc_dnnl_build_fn build, void **state)
{
    *state = NULL;
    if (!a->ctx)
        return dc_error(DC_ERR_INVALID, "node '%s' (dnnl.%s): prepare needs a kernel context",
                        node_name(a->step), op_name(a->step));
    dc_dnnl_state *st = calloc(1, sizeof *st);
    if (!st)
        return dc_error(DC_ERR_NOMEM, "node '%s' (dnnl.%s): out of memory", node_name(a->step),
                        op_name(a->step));
    st->step = a->step;
    st->ctx = a->ctx;
    dc_status s = build(a, st);
    if (s != DC_OK) {
        dc_dnnl_release(st);
        return s;
    }
    *state = st;
    return DC_OK;
}

dc_status dc_dnnl_run(void *state)
{
    dc_dnnl_state *st = state;
    for (int i = 0; i < st->n_exec; i++) {
        dc_dnnl_exec *ex = &st->exec[i];
        if (ex->once && ex->done)
            continue;
        /* A later step's prepare may have grown (moved) the shared scratchpad. */
        if (ex->scratchpad && ex->scratchpad_at != st->ctx->scratchpad) {
            dnnl_status_t s = dnnl_memory_set_data_handle(ex->scratchpad, st->ctx->scratchpad);
            if (s != dnnl_success)
                return dc_dnnl_fail(st->step, s, "dnnl_memory_set_data_handle");
            ex->scratchpad_at = st->ctx->scratchpad;
        }
        dnnl_status_t s =
            dnnl_primitive_execute(ex->prim, st->ctx->stream, ex->nargs, ex->args);
        if (s != dnnl_success)
            return dc_dnnl_fail(st->step, s, "dnnl_primitive_execute");
        ex->done = true;
    }
    dnnl_status_t s = dnnl_stream_wait(st->ctx->stream);
    if (s != dnnl_success)
        return dc_dnnl_fail(st->step, s, "dnnl_stream_wait");
    if (st->post)
        st->post(st);
    return DC_OK;
}

void dc_dnnl_release(void *state)
{
    dc_dnnl_state *st = state;
    if (!st)
        return;
    for (int i = 0; i < st->n_exec; i++)
        dnnl_primitive_destroy(st->exec[i].prim);
    for (int i = 0; i < st->n_mems; i++)
        dnnl_memory_destroy(st->mems[i]);
    free(st);
}

void dc_onednn_version(char *out, size_t cap)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(out, cap, "%d.%d.%d", v->major, v->minor, v->patch);
}

const char *dc_dnnl_describe(void *state)
{
    const dc_dnnl_state *st = state;
    return st ? st->impl : "";
}
