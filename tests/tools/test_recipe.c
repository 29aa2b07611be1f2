/* The training recipe (tools/train/recipe.h), what a compiled training step
 * carries so that the loop runs it without the compiler:
 *   - made from a config (tools/driver/config_recipe.h), printed and read
 *     back, every field is the same value and the config text rides along;
 *     the schedules computed from the copy are the config's;
 *   - a compiled test-tiny step (the dinoc compile path) holds exactly it;
 *   - bad text (a missing, unknown, repeated or malformed field, no config
 *     text, an augmentation out of range) is one error naming the field;
 *   - setting the epochs changes the config text's line too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_recipe.h"
#include "configs.h"
#include "dinov2.h"
#include "test_util.h"
#include "trainer.h"

static void recipe_of(const char *name, dc_train_recipe *out)
{
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named(name, &c));
    DC_ASSERT_OK(dc_train_recipe_from_config(&c, out));
}

/* Every field but the config text's pointer. */
static int same_fields(const dc_train_recipe *a, const dc_train_recipe *b)
{
    dc_train_recipe x = *a, y = *b;
    x.config_text = y.config_text = NULL;
    return memcmp(&x, &y, sizeof x) == 0 && strcmp(a->config_text, b->config_text) == 0;
}

static void test_round_trip(void)
{
    static const char *const names[] = {"official", "fashion-mnist", "test-tiny", "test-sinkhorn"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        dc_train_recipe a, b;
        memset(&a, 0, sizeof a); /* padding compares equal too */
        memset(&b, 0, sizeof b);
        recipe_of(names[i], &a);
        char *text = dc_train_recipe_text(&a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(text);
        DC_ASSERT_OK(dc_train_recipe_parse(text, "test", &b));
        CU_ASSERT(same_fields(&a, &b));
        char *again = dc_train_recipe_text(&b);
        CU_ASSERT_STRING_EQUAL(again, text);
        for (int64_t step = 0; step < 500; step += 37) {
            dc_schedule x = dc_train_schedule(&a, step, 500, 20), y = dc_train_schedule(&b, step, 500, 20);
            CU_ASSERT_EQUAL(memcmp(&x, &y, sizeof x), 0);
        }
        free(text);
        free(again);
        dc_train_recipe_clear(&a);
        dc_train_recipe_clear(&b);
    }
}

/* The official recipe's values land where the loop reads them. */
static void test_fields(void)
{
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named("official", &c));
    dc_train_recipe r;
    DC_ASSERT_OK(dc_train_recipe_from_config(&c, &r));
    CU_ASSERT_STRING_EQUAL(r.name, "official");
    CU_ASSERT_EQUAL(r.batch.batch_size, c.batch_size);
    CU_ASSERT_EQUAL(r.batch.max_masked, dc_dinov2_max_masked(&c));
    CU_ASSERT_EQUAL(r.head_output_dim, c.head.output_dim);
    CU_ASSERT_EQUAL(r.lr, c.lr);
    CU_ASSERT_EQUAL(r.momentum_teacher_end, c.momentum_teacher_end);
    CU_ASSERT_EQUAL(r.batch.blur_sigma[2][1], c.blur_sigma[2][1]);
    char *text = dc_config_text(&c);
    CU_ASSERT_STRING_EQUAL(r.config_text, text);
    free(text);
    dc_train_recipe_clear(&r);
}

/* dinoc compile --config stores the recipe in the plan; a plan written and
 * read back keeps it. */
static void test_in_compiled_step(void)
{
    char cmd[1024], path[] = "/tmp/dinoc_recipe_XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    snprintf(cmd, sizeof cmd, "'%s' compile --config test-tiny epochs=3 -o '%s.dnc' > /dev/null",
             DINOC_BINARY, path);
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
    char dnc[64];
    snprintf(dnc, sizeof dnc, "%s.dnc", path);
    dc_plan *p = NULL;
    DC_ASSERT_OK(dc_plan_read(dnc, &p));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    dc_train_recipe want, got;
    memset(&want, 0, sizeof want);
    memset(&got, 0, sizeof got);
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_named("test-tiny", &c));
    c.epochs = 3;
    DC_ASSERT_OK(dc_train_recipe_from_config(&c, &want));
    DC_ASSERT_OK(dc_train_recipe_parse(p->recipe, dnc, &got));
    CU_ASSERT(same_fields(&want, &got));
    dc_train_recipe_clear(&want);
    dc_train_recipe_clear(&got);
    dc_plan_destroy(p);
    unlink(dnc);
    unlink(path);
    close(fd);
}

