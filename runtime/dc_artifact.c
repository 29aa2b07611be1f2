/* Opening compiled artifacts: shared objects through dlopen, plan files
 * through dc_plan_read (dc_artifact.h has the contract). */
#include "dc_artifact.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dc_cpu_features.h"

enum {
    MAX_TARGET = 128,         /* bytes of the target name */
    MAX_FEATURES = 4096,      /* bytes of the feature list */
    MAX_SYMBOL = 256,         /* bytes of a kernel's name */
    MAX_LACKING = 256,        /* bytes of the "lacks ..." list in a message */
};
static const int64_t MAX_SCRATCH = (int64_t)1 << 32; /* bytes of a kernel's per-thread scratch */

struct dc_artifact {
    void *handle; /* dlopen's; NULL for a plan file */
    dc_plan *plan;
    char *target;
};

const dc_plan *dc_artifact_plan(const dc_artifact *a)
{
    return a ? a->plan : NULL;
}

const char *dc_artifact_target(const dc_artifact *a)
{
    return a ? a->target : NULL;
}

/* `s` of `len` bytes for a message: printable ASCII kept, the rest '?',
 * at most cap - 1 bytes (a corrupt artifact must not garble the one line). */
static const char *printable(char *buf, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    buf[n] = '\0';
    return buf;
}

/* The current message with control bytes made '?' (UTF-8 in file names
 * kept): names inside a corrupt plan may hold newlines, and the loader's
 * failures are one line. */
static dc_status one_line(dc_status s)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", dc_error_message());
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    return dc_error(s, "%s", msg);
}

/* A NUL-terminated string inside `size` bytes, of at most `max` characters;
 * its length in *len. */
static dc_status bounded_string(const void *p, uint64_t size, size_t max, const char *what,
                                const char *symbol, size_t *len)
{
    if (!p || size == 0)
        return dc_error(DC_ERR_PARSE, "%s: %s is empty", what, symbol);
    uint64_t limit = size < (uint64_t)max + 1 ? size : (uint64_t)max + 1;
    const char *end = memchr(p, '\0', (size_t)limit);
    if (!end)
        return dc_error(DC_ERR_PARSE, "%s: %s is not a string of at most %zu bytes", what, symbol,
                        max);
    *len = (size_t)(end - (const char *)p);
    return DC_OK;
}

/* Every feature of the comma-separated list `f` (len bytes) known and
 * present; otherwise one line naming what this CPU lacks. */
static dc_status check_features(const char *f, size_t len, const char *target, const char *what,
                                dc_cpu_probe probe)
{
    char lacking[MAX_LACKING] = "", name[64];
    size_t n_lacking = 0;
    for (size_t at = 0; at <= len;) {
        const char *item = f + at;
        const char *comma = memchr(item, ',', len - at);
        size_t l = comma ? (size_t)(comma - item) : len - at;
        at += l + 1;
        if (l == 0 && len == 0)
            break; /* an empty list: plain x86-64 */
        int has = probe(item, l);
        if (has < 0)
            return dc_error(DC_ERR_UNSUPPORTED, "%s: compiled for %s, needs CPU feature '%s' that "
                            "this runtime cannot check", what, target,
                            printable(name, sizeof name, item, l));
        if (!has && n_lacking < sizeof lacking)
            n_lacking += (size_t)snprintf(lacking + n_lacking, sizeof lacking - n_lacking, "%s%.*s",
                                          n_lacking ? ", " : "", (int)l, item);
    }
    if (n_lacking)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: compiled for %s, this CPU lacks %s", what, target,
                        lacking);
    return DC_OK;
}

