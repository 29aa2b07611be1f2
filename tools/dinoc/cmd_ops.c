/* dinoc ops: every op of the registry with its domain and arity. */
#include <stdio.h>

#include "commands.h"
#include "op_registry.h"

int cmd_ops(int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return dinoc_usage("ops");
    int n;
    const dc_op_schema *const *ops = dc_op_all(&n);
    for (int i = 0; i < n; i++) {
        const dc_op_schema *op = ops[i];
        printf("%-20s %-9s inputs %d..", op->name, *op->domain ? op->domain : "ai.onnx",
               op->min_inputs);
        if (op->max_inputs < 0)
            printf("n");
        else
            printf("%d", op->max_inputs);
        printf("  outputs %d..%d\n", op->min_outputs, op->max_outputs);
    }
    return 0;
}
