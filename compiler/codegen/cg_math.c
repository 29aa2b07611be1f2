/* f32 exp, log, erf, tanh and sigmoid as straight-line IR on scalars or
 * vectors: polynomial and rational approximations with range reduction by
 * bit manipulation, so a loop over them vectorises and calls no libm.
 * Special values follow C's functions: exp(±inf) = inf / 0, exp overflows to
 * inf and underflows through denormals to 0; log(0) = -inf, log(x < 0) =
 * NaN, log(inf) = inf; NaN stays NaN everywhere. Accuracy (checked by
 * tests/codegen against double precision): exp and log within 2 ulp, erf
 * 4.2e-7 absolute (the same rational function as the C kernels' erf),
 * tanh within a few ulp. */
#include <math.h>

#include "cg_internal.h"

static LLVMValueRef mul_(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFMul(cg->b, a, b, "");
}

static LLVMValueRef add_(dc_codegen *cg, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFAdd(cg->b, a, b, "");
}

static LLVMValueRef fcmp(dc_codegen *cg, LLVMRealPredicate p, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildFCmp(cg->b, p, a, b, "");
}

static LLVMValueRef sel(dc_codegen *cg, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b)
{
    return LLVMBuildSelect(cg->b, c, a, b, "");
}

/* Horner's rule with fused multiply-adds: c[0]*x^(n-1) + ... + c[n-1]. */
static LLVMValueRef poly(dc_codegen *cg, LLVMValueRef x, const double *c, int n)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef p = cg_f(cg, t, c[0]);
    for (int i = 1; i < n; i++)
        p = cg_fma(cg, p, x, cg_f(cg, t, c[i]));
    return p;
}

/* 2^n for integer n in [-126, 127], as float bits (n + 127) << 23. */
static LLVMValueRef pow2i(dc_codegen *cg, LLVMValueRef n_int, LLVMTypeRef t)
{
    LLVMTypeRef it = cg_int_like(cg, t);
    LLVMValueRef biased = LLVMBuildAdd(cg->b, n_int, cg_i(cg, it, 127), "");
    return LLVMBuildBitCast(cg->b, LLVMBuildShl(cg->b, biased, cg_i(cg, it, 23), ""), t, "");
}

/* exp(x) = 2^n · e^r, n = rint(x·log2 e), r = x − n·ln 2 (ln 2 in two parts);
 * e^r by Cephes' degree-7 polynomial; 2^n applied in two halves so results
 * down to the denormals are reached. */
LLVMValueRef cg_exp(dc_codegen *cg, LLVMValueRef x)
{
    static const double p[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                               4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};
    LLVMTypeRef t = LLVMTypeOf(x), it = cg_int_like(cg, t);
    LLVMValueRef xc = cg_max(cg, cg_min(cg, x, cg_f(cg, t, 88.8)), cg_f(cg, t, -104.0));
    LLVMValueRef fx = mul_(cg, xc, cg_f(cg, t, 1.44269504088896341));
    LLVMValueRef n = cg_call(cg, "llvm.rint", t, &fx, 1);
    LLVMValueRef r = cg_fma(cg, n, cg_f(cg, t, -0.693359375), xc);
    r = cg_fma(cg, n, cg_f(cg, t, 2.12194440e-4), r);
    LLVMValueRef r2 = mul_(cg, r, r);
    LLVMValueRef y = cg_fma(cg, poly(cg, r, p, 6), r2, add_(cg, r, cg_f(cg, t, 1.0)));
    LLVMValueRef ni = LLVMBuildFPToSI(cg->b, n, it, "");
    LLVMValueRef n1 = LLVMBuildSDiv(cg->b, ni, cg_i(cg, it, 2), "");
    LLVMValueRef n2 = LLVMBuildSub(cg->b, ni, n1, "");
    y = mul_(cg, mul_(cg, y, pow2i(cg, n1, t)), pow2i(cg, n2, t));
    y = sel(cg, fcmp(cg, LLVMRealOGT, x, cg_f(cg, t, 88.72283935546875)), cg_f(cg, t, HUGE_VAL), y);
    y = sel(cg, fcmp(cg, LLVMRealOLT, x, cg_f(cg, t, -103.972084045410)), cg_f(cg, t, 0.0), y);
    return sel(cg, fcmp(cg, LLVMRealUNO, x, x), x, y);
}

/* log(x) = e·ln 2 + log(m), x = m·2^e with m in [√½, √2); log(1+f) by
 * Cephes' degree-9 polynomial. Denormals are scaled by 2^23 first. */
