/* Error reporting shared by every layer of dinoc.
 *
 * A function that can fail on user input returns a dc_status and leaves a
 * one-line message describing what went wrong (file, tensor, node, expected
 * against found). Callers add context on the way up with dc_error_context(),
 * so the final message reads "model.onnx: node 'mm0' (MatMul): ...".
 * The message lives in thread-local storage, like errno/dlerror. */
#ifndef DC_STATUS_H
#define DC_STATUS_H

typedef enum dc_status {
    DC_OK = 0,
    DC_ERR_IO,          /* a file could not be read or written */
    DC_ERR_PARSE,       /* bytes are not what the format says they should be */
    DC_ERR_INVALID,     /* a well-formed input breaks an invariant */
    DC_ERR_UNSUPPORTED, /* valid ONNX that dinoc does not handle (op, type) */
    DC_ERR_SHAPE,       /* shapes or types do not agree */
    DC_ERR_NOMEM,       /* an allocation failed or would be absurdly large */
} dc_status;

/* Sets the message (printf-style) and returns `status` so callers can write
 * `return dc_error(DC_ERR_SHAPE, "...", ...);`. */
dc_status dc_error(dc_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "<context>: " to the current message; returns `status`. */
dc_status dc_error_context(dc_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const char *dc_error_message(void);
const char *dc_status_name(dc_status status);
void dc_error_clear(void);

/* Propagate a failing status unchanged. */
#define DC_TRY(expr)                      \
    do {                                  \
        dc_status dc_try_s_ = (expr);     \
        if (dc_try_s_ != DC_OK)           \
            return dc_try_s_;             \
    } while (0)

#endif
