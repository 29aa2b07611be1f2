/* dinoc pca CKPT [--data DIR | IMAGE...] -o PCA.png [--images N] [--threshold T] [--threads N]
 *
 * The first three principal components of the teacher's patch features,
 * mapped to RGB with the background masked, beside the input images
 * (graphs/patch_pca.h). Without --data or image files: N (8) test images of
 * the checkpoint's own dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "patch_pca.h"

enum { MAX_FILES = 256 };

int cmd_pca(int argc, char **argv)
{
    const char *ckpt = NULL, *out = NULL, *files[MAX_FILES];
    dc_pca_picture_options opt = {0};
    for (int i = 0; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(argv[i], "--data") == 0 && v)
            opt.data = argv[++i];
        else if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) && v)
            out = argv[++i];
        else if (strcmp(argv[i], "--images") == 0 && v && (opt.n_images = (int)strtol(v, &end, 10)) > 0 &&
                 !*end)
            i++;
        else if (strcmp(argv[i], "--threads") == 0 && v && (opt.threads = (int)strtol(v, &end, 10)) > 0 &&
                 !*end)
            i++;
        else if (strcmp(argv[i], "--threshold") == 0 && v && (opt.threshold = strtod(v, &end), !*end && *v))
            i++;
        else if (argv[i][0] != '-' && !ckpt)
            ckpt = argv[i];
        else if (argv[i][0] != '-' && opt.n_files < MAX_FILES)
            files[opt.n_files++] = argv[i];
        else
            return dinoc_usage("pca");
    }
    if (!ckpt || !out || (opt.data && opt.n_files))
        return dinoc_usage("pca");
    opt.files = files;
    opt.log = stderr;
    dc_pca_picture_result r;
    if (dc_pca_picture(ckpt, out, &opt, &r) != DC_OK)
        return dinoc_fail("pca");
    printf("pca: %s (%d images, %dx%d px)\n", out, r.n_images, r.width, r.height);
    return 0;
}