static bool is_identifier(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

dc_status dc_artifact_step_binding(const dc_plan_step *st, const char **symbol, int64_t *extent,
                                   int64_t *scratch)
{
    if (strncmp(st->kernel, "llvm.", 5) != 0 || strcmp(st->kernel + 5, st->op_type) != 0)
        return dc_error(DC_ERR_INVALID, "kernel '%s' does not name the step's op %s (expected "
                        "llvm.%s)", st->kernel, st->op_type, st->op_type);
    const dc_plan_attr *sym = dc_step_attr(st, "llvm_symbol");
    const dc_plan_attr *ext = dc_step_attr(st, "llvm_extent");
    if (!sym || sym->type != DC_PLAN_ATTR_STRING || !is_identifier(sym->s) ||
        strlen(sym->s) > MAX_SYMBOL)
        return dc_error(DC_ERR_INVALID, "attribute llvm_symbol must name the generated function "
                        "(a C identifier of at most %d bytes)", MAX_SYMBOL);
    if (!ext || ext->type != DC_PLAN_ATTR_INT || ext->i < 0)
        return dc_error(DC_ERR_INVALID, "attribute llvm_extent must be an integer >= 0");
    const dc_plan_attr *scr = dc_step_attr(st, "llvm_scratch");
    if (scr && (scr->type != DC_PLAN_ATTR_INT || scr->i < 0 || scr->i > MAX_SCRATCH))
        return dc_error(DC_ERR_INVALID, "attribute llvm_scratch must be an integer in [0, %lld] "
                        "(bytes per thread)", (long long)MAX_SCRATCH);
    *symbol = sym->s;
    *extent = ext->i;
    *scratch = scr ? scr->i : 0;
    return DC_OK;
}

dc_status dc_artifact_check_exports(const dc_artifact_exports *e, const char *what,
                                    dc_cpu_probe probe, dc_plan **plan)
{
    *plan = NULL;
    char shown[64];
    size_t len;
    DC_TRY(bounded_string(e->abi, e->abi_size, 64, what, "dinoc_artifact_abi", &len));
    if (len != strlen(DC_ARTIFACT_ABI) || memcmp(e->abi, DC_ARTIFACT_ABI, len) != 0)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: artifact ABI '%s', this runtime runs '%s' "
                        "(recompile it with this dinoc)", what,
                        printable(shown, sizeof shown, e->abi, len), DC_ARTIFACT_ABI);
    char target[MAX_TARGET + 1];
    DC_TRY(bounded_string(e->target, e->target_size, MAX_TARGET, what, "dinoc_artifact_target",
                          &len));
    printable(target, sizeof target, e->target, len);
    DC_TRY(bounded_string(e->cpu_features, e->cpu_features_size, MAX_FEATURES, what,
                          "dinoc_artifact_cpu_features", &len));
    DC_TRY(check_features(e->cpu_features, len, target, what, probe ? probe : dc_cpu_has_feature));
    if (!e->plan || e->plan_size > e->plan_capacity)
        return dc_error(DC_ERR_PARSE, "%s: dinoc_artifact_plan_size is %llu, the plan array holds "
                        "%llu bytes", what, (unsigned long long)e->plan_size,
                        (unsigned long long)e->plan_capacity);
    if (e->plan_size > SIZE_MAX)
        return dc_error(DC_ERR_PARSE, "%s: plan of %llu bytes", what,
                        (unsigned long long)e->plan_size);
    dc_status parsed = dc_plan_parse(e->plan, (size_t)e->plan_size, what, plan);
    if (parsed != DC_OK)
        return one_line(parsed);
    for (int i = 0; i < (*plan)->n_steps; i++) {
        const dc_plan_step *st = &(*plan)->steps[i];
        const char *symbol;
        int64_t extent, scratch;
        if (strncmp(st->kernel, "llvm.", 5) != 0)
            continue;
        dc_status s = dc_artifact_step_binding(st, &symbol, &extent, &scratch);
        if (s != DC_OK) {
            s = one_line(dc_error_context(s, "%s: step %d '%s'", what, i, st->node)); /* before st is freed */
            dc_plan_destroy(*plan);
            *plan = NULL;
            return s;
        }
    }
    return DC_OK;
}

/* ---- shared objects ---- */

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#else
#error "dinoc artifacts are 64-bit little-endian ELF: add this machine's EM_ value"
#endif

