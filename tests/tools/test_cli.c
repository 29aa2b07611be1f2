/* The `dinoc` command line's help and usage-error contract, for every
 * subcommand: asked-for help (`dinoc --help`, `dinoc help SUB`, `dinoc SUB
 * --help`) prints on stdout and exits 0; a usage error prints the usage on
 * stderr and exits 2. The subcommands are read from `dinoc help` itself, so a
 * new one is checked without editing this file. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

extern char **environ;

enum { MAX_OUTPUT = 1 << 16, MAX_COMMANDS = 64, MAX_NAME = 32 };

typedef struct cli_result {
    int status; /* exit code, -1 when it did not exit normally */
    char out[MAX_OUTPUT];
    char err[MAX_OUTPUT];
} cli_result;

static char tmp_dir[] = "/tmp/dinoc_cli_XXXXXX";

static void read_file(const char *path, char *buf)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, MAX_OUTPUT - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* Runs DINOC_BINARY with the NULL-terminated args, stdout and stderr kept apart. */
static void run_dinoc(cli_result *r, const char *const *args)
{
    char out_path[64], err_path[64];
    snprintf(out_path, sizeof out_path, "%s/out", tmp_dir);
    snprintf(err_path, sizeof err_path, "%s/err", tmp_dir);
    const char *argv[8] = {DINOC_BINARY};
    int argc = 1;
    for (; args[argc - 1] && argc < 7; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int wstatus = 0;
    r->status = -1;
    if (posix_spawn(&pid, DINOC_BINARY, &fa, NULL, (char *const *)argv, environ) == 0 &&
        waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus))
        r->status = WEXITSTATUS(wstatus);
    posix_spawn_file_actions_destroy(&fa);
    read_file(out_path, r->out);
    read_file(err_path, r->err);
}

#define RUN(r, ...) run_dinoc((r), (const char *const[]){__VA_ARGS__, NULL})

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The names in `dinoc help`'s list: after "commands:", each "  NAME  summary"
 * line (usage lines below it are indented further). */
static int list_commands(const char *help, char names[][MAX_NAME])
{
    const char *p = strstr(help, "\ncommands:\n");
    int n = 0;
    if (!p)
        return 0;
    for (p = strchr(p + 1, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        const char *line = p + 1;
        if (line[0] != ' ' || line[1] != ' ' || line[2] == ' ')
            continue;
        size_t len = strcspn(line + 2, " \n");
        if (n < MAX_COMMANDS && len > 0 && len < MAX_NAME) {
            memcpy(names[n], line + 2, len);
            names[n][len] = '\0';
            n++;
        }
    }
    return n;
}

/* Every subcommand: help three ways on stdout with exit 0, an unknown option
 * a usage error on stderr with exit 2. */
static void test_every_command(void)
{
    static cli_result r, again;
    RUN(&r, "--help");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.err, "");
    static char names[MAX_COMMANDS][MAX_NAME];
    int n = list_commands(r.out, names);
    /* the list holds at least the commands the README and tools/ use */
    const char *known[] = {"train", "knn", "export", "compile", "run", "help", "version"};
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strcmp(names[i], known[k]) == 0;
        if (!found)
            fprintf(stderr, "\n    '%s' missing from dinoc --help", known[k]);
        CU_ASSERT(found);
    }

    RUN(&again, "help");
    CU_ASSERT_EQUAL(again.status, 0);
    CU_ASSERT_STRING_EQUAL(again.out, r.out);
    RUN(&again, "-h");
    CU_ASSERT_EQUAL(again.status, 0);
    CU_ASSERT_STRING_EQUAL(again.out, r.out);

    for (int i = 0; i < n; i++) {
        char usage[64];
        snprintf(usage, sizeof usage, "usage: dinoc %.*s", MAX_NAME - 1, names[i]);

        RUN(&r, "help", names[i]);
        int ok = r.status == 0 && starts_with(r.out, usage) && r.err[0] == '\0';
        RUN(&again, names[i], "--help");
        ok = ok && again.status == 0 && strcmp(again.out, r.out) == 0 && again.err[0] == '\0';
        RUN(&again, names[i], "-h");
        ok = ok && again.status == 0 && strcmp(again.out, r.out) == 0 && again.err[0] == '\0';
        if (!ok)
            fprintf(stderr, "\n    dinoc %s: help not on stdout with exit 0 (exit %d)", names[i],
                    again.status);
        CU_ASSERT(ok);

        RUN(&r, names[i], "--no-such-option");
        ok = r.status == 2 && r.out[0] == '\0' && strstr(r.err, "usage: dinoc") != NULL;
        if (!ok)
            fprintf(stderr, "\n    dinoc %s --no-such-option: exit %d, stdout '%.80s', stderr '%.80s'",
                    names[i], r.status, r.out, r.err);
        CU_ASSERT(ok);
    }
    printf("\n    %d subcommands checked ", n);
}

/* No command, an unknown one, or help for an unknown one: usage errors. */
static void test_usage_errors(void)
{
    static cli_result r;
    const char *const *cases[] = {
        (const char *const[]){NULL},
        (const char *const[]){"no-such-command", NULL},
        (const char *const[]){"help", "no-such-command", NULL},
        (const char *const[]){"help", "train", "knn", NULL},
        (const char *const[]){"version", "extra", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_dinoc(&r, cases[i]);
        CU_ASSERT_EQUAL(r.status, 2);
        CU_ASSERT_STRING_EQUAL(r.out, "");
        CU_ASSERT(r.err[0] != '\0');
    }
    RUN(&r, "version");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT(starts_with(r.out, "dinoc "));
}

static int suite_init(void)
{
    return mkdtemp(tmp_dir) ? 0 : 1;
}

static int suite_clean(void)
{
    char path[64];
    snprintf(path, sizeof path, "%s/out", tmp_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/err", tmp_dir);
    unlink(path);
    return rmdir(tmp_dir) == 0 ? 0 : 1;
}

void register_tools_cli(void)
{
    CU_pSuite s = CU_add_suite("tools_cli", suite_init, suite_clean);
    CU_add_test(s, "help on stdout (exit 0), usage errors on stderr (exit 2), every subcommand",
                test_every_command);
    CU_add_test(s, "no command, unknown command, extra arguments", test_usage_errors);
}
