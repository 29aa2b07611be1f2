/* The CUnit runner for every suite. `dinoc_tests [SUITE...]` runs the named suites
 * only. The exit status is non-zero when any assertion or test failed
 * (CU_basic_run_tests itself returns success even then). */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"

#define DC_SUITE(name) void register_##name(void);
DC_SUITES
#undef DC_SUITE

static const struct {
    const char *name;
    void (*add)(void);
} all_suites[] = {
#define DC_SUITE(name) {#name, register_##name},
    DC_SUITES
#undef DC_SUITE
};

static int wanted(const char *name, int argc, char **argv)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "dinoc_tests: %s\n", CU_get_error_msg());
        return 2;
    }
    for (size_t i = 0; i < sizeof all_suites / sizeof all_suites[0]; i++)
        if (wanted(all_suites[i].name, argc, argv))
            all_suites[i].add();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_ErrorCode err = CU_get_error();
    CU_cleanup_registry();
    return failures ? 1 : (int)err;
}
