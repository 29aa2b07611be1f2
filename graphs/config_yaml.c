/* Configs as YAML with libyaml (config_yaml.h). */
#include "config_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "configs.h"

enum { MAX_ENTRIES = 512, MAX_DEPTH = 8, KEY_CAP = 128 };

/* ---- writing ---- */

/* One "field = value" line of dc_config_print, split. */
typedef struct entry {
    char *key, *value;
} entry;

static bool emit(yaml_emitter_t *em, yaml_event_t *ev, bool ok)
{
    return ok && yaml_emitter_emit(em, ev);
}

static bool emit_scalar(yaml_emitter_t *em, const char *text)
{
    yaml_event_t ev;
    bool ok = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                           1, 1, YAML_PLAIN_SCALAR_STYLE);
    return emit(em, &ev, ok);
}

static bool emit_mapping(yaml_emitter_t *em, bool start)
{
    yaml_event_t ev;
    bool ok = start ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
                    : yaml_mapping_end_event_initialize(&ev);
    return emit(em, &ev, ok);
}

/* The entries whose key starts with `prefix` (length len, ending in '.'),
 * from index `from` on, as one nested mapping: keys after the prefix, grouped
 * again by their next dotted part. Marks them emitted. */
static bool emit_group(yaml_emitter_t *em, entry *e, int n, int from, const char *prefix, size_t len,
                       bool *done)
{
    bool ok = emit_mapping(em, true);
    for (int i = from; ok && i < n; i++) {
        if (done[i] || strncmp(e[i].key, prefix, len) != 0)
            continue;
        const char *rest = e[i].key + len, *dot = strchr(rest, '.');
        if (!dot) {
            done[i] = true;
            ok = emit_scalar(em, rest) && emit_scalar(em, e[i].value);
            continue;
        }
        char part[KEY_CAP], sub[KEY_CAP];
        snprintf(part, sizeof part, "%.*s", (int)(dot - rest), rest);
        snprintf(sub, sizeof sub, "%.*s", (int)(dot + 1 - e[i].key), e[i].key);
        ok = emit_scalar(em, part) && emit_group(em, e, n, i, sub, strlen(sub), done);
    }
    return ok && emit_mapping(em, false);
}

dc_status dc_config_write_yaml(const dc_dinov2_config *c, FILE *out)
{
    char *text = dc_config_text(c);
    if (!text)
        return dc_error(DC_ERR_NOMEM, "config text");
    entry e[MAX_ENTRIES];
    int n = 0;
    fprintf(out, "# dinoc config '%s': read with --config FILE.yaml (train, step, graph, compile,\n"
            "# knn); FIELD=VALUE arguments after it override it. Nested keys are dotted fields.\n",
            c->name);
    for (char *line = strtok(text, "\n"); line && n < MAX_ENTRIES; line = strtok(NULL, "\n")) {
        if (line[0] == '#') { /* the note on quirks */
            fprintf(out, "%s\n", line);
            continue;
        }
        char *eq = strstr(line, " = ");
        if (!eq)
            continue;
        *eq = '\0';
        e[n++] = (entry){line, eq + 3};
    }
    yaml_emitter_t em;
    yaml_event_t ev;
    bool done[MAX_ENTRIES] = {false};
    bool ok = yaml_emitter_initialize(&em);
    if (ok) {
        yaml_emitter_set_output_file(&em, out);
        yaml_emitter_set_unicode(&em, 1);
        ok = emit(&em, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING)) &&
             emit(&em, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1)) &&
             emit_group(&em, e, n, 0, "", 0, done) &&
             emit(&em, &ev, yaml_document_end_event_initialize(&ev, 1)) &&
             emit(&em, &ev, yaml_stream_end_event_initialize(&ev));
    }
    dc_status s = ok ? DC_OK : dc_error(DC_ERR_IO, "writing YAML: %s", em.problem ? em.problem : "?");
    yaml_emitter_delete(&em);
    free(text);
    return s;
}

/* ---- reading ---- */

typedef struct reader {
    const char *path;
    yaml_parser_t parser;
    char prefix[MAX_DEPTH][KEY_CAP + 1]; /* the dotted key of each open mapping */
    int depth;
    /* every key seen (full dotted name), for duplicates */
    char *seen[MAX_ENTRIES];
    int n_seen;
} reader;

static dc_status next(reader *r, yaml_event_t *ev)
{
    if (yaml_parser_parse(&r->parser, ev))
        return DC_OK;
    return dc_error(DC_ERR_PARSE, "%s:%zu:%zu: YAML: %s%s%s", r->path, r->parser.problem_mark.line + 1,
                    r->parser.problem_mark.column + 1, r->parser.problem ? r->parser.problem : "error",
                    r->parser.context ? " " : "", r->parser.context ? r->parser.context : "");
}

static size_t line_of(const yaml_event_t *ev)
{
    return ev->start_mark.line + 1;
}

