/* Reference kernels of the fused ops (compiler/ops/fused.c): element by
 * element in double, one instruction at a time, as the unfused ops would. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dc_eltwise_program.h"
#include "reference/ref_util.h"
#include "reference/training.h"

static double apply(int opcode, double a, double b)
{
    switch (opcode) {
    case DC_EW_ADD: return a + b;
    case DC_EW_SUB: return a - b;
    case DC_EW_MUL: return a * b;
    case DC_EW_DIV: return a / b;
    case DC_EW_POW: return pow(a, b);
    case DC_EW_NEG: return -a;
    case DC_EW_ABS: return fabs(a);
    case DC_EW_SQRT: return sqrt(a);
    case DC_EW_RECIPROCAL: return 1.0 / a;
    case DC_EW_EXP: return exp(a);
    case DC_EW_LOG: return log(a);
    case DC_EW_ERF: return erf(a);
    case DC_EW_TANH: return tanh(a);
    case DC_EW_SIGMOID: return 1.0 / (1.0 + exp(-a));
    case DC_EW_RELU: return a < 0 ? 0 : a;
    default: return NAN;
    }
}

dc_status dc_ref_FusedElementwise(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                                  dc_tensor **outputs)
{
    (void)opset;
    int n_in = node->n_inputs, rank;
    int64_t dims[DC_MAX_RANK];
    const dc_attr *program, *constants;
    DC_TRY(dc_attr_get(node, "program", DC_ATTR_INTS, &program));
    DC_TRY(dc_attr_get(node, "constants", DC_ATTR_FLOATS, &constants));
    if (!program)
        return dc_error(DC_ERR_INVALID, "FusedElementwise: attribute 'program' is missing");
    int n_const = constants ? constants->n : 0, n_ins = program->n / 3;
    DC_TRY(dc_eltwise_program_check(program->ints, program->n, n_in, n_const));
    for (int k = 0; k < n_in; k++)
        DC_TRY(ref_need_kind(node, inputs[k], "input", REF_KINDS_FLOAT));
    DC_TRY(ref_broadcast_shape(node, inputs, n_in, &rank, dims));
    DC_TRY(dc_tensor_create(&outputs[0], node->outputs[0]->name, DC_F32, rank, dims));
    int64_t (*strides)[DC_MAX_RANK] = malloc((size_t)n_in * sizeof *strides);
    double *reg = malloc(((size_t)n_in + (size_t)n_const + (size_t)n_ins) * sizeof *reg);
    if (!strides || !reg) {
        free(strides);
        free(reg);
        return dc_error(DC_ERR_NOMEM, "FusedElementwise '%s'", node->name);
    }
    for (int k = 0; k < n_in; k++)
        ref_broadcast_strides(inputs[k], rank, rank - inputs[k]->rank, strides[k]);
    for (int c = 0; c < n_const; c++)
        reg[n_in + c] = constants->floats[c];
    int64_t numel = (int64_t)dc_tensor_numel(outputs[0]), index[DC_MAX_RANK] = {0};
    for (int64_t e = 0; e < numel; e++) {
        for (int k = 0; k < n_in; k++) {
            int64_t off = 0;
            for (int d = 0; d < rank; d++)
                off += index[d] * strides[k][d];
            reg[k] = ref_get(inputs[k], off);
        }
        for (int i = 0; i < n_ins; i++) {
            const int64_t *ins = program->ints + 3 * i;
            double b = dc_eltwise_arity((int)ins[0]) == 2 ? reg[ins[2]] : 0;
            /* Each instruction's result is rounded to f32, as the unfused op's output was. */
            reg[n_in + n_const + i] = (float)apply((int)ins[0], reg[ins[1]], b);
        }
        ref_set(outputs[0], e, reg[n_in + n_const + n_ins - 1]);
        for (int d = rank - 1; d >= 0 && ++index[d] == dims[d]; d--)
            index[d] = 0;
    }
    free(strides);
    free(reg);
    return DC_OK;
}

static double activation(const char *act, double x)
{
    if (strcmp(act, "Relu") == 0)
        return x < 0 ? 0 : x;
    if (strcmp(act, "Tanh") == 0)
        return tanh(x);
    if (strcmp(act, "Sigmoid") == 0)
        return 1.0 / (1.0 + exp(-x));
    if (strcmp(act, "Gelu") == 0)
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    return x;
}

dc_status dc_ref_MatMulBias(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs)
{
    (void)opset;
    const dc_tensor *A = inputs[0], *B = inputs[1], *C = inputs[2];
    int64_t trans_b;
    const char *act;
    DC_TRY(dc_attr_i(node, "transB", 0, &trans_b));
    DC_TRY(dc_attr_s(node, "activation", "", &act));
    if (A->rank < 2 || B->rank != 2 || C->rank != 1)
        return dc_error(DC_ERR_SHAPE, "MatMulBias: expected A [..., M, K], B 2-D and bias 1-D");
    int64_t K = A->dims[A->rank - 1], N = trans_b ? B->dims[0] : B->dims[1];
    if ((trans_b ? B->dims[1] : B->dims[0]) != K || C->dims[0] != N)
        return dc_error(DC_ERR_SHAPE, "MatMulBias: A, B and bias do not agree");
    int64_t dims[DC_MAX_RANK];
    memcpy(dims, A->dims, sizeof(int64_t) * (size_t)A->rank);
    dims[A->rank - 1] = N;
    DC_TRY(dc_tensor_create(&outputs[0], node->outputs[0]->name, A->dtype, A->rank, dims));
    int64_t M = N ? (int64_t)dc_tensor_numel(outputs[0]) / N : 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < N; j++) {
            double sum = ref_get(C, j);
            for (int64_t k = 0; k < K; k++)
                sum += ref_get(A, m * K + k) * ref_get(B, trans_b ? j * K + k : k * N + j);
            /* The matmul's output has the element type before the activation, as unfused. */
            if (A->dtype == DC_F32)
                sum = (float)sum;
            ref_set(outputs[0], m * N + j, activation(act, sum));
        }
    return DC_OK;
}

/* Each tensor through AdamW's own reference kernel. */
dc_status dc_ref_AdamWGroup(const dc_node *node, int64_t opset, dc_tensor *const *inputs,
                            dc_tensor **outputs)
{
    for (int k = 0; k < (node->n_inputs - 3) / 4; k++) {
        dc_tensor *in[7] = {inputs[3 + 4 * k], inputs[4 + 4 * k], inputs[5 + 4 * k],
                            inputs[6 + 4 * k], inputs[0],         inputs[1],
                            inputs[2]};
        DC_TRY(dc_ref_AdamW(node, opset, in, outputs + 3 * k));
    }
    return DC_OK;
}
