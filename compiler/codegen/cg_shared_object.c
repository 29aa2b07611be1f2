/* Writing the shared object: the exported data symbols, the module as an
 * object file, the plan bytes through the assembler's .incbin (a training
 * step's state can be hundreds of MB: no C array of it is ever built), and
 * one `cc -shared` that links them. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cg_internal.h"

extern char **environ;

enum { DIR_MAX = 1024 };

/* A constant NUL-terminated string exported as `const char name[]`. */
static void export_string(dc_codegen *cg, const char *name, const char *value)
{
    LLVMValueRef init = LLVMConstStringInContext(cg->ctx, value, (unsigned)strlen(value), 0);
    LLVMValueRef g = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), name);
    LLVMSetInitializer(g, init);
    LLVMSetGlobalConstant(g, 1);
    LLVMSetLinkage(g, LLVMExternalLinkage);
    LLVMSetVisibility(g, LLVMDefaultVisibility);
}

static dc_status write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, n, f);
    int closed = fclose(f);
    if (w != n || closed != 0)
        return dc_error(DC_ERR_IO, "%s: writing %zu bytes failed", path, n);
    return DC_OK;
}

/* The plan as read-only data: dinoc_artifact_plan[] and its size. */
static dc_status write_plan_asm(const char *dir, size_t plan_size)
{
    char path[DIR_MAX + 16];
    snprintf(path, sizeof path, "%s/plan.s", dir);
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "\t.section .rodata.dinoc_artifact_plan,\"a\",@progbits\n"
                     "\t.globl dinoc_artifact_plan\n"
                     "\t.type dinoc_artifact_plan, @object\n"
                     "\t.balign 64\n"
                     "dinoc_artifact_plan:\n"
                     "\t.incbin \"%s/plan.bin\"\n"
                     "\t.size dinoc_artifact_plan, %zu\n"
                     "\t.globl dinoc_artifact_plan_size\n"
                     "\t.type dinoc_artifact_plan_size, @object\n"
                     "\t.balign 8\n"
                     "dinoc_artifact_plan_size:\n"
                     "\t.quad %zu\n"
                     "\t.size dinoc_artifact_plan_size, 8\n"
                     "\t.section .note.GNU-stack,\"\",@progbits\n",
                     dir, plan_size, plan_size);
    return write_file(path, text, (size_t)n);
}

/* Runs argv with stderr to `log`; the message names the program and quotes
 * the first line of what it said. */
static dc_status run_program(char *const *argv, const char *log)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return dc_error(DC_ERR_UNSUPPORTED, "cannot run the C compiler '%s' (%s): a shared-object "
                        "artifact is linked with it; install gcc or set DINOC_CC", argv[0],
                        strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return dc_error(DC_ERR_IO, "waiting for '%s': %s", argv[0], strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return DC_OK;
    char first[512] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        if (!fgets(first, sizeof first, f))
            first[0] = '\0';
        fclose(f);
    }
    first[strcspn(first, "\n")] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return dc_error(DC_ERR_UNSUPPORTED, "cannot run the C compiler '%s': a shared-object "
                        "artifact is linked with it; install gcc or set DINOC_CC", argv[0]);
    return dc_error(DC_ERR_IO, "linking the shared object with '%s' failed%s%s", argv[0],
                    *first ? ": " : "", first);
}

static dc_status emit_object(dc_codegen *cg, const char *path)
{
    char *err = NULL;
    if (LLVMTargetMachineEmitToFile(cg->tm, cg->mod, (char *)path, LLVMObjectFile, &err)) {
        dc_status s = dc_error(DC_ERR_IO, "%s: LLVM could not emit the object: %s", path, err);
        LLVMDisposeMessage(err);
        return s;
    }
    return DC_OK;
}

static dc_status link_in(dc_codegen *cg, const char *dir, const void *plan, size_t plan_size,
                         const char *tmp_out)
{
    char obj[DIR_MAX + 16], bin[DIR_MAX + 16], as[DIR_MAX + 16], log[DIR_MAX + 16];
    snprintf(obj, sizeof obj, "%s/kernels.o", dir);
    snprintf(bin, sizeof bin, "%s/plan.bin", dir);
    snprintf(as, sizeof as, "%s/plan.s", dir);
    snprintf(log, sizeof log, "%s/cc.log", dir);
    DC_TRY(emit_object(cg, obj));
    DC_TRY(write_file(bin, plan, plan_size));
    DC_TRY(write_plan_asm(dir, plan_size));
    const char *cc = getenv("DINOC_CC");
    char *argv[] = {(char *)(cc && *cc ? cc : "cc"), "-shared", "-o", (char *)tmp_out,
                    obj, as, NULL};
    dc_status s = run_program(argv, log);
    unlink(obj);
    unlink(bin);
    unlink(as);
    unlink(log);
    return s;
}

dc_status dc_codegen_write_shared_object(dc_codegen *cg, const void *plan_bytes,
                                         size_t plan_size, const char *path)
{
    if (LLVMGetNamedGlobal(cg->mod, "dinoc_artifact_abi"))
        return dc_error(DC_ERR_INVALID, "%s: this generator already wrote its shared object", path);
    export_string(cg, "dinoc_artifact_abi", "dinoc-artifact-1");
    export_string(cg, "dinoc_artifact_target", cg->target_name);
    export_string(cg, "dinoc_artifact_cpu_features", cg->gcc_features);
    DC_TRY(dc_codegen_optimize(cg));

    const char *tmp = getenv("TMPDIR");
    char dir[DIR_MAX];
    int n = snprintf(dir, sizeof dir, "%s/dinoc-codegen-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || n >= DIR_MAX || !mkdtemp(dir))
        return dc_error(DC_ERR_IO, "%s: cannot make a temporary directory: %s", dir,
                        n >= DIR_MAX ? "TMPDIR is too long" : strerror(errno));
    char *tmp_out = NULL;
    if (asprintf(&tmp_out, "%s.tmp%d", path, (int)getpid()) < 0) {
        rmdir(dir);
        return dc_error(DC_ERR_NOMEM, "%s", path);
    }
    dc_status s = link_in(cg, dir, plan_bytes, plan_size, tmp_out);
    rmdir(dir);
    if (s == DC_OK && rename(tmp_out, path) != 0)
        s = dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    if (s != DC_OK)
        unlink(tmp_out);
    free(tmp_out);
    return s;
}
