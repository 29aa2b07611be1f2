/* The generator's life: a module for one target, kernels added step by step
 * (dispatched to the family that knows the op), O3, and its text forms. */
#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cg_internal.h"

dc_status dc_codegen_create(const char *target, dc_codegen **out)
{
    *out = NULL;
    dc_codegen *cg = calloc(1, sizeof *cg);
    if (!cg)
        return dc_error(DC_ERR_NOMEM, "code generator");
    dc_status s = cg_target_init(cg, target);
    if (s != DC_OK) {
        dc_codegen_destroy(cg);
        return s;
    }
    cg->ctx = LLVMContextCreate();
    cg->mod = LLVMModuleCreateWithNameInContext("dinoc_kernels", cg->ctx);
    cg->b = LLVMCreateBuilderInContext(cg->ctx);
    LLVMSetTarget(cg->mod, cg->triple);
    LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(cg->tm);
    char *layout_text = LLVMCopyStringRepOfTargetData(layout);
    LLVMSetDataLayout(cg->mod, layout_text);
    LLVMDisposeMessage(layout_text);
    LLVMDisposeTargetData(layout);
    cg->f32 = LLVMFloatTypeInContext(cg->ctx);
    cg->i1 = LLVMInt1TypeInContext(cg->ctx);
    cg->i32 = LLVMInt32TypeInContext(cg->ctx);
    cg->i64 = LLVMInt64TypeInContext(cg->ctx);
    cg->ptr = LLVMPointerTypeInContext(cg->ctx, 0);
    cg->void_t = LLVMVoidTypeInContext(cg->ctx);
    *out = cg;
    return DC_OK;
}

void dc_codegen_destroy(dc_codegen *cg)
{
    if (!cg)
        return;
    if (cg->b)
        LLVMDisposeBuilder(cg->b);
    if (cg->mod)
        LLVMDisposeModule(cg->mod);
    if (cg->ctx)
        LLVMContextDispose(cg->ctx);
    if (cg->tm)
        LLVMDisposeTargetMachine(cg->tm);
    free(cg->triple);
    free(cg->cpu);
    free(cg->features);
    free(cg->target_name);
    free(cg->gcc_features);
    free(cg);
}

const char *dc_codegen_target(const dc_codegen *cg) { return cg->target_name; }
const char *dc_codegen_cpu_features(const dc_codegen *cg) { return cg->gcc_features; }
int dc_codegen_vector_width(const dc_codegen *cg) { return cg->width; }

static const cg_family *find_family(const char *op_type)
{
    const struct {
        const cg_family *list;
        const int *n;
    } tables[] = {
        {cg_eltwise_families, &cg_n_eltwise_families},
        {cg_training_families, &cg_n_training_families},
        {cg_reduce_families, &cg_n_reduce_families},
        {cg_norm_grad_families, &cg_n_norm_grad_families},
        {cg_reduce_axes_families, &cg_n_reduce_axes_families},
        {cg_copy_families, &cg_n_copy_families},
        {cg_join_families, &cg_n_join_families},
        {cg_typed_eltwise_families, &cg_n_typed_eltwise_families},
        {cg_argmax_families, &cg_n_argmax_families},
        {cg_gather_families, &cg_n_gather_families},
        {cg_scatter_families, &cg_n_scatter_families},
        {cg_attention_families, &cg_n_attention_families},
    };
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (int i = 0; i < *tables[t].n; i++)
            if (strcmp(tables[t].list[i].op_type, op_type) == 0)
                return &tables[t].list[i];
    return NULL;
}

bool cg_has_index_check(const char *op_type)
{
    const cg_family *f = find_family(op_type);
    return f && f->index_check;
}

const char *dc_codegen_refusal(const dc_plan *plan, int index, char *buf, size_t cap)
{
    if (index < 0 || index >= plan->n_steps) {
        snprintf(buf, cap, "no step %d", index);
        return buf;
    }
    const dc_plan_step *st = &plan->steps[index];
    const cg_family *f = find_family(st->op_type);
    if (!f) {
        snprintf(buf, cap, "no generated kernel for %s", st->op_type);
        return buf;
    }
    return f->refusal(plan, st, buf, cap);
}

int64_t dc_codegen_step_scratch(const dc_plan *plan, int index)
{
    char why[256];
    if (dc_codegen_refusal(plan, index, why, sizeof why))
        return 0;
    const dc_plan_step *st = &plan->steps[index];
    const cg_family *f = find_family(st->op_type);
    return f->scratch ? f->scratch(plan, st) : 0;
}

dc_status dc_codegen_add_step(dc_codegen *cg, const dc_plan *plan, int index, const char *symbol,
                              int64_t *extent)
{
    char why[256];
    if (cg->optimized)
        return dc_error(DC_ERR_INVALID, "code generator: kernel '%s' added after optimisation",
                        symbol);
    if (dc_codegen_refusal(plan, index, why, sizeof why))
        return dc_error(DC_ERR_UNSUPPORTED, "step %d: %s", index, why);
    if (LLVMGetNamedFunction(cg->mod, symbol))
        return dc_error(DC_ERR_INVALID, "code generator: kernel '%s' defined twice", symbol);
    const dc_plan_step *st = &plan->steps[index];
    return find_family(st->op_type)->emit(cg, plan, st, symbol, extent);
}

dc_status dc_codegen_optimize(dc_codegen *cg)
{
    if (cg->optimized)
        return DC_OK;
    char *msg = NULL;
    if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &msg)) {
        dc_status s = dc_error(DC_ERR_INVALID, "generated LLVM IR is invalid: %s", msg);
        LLVMDisposeMessage(msg);
        return s;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMErrorRef err = LLVMRunPasses(cg->mod, "default<O3>", cg->tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    if (err) {
        char *m = LLVMGetErrorMessage(err);
        dc_status s = dc_error(DC_ERR_INVALID, "LLVM O3: %s", m);
        LLVMDisposeErrorMessage(m);
        return s;
    }
    cg->optimized = true;
    return DC_OK;
}

char *dc_codegen_ir_text(dc_codegen *cg)
{
    char *text = LLVMPrintModuleToString(cg->mod);
    char *copy = text ? strdup(text) : NULL;
    LLVMDisposeMessage(text);
    return copy;
}

char *dc_codegen_asm_text(dc_codegen *cg)
{
    char *err = NULL;
    LLVMMemoryBufferRef buf;
    if (LLVMTargetMachineEmitToMemoryBuffer(cg->tm, cg->mod, LLVMAssemblyFile, &err, &buf)) {
        LLVMDisposeMessage(err);
        return NULL;
    }
    size_t n = LLVMGetBufferSize(buf);
    char *text = malloc(n + 1);
    if (text) {
        memcpy(text, LLVMGetBufferStart(buf), n);
        text[n] = '\0';
    }
    LLVMDisposeMemoryBuffer(buf);
    return text;
}
