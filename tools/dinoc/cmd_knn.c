/* dinoc knn CKPT [--data DIR | --train DIR --test DIR] [--baselines] [--threads N]
 *           [--k K] [--temperature T] [--batch-size N] [--max-train N] [--max-test N]
 *           [--features cls|patch|both]
 * dinoc knn --config NAME [FIELD=VALUE...] [...]   the baselines of a config, no checkpoint
 *
 * k-NN top-1 accuracy of a checkpoint's teacher backbone (graphs/knn.h), as
 * DINO evaluates: k = 20 nearest train images by cosine similarity, votes
 * weighted exp(sim / 0.07), on the features the checkpoint's config names
 * (knn_features) or --features: cls, the mean patch token, or both. An IDX folder (--data) holds
 * both splits; without any data option, the Fashion-MNIST of the Debian
 * package. --baselines adds raw pixels and a randomly initialised backbone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "configs.h"
#include "dinov2_step.h"
#include "knn.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

enum { MAX_OVERRIDES = 128 };

static bool parse_long(const char *s, long min, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min)
        return false;
    *out = v;
    return true;
}

int cmd_knn(int argc, char **argv)
{
    const char *ckpt = NULL, *data = NULL, *train = NULL, *test = NULL, *config = NULL;
    const char *overrides[MAX_OVERRIDES];
    int n_overrides = 0;
    dc_knn_options opt = {0};
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        char *end = NULL;
        if (strcmp(argv[i], "--data") == 0 && v)
            data = argv[++i];
        else if (strcmp(argv[i], "--train") == 0 && v)
            train = argv[++i];
        else if (strcmp(argv[i], "--test") == 0 && v)
            test = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && v)
            config = argv[++i];
        else if (strcmp(argv[i], "--baselines") == 0)
            opt.baselines = true;
        else if (strcmp(argv[i], "--threads") == 0 && v && parse_long(v, 0, &n) && n < 4096)
            opt.threads = (int)n, i++;
        else if (strcmp(argv[i], "--k") == 0 && v && parse_long(v, 1, &n) && n < 1 << 20)
            opt.k = (int)n, i++;
        else if (strcmp(argv[i], "--batch-size") == 0 && v && parse_long(v, 1, &n) && n < 1 << 16)
            opt.batch_size = (int)n, i++;
        else if (strcmp(argv[i], "--max-train") == 0 && v && parse_long(v, 1, &n))
            opt.max_train = n, i++;
        else if (strcmp(argv[i], "--max-test") == 0 && v && parse_long(v, 1, &n))
            opt.max_test = n, i++;
        else if (strcmp(argv[i], "--features") == 0 && v) {
            /* Parsed as the config field, so the names are the field's. */
            dc_dinov2_config scratch = {0};
            char assignment[64];
            snprintf(assignment, sizeof assignment, "knn_features=%s", argv[++i]);
            if (dc_config_override(&scratch, assignment) != DC_OK)
                return dinoc_fail("knn --features");
            opt.features = scratch.knn_features;
            opt.features_given = true;
        } else if (strcmp(argv[i], "--temperature") == 0 && v && (opt.temperature = strtof(v, &end)) > 0 &&
                 !*end)
            i++;
        else if (config && strchr(argv[i], '=') && argv[i][0] != '-' && n_overrides < MAX_OVERRIDES)
            overrides[n_overrides++] = argv[i];
        else if (argv[i][0] != '-' && !ckpt)
            ckpt = argv[i];
        else
            return dinoc_usage("knn");
    }
    if (!ckpt == !config || (data && (train || test)) || !train != !test)
        return dinoc_usage("knn");
    if (!train)
        train = test = data ? data : DEFAULT_DATA;
    dc_dinov2_config c;
    if (config) {
        if (dc_dinov2_config_load(config, overrides, n_overrides, &c) != DC_OK)
            return dinoc_fail("knn");
        opt.config = &c;
        opt.baselines = true;
    }
    opt.log = stderr;
    dc_knn_result r;
    if (dc_knn_evaluate_opts(ckpt, train, test, &opt, &r) != DC_OK)
        return dinoc_fail("knn");
    int k = opt.k > 0 ? opt.k : 20;
    double t = opt.temperature > 0 ? opt.temperature : 0.07;
    const char *what[3] = {"", " raw pixels", " random backbone"};
    double top1[3] = {r.top1, r.top1_raw, r.top1_random};
    for (int i = 0; i < 3; i++)
        if (top1[i] >= 0)
            printf("kNN top-1%s: %.4f (k=%d, T=%g, %lld train, %lld test%s%s)\n", what[i], top1[i], k,
                   t, (long long)r.n_train, (long long)r.n_test, i == 1 ? "" : ", features ",
                   i == 1 ? "" : dc_knn_features_name(r.features));
    if (r.images_per_second > 0)
        printf("teacher features: %.0f images/s, %.0f per CPU second (loading, transform and "
               "forward of %lld images)\n", r.images_per_second, r.images_per_cpu_second,
               (long long)(r.n_train + r.n_test));
    return 0;
}
