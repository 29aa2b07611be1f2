/* Whole plans: generate every step the generator can, rewrite those steps to
 * name their llvm.* kernel, and write the shared-object artifact. */
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

static dc_status add_attr(dc_plan_step *st, dc_plan_attr at)
{
    dc_plan_attr *attrs = realloc(st->attrs, (size_t)(st->n_attrs + 1) * sizeof *attrs);
    if (!attrs)
        return dc_error(DC_ERR_NOMEM, "step '%s'", st->node);
    st->attrs = attrs;
    st->attrs[st->n_attrs++] = at;
    return DC_OK;
}

/* The step now names its generated kernel; everything else stays. */
static dc_status rewrite_step(dc_plan_step *st, const char *symbol, int64_t extent)
{
    char *kernel = NULL, *name_sym = strdup("llvm_symbol"), *sym = strdup(symbol),
         *name_ext = strdup("llvm_extent");
    if (asprintf(&kernel, "llvm.%s", st->op_type) < 0)
        kernel = NULL;
    dc_status s = DC_OK;
    if (!kernel || !name_sym || !sym || !name_ext)
        s = dc_error(DC_ERR_NOMEM, "step '%s'", st->node);
    if (s == DC_OK)
        s = add_attr(st, (dc_plan_attr){.name = name_sym, .type = DC_PLAN_ATTR_STRING, .s = sym});
    if (s == DC_OK) {
        name_sym = sym = NULL;
        s = add_attr(st, (dc_plan_attr){.name = name_ext, .type = DC_PLAN_ATTR_INT, .i = extent});
    }
    if (s == DC_OK) {
        name_ext = NULL;
        free(st->kernel);
        st->kernel = kernel;
        kernel = NULL;
    }
    free(kernel);
    free(name_sym);
    free(sym);
    free(name_ext);
    return s;
}

/* A kernel with per-thread scratch says how many bytes (dc_artifact.h). */
static dc_status add_scratch(dc_plan_step *st, int64_t bytes)
{
    char *name = strdup("llvm_scratch");
    dc_status s = name ? add_attr(st, (dc_plan_attr){.name = name, .type = DC_PLAN_ATTR_INT,
                                                     .i = bytes})
                       : dc_error(DC_ERR_NOMEM, "step '%s'", st->node);
    if (s != DC_OK)
        free(name);
    return s;
}

/* A step that reads indices names its index check too (cg_index.c). */
static dc_status add_index_check(dc_plan_step *st, const char *symbol)
{
    char *name = strdup("llvm_index_check"), *check = NULL;
    if (asprintf(&check, "%s%s", symbol, CG_INDEX_CHECK_SUFFIX) < 0)
        check = NULL;
    dc_status s = name && check ? add_attr(st, (dc_plan_attr){.name = name,
                                                              .type = DC_PLAN_ATTR_STRING,
                                                              .s = check})
                                : dc_error(DC_ERR_NOMEM, "step '%s'", st->node);
    if (s != DC_OK) {
        free(name);
        free(check);
    }
    return s;
}

/* Why step i is left to its kernel, or NULL when it is generated. */
static const char *skip_reason(const dc_plan *plan, int i, const dc_codegen_options *opt,
                               char *buf, size_t cap)
{
    const dc_plan_step *st = &plan->steps[i];
    if (strncmp(st->kernel, "llvm.", 5) == 0 || dc_step_attr(st, "llvm_symbol")) {
        snprintf(buf, cap, "already generated");
        return buf;
    }
    if (strncmp(st->kernel, "dnnl.", 5) == 0 && !opt->replace_dnnl) {
        snprintf(buf, cap, "oneDNN ranks first");
        return buf;
    }
    return dc_codegen_refusal(plan, i, buf, cap);
}

dc_status dc_codegen_plan(dc_codegen *cg, dc_plan *plan, const dc_codegen_options *opt,
                          int *n_generated)
{
    static const dc_codegen_options defaults = {0};
    opt = opt ? opt : &defaults;
    *n_generated = 0;
    for (int i = 0; i < plan->n_steps; i++) {
        dc_plan_step *st = &plan->steps[i];
        char why[256], symbol[160];
        if (skip_reason(plan, i, opt, why, sizeof why)) {
            if (opt->explain)
                fprintf(opt->explain, "codegen: step %d '%s' %s: %s stays (%s)\n", i, st->node,
                        st->op_type, st->kernel, why);
            continue;
        }
        snprintf(symbol, sizeof symbol, "dinoc_step%d_%.100s", i, st->op_type);
        int64_t extent, scratch = dc_codegen_step_scratch(plan, i);
        DC_TRY(dc_codegen_add_step(cg, plan, i, symbol, &extent));
        if (opt->explain)
            fprintf(opt->explain, "codegen: step %d '%s' %s: llvm.%s replaces %s (%s, %lld "
                    "parallel iterations)\n", i, st->node, st->op_type, st->op_type, st->kernel,
                    symbol, (long long)extent);
        DC_TRY(rewrite_step(st, symbol, extent));
        if (cg_has_index_check(st->op_type))
            DC_TRY(add_index_check(st, symbol));
        if (scratch > 0)
            DC_TRY(add_scratch(st, scratch));
        ++*n_generated;
    }
    return DC_OK;
}

dc_status dc_codegen_write_artifact(dc_plan *plan, const dc_codegen_options *opt,
                                    const char *path, int *n_generated)
{
    dc_codegen *cg;
    DC_TRY(dc_codegen_create(opt ? opt->target : NULL, &cg));
    dc_status s = dc_codegen_plan(cg, plan, opt, n_generated);
    void *bytes = NULL;
    size_t size = 0;
    if (s == DC_OK)
        s = dc_plan_serialize(plan, path, &bytes, &size);
    if (s == DC_OK)
        s = dc_codegen_write_shared_object(cg, bytes, size, path);
    free(bytes);
    dc_codegen_destroy(cg);
    return s;
}
