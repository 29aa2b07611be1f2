/* A compiled plan: what an artifact (.dnc) holds and what the runtime runs.
 *
 * The compiler fills a dc_plan and writes it with dc_plan_write; the runtime
 * reads it back (dc_plan_read) and executes it in a dc_session. The format is
 * versioned; a reader refuses other versions and truncated files.
 *
 * Memory: every tensor the plan touches is a buffer in one of three regions:
 *   ARENA  intermediates, inputs and outputs; offsets planned by the compiler
 *          from liveness, so buffers whose lifetimes do not overlap share bytes;
 *   CONST  initializers and folded constants, loaded from the artifact;
 *   STATE  persistent training state (parameters, optimizer moments, centers),
 *          kept across steps; a session starts from the plan's initial
 *          contents (state_init, or zeros), and a trainer loads and saves
 *          it through dc_session_buffer() (checkpoints).
 * The planner places buffers at multiples of DC_PLAN_ALIGN bytes; a view that
 * aliases part of another buffer (a Split output, a Concat input written in
 * place) may sit at any multiple of its element size. Each region is at most
 * DC_TENSOR_MAX_BYTES and starts DC_PLAN_ALIGN-aligned in memory.
 *
 * Steps: each runs one runtime kernel (dc_kernel.h) chosen by the compiler.
 * A step carries the op's ONNX type and its attributes in canonical form:
 * inputs that only carry static information in ONNX (Reshape's shape, Slice's
 * starts/ends/axes/steps, Split's split, Reduce*'s axes, Unsqueeze/Squeeze
 * axes, Resize's scales/sizes, Dropout's ratio) are turned into attributes of
 * the same name by lowering, so kernels read one form whatever the opset.
 * Those inputs may stay in the step's args or be -1: kernels ignore them.
 *
 * The artifact format (little-endian; dc_plan.c has the byte layout): magic
 * "DINOCPLN", format version, body size, CRC-32 of the body, then the
 * sections PROD (producer), RCPE (training recipe), REGN (region sizes), BUFS
 * (buffers), STEP (steps with attributes), IOSG (inputs/outputs), CNST
 * (constants) and STAT (initial state). */
#ifndef DC_PLAN_H
#define DC_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "dc_tensor.h"

enum { DC_PLAN_FORMAT_VERSION = 2, DC_PLAN_ALIGN = 64 };

/* Sanity limits a reader enforces before allocating anything. */
enum {
    DC_PLAN_MAX_BUFFERS = 1 << 22,
    DC_PLAN_MAX_STEPS = 1 << 22,
    DC_PLAN_MAX_IO = 1 << 16,
    DC_PLAN_MAX_STEP_ARGS = 1 << 12,  /* n_inputs + n_outputs of one step */
    DC_PLAN_MAX_ATTRS = 1 << 10,      /* attributes of one step */
    DC_PLAN_MAX_ATTR_VALUES = 1 << 20,/* elements of one INTS/FLOATS attribute */
    DC_PLAN_MAX_STRING = 1 << 16,     /* bytes of one name or string attribute */
};
/* A region may exceed what one tensor may hold (DC_TENSOR_MAX_BYTES): it is the
 * whole working set of a training step. Whether it fits this machine is
 * checked when a session is created. */
#define DC_PLAN_MAX_REGION_BYTES ((uint64_t)1 << 40)

typedef enum dc_region { DC_REGION_ARENA = 0, DC_REGION_CONST = 1, DC_REGION_STATE = 2 } dc_region;

typedef struct dc_plan_buffer {
    char *name;          /* the IR value's name, for errors and --explain */
    dc_dtype dtype;
    int rank;
    int64_t dims[DC_MAX_RANK];
    dc_region region;
    uint64_t offset;     /* bytes from the start of the region */
    uint64_t nbytes;     /* numel * element size */
} dc_plan_buffer;

typedef enum dc_plan_attr_type {
    DC_PLAN_ATTR_INT = 1,
    DC_PLAN_ATTR_FLOAT = 2,
    DC_PLAN_ATTR_STRING = 3,
    DC_PLAN_ATTR_INTS = 4,
    DC_PLAN_ATTR_FLOATS = 5,
} dc_plan_attr_type;

