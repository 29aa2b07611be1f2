/* dinoc: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "dc_kernel.h"
#include "dc_status.h"

#ifndef DINOC_VERSION
#define DINOC_VERSION "dev"
#endif

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const dinoc_command commands[] = {
    {"inspect", "print an ONNX model as text or Graphviz",
     "dinoc inspect MODEL.onnx [--dot FILE]", cmd_inspect},
    {"convert", "read an ONNX model, verify it, infer shapes, write it back",
     "dinoc convert IN.onnx OUT.onnx", cmd_convert},
    {"ops", "list the ops dinoc knows", "dinoc ops", cmd_ops},
    {"compile", "lower an ONNX model to a plan artifact (.dnc)",
     "dinoc compile MODEL.onnx -o OUT.dnc [--explain] [--train [--loss NAME] [--freeze PATTERN]...\n"
     "               [--group PATTERN:lr_scale=X,decay=0|1]... [--clip NORM | --clip-group PATTERN:NORM...]\n"
     "               [--betas B1,B2] [--eps E]]\n"
     "       dinoc compile --config NAME [FIELD=VALUE...] [--ranks N] -o OUT.dnc [--explain]\n"
     "       (--ranks N: rank 0's step of a run on N processes, to inspect)\n"
     "       both forms: [--no-fuse] [--print-after PASS] (PASS: infer-shapes, fold-constants,\n"
     "       eliminate-dead-code, cse, fuse-forward, make-training-step, fuse-final, lower,\n"
     "       schedule-collectives, plan-memory); -o OUT.so [--target native|x86-64-v2|x86-64-v3|\n"
     "       x86-64-v4] writes a shared object with LLVM-generated kernels for the steps the\n"
     "       generator supports",
     cmd_compile},
    {"run", "run an ONNX model or a compiled artifact (.so, .dnc) once on tensor files",
     "dinoc run MODEL.onnx|STEP.so|OUT.dnc -i NAME=FILE ... [--scalar NAME=X] -o DIR [--npy] [--threads N] [--repeat N] [--profile]\n"
     "               [--steps N] [--save-state DIR]",
     cmd_run},
    {"grad", "the loss and its gradients for named initializers or inputs",
     "dinoc grad MODEL.onnx --loss NAME --wrt NAME[,NAME...] -i NAME=FILE ... -o DIR", cmd_grad},
    {"config", "print a DINOv2 config (lightly-example, official, fashion-mnist, ...) with overrides",
     "dinoc config NAME|FILE.yaml [FIELD=VALUE...] [--text] > my.yaml   (YAML; --config my.yaml reads it)",
     cmd_config},
    {"graph", "write a config's DINOv2 training graph (or its loss graph) as ONNX",
     "dinoc graph --config NAME [FIELD=VALUE...] -o FILE.onnx [--inference]", cmd_graph},
    {"step", "run exactly one DINOv2 training step from given weights and batch",
     "dinoc step --config NAME|STEP.so|STEP.dnc [FIELD=VALUE...] --init INIT.safetensors\n"
     "               --batch BATCH.safetensors -o DIR\n               [--threads N] [--repeat N] [--profile]\n       dinoc step --config NAME [FIELD=VALUE...] --list-state",
     cmd_step},
    {"knn", "k-NN top-1 accuracy of a checkpoint's teacher backbone (DINO's k=20, T=0.07)",
     "dinoc knn CKPT [--data DIR | --train DIR --test DIR] [--baselines] [--threads N] [--k K]\n"
     "               [--temperature T] [--batch-size N] [--max-train N] [--max-test N]\n"
     "               [--features cls|patch|both]\n"
     "       dinoc knn --config NAME [FIELD=VALUE...] [--data DIR ...]   (baselines only)",
     cmd_knn},
    {"pca", "the first three principal components of a checkpoint's patch features as a picture",
     "dinoc pca CKPT [--data DIR | IMAGE...] -o PCA.png [--images N] [--threshold T] [--threads N]",
     cmd_pca},
    {"export", "a checkpoint's backbone as a standalone ONNX model", "dinoc export CKPT -o OUT.onnx [--which teacher|student] [--image-size N] [--batch N|dynamic] [--output cls|patch|both]", cmd_export},
    {"train", "train DINOv2 on a folder of images (checkpoints, metrics.csv, losses.png)",
     "dinoc train --config NAME|STEP.so|STEP.dnc [FIELD=VALUE...] [--data DIR] [--steps N | --epochs N] --out DIR\n"
     "               [--resume] [--threads N] [--checkpoint-every N] [--seed S] [--progress bar|lines|none]\n"
     "               [--no-plot] [--no-knn] [--knn-max-train N] [--knn-max-test N] [--profile]\n"
     "               [--stop-on-collapse]",
     cmd_train},
    {"conformance", "run the ONNX backend node tests",
     "dinoc conformance [DIR] [--filter SUBSTR] [-v] [--threads N]", cmd_conformance},
    {"help", "this list, or one command's usage", "dinoc help [COMMAND]", cmd_help},
    {"version", "print dinoc's version and the oneDNN it runs on", "dinoc version", cmd_version},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static const dinoc_command *find_command(const char *name)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* One command per "  NAME  summary" line, its usage indented below: tests
 * read the command names from this list. */
static void print_help(FILE *out)
{
    fprintf(out, "dinoc %s: train DINOv2 vision transformers without PyTorch\n\n"
                 "usage: dinoc COMMAND [ARGS]   (dinoc COMMAND --help: its usage)\n\ncommands:\n",
            DINOC_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-11s %s\n              %s\n", commands[i].name, commands[i].summary,
                commands[i].usage);
}

/* Asked-for help goes to stdout (exit 0); after a usage error, to stderr (exit 2). */
static void print_usage(FILE *out, const dinoc_command *c)
{
    fprintf(out, "usage: %s\n\n%s\n", c->usage, c->summary);
}

static int cmd_help(int argc, char **argv)
{
    if (argc == 0) {
        print_help(stdout);
        return 0;
    }
    const dinoc_command *c = argc == 1 ? find_command(argv[0]) : NULL;
    if (!c) {
        if (argc == 1)
            fprintf(stderr, "dinoc help: unknown command '%s'\n", argv[0]);
        return dinoc_usage("help");
    }
    print_usage(stdout, c);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return dinoc_usage("version");
    char onednn[32];
    dc_onednn_version(onednn, sizeof onednn);
    printf("dinoc %s\noneDNN %s\n", DINOC_VERSION, onednn);
    return 0;
}

static int asks_for_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

int dinoc_fail(const char *cmd)
{
    fprintf(stderr, "dinoc %s: %s\n", cmd, dc_error_message());
    return 1;
}

int dinoc_usage(const char *cmd)
{
    const dinoc_command *c = find_command(cmd);
    if (c)
        print_usage(stderr, c);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        name = "help";
    else if (strcmp(name, "--version") == 0)
        name = "version";
    const dinoc_command *c = find_command(name);
    if (!c) {
        fprintf(stderr, "dinoc: unknown command '%s' (see 'dinoc help')\n", argv[1]);
        return 2;
    }
    if (asks_for_help(argc - 2, argv + 2)) {
        print_usage(stdout, c);
        return 0;
    }
    return c->run(argc - 2, argv + 2);
}
