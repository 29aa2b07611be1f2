/* dinoc grad MODEL.onnx --loss NAME --wrt NAME[,NAME...] -i NAME=FILE ... -o DIR:
 * computes the loss and the gradient of each named initializer or input,
 * written as DIR/<name>.grad.pb (zeros when the loss does not depend on it),
 * through the same compiled path as training. For users checking a graph. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "onnx_io.h"
#include "run_model.h"
#include "training.h"

enum { MAX_WRT = 1024 };

typedef struct grad_request {
    const char *loss;
    char *wrt[MAX_WRT];
    int n_wrt;
    bool reached[MAX_WRT];
} grad_request;

static dc_status add_gradient_outputs(dc_graph *g, void *ctx)
{
    grad_request *r = ctx;
    return dc_add_gradient_outputs(g, r->loss, (const char *const *)r->wrt, r->n_wrt, r->reached);
}

static dc_status write_tensor(const char *dir, const char *name, const char *ext, dc_tensor *t)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *path = malloc(n);
    if (!path)
        return dc_error(DC_ERR_NOMEM, "path");
    snprintf(path, n, "%s/%s%s", dir, name, ext);
    for (char *c = path + strlen(dir) + 1; *c; c++)
        *c = *c == '/' ? '_' : *c;
    dc_status s = dc_tensor_save_pb(t, path);
    if (s == DC_OK)
        printf("%s\n", path);
    free(path);
    return s;
}

/* The loss as DIR/<loss>.pb, gradients as DIR/<wrt>.grad.pb. */
static dc_status write_results(const char *dir, grad_request *r, dc_graph *shapes,
                               dc_tensor **outs)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return dc_error(DC_ERR_IO, "%s: %s", dir, strerror(errno));
    printf("loss %s = %.9g\n", outs[0]->name, dc_tensor_get_f64(outs[0], 0));
    DC_TRY(write_tensor(dir, outs[0]->name, ".pb", outs[0]));
    for (int i = 0, k = 1; i < r->n_wrt; i++) {
        if (r->reached[i]) {
            DC_TRY(write_tensor(dir, r->wrt[i], ".grad.pb", outs[k++]));
            continue;
        }
        const dc_value *v = dc_graph_find_value(shapes, r->wrt[i]);
        int64_t dims[DC_MAX_RANK];
        for (int d = 0; d < v->type.rank; d++)
            dims[d] = v->type.dims[d].size;
        dc_tensor *zeros;
        DC_TRY(dc_tensor_create(&zeros, r->wrt[i], v->type.dtype, v->type.rank, dims));
        dc_status s = write_tensor(dir, r->wrt[i], ".grad.pb", zeros);
        dc_tensor_destroy(zeros);
        DC_TRY(s);
    }
    return DC_OK;
}

static void split_names(char *list, grad_request *r)
{
    for (char *tok = strtok(list, ","); tok && r->n_wrt < MAX_WRT; tok = strtok(NULL, ","))
        r->wrt[r->n_wrt++] = tok;
}

int cmd_grad(int argc, char **argv)
{
    const char *model = NULL, *dir = NULL;
    char *wrt_list = NULL;
    grad_request r = {0};
    dc_named_tensor in[MAX_WRT];
    int n_in = 0, bad = 0;
    dc_status s = DC_OK;
    for (int i = 0; i < argc && !bad && s == DC_OK; i++) {
        if (strcmp(argv[i], "--loss") == 0 && i + 1 < argc)
            r.loss = argv[++i];
        else if (strcmp(argv[i], "--wrt") == 0 && i + 1 < argc && !wrt_list)
            wrt_list = strdup(argv[++i]);
        else if (strcmp(argv[i], "-i") == 0 && i + 1 < argc && n_in < MAX_WRT)
            s = dc_read_named_tensor(argv[++i], &in[n_in++]);
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else
            bad = 1;
    }
    int rc;
    if (s != DC_OK) {
        rc = dinoc_fail("grad");
    } else if (bad || !model || !dir || !wrt_list) {
        rc = dinoc_usage("grad");
    } else {
        split_names(wrt_list, &r);
        dc_graph_transform t = {add_gradient_outputs, &r};
        bool bound[MAX_WRT] = {false};
        dc_plan *plan = NULL;
        dc_graph *shapes = NULL;
        dc_tensor **outs = NULL;
        int n_out = 0;
        s = dc_compile_onnx(model, in, n_in, bound, &(dc_pipeline_options){.training = &t}, &plan);
        if (s == DC_OK)
            s = dc_run_plan(plan, in, n_in, bound, NULL, &outs, &n_out);
        if (s == DC_OK)
            s = dc_onnx_load(model, &shapes);
        if (s == DC_OK)
            s = write_results(dir, &r, shapes, outs);
        dc_tensors_free(outs, n_out);
        dc_graph_destroy(shapes);
        dc_plan_destroy(plan);
        rc = s == DC_OK ? 0 : dinoc_fail("grad");
    }
    for (int i = 0; i < n_in; i++) {
        free((char *)in[i].name);
        dc_tensor_destroy(in[i].tensor);
    }
    free(wrt_list);
    return rc;
}
