/* What `dinoc train` and `dinort train` share on the command line: the
 * options of a run of the loop (trainer.h) and the handling of signals. */
#ifndef DC_TRAIN_ARGS_H
#define DC_TRAIN_ARGS_H

#include <signal.h>

#include "trainer.h"

/* The shared options, as their usage line lists them. */
#define DC_TRAIN_ARGS_USAGE                                                        \
    "[--data DIR] [--split NAME] [--steps N | --epochs N] --out DIR [--resume]\n"  \
    "           [--threads N] [--checkpoint-every N] [--seed S] [--progress bar|lines|none]\n" \
    "           [--no-plot] [--profile] [--stop-on-collapse]"

/* argv[*i] when it is a shared option: 1 (its value taken too, *i on the
 * last argument used), 0 when it is not one, -1 for a missing or bad value. */
int dc_train_parse_arg(int argc, char **argv, int *i, dc_train_options *o);

/* Catches SIGINT and SIGTERM for the loop's `stop` flag, which it returns:
 * the first signal asks the loop to stop after its step (with a
 * checkpoint); a second one, or any once the loop is over (the flag is -1),
 * acts as if there were no handler: the last checkpoint is complete either
 * way, as its writes are atomic. */
volatile sig_atomic_t *dc_train_catch_signals(void);

#endif
