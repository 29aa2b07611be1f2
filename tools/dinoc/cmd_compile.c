/* dinoc compile MODEL.onnx -o OUT.dnc [--explain]: lower an ONNX model to a
 * plan artifact and say what it became: steps, kernels per backend, memory. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "run_model.h"

/* "dnnl 40, c 12": steps per backend (the kernel name's prefix), in first-seen order. */
static void print_backends(const dc_plan *plan)
{
    enum { MAX_BACKENDS = 8 };
    const char *name[MAX_BACKENDS];
    size_t len[MAX_BACKENDS];
    int count[MAX_BACKENDS], n = 0;
    for (int i = 0; i < plan->n_steps; i++) {
        const char *k = plan->steps[i].kernel;
        size_t l = strcspn(k, ".");
        int b = 0;
        while (b < n && !(len[b] == l && strncmp(name[b], k, l) == 0))
            b++;
        if (b == n && n == MAX_BACKENDS)
            continue;
        if (b == n) {
            name[n] = k;
            len[n] = l;
            count[n++] = 0;
        }
        count[b]++;
    }
    printf("kernels:");
    for (int b = 0; b < n; b++)
        printf("%s %.*s %d", b ? "," : "", (int)len[b], name[b], count[b]);
    printf("%s\n", n ? "" : " none");
}

int cmd_compile(int argc, char **argv)
{
    const char *model = NULL, *out = NULL;
    int explain = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && !out)
            out = argv[++i];
        else if (strcmp(argv[i], "--explain") == 0)
            explain = 1;
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else
            return dinoc_usage("compile");
    }
    if (!model || !out)
        return dinoc_usage("compile");
    dc_memory_stats mem;
    dc_plan *plan;
    if (dc_compile_onnx(model, NULL, 0, NULL, explain ? stdout : NULL, &mem, &plan) != DC_OK)
        return dinoc_fail("compile");
    dc_status s = dc_plan_write(plan, out);
    if (s == DC_OK) {
        printf("%s: %d steps\n", out, plan->n_steps);
        print_backends(plan);
        printf("memory: planned peak %" PRIu64 " bytes (sum of intermediates %" PRIu64
               " bytes, %d steps in place), constants %" PRIu64 " bytes\n",
               mem.peak_bytes, mem.naive_bytes, mem.n_inplace, plan->region_bytes[DC_REGION_CONST]);
    }
    dc_plan_destroy(plan);
    return s == DC_OK ? 0 : dinoc_fail("compile");
}
