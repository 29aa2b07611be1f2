/* FusedElementwise programs: opcode names and validation (dc_eltwise_program.h). */
#include "dc_eltwise_program.h"

#include <stddef.h>
#include <string.h>

static const struct {
    int opcode;
    const char *name;
} opcodes[] = {
    {DC_EW_ADD, "Add"},       {DC_EW_SUB, "Sub"},         {DC_EW_MUL, "Mul"},
    {DC_EW_DIV, "Div"},       {DC_EW_POW, "Pow"},         {DC_EW_NEG, "Neg"},
    {DC_EW_ABS, "Abs"},       {DC_EW_SQRT, "Sqrt"},       {DC_EW_RECIPROCAL, "Reciprocal"},
    {DC_EW_EXP, "Exp"},       {DC_EW_LOG, "Log"},         {DC_EW_ERF, "Erf"},
    {DC_EW_TANH, "Tanh"},     {DC_EW_SIGMOID, "Sigmoid"}, {DC_EW_RELU, "Relu"},
};

int dc_eltwise_opcode_of(const char *op_type)
{
    for (size_t i = 0; i < sizeof opcodes / sizeof opcodes[0]; i++)
        if (strcmp(opcodes[i].name, op_type) == 0)
            return opcodes[i].opcode;
    return 0;
}

const char *dc_eltwise_opcode_name(int opcode)
{
    for (size_t i = 0; i < sizeof opcodes / sizeof opcodes[0]; i++)
        if (opcodes[i].opcode == opcode)
            return opcodes[i].name;
    return NULL;
}

int dc_eltwise_arity(int opcode)
{
    if (!dc_eltwise_opcode_name(opcode))
        return 0;
    return opcode < DC_EW_NEG ? 2 : 1;
}

dc_status dc_eltwise_program_check(const int64_t *program, int n_program, int n_inputs,
                                   int n_constants)
{
    if (n_program < 3 || n_program % 3 != 0)
        return dc_error(DC_ERR_INVALID, "program has %d entries, expected a positive multiple of 3",
                        n_program);
    int64_t defined = (int64_t)n_inputs + n_constants;
    for (int i = 0; i < n_program / 3; i++, defined++) {
        const int64_t *ins = program + 3 * i;
        int arity = ins[0] > 0 && ins[0] < 64 ? dc_eltwise_arity((int)ins[0]) : 0;
        if (!arity)
            return dc_error(DC_ERR_INVALID, "program instruction %d: unknown opcode %lld", i,
                            (long long)ins[0]);
        for (int k = 1; k <= arity; k++)
            if (ins[k] < 0 || ins[k] >= defined)
                return dc_error(DC_ERR_INVALID, "program instruction %d: operand %lld is not "
                                "defined yet (%lld registers so far)", i, (long long)ins[k],
                                (long long)defined);
    }
    return DC_OK;
}
