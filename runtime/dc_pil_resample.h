/* PIL's BICUBIC resampling weights (Image.resize with Image.BICUBIC), which
 * torchvision's transforms use on PIL images: the data pipeline's crops and
 * the k-NN evaluation transform both resample with them, one axis at a time.
 *
 * For in_size samples to out_size, output i reads the inputs
 * [bounds[2i], bounds[2i] + bounds[2i+1]) with the weights
 * weights[i·taps ..]: PIL's precompute_coeffs, the cubic kernel (a = −0.5)
 * stretched by the scale when shrinking (antialiasing), taps outside the
 * input dropped and the rest renormalised to sum 1; unused weights are 0. */
#ifndef DC_PIL_RESAMPLE_H
#define DC_PIL_RESAMPLE_H

/* Allocates weights [out_size, taps] and bounds [out_size, 2] (the caller
 * frees both). Returns taps, or 0 when out of memory (nothing allocated). */
int dc_pil_bicubic_coeffs(int in_size, int out_size, float **weights, int **bounds);

#endif
