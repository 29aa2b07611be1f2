/* Small shared-object artifacts made at test time, for the loader's tests
 * (until then without the code generator, and after it without LLVM):
 * a C source with the exports dc_artifact.h describes, compiled with
 * `cc -shared -fPIC` ($DINOC_CC overrides cc). Any .dnc can be wrapped the
 * same way (a plan without generated kernels is a valid artifact too).
 *
 * The plan is real: x f32[37,5] + w f32[5] (a constant) -> t, then Relu(t) -> y.
 * Step 0 is llvm.Add, symbol dinoc_step0_Add, extent 37 (rows), whose C body
 * adds the baked-in shapes row by row over [begin, end) and records each call's
 * chunk in test_chunks/test_calls (exported) so tests can see the split;
 * step 1 is the runtime's c.Relu. */
#ifndef DC_ARTIFACT_FIXTURE_H
#define DC_ARTIFACT_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dc_plan.h"

enum { FIX_ROWS = 37, FIX_COLS = 5 };

static const float fixture_w[FIX_COLS] = {0.5f, -1.0f, 2.0f, -3.5f, 0.25f};

typedef struct fixture_options {
    const char *abi;          /* NULL: DC_ARTIFACT_ABI's "dinoc-artifact-1" */
    const char *target;       /* NULL: "test-x86-64" */
    const char *features;     /* NULL: "" (plain x86-64) */
    bool omit_plan_size;      /* export no dinoc_artifact_plan_size */
    bool omit_kernel;         /* define no dinoc_step0_Add */
    uint64_t plan_size_extra; /* added to the declared plan size */
    const char *plan_file;    /* the plan: this .dnc (no generated kernel); NULL: the fixture's */
} fixture_options;

static inline char *fixture_strdup(const char *s)
{
    char *r = malloc(strlen(s) + 1);
    strcpy(r, s);
    return r;
}

static inline void fixture_buffer(dc_plan_buffer *b, const char *name, int rank, int64_t d0,
                                  int64_t d1, dc_region region, uint64_t offset)
{
    *b = (dc_plan_buffer){.name = fixture_strdup(name), .dtype = DC_F32, .rank = rank,
                          .dims = {d0, d1}, .region = region, .offset = offset,
                          .nbytes = (uint64_t)(rank == 2 ? d0 * d1 : d0) * 4};
}

static inline void fixture_step(dc_plan_step *s, const char *kernel, const char *op,
                                const char *node, int n_in, const int32_t *args)
{
    *s = (dc_plan_step){.kernel = fixture_strdup(kernel), .op_type = fixture_strdup(op),
                        .node = fixture_strdup(node), .n_inputs = n_in, .n_outputs = 1};
    s->args = malloc((size_t)(n_in + 1) * sizeof *s->args);
    memcpy(s->args, args, (size_t)(n_in + 1) * sizeof *args);
}

/* The plan above; `llvm` false makes step 0 c.Add (a plain plan). */
static inline dc_plan *fixture_plan(bool llvm)
{
    dc_plan *p = calloc(1, sizeof *p);
    uint64_t slot = 768; /* 37·5·4 = 740 bytes, rounded up to DC_PLAN_ALIGN */
    p->region_bytes[DC_REGION_ARENA] = 3 * slot;
    p->region_bytes[DC_REGION_CONST] = 64;
    p->constants = calloc(1, 64);
    memcpy(p->constants, fixture_w, sizeof fixture_w);
    p->n_buffers = 4;
    p->buffers = calloc(4, sizeof *p->buffers);
    fixture_buffer(&p->buffers[0], "x", 2, FIX_ROWS, FIX_COLS, DC_REGION_ARENA, 0);
    fixture_buffer(&p->buffers[1], "w", 1, FIX_COLS, 0, DC_REGION_CONST, 0);
    fixture_buffer(&p->buffers[2], "t", 2, FIX_ROWS, FIX_COLS, DC_REGION_ARENA, slot);
    fixture_buffer(&p->buffers[3], "y", 2, FIX_ROWS, FIX_COLS, DC_REGION_ARENA, 2 * slot);
    p->n_steps = 2;
    p->steps = calloc(2, sizeof *p->steps);
    fixture_step(&p->steps[0], llvm ? "llvm.Add" : "c.Add", "Add", "add0", 2,
                 (const int32_t[]){0, 1, 2});
    fixture_step(&p->steps[1], "c.Relu", "Relu", "relu1", 1, (const int32_t[]){2, 3});
    if (llvm) {
        dc_plan_step *s = &p->steps[0];
        s->n_attrs = 2;
        s->attrs = calloc(2, sizeof *s->attrs);
        s->attrs[0] = (dc_plan_attr){.name = fixture_strdup("llvm_symbol"),
                                     .type = DC_PLAN_ATTR_STRING,
                                     .s = fixture_strdup("dinoc_step0_Add")};
        s->attrs[1] = (dc_plan_attr){.name = fixture_strdup("llvm_extent"),
                                     .type = DC_PLAN_ATTR_INT, .i = FIX_ROWS};
    }
    p->n_inputs = p->n_outputs = 1;
    p->inputs = calloc(1, sizeof *p->inputs);
    p->outputs = calloc(1, sizeof *p->outputs);
    p->inputs[0] = (dc_plan_io){fixture_strdup("x"), 0};
    p->outputs[0] = (dc_plan_io){fixture_strdup("y"), 3};
    p->producer = fixture_strdup("artifact fixture");
    return p;
}

