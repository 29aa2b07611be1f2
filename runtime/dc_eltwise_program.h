/* The program of a FusedElementwise op (ai.dinoc): what one output element is,
 * as a function of the inputs' elements at the same (broadcast) index.
 *
 * It is an attribute pair of the node and of its plan step:
 *   program    INTS, 3 per instruction: opcode, operand a, operand b (b is
 *              ignored, and written 0, for unary opcodes);
 *   constants  FLOATS, scalars the program reads (may be absent: none).
 * Operands name registers: 0 .. n_inputs-1 are the inputs, then come the
 * constants, then the result of each instruction in order. The output is
 * the result of the last instruction. Every operand names an earlier
 * register, so a program is a straight line with no loops and no jumps: the
 * C kernel interprets it over blocks of elements; a code generator can emit
 * it as one expression per element. */
#ifndef DC_ELTWISE_PROGRAM_H
#define DC_ELTWISE_PROGRAM_H

#include <stdint.h>

#include "dc_status.h"

typedef enum dc_eltwise_opcode {
    /* binary: a op b */
    DC_EW_ADD = 1,
    DC_EW_SUB = 2,
    DC_EW_MUL = 3,
    DC_EW_DIV = 4,
    DC_EW_POW = 5,
    /* unary: op a */
    DC_EW_NEG = 16,
    DC_EW_ABS = 17,
    DC_EW_SQRT = 18,
    DC_EW_RECIPROCAL = 19,
    DC_EW_EXP = 20,
    DC_EW_LOG = 21,
    DC_EW_ERF = 22,
    DC_EW_TANH = 23,
    DC_EW_SIGMOID = 24,
    DC_EW_RELU = 25,
} dc_eltwise_opcode;

/* The opcode of an ONNX element-wise op type ("Add", "Erf", ...), 0 if none. */
int dc_eltwise_opcode_of(const char *op_type);
/* The ONNX op type of an opcode ("Add"), NULL if it is none. */
const char *dc_eltwise_opcode_name(int opcode);
/* 2 for binary opcodes, 1 for unary ones, 0 for unknown ones. */
int dc_eltwise_arity(int opcode);

/* Checks a program: length a multiple of 3, at least one instruction, known
 * opcodes, every operand an earlier register. The message names the
 * instruction ("program instruction 2: operand 7 is not defined yet"). */
dc_status dc_eltwise_program_check(const int64_t *program, int n_program, int n_inputs,
                                   int n_constants);

#endif
