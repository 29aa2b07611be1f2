/* The IR as readable text and as Graphviz. */
#include <inttypes.h>
#include <string.h>

#include "ir.h"

enum { PREVIEW = 6 }; /* tensor elements shown in text */

static void print_tensor_preview(const dc_tensor *t, FILE *out)
{
    dc_type ty = dc_type_make(t->dtype, t->rank, t->dims);
    char buf[128];
    fprintf(out, "<%s", dc_type_str(&ty, buf, sizeof buf));
    uint64_t n = dc_tensor_numel(t);
    if (dc_dtype_size(t->dtype) && t->dtype != DC_C64 && t->dtype != DC_C128) {
        fputs(" {", out);
        for (uint64_t i = 0; i < n && i < PREVIEW; i++)
            fprintf(out, "%s%.6g", i ? ", " : "", dc_tensor_get_f64(t, i));
        fputs(n > PREVIEW ? ", ...}" : "}", out);
    }
    fputc('>', out);
}

static void print_bytes(dc_bytes s, FILE *out)
{
    fputc('"', out);
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.data[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 32 || c > 126)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void print_attr_value(const dc_attr *a, FILE *out)
{
    char buf[128];
    switch (a->type) {
    case DC_ATTR_FLOAT: fprintf(out, "%g", a->f); break;
    case DC_ATTR_INT: fprintf(out, "%" PRId64, a->i); break;
    case DC_ATTR_STRING: print_bytes(a->s, out); break;
    case DC_ATTR_TENSOR: print_tensor_preview(a->t, out); break;
    case DC_ATTR_GRAPH: fprintf(out, "<graph %s>", a->g->name); break;
    case DC_ATTR_SPARSE_TENSOR:
        fprintf(out, "<sparse %" PRIu64 " values>", dc_tensor_numel(a->sparse->values));
        break;
    case DC_ATTR_TYPE_PROTO: fputs(dc_type_str(a->tp, buf, sizeof buf), out); break;
    case DC_ATTR_FLOATS: case DC_ATTR_INTS: case DC_ATTR_STRINGS: case DC_ATTR_TENSORS:
    case DC_ATTR_GRAPHS: case DC_ATTR_SPARSE_TENSORS: case DC_ATTR_TYPE_PROTOS:
        fputc('[', out);
        for (int i = 0; i < a->n; i++) {
            if (i)
                fputs(", ", out);
            if (a->type == DC_ATTR_FLOATS) fprintf(out, "%g", a->floats[i]);
            if (a->type == DC_ATTR_INTS) fprintf(out, "%" PRId64, a->ints[i]);
            if (a->type == DC_ATTR_STRINGS) print_bytes(a->strings[i], out);
            if (a->type == DC_ATTR_TENSORS) print_tensor_preview(a->tensors[i], out);
            if (a->type == DC_ATTR_GRAPHS) fprintf(out, "<graph %s>", a->graphs[i]->name);
            if (a->type == DC_ATTR_SPARSE_TENSORS) fputs("<sparse>", out);
            if (a->type == DC_ATTR_TYPE_PROTOS)
                fputs(dc_type_str(&a->type_protos[i], buf, sizeof buf), out);
        }
        fputc(']', out);
        break;
    case DC_ATTR_UNDEFINED: fputs("?", out); break;
    }
}

static void print_graph(const dc_graph *g, FILE *out, int indent);

static void print_node(const dc_node *n, FILE *out, int indent)
{
    char buf[128];
    fprintf(out, "%*s", indent, "");
    int shown = 0;
    for (int i = 0; i < n->n_outputs; i++) {
        if (!n->outputs[i])
            continue;
        fprintf(out, "%s%s: %s", shown++ ? ", " : "", n->outputs[i]->name,
                dc_type_str(&n->outputs[i]->type, buf, sizeof buf));
    }
    fprintf(out, " = %s%s%s(", *n->domain ? n->domain : "", *n->domain ? "." : "", n->op_type);
    for (int i = 0; i < n->n_inputs; i++)
        fprintf(out, "%s%s", i ? ", " : "", n->inputs[i] ? n->inputs[i]->name : "");
    fputc(')', out);
    if (n->n_attrs) {
        fputs(" {", out);
        for (int i = 0; i < n->n_attrs; i++) {
            fprintf(out, "%s%s=", i ? ", " : "", n->attrs[i].name);
            print_attr_value(&n->attrs[i], out);
        }
        fputc('}', out);
    }
    fprintf(out, "  # %s\n", n->name);
    for (int i = 0; i < n->n_attrs; i++) {
        const dc_attr *a = &n->attrs[i];
        if (a->type == DC_ATTR_GRAPH)
            print_graph(a->g, out, indent + 4);
        for (int k = 0; a->type == DC_ATTR_GRAPHS && k < a->n; k++)
            print_graph(a->graphs[k], out, indent + 4);
    }
}

static void print_graph(const dc_graph *g, FILE *out, int indent)
{
    char buf[128];
    fprintf(out, "%*sgraph %s", indent, "", g->name);
    if (!g->parent) {
        fprintf(out, " (ir %" PRId64, g->ir_version);
        for (int i = 0; i < g->n_opsets; i++)
            fprintf(out, ", %s %" PRId64, *g->opsets[i].domain ? g->opsets[i].domain : "opset",
                    g->opsets[i].version);
        fputc(')', out);
    }
    fputs("\n", out);
    for (int i = 0; i < g->n_inputs; i++)
        fprintf(out, "%*s  input  %s: %s\n", indent, "", g->inputs[i]->name,
                dc_type_str(&g->inputs[i]->type, buf, sizeof buf));
    for (int i = 0; i < g->n_initializers; i++) {
        const dc_value *v = g->initializers[i];
        fprintf(out, "%*s  init   %s = ", indent, "", v->name);
        print_tensor_preview(v->constant, out);
        fputc('\n', out);
    }
    for (int i = 0; i < g->n_nodes; i++)
        print_node(g->nodes[i], out, indent + 2);
    for (int i = 0; i < g->n_outputs; i++)
        fprintf(out, "%*s  output %s: %s\n", indent, "", g->outputs[i]->name,
                dc_type_str(&g->outputs[i]->type, buf, sizeof buf));
}

void dc_graph_print(const dc_graph *g, FILE *out) { print_graph(g, out, 0); }

/* Graphviz: ops are boxes, graph inputs/outputs ellipses, initializers notes;
 * edges carry the value's name and type. Subgraphs are not expanded. */
static void dot_id(const char *kind, int id, FILE *out) { fprintf(out, "%s%d", kind, id); }

static void dot_source(const dc_value *v, FILE *out)
{
    if (v->producer)
        dot_id("n", v->producer->id, out);
    else
        dot_id("v", v->id, out);
}

static void dot_escaped(const char *s, FILE *out)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void dc_graph_print_dot(const dc_graph *g, FILE *out)
{
    char buf[128];
    fputs("digraph dinoc {\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n", out);
    for (int i = 0; i < g->n_inputs; i++) {
        dot_id("  v", g->inputs[i]->id, out);
        fputs(" [shape=ellipse, label=\"", out);
        dot_escaped(g->inputs[i]->name, out);
        fputs("\"];\n", out);
    }
    for (int i = 0; i < g->n_initializers; i++) {
        dot_id("  v", g->initializers[i]->id, out);
        fputs(" [shape=note, label=\"", out);
        dot_escaped(g->initializers[i]->name, out);
        fputs("\"];\n", out);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const dc_node *n = g->nodes[i];
        dot_id("  n", n->id, out);
        fprintf(out, " [shape=box, label=\"%s\\n", n->op_type);
        dot_escaped(n->name, out);
        fputs("\"];\n", out);
        for (int k = 0; k < n->n_inputs; k++) {
            const dc_value *v = n->inputs[k];
            if (!v)
                continue;
            fputs("  ", out);
            dot_source(v, out);
            fputs(" -> ", out);
            dot_id("n", n->id, out);
            fputs(" [label=\"", out);
            dot_escaped(dc_type_str(&v->type, buf, sizeof buf), out);
            fputs("\"];\n", out);
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        const dc_value *v = g->outputs[i];
        fprintf(out, "  out%d [shape=ellipse, label=\"", i);
        dot_escaped(v->name, out);
        fputs("\"];\n  ", out);
        dot_source(v, out);
        fprintf(out, " -> out%d;\n", i);
    }
    fputs("}\n", out);
}
