/* Patch-feature pictures (`dinoc pca`), the way DINOv2 shows what a backbone
 * learned:
 *
 *   features  the checkpoint's TEACHER backbone, every patch token of N images
 *             (the evaluation transform of dinoc knn; graphs/backbone_features.h)
 *   PCA       the first three principal components over all N·(S/p)² patch
 *             vectors together (graphs/pca.h)
 *   sign      a component's sign is arbitrary; the first is turned so that its
 *             positive side is the side whose patch features vary more: objects
 *             differ from patch to patch, a plain background much less (DINOv2's
 *             pictures keep the object where the first component is high)
 *   mask      a patch is background where its first component is below
 *             threshold · σ₁ (σ₁ the first component's standard deviation;
 *             threshold 0 by default): drawn black
 *   colour    the three components of the foreground patches, each min-max
 *             scaled over the foreground of all images to [0, 255], as R, G, B
 *   picture   per image the input (as the model saw it, before normalisation)
 *             beside its patch map (nearest upsampling of the patch grid to the
 *             image size), both enlarged by an integer factor to at least 112 px;
 *             pairs in rows of up to four, written as an RGB PNG with libpng.
 *
 * Images: files (JPEG/PNG), or N evenly spaced images of a dataset's test split
 * (its train split when it has none): the folder given, else the checkpoint's
 * training data ("data" metadata), else Debian's Fashion-MNIST. */
#ifndef DC_PATCH_PCA_H
#define DC_PATCH_PCA_H

#include <stdio.h>

#include "dc_status.h"

#define DC_PCA_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"

typedef struct dc_pca_picture_options {
    const char *data;                /* dataset folder, or NULL */
    const char *const *files;        /* image files (then `data` is not used) */
    int n_files;
    int n_images;                    /* from a dataset; 0: 8 */
    double threshold;                /* background below threshold·σ₁ (0 default) */
    int threads;                     /* <= 0: every core */
    FILE *log;                       /* progress lines, or NULL */
} dc_pca_picture_options;

typedef struct dc_pca_picture_result {
    int n_images, width, height;     /* the PNG's size */
    int grid;                        /* patches per side */
    double variance_share[3];        /* of each component in the total variance */
    double foreground;               /* fraction of patches kept */
} dc_pca_picture_result;

/* Writes the picture to `png`. Errors name the checkpoint, image file,
 * dataset or output path. */
dc_status dc_pca_picture(const char *checkpoint, const char *png, const dc_pca_picture_options *opt,
                         dc_pca_picture_result *res);

#endif
