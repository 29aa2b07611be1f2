/* dinoc: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "dc_status.h"

#ifndef DINOC_VERSION
#define DINOC_VERSION "dev"
#endif

static const dinoc_command commands[] = {
    {"inspect", "print an ONNX model as text or Graphviz",
     "dinoc inspect MODEL.onnx [--dot FILE]", cmd_inspect},
    {"convert", "read an ONNX model, verify it, infer shapes, write it back",
     "dinoc convert IN.onnx OUT.onnx", cmd_convert},
    {"ops", "list the ops dinoc knows", "dinoc ops", cmd_ops},
    {"compile", "lower an ONNX model to a plan artifact (.dnc)",
     "dinoc compile MODEL.onnx -o OUT.dnc [--explain] [--train [--loss NAME] [--freeze PATTERN]...\n"
     "               [--group PATTERN:lr_scale=X,decay=0|1]... [--clip NORM] [--betas B1,B2] [--eps E]]\n"
     "       dinoc compile --config NAME [FIELD=VALUE...] -o OUT.dnc [--explain]\n"
     "       both forms: [--no-fuse] [--print-after PASS] (PASS: infer-shapes, fold-constants,\n"
     "       eliminate-dead-code, cse, fuse-forward, make-training-step, fuse-final, lower,\n"
     "       plan-memory)",
     cmd_compile},
    {"run", "run an ONNX model or a .dnc artifact once on tensor files",
     "dinoc run MODEL.onnx|OUT.dnc -i NAME=FILE ... [--scalar NAME=X] -o DIR [--npy] [--threads N] [--repeat N] [--profile]\n"
     "               [--steps N] [--save-state DIR]",
     cmd_run},
    {"grad", "the loss and its gradients for named initializers or inputs",
     "dinoc grad MODEL.onnx --loss NAME --wrt NAME[,NAME...] -i NAME=FILE ... -o DIR", cmd_grad},
    {"config", "print a DINOv2 config (lightly-example, official, fashion-mnist, ...) with overrides",
     "dinoc config NAME [FIELD=VALUE...]", cmd_config},
    {"graph", "write a config's DINOv2 training graph (or its loss graph) as ONNX",
     "dinoc graph --config NAME [FIELD=VALUE...] -o FILE.onnx [--inference]", cmd_graph},
    {"step", "run exactly one DINOv2 training step from given weights and batch",
     "dinoc step --config NAME [FIELD=VALUE...] --init INIT.safetensors --batch BATCH.safetensors "
     "-o DIR\n       dinoc step --config NAME [FIELD=VALUE...] --list-state",
     cmd_step},
    {"knn", "k-NN top-1 accuracy of a checkpoint's teacher backbone (DINO's k=20, T=0.07)",
     "dinoc knn CKPT [--data DIR | --train DIR --test DIR] [--baselines] [--threads N] [--k K]\n"
     "               [--temperature T] [--batch-size N] [--max-train N] [--max-test N]\n"
     "       dinoc knn --config NAME [FIELD=VALUE...] [--data DIR ...]   (baselines only)",
     cmd_knn},
    {"export", "a checkpoint's backbone as a standalone ONNX model", "dinoc export CKPT -o OUT.onnx [--which teacher|student] [--image-size N] [--batch N|dynamic] [--output cls|patch|both]", cmd_export},
    {"train", "train DINOv2 on a folder of images (checkpoints, metrics.csv, losses.png)",
     "dinoc train --config NAME|STEP.dnc [FIELD=VALUE...] [--data DIR] [--steps N | --epochs N] --out DIR\n"
     "               [--resume] [--threads N] [--checkpoint-every N] [--seed S] [--progress bar|lines|none]\n"
     "               [--no-plot] [--no-knn] [--knn-max-train N] [--knn-max-test N] [--profile]",
     cmd_train},
    {"conformance", "run the ONNX backend node tests",
     "dinoc conformance [DIR] [--filter SUBSTR] [-v] [--threads N]", cmd_conformance},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void print_help(FILE *out)
{
    fprintf(out, "dinoc %s: train DINOv2 vision transformers without PyTorch\n\n"
                 "usage: dinoc COMMAND [ARGS]\n\ncommands:\n", DINOC_VERSION);
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n             %s\n", commands[i].name, commands[i].summary,
                commands[i].usage);
    fprintf(out, "  %-10s %s\n  %-10s %s\n", "help", "show this list", "version", "print the version");
}

int dinoc_fail(const char *cmd)
{
    fprintf(stderr, "dinoc %s: %s\n", cmd, dc_error_message());
    return 1;
}

int dinoc_usage(const char *cmd)
{
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            fprintf(stderr, "usage: %s\n", commands[i].usage);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("dinoc %s\n", DINOC_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "dinoc: unknown command '%s' (see 'dinoc help')\n", argv[1]);
    return 2;
}
