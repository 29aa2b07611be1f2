/* Exporting a checkpoint's backbone as a standalone ONNX model (`dinoc export`).
 *
 * The model is the ViT alone (no heads, no mask input): input "images"
 * f32 [b, C, S, S], outputs "cls" [b, D] (the final LayerNorm's row 0) and/or
 * "patch" [b, N, D] (the rows after cls and the registers). Only standard
 * opset-17 ops; the weights are plain initializers (not training state), and
 * constant subgraphs are folded, so the position embedding, resized
 * bicubically to the export size, is one constant (no Resize). Metadata:
 * "dinoc.config" (the checkpoint's config text), "dinoc.step", "dinoc.version",
 * "dinoc.which".
 *
 * The batch is static (opt->batch > 0) or symbolic "batch" (DC_EXPORT_BATCH_DYNAMIC):
 * then the Reshape shapes carry 0 (copy the input's dim) for the batch, the
 * cls/register Expand takes its batch from Shape(images), and every value
 * type that had the batch as dim 0 gets dim_param "batch". */
#ifndef DC_EXPORT_H
#define DC_EXPORT_H

#include "dc_status.h"
#include "ir.h"

#define DC_EXPORT_BATCH_DYNAMIC (-1)

typedef enum dc_export_output {
    DC_EXPORT_CLS = 1,
    DC_EXPORT_PATCH = 2,
    DC_EXPORT_BOTH = 3,
} dc_export_output;

typedef struct dc_export_options {
    const char *which;        /* "teacher" (NULL) or "student" */
    int image_size;           /* 0: the config's vit.image_size */
    int batch;                /* > 0 static; 0: 1; DC_EXPORT_BATCH_DYNAMIC */
    dc_export_output outputs; /* 0: cls */
    const char *version;      /* "dinoc.version"; NULL: "dev" */
} dc_export_options;

/* Builds the backbone graph of a checkpoint (opt may be NULL: the defaults).
 * Errors name the file and, for a checkpoint that does not fit its config,
 * the tensor. */
dc_status dc_export_graph(const char *checkpoint, const dc_export_options *opt, dc_graph **out);

/* dc_export_graph, written with dc_onnx_save to `path`. */
dc_status dc_export_onnx(const char *checkpoint, const char *path, const dc_export_options *opt);

#endif
