/* The leading principal components of a set of feature vectors, for the
 * patch-feature pictures (`dinoc pca`).
 *
 * The covariance C = (X − μ)ᵀ(X − μ) / (n − 1) of x [n, d] is formed in double;
 * its k largest eigenpairs come from orthogonal (subspace) iteration with a
 * Rayleigh–Ritz step each round: Q ← orth(C·Q), then the k×k matrix QᵀCQ is
 * diagonalised by cyclic Jacobi and Q rotated onto its eigenvectors. It stops
 * when every residual ‖C·q − λ·q‖ is below 1e-9·λ₁ (or after 5000 rounds: the
 * subspace still spans the top eigenvalues up to the last gap). A direct
 * method (LAPACK) would need a dependency for three vectors of a d ≤ 1024
 * matrix; k·d² per round is cheap. */
#ifndef DC_PCA_H
#define DC_PCA_H

#include <stdint.h>

#include "dc_status.h"

/* x [n, d] (n ≥ 2, 1 ≤ k ≤ d). Writes mean [d], components [k, d] (unit rows,
 * by decreasing variance, each with its largest-magnitude entry positive) and
 * variances [k] (the eigenvalues of C). */
dc_status dc_pca(const float *x, int64_t n, int64_t d, int k, double *mean, double *components,
                 double *variances);

#endif