/* The whole file at `path` (malloc'ed), or NULL. */
static inline uint8_t *fixture_read(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc(n > 0 ? (size_t)n : 1);
    *size = d && n > 0 ? fread(d, 1, (size_t)n, f) : 0;
    fclose(f);
    return d;
}

/* Writes and compiles the artifact `so_path` (its source `so_path`.c beside
 * it, removed afterwards); 0 on success. The plan bytes are the file
 * o->plan_file (a .dnc), or the fixture plan's, included with .incbin. */
static inline int fixture_build(const char *so_path, const fixture_options *o)
{
    char dnc[512], src[512], cmd[2048];
    snprintf(dnc, sizeof dnc, "%s.dnc", so_path);
    snprintf(src, sizeof src, "%s.c", so_path);
    if (o->plan_file) {
        snprintf(dnc, sizeof dnc, "%s", o->plan_file);
    } else {
        dc_plan *p = fixture_plan(true);
        dc_status st = dc_plan_write(p, dnc);
        dc_plan_destroy(p);
        if (st != DC_OK)
            return -1;
    }
    size_t size = 0;
    free(fixture_read(dnc, &size));
    FILE *f = size ? fopen(src, "w") : NULL;
    if (!f)
        return -1;
    fprintf(f, "#include <stdint.h>\n");
    fprintf(f, "const char dinoc_artifact_abi[] = \"%s\";\n", o->abi ? o->abi : "dinoc-artifact-1");
    fprintf(f, "const char dinoc_artifact_target[] = \"%s\";\n",
            o->target ? o->target : "test-x86-64");
    fprintf(f, "const char dinoc_artifact_cpu_features[] = \"%s\";\n",
            o->features ? o->features : "");
    fprintf(f, "__asm__(\".section .rodata\\n.balign 64\\n.globl dinoc_artifact_plan\\n"
               ".type dinoc_artifact_plan, @object\\ndinoc_artifact_plan:\\n.incbin \\\"%s\\\"\\n"
               ".size dinoc_artifact_plan, . - dinoc_artifact_plan\\n.previous\\n\");\n", dnc);
    if (!o->omit_plan_size)
        fprintf(f, "const uint64_t dinoc_artifact_plan_size = %zuu + %lluu;\n", size,
                (unsigned long long)o->plan_size_extra);
    fprintf(f, "int64_t test_chunks[64][2];\nint test_calls;\n");
    if (!o->omit_kernel && !o->plan_file)
        fprintf(f,
                "void dinoc_step0_Add(void *const *args, int64_t begin, int64_t end)\n{\n"
                "    const float *x = args[0], *w = args[1];\n    float *t = args[2];\n"
                "    int k = __atomic_fetch_add(&test_calls, 1, __ATOMIC_SEQ_CST);\n"
                "    if (k < 64) { test_chunks[k][0] = begin; test_chunks[k][1] = end; }\n"
                "    for (int64_t r = begin; r < end; r++)\n"
                "        for (int c = 0; c < %d; c++)\n"
                "            t[r * %d + c] = x[r * %d + c] + w[c];\n}\n",
                FIX_COLS, FIX_COLS, FIX_COLS);
    fclose(f);
    const char *cc = getenv("DINOC_CC");
    snprintf(cmd, sizeof cmd, "%s -shared -fPIC -O1 -o '%s' '%s'", cc && *cc ? cc : "cc", so_path,
             src);
    int rc = system(cmd);
    unlink(src);
    if (!o->plan_file)
        unlink(dnc);
    return rc;
}

#endif
