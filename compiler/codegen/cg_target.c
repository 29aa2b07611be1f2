/* Target selection: the CPU the kernels are compiled for, its vector width,
 * and the features a runtime must find on the CPU that loads them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cg_internal.h"

/* LLVM feature names whose GCC __builtin_cpu_supports spelling is the same,
 * in the order a level adds them. The runtime checks these. */
static const char *const checkable[] = {
    "sse3",       "ssse3",      "sse4.1",     "sse4.2",       "popcnt",     "avx",
    "avx2",       "bmi",        "bmi2",       "f16c",         "fma",        "lzcnt",
    "movbe",      "avx512f",    "avx512bw",   "avx512cd",     "avx512dq",   "avx512vl",
    "avx512vnni", "avx512bf16", "avx512vbmi", "avx512vbmi2",  "avx512ifma", "avx512bitalg",
    "avx512vpopcntdq", "aes",   "pclmul",     "gfni",         "vpclmulqdq",
};

/* The x86-64 micro-architecture levels: LLVM knows them as CPU names. The
 * features are the checkable ones each level requires (psABI levels). */
static const struct {
    const char *name;
    int n_features; /* a prefix of `checkable` */
    int width;
} levels[] = {
    {"x86-64-v2", 5, 4},
    {"x86-64-v3", 13, 8},
    {"x86-64-v4", 18, 16},
};

static char *join_features(const char *const *names, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++)
        len += strlen(names[i]) + 1;
    char *s = malloc(len), *at = s;
    if (!s)
        return NULL;
    *s = '\0';
    for (int i = 0; i < n; i++)
        at += sprintf(at, "%s%s", i ? "," : "", names[i]);
    return s;
}

/* Whether LLVM's feature string ("+avx2,-avx512f,...") enables `name`. */
static bool has_feature(const char *features, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = features; (p = strstr(p, name)) != NULL; p += n)
        if (p > features && p[-1] == '+' && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static dc_status init_native(dc_codegen *cg)
{
    char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
    cg->cpu = strdup(cpu);
    cg->features = strdup(features);
    const char *have[sizeof checkable / sizeof checkable[0]];
    int n = 0;
    for (size_t i = 0; i < sizeof checkable / sizeof checkable[0]; i++)
        if (has_feature(features, checkable[i]))
            have[n++] = checkable[i];
    cg->gcc_features = join_features(have, n);
    cg->width = has_feature(features, "avx512f") ? 16 : has_feature(features, "avx2") ? 8 : 4;
    if (asprintf(&cg->target_name, "native (%s)", cpu) < 0)
        cg->target_name = NULL;
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    return cg->cpu && cg->features && cg->gcc_features && cg->target_name
               ? DC_OK
               : dc_error(DC_ERR_NOMEM, "code generator target");
}

dc_status cg_target_init(dc_codegen *cg, const char *target)
{
    if (!target || strcmp(target, "native") == 0)
        DC_TRY(init_native(cg));
    else {
        size_t l = 0;
        while (l < sizeof levels / sizeof levels[0] && strcmp(levels[l].name, target) != 0)
            l++;
        if (l == sizeof levels / sizeof levels[0])
            return dc_error(DC_ERR_INVALID, "unknown target '%s' (expected native, x86-64-v2, "
                            "x86-64-v3 or x86-64-v4)", target);
        cg->cpu = strdup(levels[l].name);
        cg->features = strdup("");
        cg->target_name = strdup(levels[l].name);
        cg->gcc_features = join_features(checkable, levels[l].n_features);
        cg->width = levels[l].width;
        if (!cg->cpu || !cg->features || !cg->target_name || !cg->gcc_features)
            return dc_error(DC_ERR_NOMEM, "code generator target");
    }
    char *triple = LLVMGetDefaultTargetTriple();
    cg->triple = strdup(triple);
    LLVMDisposeMessage(triple);
    if (!cg->triple)
        return dc_error(DC_ERR_NOMEM, "code generator target");
    if (strncmp(cg->triple, "x86_64", 6) != 0)
        return dc_error(DC_ERR_UNSUPPORTED, "code generation targets x86-64; this LLVM's default "
                        "triple is %s", cg->triple);
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    LLVMTargetRef t;
    char *err = NULL;
    if (LLVMGetTargetFromTriple(cg->triple, &t, &err)) {
        dc_status s = dc_error(DC_ERR_UNSUPPORTED, "LLVM target %s: %s", cg->triple, err);
        LLVMDisposeMessage(err);
        return s;
    }
    cg->tm = LLVMCreateTargetMachine(t, cg->triple, cg->cpu, cg->features,
                                     LLVMCodeGenLevelAggressive, LLVMRelocPIC,
                                     LLVMCodeModelDefault);
    return cg->tm ? DC_OK
                  : dc_error(DC_ERR_UNSUPPORTED, "LLVM has no target machine for %s, cpu %s",
                             cg->triple, cg->cpu);
}
