/* The training recipe's text form (recipe.h): a table of its fields, printed
 * and read back by name. */
#include "recipe.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LINE "config:"

typedef enum { F_NAME, F_INT, F_I64, F_BOOL, F_FLOAT } field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    int count;     /* values of an array field (F_INT, F_FLOAT); 1 otherwise */
    size_t offset; /* in dc_train_recipe */
} field;

#define F(name, kind, member) {name, kind, 1, offsetof(dc_train_recipe, member)}
#define A(name, kind, n, member) {name, kind, n, offsetof(dc_train_recipe, member)}

static const field fields[] = {
    F("name", F_NAME, name),
    F("epochs", F_INT, epochs),
    F("epoch_length", F_INT, epoch_length),
    F("grad_accum_steps", F_INT, grad_accum_steps),
    F("optimizer_sharding", F_BOOL, optimizer_sharding),
    F("masks_per_slice", F_BOOL, masks_per_slice),
    F("lr", F_FLOAT, lr),
    F("min_lr", F_FLOAT, min_lr),
    F("warmup_epochs", F_INT, warmup_epochs),
    F("freeze_last_layer_epochs", F_INT, freeze_last_layer_epochs),
    F("weight_decay", F_FLOAT, weight_decay),
    F("weight_decay_end", F_FLOAT, weight_decay_end),
    F("teacher_temp", F_FLOAT, teacher_temp),
    F("warmup_teacher_temp", F_FLOAT, warmup_teacher_temp),
    F("warmup_teacher_temp_epochs", F_INT, warmup_teacher_temp_epochs),
    F("momentum_teacher", F_FLOAT, momentum_teacher),
    F("momentum_teacher_end", F_FLOAT, momentum_teacher_end),
    F("head_output_dim", F_INT, head_output_dim),
    F("batch.batch_size", F_INT, batch.batch_size),
    F("batch.channels", F_INT, batch.channels),
    F("batch.global_size", F_INT, batch.global_size),
    F("batch.local_size", F_INT, batch.local_size),
    F("batch.n_local", F_INT, batch.n_local),
    A("batch.global_scale", F_FLOAT, 2, batch.global_scale),
    A("batch.local_scale", F_FLOAT, 2, batch.local_scale),
    F("batch.hflip_prob", F_FLOAT, batch.hflip_prob),
    F("batch.jitter_prob", F_FLOAT, batch.jitter_prob),
    A("batch.jitter", F_FLOAT, 4, batch.jitter),
    F("batch.gray_prob", F_FLOAT, batch.gray_prob),
    A("batch.blur_prob", F_FLOAT, 3, batch.blur_prob),
    A("batch.blur_sigma", F_FLOAT, 6, batch.blur_sigma),
    F("batch.solarize_prob", F_FLOAT, batch.solarize_prob),
    A("batch.mean", F_FLOAT, 3, batch.mean),
    A("batch.std", F_FLOAT, 3, batch.std),
    F("batch.patch_size", F_INT, batch.patch_size),
    F("batch.n_registers", F_INT, batch.n_registers),
    F("batch.depth", F_INT, batch.depth),
    F("batch.drop_path", F_FLOAT, batch.drop_path),
    F("batch.mask_probability", F_FLOAT, batch.mask_probability),
    A("batch.mask_ratio", F_FLOAT, 2, batch.mask_ratio),
    F("batch.max_masked", F_I64, batch.max_masked),
};
enum { N_FIELDS = sizeof fields / sizeof fields[0] };