dc_status dc_artifact_check_elf(const void *file, size_t size, const char *what)
{
    Elf64_Ehdr h;
    if (size < sizeof h)
        return dc_error(DC_ERR_PARSE, "%s: truncated: %zu bytes, an ELF header alone is %zu", what,
                        size, sizeof h);
    memcpy(&h, file, sizeof h);
    if (memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
        return dc_error(DC_ERR_PARSE, "%s: not an ELF file", what);
    if (h.e_ident[EI_CLASS] != ELFCLASS64 || h.e_ident[EI_DATA] != ELFDATA2LSB ||
        h.e_machine != HOST_MACHINE)
        return dc_error(DC_ERR_UNSUPPORTED, "%s: an ELF file for another kind of machine "
                        "(class %d, data %d, machine %d; this one is 64-bit little-endian %d)", what,
                        h.e_ident[EI_CLASS], h.e_ident[EI_DATA], h.e_machine, HOST_MACHINE);
    if (h.e_type != ET_DYN)
        return dc_error(DC_ERR_PARSE, "%s: an ELF file but not a shared object (type %d)", what,
                        h.e_type);
    if (h.e_phentsize != sizeof(Elf64_Phdr) || h.e_phnum == 0 || h.e_phoff > size ||
        (size - h.e_phoff) / sizeof(Elf64_Phdr) < h.e_phnum)
        return dc_error(DC_ERR_PARSE, "%s: truncated or corrupt: %d program headers at byte %llu "
                        "of %zu", what, h.e_phnum, (unsigned long long)h.e_phoff, size);
    /* Not needed to load, but where a linker puts them, at the very end: a
     * file cut short loses them first. */
    if (h.e_shoff && (h.e_shentsize != sizeof(Elf64_Shdr) || h.e_shoff > size ||
                      (size - h.e_shoff) / sizeof(Elf64_Shdr) < h.e_shnum))
        return dc_error(DC_ERR_PARSE, "%s: truncated: %d section headers at byte %llu of %zu",
                        what, h.e_shnum, (unsigned long long)h.e_shoff, size);
    int loads = 0, dynamic = 0;
    for (int i = 0; i < h.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, (const char *)file + h.e_phoff + (size_t)i * sizeof ph, sizeof ph);
        loads += ph.p_type == PT_LOAD;
        dynamic += ph.p_type == PT_DYNAMIC;
        if (ph.p_filesz && (ph.p_offset > size || size - ph.p_offset < ph.p_filesz))
            return dc_error(DC_ERR_PARSE, "%s: truncated: segment %d ends at byte %llu, the file "
                            "has %zu", what, i,
                            (unsigned long long)ph.p_offset + (unsigned long long)ph.p_filesz, size);
    }
    if (!loads || dynamic != 1)
        return dc_error(DC_ERR_PARSE, "%s: not a loadable shared object (%d load segments, %d "
                        "dynamic)", what, loads, dynamic);
    return DC_OK;
}

/* dc_artifact_check_elf on the file `lib`, mapped for the check only;
 * messages name it `path`, as the user did. */
