/* The random numbers that initialise parameters (ViT backbone, DINO heads):
 * splitmix64 for the bits, Box-Muller for normals. Deterministic for a seed;
 * torch's generator cannot be reproduced in C, so only the distributions
 * match the reference implementations. */
#ifndef DC_INIT_RANDOM_H
#define DC_INIT_RANDOM_H

#include <stdint.h>

typedef struct dc_init_rng {
    uint64_t state;
} dc_init_rng;

/* One stream per parameter: the seed mixed with a hash of the name. */
dc_init_rng dc_init_rng_named(uint64_t seed, const char *name);
uint64_t dc_init_next(dc_init_rng *r);
/* Uniform in [0, 1). */
double dc_init_uniform(dc_init_rng *r);
/* N(0, 1). */
double dc_init_normal(dc_init_rng *r);
/* torch.nn.init.trunc_normal_(std=std, a=-bound, b=bound): N(0, std²)
 * restricted to [−bound, bound] by redrawing (absolute bounds, as timm and
 * Lightly pass them). */
double dc_init_trunc_normal(dc_init_rng *r, double std, double bound);

#endif