/* The shortest of %.6g..%.9g that reads back as the same float. */
static void print_float(FILE *out, float v)
{
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (strtof(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

char *dc_train_recipe_text(const dc_train_recipe *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    for (int i = 0; i < N_FIELDS; i++) {
        const char *at = (const char *)r + fields[i].offset;
        fprintf(f, "%s =", fields[i].name);
        for (int k = 0; k < fields[i].count; k++) {
            fputc(' ', f);
            switch (fields[i].kind) {
            case F_NAME: fputs(at, f); break;
            case F_INT: fprintf(f, "%d", ((const int *)at)[k]); break;
            case F_I64: fprintf(f, "%lld", (long long)*(const int64_t *)at); break;
            case F_BOOL: fputs(*(const bool *)at ? "true" : "false", f); break;
            case F_FLOAT: print_float(f, ((const float *)at)[k]); break;
            }
        }
        fputc('\n', f);
    }
    fprintf(f, "%s\n%s", CONFIG_LINE, r->config_text ? r->config_text : "");
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* One value of field f (its k-th) from *s, which moves past it. */
static dc_status parse_value(const field *f, int k, const char **s, dc_train_recipe *r)
{
    char *at = (char *)r + f->offset, *end;
    const char *v = *s + strspn(*s, " \t");
    size_t n = strcspn(v, f->kind == F_NAME ? "\n" : " \t\n"); /* a name is the rest of the line */
    while (f->kind == F_NAME && n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return dc_error(DC_ERR_PARSE, "'%s' has %d value%s, expected %d", f->name, k,
                        k == 1 ? "" : "s", f->count);
    errno = 0;
    switch (f->kind) {
    case F_NAME:
        if (n >= sizeof r->name)
            return dc_error(DC_ERR_PARSE, "'%s': longer than %zu characters", f->name,
                            sizeof r->name - 1);
        memcpy(at, v, n);
        at[n] = '\0';
        end = (char *)v + n;
        break;
    case F_INT: {
        long x = strtol(v, &end, 10);
        if (errno || x < -(1L << 30) || x > 1L << 30)
            end = (char *)v; /* out of range: reported below */
        ((int *)at)[k] = (int)x;
        break;
    }
    case F_I64:
        *(int64_t *)at = strtoll(v, &end, 10);
        if (errno)
            end = (char *)v;
        break;
    case F_BOOL: {
        bool yes = n == 4 && strncmp(v, "true", 4) == 0, no = n == 5 && strncmp(v, "false", 5) == 0;
        *(bool *)at = yes;
        end = (char *)v + (yes || no ? n : 0);
        break;
    }
    case F_FLOAT:
        ((float *)at)[k] = strtof(v, &end);
        break;
    }
    if (end != v + n)
        return dc_error(DC_ERR_PARSE, "'%s': bad value '%.*s'", f->name, (int)n, v);
    *s = end;
    return DC_OK;
}

/* One "field = values" line (without its newline), marking the field seen. */
static dc_status parse_line(const char *line, bool *seen, dc_train_recipe *r)
{
    size_t key = strcspn(line, " =\n");
    int i = 0;
    while (i < N_FIELDS && !(strlen(fields[i].name) == key && strncmp(fields[i].name, line, key) == 0))
        i++;
    if (i == N_FIELDS)
        return dc_error(DC_ERR_PARSE, "unknown field '%.*s' (an artifact of another dinoc?)",
                        (int)key, line);
    if (seen[i])
        return dc_error(DC_ERR_PARSE, "field '%s' appears twice", fields[i].name);
    seen[i] = true;
    const char *s = line + key + strspn(line + key, " ");
    if (*s != '=')
        return dc_error(DC_ERR_PARSE, "'%s': expected '='", fields[i].name);
    s++;
    for (int k = 0; k < fields[i].count; k++)
        DC_TRY(parse_value(&fields[i], k, &s, r));
    if (s[strspn(s, " \t")] != '\0' && s[strspn(s, " \t")] != '\n')
        return dc_error(DC_ERR_PARSE, "'%s': more than %d value%s", fields[i].name,
                        fields[i].count, fields[i].count == 1 ? "" : "s");
    return DC_OK;
}

/* What the loop relies on beyond dc_batch_spec_check. */
static dc_status check(const dc_train_recipe *r)
{
    if (!r->name[0])
        return dc_error(DC_ERR_INVALID, "'name' is empty");
    if (r->epochs < 1 || r->epoch_length < 0 || r->grad_accum_steps < 1 || r->head_output_dim < 1 ||
        r->warmup_epochs < 0 || r->freeze_last_layer_epochs < 0 || r->warmup_teacher_temp_epochs < 0)
        return dc_error(DC_ERR_INVALID, "a length out of range (epochs %d, epoch_length %d, "
                        "grad_accum_steps %d, head_output_dim %d, warm-ups %d/%d/%d)", r->epochs,
                        r->epoch_length, r->grad_accum_steps, r->head_output_dim, r->warmup_epochs,
                        r->freeze_last_layer_epochs, r->warmup_teacher_temp_epochs);
    if (!r->config_text || !r->config_text[0])
        return dc_error(DC_ERR_INVALID, "no config text after '%s'", CONFIG_LINE);
    return dc_batch_spec_check(&r->batch);
}

dc_status dc_train_recipe_parse(const char *text, const char *what, dc_train_recipe *out)
{
    memset(out, 0, sizeof *out);
    bool seen[N_FIELDS] = {0};
    const char *s = text ? text : "";
    dc_status st = DC_OK;
    int line_no = 1;
    for (; st == DC_OK && *s; line_no++) {
        size_t n = strcspn(s, "\n");
        if (n == strlen(CONFIG_LINE) && strncmp(s, CONFIG_LINE, n) == 0 && s[n] == '\n') {
            s += n + 1;
            break;
        }
        if (n > 0 && s[0] != '#')
            st = parse_line(s, seen, out);
        if (st != DC_OK)
            st = dc_error_context(st, "line %d", line_no);
        s += n + (s[n] == '\n');
    }
    for (int i = 0; st == DC_OK && i < N_FIELDS; i++)
        if (!seen[i])
            st = dc_error(DC_ERR_PARSE, "field '%s' is missing", fields[i].name);
    if (st == DC_OK && !(out->config_text = strdup(s)))
        st = dc_error(DC_ERR_NOMEM, "config text");
    if (st == DC_OK)
        st = check(out);
    if (st != DC_OK) {
        dc_train_recipe_clear(out);
        return dc_error_context(st, "%s: training recipe", what);
    }
    return DC_OK;
}

dc_status dc_train_recipe_set_epochs(dc_train_recipe *r, int epochs)
{
    static const char key[] = "epochs = ";
    const char *text = r->config_text ? r->config_text : "", *line = text;
    while (*line && strncmp(line, key, sizeof key - 1) != 0) {
        line += strcspn(line, "\n");
        line += *line == '\n';
    }
    if (!*line)
        return dc_error(DC_ERR_INVALID, "config '%s': its text has no '%s' line", r->name, key);
    const char *rest = line + strcspn(line, "\n");
    char *patched = NULL;
    if (asprintf(&patched, "%.*s%s%d%s", (int)(line - text), text, key, epochs, rest) < 0)
        return dc_error(DC_ERR_NOMEM, "config text");
    free(r->config_text);
    r->config_text = patched;
    r->epochs = epochs;
    return DC_OK;
}

void dc_train_recipe_clear(dc_train_recipe *r)
{
    free(r->config_text);
    r->config_text = NULL;
}
