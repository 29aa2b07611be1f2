/* Helpers shared by the test suites. */
#ifndef DC_TEST_UTIL_H
#define DC_TEST_UTIL_H

#include <CUnit/CUnit.h>

#include "dc_status.h"

/* Asserts that `expr` returns DC_OK, printing the error message otherwise. */
#define DC_ASSERT_OK(expr)                                                          \
    do {                                                                            \
        dc_status dc_assert_s_ = (expr);                                            \
        if (dc_assert_s_ != DC_OK)                                                  \
            fprintf(stderr, "\n    %s:%d: %s -> %s\n", __FILE__, __LINE__, #expr, \
                    dc_error_message());                                            \
        CU_ASSERT_EQUAL(dc_assert_s_, DC_OK);                                       \
    } while (0)

/* Adds a suite named `name` with the NULL-terminated list of tests. */
typedef struct dc_test_case {
    const char *name;
    void (*fn)(void);
} dc_test_case;

static inline void dc_add_suite(const char *name, const dc_test_case *tests)
{
    CU_pSuite s = CU_add_suite(name, NULL, NULL);
    for (; s && tests->name; tests++)
        CU_add_test(s, tests->name, tests->fn);
}

#endif
