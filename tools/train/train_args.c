/* The command line shared by `dinoc train` and `dinort train` (train_args.h). */
#include "train_args.h"

#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_signal = 0;

static void on_signal(int sig)
{
    if (stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

volatile sig_atomic_t *dc_train_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_signal;
}

/* A whole number > 0 and < limit. */
static int parse_count(const char *s, long long limit, long long *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v <= 0 || v >= limit)
        return 0;
    *out = v;
    return 1;
}

int dc_train_parse_arg(int argc, char **argv, int *i, dc_train_options *o)
{
    const char *a = argv[*i], *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    long long v;
    if (!strcmp(a, "--resume"))
        o->resume = true;
    else if (!strcmp(a, "--profile"))
        o->profile = true;
    else if (!strcmp(a, "--no-plot"))
        o->plot = false;
    else if (!strcmp(a, "--stop-on-collapse"))
        o->stop_on_collapse = true;
    else {
        static const char *const with_value[] = {"--data", "--split", "--out", "-o", "--steps",
                                                 "--epochs", "--threads", "--checkpoint-every",
                                                 "--seed", "--progress"};
        size_t k = 0, n = sizeof with_value / sizeof *with_value;
        while (k < n && strcmp(a, with_value[k]) != 0)
            k++;
        if (k == n)
            return 0;
        if (!next)
            return -1;
        ++*i;
        if (!strcmp(a, "--data"))
            o->data = next;
        else if (!strcmp(a, "--split"))
            o->split = next;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o"))
            o->out_dir = next;
        else if (!strcmp(a, "--steps") && parse_count(next, INT64_MAX, &v))
            o->steps = v;
        else if (!strcmp(a, "--epochs") && parse_count(next, 1 << 30, &v))
            o->epochs = (int)v;
        else if (!strcmp(a, "--threads") && parse_count(next, 4096, &v))
            o->threads = (int)v;
        else if (!strcmp(a, "--checkpoint-every") && parse_count(next, INT64_MAX, &v))
            o->checkpoint_every = v;
        else if (!strcmp(a, "--seed")) {
            char *end;
            o->seed = strtoull(next, &end, 10);
            o->seed_set = true;
            if (!*next || *end)
                return -1;
        } else if (!strcmp(a, "--progress") && !strcmp(next, "bar"))
            o->progress = DC_PROGRESS_BAR;
        else if (!strcmp(a, "--progress") && !strcmp(next, "lines"))
            o->progress = DC_PROGRESS_LINES;
        else if (!strcmp(a, "--progress") && !strcmp(next, "none"))
            o->progress = DC_PROGRESS_NONE;
        else
            return -1;
    }
    return 1;
}
