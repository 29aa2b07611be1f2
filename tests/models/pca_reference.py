#!/usr/bin/python3
"""numpy reference for graphs/pca.c (dc_pca): a fixed data matrix and the
three leading eigenpairs of its covariance from numpy.linalg.eigh.

x [300, 12] f32: standard normal rows scaled per axis (variances about 9, 4,
3.3, 3, 1, ...: the third and fourth eigenvalues only 10% apart, which a
plain power method separates slowly) then rotated by a fixed orthogonal
matrix, plus an offset (the mean must be removed). The expected values are
computed in float64 from exactly the float32 numbers stored.

Writes pca_x.npy, pca_mean.npy [12], pca_variances.npy [3] (descending) and
pca_components.npy [3, 12] (unit rows, largest-magnitude entry positive, the
sign convention of dc_pca) next to this script or into argv[1]. Mirrored by
tests/graphs/test_pca.c. Deterministic: seed 0.
"""
import os
import sys

import numpy as np


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(0)
    n, d = 300, 12
    scales = np.array([3.0, 2.0, 1.82, 1.73, 1.0, 0.9, 0.8, 0.7, 0.5, 0.4, 0.3, 0.2])
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = (rng.standard_normal((n, d)) * scales) @ rot.T + rng.standard_normal(d) * 5
    x = x.astype(np.float32)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=0)
    cov = (x64 - mean).T @ (x64 - mean) / (n - 1)
    w, v = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1][:3]
    comps = v[:, order].T.copy()
    for row in comps:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    np.save(os.path.join(out, "pca_x.npy"), x)
    np.save(os.path.join(out, "pca_mean.npy"), mean)
    np.save(os.path.join(out, "pca_variances.npy"), w[order])
    np.save(os.path.join(out, "pca_components.npy"), comps)
    print("variances", w[order], "next", np.sort(w)[::-1][3])


if __name__ == "__main__":
    main()