/* The test-tiny recipe's text with the line starting with `from` replaced by
 * `to` ("" removes it), or `to` added before the config when `from` is NULL. */
static char *edited(const char *from, const char *to)
{
    dc_train_recipe r;
    recipe_of("test-tiny", &r);
    char *text = dc_train_recipe_text(&r), *out = NULL;
    dc_train_recipe_clear(&r);
    char line[64];
    snprintf(line, sizeof line, "\n%s", from ? from : "");
    const char *at = from ? strstr(text, line) : NULL;
    if (!from) {
        const char *config = strstr(text, "config:\n");
        CU_ASSERT_FATAL(asprintf(&out, "%.*s%s%s", (int)(config - text), text, to, config) > 0);
    } else {
        CU_ASSERT_PTR_NOT_NULL_FATAL(at);
        at++;
        const char *end = strchr(at, '\n') + 1;
        CU_ASSERT_FATAL(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, end) > 0);
    }
    free(text);
    return out;
}

static void expect_error(char *text, const char *needle)
{
    dc_train_recipe r;
    dc_status s = dc_train_recipe_parse(text, "fm.so", &r);
    CU_ASSERT_NOT_EQUAL(s, DC_OK);
    const char *m = dc_error_message();
    CU_ASSERT_PTR_NOT_NULL(strstr(m, "fm.so: training recipe: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(m, needle));
    CU_ASSERT_PTR_NULL(strchr(m, '\n'));
    if (!strstr(m, needle))
        fprintf(stderr, "\n    expected '%s' in: %s", needle, m);
    free(text);
}

static void test_bad_text(void)
{
    expect_error(edited("lr = ", ""), "field 'lr' is missing");
    expect_error(edited(NULL, "learning_rate = 1\n"), "unknown field 'learning_rate'");
    expect_error(edited(NULL, "lr = 1\n"), "field 'lr' appears twice");
    expect_error(edited("lr = ", "lr = fast\n"), "'lr': bad value 'fast'");
    expect_error(edited("batch.jitter = ", "batch.jitter = 0.4 0.4 0.2\n"), "'batch.jitter' has 3 values, expected 4");
    expect_error(edited("batch.mean = ", "batch.mean = 0 0 0 0\n"), "'batch.mean': more than 3 values");
    expect_error(edited("optimizer_sharding = ", "optimizer_sharding = maybe\n"), "'optimizer_sharding': bad value");
    expect_error(edited("batch.hflip_prob = ", "batch.hflip_prob = 2\n"), "hflip_prob 2");
    expect_error(edited("epochs = ", "epochs = 0\n"), "epochs 0");
    expect_error(edited("epochs = ", "epochs = 99999999999\n"), "'epochs': bad value");
    char *cut = edited(NULL, "");
    *strstr(cut, "config:\n") = '\0';
    expect_error(cut, "no config text");
    expect_error(strdup("lr = 1\n"), "is missing");
    expect_error(strdup(""), "is missing");
}

static void test_set_epochs(void)
{
    dc_train_recipe r;
    recipe_of("test-tiny", &r);
    DC_ASSERT_OK(dc_train_recipe_set_epochs(&r, 7));
    CU_ASSERT_EQUAL(r.epochs, 7);
    dc_dinov2_config c;
    DC_ASSERT_OK(dc_config_from_text(r.config_text, &c));
    CU_ASSERT_EQUAL(c.epochs, 7);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.config_text, "\nepochs = 7\n"));
    free(r.config_text);
    r.config_text = strdup("name = test-tiny\n");
    CU_ASSERT_NOT_EQUAL(dc_train_recipe_set_epochs(&r, 7), DC_OK);
    dc_train_recipe_clear(&r);
}

void register_tools_recipe(void)
{
    static const dc_test_case tests[] = {
        {"round_trip", test_round_trip},
        {"fields", test_fields},
        {"in_compiled_step", test_in_compiled_step},
        {"bad_text", test_bad_text},
        {"set_epochs", test_set_epochs},
        {NULL, NULL},
    };
    dc_add_suite("tools_recipe", tests);
}
