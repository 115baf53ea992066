/* fid.c - Frechet distance (FID) and kernel inception distance (KID) of
 * two sets of feature vectors.
 *
 * Frechet distance as pytorch-fid's calculate_frechet_distance, with the
 * matrix square root taken on the symmetric product S1^1/2 S2 S1^1/2 (same
 * trace of the square root as scipy.linalg.sqrtm(S1 S2), which is not
 * symmetric) by LAPACK's dsyevd from OpenBLAS. KID as torch-fidelity /
 * clean-fid: polynomial kernel (x.y/d + 1)^3, unbiased MMD^2, mean over
 * random subsets. tests/test_metrics.c compares with scipy/numpy values.
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/metrics.h"

/* LAPACK (Fortran) symmetric eigensolver, divide and conquer. */
extern void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                    double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                    int *info);

ae_status ae_feature_stats(const float *x, int n, int d, double *mu, double *cov) {
    if (n < 2 || d < 1) return ae_error_set(AE_ERR_ARG, "feature statistics need n >= 2 rows (n %d, d %d)", n, d);
    size_t nd;
    if (ae_mul_size((size_t)n, (size_t)d, &nd)) return ae_error_set(AE_ERR_NOMEM, "features: %d x %d", n, d);
    double *c = ae_malloc(nd * sizeof *c, "centred features");
    if (!c) return AE_ERR_NOMEM;
    for (int j = 0; j < d; j++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += x[(size_t)i * d + j];
        mu[j] = s / n;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) c[(size_t)i * d + j] = x[(size_t)i * d + j] - mu[j];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, n, 1.0 / (n - 1), c, d, c, d, 0.0, cov, d);
    free(c);
    return AE_OK;
}

/* Eigendecomposition of the symmetric a[d][d] in place (a -> eigenvectors,
 * column-major = rows of the row-major matrix), eigenvalues in w. */
static ae_status sym_eig(double *a, int d, double *w) {
    int lwork = -1, liwork = -1, info = 0, iwq = 0;
    double wq = 0.0;
    dsyevd_("V", "U", &d, a, &d, w, &wq, &lwork, &iwq, &liwork, &info);
    if (info != 0) return ae_error_set(AE_ERR_FORMAT, "dsyevd workspace query failed (info %d)", info);
    lwork = (int)wq, liwork = iwq;
    double *work = ae_malloc((size_t)lwork * sizeof *work, "dsyevd work");
    int *iwork = work ? ae_malloc((size_t)liwork * sizeof *iwork, "dsyevd iwork") : NULL;
    if (!iwork) {
        free(work);
        return AE_ERR_NOMEM;
    }
    dsyevd_("V", "U", &d, a, &d, w, work, &lwork, iwork, &liwork, &info);
    free(work);
    free(iwork);
    if (info != 0) return ae_error_set(AE_ERR_FORMAT, "dsyevd failed to converge (info %d, d %d)", info, d);
    return AE_OK;
}

/* r = S^1/2 of the symmetric PSD s[d][d]; tmp holds 2 d*d + d doubles. */
static ae_status sym_sqrt(const double *s, int d, double *r, double *tmp) {
    double *v = tmp, *vs = tmp + (size_t)d * d, *w = tmp + 2 * (size_t)d * d;
    memcpy(v, s, (size_t)d * d * sizeof *v);
    ae_status st = sym_eig(v, d, w);
    if (st != AE_OK) return st;
    /* v is column-major: eigenvector k = v[k*d .. k*d+d-1]; vs = V diag(sqrt w) */
    for (int k = 0; k < d; k++) {
        double sq = w[k] > 0.0 ? sqrt(w[k]) : 0.0;
        for (int i = 0; i < d; i++) vs[(size_t)k * d + i] = v[(size_t)k * d + i] * sq;
    }
    /* r = V diag(w^1/2) V^T; as column-major: r = vs * v^T */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, d, d, d, 1.0, vs, d, v, d, 0.0, r, d);
    return AE_OK;
}

