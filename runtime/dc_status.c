#include "dc_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { DC_ERROR_CAPACITY = 2048 };
static _Thread_local char error_message[DC_ERROR_CAPACITY];

dc_status dc_error(dc_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
}

dc_status dc_error_context(dc_status status, const char *fmt, ...)
{
    char combined[DC_ERROR_CAPACITY];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(combined, sizeof combined, fmt, ap);
    va_end(ap);
    /* Append ": <old message>", truncating at capacity. */
    size_t used = n < 0 ? 0 : (size_t)n < sizeof combined ? (size_t)n : sizeof combined - 1;
    const char *parts[] = {": ", error_message};
    for (int i = 0; i < 2; i++) {
        size_t len = strnlen(parts[i], sizeof combined - 1 - used);
        memcpy(combined + used, parts[i], len);
        used += len;
    }
    combined[used] = '\0';
    memcpy(error_message, combined, used + 1);
    return status;
}

const char *dc_error_message(void) { return error_message; }

void dc_error_clear(void) { error_message[0] = '\0'; }

const char *dc_status_name(dc_status status)
{
    switch (status) {
    case DC_OK: return "ok";
    case DC_ERR_IO: return "i/o error";
    case DC_ERR_PARSE: return "parse error";
    case DC_ERR_INVALID: return "invalid";
    case DC_ERR_UNSUPPORTED: return "unsupported";
    case DC_ERR_SHAPE: return "shape error";
    case DC_ERR_NOMEM: return "out of memory";
    }
    return "unknown status";
}
