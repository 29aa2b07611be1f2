/* Configs as YAML files (graphs/config_yaml.h): every named config written
 * and read back identical (with overrides too), dotted and nested keys, the
 * loader taking a file with overrides on top, and one-line errors naming the
 * key and the line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_yaml.h"
#include "configs.h"
#include "dinov2_step.h"
#include "test_util.h"

static char dir[] = "/tmp/dinoc_yaml_XXXXXX";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* Write → read → the same config, field by field (its printed text). */
static void round_trip(const dc_dinov2_config *c, const char *path)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    DC_ASSERT_OK(dc_config_write_yaml(c, f));
    fclose(f);
    dc_dinov2_config back;
    memset(&back, 0xab, sizeof back);
    DC_ASSERT_OK(dc_config_read_yaml(path, &back));
    char *want = dc_config_text(c), *got = dc_config_text(&back);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n    %s: expected\n%s\n    got\n%s", c->name, want, got);
    free(want);
    free(got);
}

static void test_round_trip(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    int n = 0;
    for (const char *const *name = dc_config_names(); *name; name++, n++) {
        dc_dinov2_config c;
        DC_ASSERT_OK(dc_config_named(*name, &c));
        round_trip(&c, path);
        /* every kind of field changed: int, float (not exact in decimal), bool, enums */
        const char *ov[] = {"vit.depth=7", "lr=0.000333333", "vit.swiglu=true",
                            "centering=sinkhorn", "knn_features=patch", "mask_ratio_max=0.45"};
        DC_ASSERT_OK(dc_dinov2_config_load(*name, ov, 6, &c));
        round_trip(&c, path);
    }
    CU_ASSERT(n >= 7); /* lightly-example ... fashion-mnist-long, test-tiny, test-sinkhorn */
    unlink(path);
}

static void test_keys_and_overrides(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/k.yaml", dir);
    /* nested and dotted keys together, comments, a later key wins over the base */
    write_text(path, "# a recipe\nname: test-tiny\nvit.depth: 3   # dotted\nvit:\n  embed_dim: 64\n"
                     "  num_heads: 4\nhead:\n  output_dim: 100\ncentering: sinkhorn\n");
    dc_dinov2_config c, want;
    const char *ov[] = {"lr=0.25"};
    DC_ASSERT_OK(dc_dinov2_config_load(path, ov, 1, &c));
    const char *wov[] = {"vit.depth=3", "vit.embed_dim=64", "vit.num_heads=4", "head.output_dim=100",
                         "centering=sinkhorn", "lr=0.25"};
    DC_ASSERT_OK(dc_dinov2_config_load("test-tiny", wov, 6, &want));
    char *a = dc_config_text(&c), *b = dc_config_text(&want);
    CU_ASSERT_STRING_EQUAL(a, b);
    free(a);
    free(b);
    CU_ASSERT_TRUE(dc_config_is_yaml(path));
    CU_ASSERT_TRUE(dc_config_is_yaml("x.yml"));
    CU_ASSERT_FALSE(dc_config_is_yaml("fashion-mnist"));
    CU_ASSERT_FALSE(dc_config_is_yaml(".yaml"));
    unlink(path);
}

static void test_errors(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/e.yaml", dir);
    struct {
        const char *text, *says;
    } cases[] = {
        {"name: test-tiny\nvit:\n  dpeth: 3\n", ":3: key 'vit.dpeth': no field 'vit.dpeth'"},
        {"name: test-tiny\nlr: fast\n", ":2: key 'lr': 'fast' is not a valid number"},
        {"name: test-tiny\nvit.swiglu: maybe\n", ":2: key 'vit.swiglu': 'maybe' is not a valid boolean"},
        {"name: test-tiny\ncentering: median\n", ":2: key 'centering': 'median' is not a valid one of mean/sinkhorn"},
        {"name: test-tiny\nlr: [1, 2]\n", ":2: key 'lr': expected a value (a number, true/false or a name), found a list"},
        {"name: test-tiny\nlr:\n", ":2: key 'lr': expected a value"},
        {"name: test-tiny\nvit.depth: 3\nvit:\n  depth: 4\n", ":4: key 'vit.depth' appears twice"},
        {"name: no-such\n", ":1: key 'name': unknown config 'no-such'"},
        {"vit.depth: 3\n", "no 'name' key"},
        {"name: test-tiny\nvit: {depth: 3\n", ":3:1: YAML: did not find expected ',' or '}'"},
        {"- name\n", ":1: expected a mapping of config fields"},
        {"name: test-tiny\nvit.embed_dim: 33\n", "not divisible by vit.num_heads"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_text(path, cases[i].text);
        dc_dinov2_config c;
        CU_ASSERT_NOT_EQUAL(dc_dinov2_config_load(path, NULL, 0, &c), DC_OK);
        const char *msg = dc_error_message();
        if (!strstr(msg, cases[i].says) || !strstr(msg, path) || strchr(msg, '\n'))
            fprintf(stderr, "\n    case %zu: expected '%s' in: %s", i, cases[i].says, msg);
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, cases[i].says));
        CU_ASSERT_PTR_NOT_NULL(strstr(msg, path));
        CU_ASSERT_PTR_NULL(strchr(msg, '\n')); /* one line */
    }
    dc_dinov2_config c;
    CU_ASSERT_EQUAL(dc_dinov2_config_load("/nonexistent/x.yaml", NULL, 0, &c), DC_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(dc_error_message(), "/nonexistent/x.yaml"));
    unlink(path);
}

static int suite_init(void)
{
    return mkdtemp(dir) ? 0 : 1;
}

static int suite_cleanup(void)
{
    return rmdir(dir) == 0 ? 0 : 1;
}

void register_graphs_config_yaml(void)
{
    CU_pSuite s = CU_add_suite("graphs_config_yaml", suite_init, suite_cleanup);
    CU_add_test(s, "every named config round-trips", test_round_trip);
    CU_add_test(s, "nested and dotted keys, overrides on top", test_keys_and_overrides);
    CU_add_test(s, "one-line errors naming key and line", test_errors);
}