ae_status ae_frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2,
                              int d, double *fd) {
    if (d < 1) return ae_error_set(AE_ERR_ARG, "Frechet distance: dimension %d", d);
    size_t dd;
    if (ae_mul_size((size_t)d, (size_t)d, &dd) || dd > ((size_t)1 << 28))
        return ae_error_set(AE_ERR_NOMEM, "Frechet distance: dimension %d too large", d);
    double *buf = ae_malloc((5 * dd + d) * sizeof *buf, "Frechet matrices");
    if (!buf) return AE_ERR_NOMEM;
    double *r1 = buf, *t = buf + dd, *m = buf + 2 * dd, *tmp = buf + 3 * dd;
    ae_status st = sym_sqrt(s1, d, r1, tmp);
    if (st == AE_OK) {
        /* m = r1 s2 r1 (symmetric; both factors symmetric so the layout does not matter) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, r1, d, s2, d, 0.0, t, d);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, d, d, 1.0, t, d, r1, d, 0.0, m, d);
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++) {
                double a = 0.5 * (m[(size_t)i * d + j] + m[(size_t)j * d + i]);
                m[(size_t)i * d + j] = m[(size_t)j * d + i] = a;
            }
        double *w = tmp + 2 * dd;
        st = sym_eig(m, d, w);
        if (st == AE_OK) {
            double tr_sqrt = 0.0, diff = 0.0, tr1 = 0.0, tr2 = 0.0;
            for (int i = 0; i < d; i++) {
                tr_sqrt += w[i] > 0.0 ? sqrt(w[i]) : 0.0;
                diff += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
                tr1 += s1[(size_t)i * d + i], tr2 += s2[(size_t)i * d + i];
            }
            *fd = diff + tr1 + tr2 - 2.0 * tr_sqrt;
        }
    }
    free(buf);
    return st;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* First m entries of a random permutation of 0..n-1 (partial Fisher-Yates). */
static void draw(int *idx, int n, int m, uint64_t *rng) {
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 0; i < m; i++) {
        int j = i + (int)(splitmix64(rng) % (uint64_t)(n - i));
        int t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
}

static double kern(const float *a, const float *b, int d) {
    double s = 0.0;
    for (int i = 0; i < d; i++) s += (double)a[i] * b[i];
    s = s / d + 1.0;
    return s * s * s;
}

/* Unbiased MMD^2 of rows ia[m] of xa and ib[m] of xb. */
static double mmd2(const float *xa, const int *ia, const float *xb, const int *ib, int m, int d) {
    double kxx = 0.0, kyy = 0.0, kxy = 0.0;
    for (int i = 0; i < m; i++) {
        const float *a = xa + (size_t)ia[i] * d, *b = xb + (size_t)ib[i] * d;
        for (int j = 0; j < m; j++) {
            if (j != i) {
                kxx += kern(a, xa + (size_t)ia[j] * d, d);
                kyy += kern(b, xb + (size_t)ib[j] * d, d);
            }
            kxy += kern(a, xb + (size_t)ib[j] * d, d);
        }
    }
    return (kxx + kyy) / ((double)m * (m - 1)) - 2.0 * kxy / ((double)m * m);
}

ae_status ae_kid(const float *xa, int na, const float *xb, int nb, int d, int subsets, int subset_size,
                 uint64_t seed, double *mean, double *std) {
    int m = subset_size;
    if (m > na) m = na;
    if (m > nb) m = nb;
    if (m < 2 || subsets < 1 || d < 1)
        return ae_error_set(AE_ERR_ARG, "KID: subset size %d (sets of %d and %d) and %d subsets", m, na, nb,
                            subsets);
    int *ia = ae_malloc(((size_t)na + nb) * sizeof *ia, "KID indices");
    if (!ia) return AE_ERR_NOMEM;
    int *ib = ia + na;
    uint64_t rng = seed;
    double s = 0.0, s2 = 0.0;
    for (int k = 0; k < subsets; k++) {
        draw(ia, na, m, &rng);
        draw(ib, nb, m, &rng);
        double v = mmd2(xa, ia, xb, ib, m, d);
        s += v, s2 += v * v;
    }
    free(ia);
    *mean = s / subsets;
    double var = s2 / subsets - *mean * *mean;
    *std = var > 0.0 ? sqrt(var) : 0.0;
    return AE_OK;
}
