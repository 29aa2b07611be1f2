/* PIL's BICUBIC resampling weights (dc_pil_resample.h). */
#include "dc_pil_resample.h"

#include <math.h>
#include <stdlib.h>

static double bicubic(double x)
{
    const double a = -0.5; /* PIL's; torch's tensor bicubic uses -0.75 */
    if (x < 0)
        x = -x;
    if (x < 1)
        return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2)
        return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
}

int dc_pil_bicubic_coeffs(int in_size, int out_size, float **weights, int **bounds)
{
    double scale = (double)in_size / out_size;
    double fscale = scale < 1 ? 1 : scale;
    double support = 2.0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    float *kk = malloc((size_t)out_size * ksize * sizeof *kk);
    int *b = malloc((size_t)out_size * 2 * sizeof *b);
    if (!kk || !b) {
        free(kk);
        free(b);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ss = 1.0 / fscale, ww = 0, w[ksize];
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin; /* at most ksize: the support spans 2·support + 1 samples */
        for (int x = 0; x < xmax; x++)
            ww += w[x] = bicubic((x + xmin - center + 0.5) * ss);
        float *k = kk + (size_t)xx * ksize;
        for (int x = 0; x < ksize; x++)
            k[x] = x < xmax ? (float)(ww != 0 ? w[x] / ww : w[x]) : 0.0f;
        b[2 * xx] = xmin;
        b[2 * xx + 1] = xmax;
    }
    *weights = kk;
    *bounds = b;
    return ksize;
}