typedef struct dc_plan_attr {
    char *name;
    dc_plan_attr_type type;
    int n;               /* element count for INTS/FLOATS */
    int64_t i;
    float f;
    char *s;
    int64_t *ints;
    float *floats;
} dc_plan_attr;

typedef struct dc_plan_step {
    char *kernel;        /* runtime kernel name, e.g. "dnnl.MatMul", "c.Transpose" */
    char *op_type;       /* ONNX op type the kernel implements */
    char *node;          /* IR node name, for errors and profiling */
    int n_inputs, n_outputs;
    int32_t *args;       /* n_inputs + n_outputs buffer indices; -1 = omitted optional */
    int n_attrs;
    dc_plan_attr *attrs;
} dc_plan_step;

typedef struct dc_plan_io {
    char *name;
    int32_t buffer;
} dc_plan_io;

typedef struct dc_plan {
    uint64_t region_bytes[3];   /* size of ARENA, CONST, STATE */
    void *constants;            /* initial contents of CONST (region_bytes[CONST] bytes) */
    void *state_init;           /* initial contents of STATE, or NULL: zeroed */
    dc_plan_buffer *buffers;
    int n_buffers;
    dc_plan_step *steps;
    int n_steps;
    dc_plan_io *inputs, *outputs;
    int n_inputs, n_outputs;
    char *producer;             /* free text: compiler version, source model */
    /* What a training loop needs to run this plan as a training step: text
     * the runtime stores and never interprets (the DINOv2 loop's recipe,
     * tools/train/recipe.h); NULL or empty for other plans. */
    char *recipe;
    bool contents_released;     /* constants/state_init freed: see dc_plan_release_contents */
} dc_plan;

/* Writes the plan; the file is written to a temporary name and renamed, so a
 * failed write never leaves a half artifact under `path`. */
dc_status dc_plan_write(const dc_plan *plan, const char *path);
/* The bytes dc_plan_write would write, in one malloc'ed block (free it):
 * what a shared-object artifact embeds. `what` prefixes messages. */
dc_status dc_plan_serialize(const dc_plan *plan, const char *what, void **data, size_t *size);
dc_status dc_plan_read(const char *path, dc_plan **out);
/* Parses artifact bytes; every count, offset and size is checked against the
 * data, so a truncated or corrupted artifact is an error, never a crash. */
dc_status dc_plan_parse(const void *data, size_t size, const char *what, dc_plan **out);
/* Checks every invariant the reader checks (dtypes, shapes, nbytes, offsets
 * inside regions, argument and I/O indices, attribute kinds, unique names) on
 * an in-memory plan; dc_plan_write runs it first. `what` prefixes messages. */
dc_status dc_plan_validate(const dc_plan *plan, const char *what);
/* Frees a plan and everything it points to (all of it malloc'ed); NULL is fine. */
void dc_plan_destroy(dc_plan *plan);
/* Frees the initial contents of CONST and STATE once a session has copied
 * them, so a running program does not hold the parameters twice (for
 * ViT-S/16 with its moments and teacher, 0.7 GB). The plan still describes
 * buffers, steps and I/O for that session; it can no longer be written or
 * start another session (dc_plan_validate says why). */
void dc_plan_release_contents(dc_plan *plan);

/* Attribute lookup on a step, with defaults. */
const dc_plan_attr *dc_step_attr(const dc_plan_step *step, const char *name);
int64_t dc_step_int(const dc_plan_step *step, const char *name, int64_t dflt);
float dc_step_float(const dc_plan_step *step, const char *name, float dflt);
const char *dc_step_string(const dc_plan_step *step, const char *name, const char *dflt);
/* The INTS attribute or NULL (count 0). */
const int64_t *dc_step_ints(const dc_plan_step *step, const char *name, int *count);
const float *dc_step_floats(const dc_plan_step *step, const char *name, int *count);

#endif