LLVMValueRef cg_log(dc_codegen *cg, LLVMValueRef x)
{
    static const double p[] = {7.0376836292e-2,  -1.1514610310e-1, 1.1676998740e-1,
                               -1.2420140846e-1, 1.4249322787e-1,  -1.6668057665e-1,
                               2.0000714765e-1,  -2.4999993993e-1, 3.3333331174e-1};
    LLVMTypeRef t = LLVMTypeOf(x), it = cg_int_like(cg, t);
    LLVMValueRef tiny = fcmp(cg, LLVMRealOLT, x, cg_f(cg, t, 1.17549435e-38));
    LLVMValueRef xs = sel(cg, tiny, mul_(cg, x, cg_f(cg, t, 8388608.0)), x);
    LLVMValueRef bits = LLVMBuildBitCast(cg->b, xs, it, "");
    LLVMValueRef e = LLVMBuildSub(cg->b, LLVMBuildLShr(cg->b, bits, cg_i(cg, it, 23), ""),
                                  cg_i(cg, it, 126), "");
    e = LLVMBuildSub(cg->b, e, sel(cg, tiny, cg_i(cg, it, 23), cg_i(cg, it, 0)), "");
    LLVMValueRef mbits = LLVMBuildOr(cg->b, LLVMBuildAnd(cg->b, bits, cg_i(cg, it, 0x007fffff), ""),
                                     cg_i(cg, it, 0x3f000000), "");
    LLVMValueRef m = LLVMBuildBitCast(cg->b, mbits, t, ""); /* [0.5, 1) */
    LLVMValueRef small = fcmp(cg, LLVMRealOLT, m, cg_f(cg, t, 0.707106781186547524));
    LLVMValueRef ef = LLVMBuildSIToFP(cg->b, e, t, "");
    ef = LLVMBuildFSub(cg->b, ef, sel(cg, small, cg_f(cg, t, 1.0), cg_f(cg, t, 0.0)), "");
    LLVMValueRef f = LLVMBuildFSub(cg->b, sel(cg, small, add_(cg, m, m), m), cg_f(cg, t, 1.0), "");
    LLVMValueRef z = mul_(cg, f, f);
    LLVMValueRef y = mul_(cg, mul_(cg, poly(cg, f, p, 9), f), z);
    y = cg_fma(cg, ef, cg_f(cg, t, -2.12194440e-4), y);
    y = cg_fma(cg, z, cg_f(cg, t, -0.5), y);
    y = cg_fma(cg, ef, cg_f(cg, t, 0.693359375), add_(cg, f, y));
    y = sel(cg, fcmp(cg, LLVMRealOEQ, x, cg_f(cg, t, 0.0)), cg_f(cg, t, -HUGE_VAL), y);
    y = sel(cg, fcmp(cg, LLVMRealOEQ, x, cg_f(cg, t, HUGE_VAL)), x, y);
    /* x < 0 or NaN */
    return sel(cg, fcmp(cg, LLVMRealULT, x, cg_f(cg, t, 0.0)), cg_f(cg, t, NAN), y);
}

/* erf as x·P(x²)/Q(x²) on [-4, 4] (erf(±4) is ±1 in f32): the rational
 * function the C kernels use, so both backends agree to rounding. */
LLVMValueRef cg_erf(dc_codegen *cg, LLVMValueRef x)
{
    static const double p[] = {-2.72614225801306e-10, 2.77068142495902e-08,
                               -2.10102402082508e-06, -5.69250639462346e-05,
                               -7.34990630326855e-04, -2.95459980854025e-03,
                               -1.60960333262415e-02};
    static const double q[] = {-1.45660718464996e-05, -2.13374055278905e-04,
                               -1.68282697438203e-03, -7.37332916720468e-03,
                               -1.42647390514189e-02};
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef xc = cg_max(cg, cg_min(cg, x, cg_f(cg, t, 4.0)), cg_f(cg, t, -4.0));
    LLVMValueRef x2 = mul_(cg, xc, xc);
    LLVMValueRef y = LLVMBuildFDiv(cg->b, mul_(cg, xc, poly(cg, x2, p, 7)), poly(cg, x2, q, 5), "");
    return sel(cg, fcmp(cg, LLVMRealUNO, x, x), x, y);
}

/* tanh as x·P(x²)/Q(x²) on [-7.9, 7.9] (beyond, ±1 in f32), the rational
 * function Eigen uses; x itself for |x| < 0.0004, where it is exact in f32. */
LLVMValueRef cg_tanh(dc_codegen *cg, LLVMValueRef x)
{
    static const double p[] = {-2.76076847742355e-16, 2.00018790482477e-13,
                               -8.60467152213735e-11, 5.12229709037114e-08,
                               1.48572235717979e-05,  6.37261928875436e-04,
                               4.89352455891786e-03};
    static const double q[] = {1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03,
                               4.89352518554385e-03};
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef xc = cg_max(cg, cg_min(cg, x, cg_f(cg, t, 7.90531110763549805)),
                             cg_f(cg, t, -7.90531110763549805));
    LLVMValueRef x2 = mul_(cg, xc, xc);
    LLVMValueRef y = LLVMBuildFDiv(cg->b, mul_(cg, xc, poly(cg, x2, p, 7)), poly(cg, x2, q, 4), "");
    LLVMValueRef ax = cg_call(cg, "llvm.fabs", t, &x, 1);
    y = sel(cg, fcmp(cg, LLVMRealOLT, ax, cg_f(cg, t, 0.0004)), x, y);
    return sel(cg, fcmp(cg, LLVMRealUNO, x, x), x, y);
}

/* 1/(1+e^-x) with e only of -|x| (no overflow): e/(1+e) for x < 0. */
LLVMValueRef cg_sigmoid(dc_codegen *cg, LLVMValueRef x)
{
    LLVMTypeRef t = LLVMTypeOf(x);
    LLVMValueRef ax = cg_call(cg, "llvm.fabs", t, &x, 1);
    LLVMValueRef e = cg_exp(cg, LLVMBuildFNeg(cg->b, ax, ""));
    LLVMValueRef r = LLVMBuildFDiv(cg->b, cg_f(cg, t, 1.0), add_(cg, e, cg_f(cg, t, 1.0)), "");
    LLVMValueRef neg = fcmp(cg, LLVMRealOLT, x, cg_f(cg, t, 0.0));
    return sel(cg, neg, mul_(cg, e, r), r);
}