static dc_status check_elf_file(const char *lib, const char *path)
{
    int fd = open(lib, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        dc_status s = dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return s;
    }
    if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return dc_error(DC_ERR_PARSE, "%s: empty or unreadable file", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    dc_status s = dc_artifact_check_elf(m, (size_t)st.st_size, path);
    munmap(m, (size_t)st.st_size);
    return s;
}

/* The data symbol `name` of the loaded object and its size from the dynamic
 * symbol table; a missing symbol, one from another object (a dependency) or
 * one that is code is an error. */
static dc_status exported(const dc_artifact *a, const char *lib, const char *name, int type,
                          const char *what, const void **p, uint64_t *size)
{
    dlerror();
    void *sym = dlsym(a->handle, name);
    Dl_info info;
    const ElfW(Sym) *entry = NULL;
    if (!sym || !dladdr1(sym, &info, (void **)&entry, RTLD_DL_SYMENT) || !entry ||
        info.dli_saddr != sym || !info.dli_fname || strcmp(info.dli_fname, lib) != 0)
        return dc_error(DC_ERR_PARSE, "%s: exports no %s (not a dinoc artifact?)", what, name);
    if (ELF64_ST_TYPE(entry->st_info) != type)
        return dc_error(DC_ERR_PARSE, "%s: %s is %s", what, name,
                        type == STT_FUNC ? "not a function" : "not data");
    *p = sym;
    *size = entry->st_size;
    return DC_OK;
}

/* dlerror's text without the path it usually starts with (the message
 * already does). */
static const char *dl_reason(const char *lib)
{
    const char *e = dlerror();
    if (!e)
        return "unknown error";
    size_t n = strlen(lib);
    return strncmp(e, lib, n) == 0 && strncmp(e + n, ": ", 2) == 0 ? e + n + 2 : e;
}

static dc_status open_shared_object(dc_artifact *a, const char *path)
{
    /* A name without '/' would make dlopen search the library path. */
    char lib[PATH_MAX];
    if (!realpath(path, lib))
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    DC_TRY(check_elf_file(lib, path));
    if (!(a->handle = dlopen(lib, RTLD_NOW | RTLD_LOCAL)))
        return dc_error(DC_ERR_PARSE, "%s: cannot load the shared object: %s", path, dl_reason(lib));
    /* The name dlopen records may differ from ours (symlinks): use its. */
    struct link_map *lm = NULL;
    if (dlinfo(a->handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name)
        return dc_error(DC_ERR_IO, "%s: cannot inspect the loaded object", path);
    const char *name = lm->l_name;
    dc_artifact_exports e;
    const void *size_p;
    uint64_t size_bytes;
    DC_TRY(exported(a, name, "dinoc_artifact_abi", STT_OBJECT, path, &e.abi, &e.abi_size));
    DC_TRY(exported(a, name, "dinoc_artifact_target", STT_OBJECT, path, &e.target,
                    &e.target_size));
    DC_TRY(exported(a, name, "dinoc_artifact_cpu_features", STT_OBJECT, path, &e.cpu_features,
                    &e.cpu_features_size));
    DC_TRY(exported(a, name, "dinoc_artifact_plan", STT_OBJECT, path, &e.plan, &e.plan_capacity));
    DC_TRY(exported(a, name, "dinoc_artifact_plan_size", STT_OBJECT, path, &size_p, &size_bytes));
    if (size_bytes != sizeof(uint64_t))
        return dc_error(DC_ERR_PARSE, "%s: dinoc_artifact_plan_size is %llu bytes, not 8", path,
                        (unsigned long long)size_bytes);
    memcpy(&e.plan_size, size_p, sizeof e.plan_size);
    DC_TRY(dc_artifact_check_exports(&e, path, NULL, &a->plan));
    size_t len = strnlen(e.target, (size_t)e.target_size);
    if (!(a->target = strndup(e.target, len)))
        return dc_error(DC_ERR_NOMEM, "%s: target name", path);
    /* Every generated kernel is there and is code, before any session. */
    for (int i = 0; i < a->plan->n_steps; i++) {
        const dc_plan_step *st = &a->plan->steps[i];
        const char *symbol;
        int64_t extent, scratch;
        const void *fn;
        uint64_t fn_size;
        if (strncmp(st->kernel, "llvm.", 5) != 0)
            continue;
        DC_TRY(dc_artifact_step_binding(st, &symbol, &extent, &scratch));
        dc_status s = exported(a, name, symbol, STT_FUNC, path, &fn, &fn_size);
        if (s != DC_OK)
            return dc_error(s, "%s: step %d '%s' (%s): the object has no function %s", path, i,
                            st->node, st->kernel, symbol);
    }
    return DC_OK;
}

typedef enum artifact_kind { NOT_AN_ARTIFACT, SHARED_OBJECT, PLAN_FILE } artifact_kind;

/* Told by the file's first bytes, whatever its name. */
static artifact_kind sniff(FILE *f)
{
    unsigned char magic[8];
    size_t got = fread(magic, 1, sizeof magic, f);
    if (got >= 4 && memcmp(magic, "\x7f" "ELF", 4) == 0)
        return SHARED_OBJECT;
    return got == 8 && memcmp(magic, "DINOCPLN", 8) == 0 ? PLAN_FILE : NOT_AN_ARTIFACT;
}

bool dc_artifact_is_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    artifact_kind kind = f ? sniff(f) : NOT_AN_ARTIFACT;
    if (f)
        fclose(f);
    return kind != NOT_AN_ARTIFACT;
}

dc_status dc_artifact_open(const char *path, dc_artifact **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    artifact_kind kind = sniff(f);
    fclose(f);
    dc_artifact *a = calloc(1, sizeof *a);
    if (!a)
        return dc_error(DC_ERR_NOMEM, "%s", path);
    dc_status s;
    if (kind == SHARED_OBJECT)
        s = open_shared_object(a, path);
    else if (kind == PLAN_FILE)
        s = dc_plan_read(path, &a->plan);
    else
        s = dc_error(DC_ERR_PARSE, "%s: not a dinoc artifact (neither a shared object made by "
                     "dinoc compile nor a .dnc plan)", path);
    if (s != DC_OK) {
        dc_artifact_close(a);
        return one_line(s);
    }
    *out = a;
    return DC_OK;
}

dc_generated_kernel dc_artifact_kernel(const dc_artifact *a, const char *symbol)
{
    if (!a || !a->handle || !symbol)
        return NULL;
    void *p = dlsym(a->handle, symbol);
    return p ? (dc_generated_kernel)p : NULL;
}

void dc_artifact_close(dc_artifact *a)
{
    if (!a)
        return;
    dc_plan_destroy(a->plan);
    free(a->target);
    if (a->handle)
        dlclose(a->handle);
    free(a);
}
