/* Parameter initialisation's random numbers (init_random.h). */
#include "init_random.h"

#include <math.h>

uint64_t dc_init_next(dc_init_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

dc_init_rng dc_init_rng_named(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    dc_init_rng r = {seed ^ h};
    dc_init_next(&r);
    return r;
}

double dc_init_uniform(dc_init_rng *r) { return (double)(dc_init_next(r) >> 11) * 0x1.0p-53; }

double dc_init_normal(dc_init_rng *r)
{
    double u1 = 1.0 - dc_init_uniform(r), u2 = dc_init_uniform(r); /* u1 in (0, 1]: log finite */
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double dc_init_trunc_normal(dc_init_rng *r, double std, double bound)
{
    for (;;) {
        double x = std * dc_init_normal(r);
        if (x >= -bound && x <= bound)
            return x;
    }
}
