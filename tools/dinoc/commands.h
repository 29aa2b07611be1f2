/* The `dinoc` subcommands. Each takes argc/argv after the subcommand name,
 * prints its own errors to stderr as one line, and returns a process exit code. */
#ifndef DINOC_COMMANDS_H
#define DINOC_COMMANDS_H

typedef struct dinoc_command {
    const char *name;
    const char *summary;
    const char *usage;
    int (*run)(int argc, char **argv);
} dinoc_command;

int cmd_inspect(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_grad(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_step(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_knn(int argc, char **argv);
int cmd_pca(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* Prints "dinoc <cmd>: <message>" for the current dc_error_message(). */
int dinoc_fail(const char *cmd);
/* Prints the usage of `cmd` to stderr (a usage error) and returns 2. */
int dinoc_usage(const char *cmd);

#endif
