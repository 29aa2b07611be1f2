/* Principal components by subspace iteration with Rayleigh–Ritz (pca.h). */
#include "pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ROUNDS = 5000, MAX_K = 16 };
#define TOLERANCE 1e-9

/* Eigen-decomposition of the symmetric a [k, k] (destroyed) by cyclic Jacobi:
 * eigenvalues in w [k], eigenvectors in the columns of v [k, k]. */
static void jacobi(double *a, int k, double *w, double *v)
{
    for (int i = 0; i < k * k; i++)
        v[i] = i % (k + 1) == 0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < k; p++)
            for (int q = p + 1; q < k; q++)
                off += a[p * k + q] * a[p * k + q];
        if (off < 1e-300)
            break;
        for (int p = 0; p < k; p++)
            for (int q = p + 1; q < k; q++) {
                double apq = a[p * k + q];
                if (fabs(apq) < 1e-300)
                    continue;
                double theta = (a[q * k + q] - a[p * k + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int r = 0; r < k; r++) { /* a ← a·J */
                    double arp = a[r * k + p], arq = a[r * k + q];
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for (int r = 0; r < k; r++) { /* a ← Jᵀ·a */
                    double apr = a[p * k + r], aqr = a[q * k + r];
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for (int r = 0; r < k; r++) {
                    double vrp = v[r * k + p], vrq = v[r * k + q];
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
    }
    for (int i = 0; i < k; i++)
        w[i] = a[i * k + i];
}

/* Orthonormalises the rows of q [k, d] in place (modified Gram–Schmidt, twice
 * for accuracy); a row that vanishes is replaced by a basis vector (rank-
 * deficient data), which the next rounds orthogonalise in turn. */
static void orthonormalise(double *q, int k, int64_t d)
{
    for (int j = 0; j < k; j++) {
        double *qj = q + j * d;
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < j; i++) {
                const double *qi = q + i * d;
                double dot = 0;
                for (int64_t t = 0; t < d; t++)
                    dot += qi[t] * qj[t];
                for (int64_t t = 0; t < d; t++)
                    qj[t] -= dot * qi[t];
            }
        double norm = 0;
        for (int64_t t = 0; t < d; t++)
            norm += qj[t] * qj[t];
        norm = sqrt(norm);
        if (norm < 1e-150) {
            memset(qj, 0, (size_t)d * sizeof *qj);
            qj[(j * 7919) % d] = 1;
            j--; /* orthogonalise the replacement */
            continue;
        }
        for (int64_t t = 0; t < d; t++)
            qj[t] /= norm;
    }
}

/* y [k, d] = q [k, d] · c [d, d] (c symmetric: rows of y are C·q_j). */
static void times_cov(const double *c, const double *q, int k, int64_t d, double *y)
{
#pragma omp parallel for schedule(static) collapse(2)
    for (int j = 0; j < k; j++)
        for (int64_t r = 0; r < d; r++) {
            const double *cr = c + r * d, *qj = q + j * d;
            double s = 0;
            for (int64_t t = 0; t < d; t++)
                s += cr[t] * qj[t];
            y[j * d + r] = s;
        }
}

dc_status dc_pca(const float *x, int64_t n, int64_t d, int k, double *mean, double *components,
                 double *variances)
{
    if (n < 2 || d < 1 || k < 1 || k > d || k > MAX_K)
        return dc_error(DC_ERR_INVALID, "PCA: %d components of %lld vectors of %lld values (need "
                        "n >= 2 and 1 <= k <= min(d, %d))", k, (long long)n, (long long)d, MAX_K);
    double *c = calloc((size_t)(d * d), sizeof *c);
    double *y = malloc((size_t)(3 * k * d) * sizeof *y);
    if (!c || !y) {
        free(c);
        free(y);
        return dc_error(DC_ERR_NOMEM, "PCA: covariance of %lld values", (long long)d);
    }
    for (int64_t t = 0; t < d; t++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            s += x[i * d + t];
        mean[t] = s / (double)n;
    }
    /* Upper triangle, then mirrored. */
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t r = 0; r < d; r++)
        for (int64_t i = 0; i < n; i++) {
            double xr = x[i * d + r] - mean[r];
            const float *xi = x + i * d;
            for (int64_t t = r; t < d; t++)
                c[r * d + t] += xr * (xi[t] - mean[t]);
        }
    for (int64_t r = 0; r < d; r++)
        for (int64_t t = r; t < d; t++)
            c[t * d + r] = c[r * d + t] /= (double)(n - 1);

    /* A fixed start (the runs are reproducible): a simple hash per entry. */
    double *q = components;
    for (int64_t i = 0; i < k * d; i++)
        q[i] = (double)((uint32_t)(i * 2654435761u) >> 8) / (1 << 24) - 0.5;
    orthonormalise(q, k, d);
    double t_mat[MAX_K * MAX_K], w[MAX_K], v[MAX_K * MAX_K];
    for (int round = 0; round < MAX_ROUNDS; round++) {
        times_cov(c, q, k, d, y);
        memcpy(q, y, (size_t)(k * d) * sizeof *q);
        orthonormalise(q, k, d);
        /* Rayleigh–Ritz: T = Q·C·Qᵀ, Q ← Vᵀ·Q sorted by eigenvalue. */
        times_cov(c, q, k, d, y);
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++) {
                double s = 0;
                for (int64_t t = 0; t < d; t++)
                    s += q[a * d + t] * y[b * d + t];
                t_mat[a * k + b] = s;
            }
        jacobi(t_mat, k, w, v);
        int order[MAX_K];
        for (int a = 0; a < k; a++)
            order[a] = a;
        for (int a = 1; a < k; a++) /* insertion sort, descending */
            for (int b = a; b > 0 && w[order[b]] > w[order[b - 1]]; b--) {
                int tmp = order[b];
                order[b] = order[b - 1];
                order[b - 1] = tmp;
            }
        double *rot = y + k * d, *cq = y + 2 * k * d; /* Q·V and C·Q·V */
        for (int a = 0; a < k; a++)
            for (int64_t t = 0; t < d; t++) {
                double s = 0, sy = 0;
                for (int b = 0; b < k; b++) {
                    s += v[b * k + order[a]] * q[b * d + t];
                    sy += v[b * k + order[a]] * y[b * d + t];
                }
                rot[a * d + t] = s;
                cq[a * d + t] = sy;
            }
        memcpy(q, rot, (size_t)(k * d) * sizeof *q);
        double worst = 0;
        for (int a = 0; a < k; a++) {
            variances[a] = w[order[a]];
            double res = 0;
            for (int64_t t = 0; t < d; t++) {
                double e = cq[a * d + t] - variances[a] * q[a * d + t];
                res += e * e;
            }
            worst = fmax(worst, sqrt(res));
        }
        if (worst <= TOLERANCE * fmax(fabs(variances[0]), 1e-300))
            break;
    }
    for (int a = 0; a < k; a++) { /* the sign: largest-magnitude entry positive */
        double *qa = q + a * d;
        int64_t at = 0;
        for (int64_t t = 1; t < d; t++)
            if (fabs(qa[t]) > fabs(qa[at]))
                at = t;
        if (qa[at] < 0)
            for (int64_t t = 0; t < d; t++)
                qa[t] = -qa[t];
    }
    free(c);
    free(y);
    return DC_OK;
}