/* Applies the mapping whose start was just read, under r->prefix[depth]. */
static dc_status read_mapping(reader *r, dc_dinov2_config *c, bool *named, bool names_only)
{
    for (;;) {
        yaml_event_t key;
        DC_TRY(next(r, &key));
        if (key.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key);
            return DC_OK;
        }
        size_t line = line_of(&key);
        if (key.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&key);
            return dc_error(DC_ERR_PARSE, "%s:%zu: expected a field name (a plain key)", r->path, line);
        }
        char full[KEY_CAP];
        int fl = snprintf(full, sizeof full, "%s%s", r->prefix[r->depth], (const char *)key.data.scalar.value);
        yaml_event_delete(&key);
        if (fl >= (int)sizeof full)
            return dc_error(DC_ERR_PARSE, "%s:%zu: key '%.40s...' too long", r->path, line, full);
        for (int i = 0; i < r->n_seen; i++)
            if (strcmp(r->seen[i], full) == 0)
                return dc_error(DC_ERR_PARSE, "%s:%zu: key '%s' appears twice", r->path, line, full);
        yaml_event_t value;
        DC_TRY(next(r, &value));
        line = line_of(&value);
        if (value.type == YAML_MAPPING_START_EVENT) {
            yaml_event_delete(&value);
            if (r->depth + 1 >= MAX_DEPTH)
                return dc_error(DC_ERR_PARSE, "%s:%zu: key '%s': nested too deeply", r->path, line, full);
            r->depth++;
            snprintf(r->prefix[r->depth], sizeof r->prefix[0], "%s.", full);
            DC_TRY(read_mapping(r, c, named, names_only));
            r->depth--;
            continue;
        }
        if (value.type != YAML_SCALAR_EVENT || value.data.scalar.length == 0) {
            const char *found = value.type == YAML_SEQUENCE_START_EVENT ? "a list"
                                : value.type == YAML_ALIAS_EVENT        ? "an alias"
                                                                        : "nothing";
            yaml_event_delete(&value);
            return dc_error(DC_ERR_PARSE, "%s:%zu: key '%s': expected a value (a number, true/false "
                            "or a name), found %s", r->path, line, full, found);
        }
        if (r->n_seen < MAX_ENTRIES && !(r->seen[r->n_seen] = strdup(full))) {
            yaml_event_delete(&value);
            return dc_error(DC_ERR_NOMEM, "%s", r->path);
        }
        r->n_seen += r->n_seen < MAX_ENTRIES;
        const char *v = (const char *)value.data.scalar.value;
        dc_status s = DC_OK;
        bool is_name = strcmp(full, "name") == 0;
        if (is_name && names_only) {
            *named = true;
            s = dc_config_named(v, c);
        } else if (!is_name && !names_only) {
            char assignment[KEY_CAP + 256];
            snprintf(assignment, sizeof assignment, "%s=%s", full, v);
            s = dc_config_override(c, assignment);
        }
        yaml_event_delete(&value);
        if (s != DC_OK) {
            /* The override's message without its "override 'k=v': " lead. */
            char why[512];
            const char *m = dc_error_message(), *lead = strstr(m, "': ");
            snprintf(why, sizeof why, "%s", strncmp(m, "override '", 10) == 0 && lead ? lead + 3 : m);
            return dc_error(s, "%s:%zu: key '%s': %s", r->path, line, full, why);
        }
    }
}

/* One pass over the file: the name only, or every other field. */
static dc_status read_pass(const char *path, dc_dinov2_config *c, bool *named, bool names_only)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: %s", path, strerror(errno));
    reader r = {.path = path};
    dc_status s = DC_OK;
    if (!yaml_parser_initialize(&r.parser))
        s = dc_error(DC_ERR_NOMEM, "%s: YAML parser", path);
    else
        yaml_parser_set_input_file(&r.parser, f);
    /* stream start, document start, the top mapping */
    yaml_event_t ev;
    for (int i = 0; s == DC_OK && i < 3; i++) {
        if ((s = next(&r, &ev)) != DC_OK)
            break;
        yaml_event_type_t want = i == 0 ? YAML_STREAM_START_EVENT
                                 : i == 1 ? YAML_DOCUMENT_START_EVENT
                                          : YAML_MAPPING_START_EVENT;
        if (ev.type != want)
            s = dc_error(DC_ERR_PARSE, "%s:%zu: expected a mapping of config fields (see `dinoc config "
                         "NAME`)", path, line_of(&ev));
        yaml_event_delete(&ev);
    }
    if (s == DC_OK)
        s = read_mapping(&r, c, named, names_only);
    if (s == DC_OK && (s = next(&r, &ev)) == DC_OK) { /* one document only */
        if (ev.type != YAML_DOCUMENT_END_EVENT)
            s = dc_error(DC_ERR_PARSE, "%s:%zu: one mapping expected", path, line_of(&ev));
        yaml_event_delete(&ev);
    }
    if (s == DC_OK && (s = next(&r, &ev)) == DC_OK) {
        if (ev.type != YAML_STREAM_END_EVENT)
            s = dc_error(DC_ERR_PARSE, "%s:%zu: one document expected", path, line_of(&ev));
        yaml_event_delete(&ev);
    }
    for (int i = 0; i < r.n_seen; i++)
        free(r.seen[i]);
    yaml_parser_delete(&r.parser);
    fclose(f);
    return s;
}

dc_status dc_config_read_yaml(const char *path, dc_dinov2_config *out)
{
    bool named = false;
    DC_TRY(read_pass(path, out, &named, true));
    if (!named)
        return dc_error(DC_ERR_INVALID, "%s: no 'name' key (the named config the file starts from, "
                        "e.g. name: fashion-mnist)", path);
    DC_TRY(read_pass(path, out, &named, false));
    dc_status s = dc_config_validate(out);
    return s == DC_OK ? DC_OK : dc_error_context(s, "%s", path);
}

bool dc_config_is_yaml(const char *config)
{
    size_t n = config ? strlen(config) : 0;
    return (n > 5 && strcmp(config + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(config + n - 4, ".yml") == 0);
}
