/* metrics.c - SSIM, PSNR and per-channel L1/L2 (RGB and CIE Lab) of two images.
 *
 * Mirrors skimage.metrics.structural_similarity(gaussian_weights=True,
 * sigma=1.5, use_sample_covariance=False, data_range=R) and
 * peak_signal_noise_ratio; Lab through src/colorize/lab.c (the colorizer's
 * colour space). Sums in double. tests/test_metrics.c holds the skimage
 * values of real images.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/color.h"
#include "astroenh/metrics.h"

#define KW (2 * AE_SSIM_RADIUS + 1)

double ae_psnr_from_mse(double mse, double range) {
    if (mse <= 0.0) return INFINITY;
    return 10.0 * log10(range * range / mse);
}

static void gauss_kernel(double *k) {
    double s = 0.0;
    for (int i = 0; i < KW; i++) {
        double x = i - AE_SSIM_RADIUS;
        k[i] = exp(-0.5 * x * x / (AE_SSIM_SIGMA * AE_SSIM_SIGMA));
        s += k[i];
    }
    for (int i = 0; i < KW; i++) k[i] /= s;
}

/* Horizontal 'valid' pass of the five moments a, b, aa, bb, ab into
 * hm[5][h][ow] (ow = w - KW + 1). */
static void moments_rows(const float *a, const float *b, int h, int w, const double *k, double *hm) {
    int ow = w - KW + 1;
    size_t plane = (size_t)h * ow;
    for (int y = 0; y < h; y++) {
        const float *ra = a + (size_t)y * w, *rb = b + (size_t)y * w;
        for (int x = 0; x < ow; x++) {
            double s[5] = {0, 0, 0, 0, 0};
            for (int i = 0; i < KW; i++) {
                double va = ra[x + i], vb = rb[x + i], wi = k[i];
                s[0] += wi * va, s[1] += wi * vb;
                s[2] += wi * va * va, s[3] += wi * vb * vb, s[4] += wi * va * vb;
            }
            for (int m = 0; m < 5; m++) hm[m * plane + (size_t)y * ow + x] = s[m];
        }
    }
}

ae_status ae_ssim_plane(const float *a, const float *b, int h, int w, double range, double *ssim) {
    if (h < KW || w < KW)
        return ae_error_set(AE_ERR_ARG, "SSIM: image %dx%d is smaller than the %dx%d window", w, h, KW, KW);
    if (!(range > 0.0)) return ae_error_set(AE_ERR_ARG, "SSIM: data range %g must be > 0", range);
    size_t n = (size_t)h * w;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return ae_error_set(AE_ERR_ARG, "SSIM: non-finite pixel at (%zu, %zu)", i % w, i / w);
    int ow = w - KW + 1, oh = h - KW + 1;
    size_t hsize;
    if (ae_mul3_size(5, (size_t)h, (size_t)ow, &hsize))
        return ae_error_set(AE_ERR_NOMEM, "SSIM: image %dx%d too large", w, h);
    double *hm = ae_malloc(hsize * sizeof *hm, "SSIM moments");
    if (!hm) return AE_ERR_NOMEM;
    double k[KW];
    gauss_kernel(k);
    moments_rows(a, b, h, w, k, hm);
    const double c1 = (AE_SSIM_K1 * range) * (AE_SSIM_K1 * range);
    const double c2 = (AE_SSIM_K2 * range) * (AE_SSIM_K2 * range);
    size_t plane = (size_t)h * ow;
    double total = 0.0;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            double s[5] = {0, 0, 0, 0, 0};
            for (int i = 0; i < KW; i++)
                for (int m = 0; m < 5; m++) s[m] += k[i] * hm[m * plane + (size_t)(y + i) * ow + x];
            double va = s[2] - s[0] * s[0], vb = s[3] - s[1] * s[1], cov = s[4] - s[0] * s[1];
            total += ((2 * s[0] * s[1] + c1) * (2 * cov + c2)) /
                     ((s[0] * s[0] + s[1] * s[1] + c1) * (va + vb + c2));
        }
    }
    free(hm);
    *ssim = total / ((double)oh * ow);
    return AE_OK;
}

/* Channel ch of img, or channel 0 of a grey image (replication). */
static const float *chan(const ae_image *img, int ch) {
    return ae_image_plane(img, img->c == 1 ? 0 : ch);
}

static void l1l2(const float *p, const float *t, size_t n, double scale, double *l1, double *l2) {
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = ((double)p[i] - t[i]) * scale;
        s1 += fabs(d), s2 += d * d;
    }
    *l1 = s1 / n, *l2 = s2 / n;
}

/* Lab L1/L2 of two 3-channel images (planes converted in scratch). */
static ae_status lab_errors(const ae_image *pred, const ae_image *truth, ae_metrics *m) {
    size_t n = ae_image_npix(truth), bytes;
    if (ae_mul3_size(n, 6, sizeof(float), &bytes)) return ae_error_set(AE_ERR_NOMEM, "Lab: too large");
    float *buf = ae_malloc(bytes, "Lab planes");
    if (!buf) return AE_ERR_NOMEM;
    float *lp = buf, *lt = buf + 3 * n;
    ae_lab_from_srgb_planes(chan(pred, 0), chan(pred, 1), chan(pred, 2), n, lp, lp + n, lp + 2 * n);
    ae_lab_from_srgb_planes(chan(truth, 0), chan(truth, 1), chan(truth, 2), n, lt, lt + n, lt + 2 * n);
    for (int c = 0; c < 3; c++)
        l1l2(lp + c * n, lt + c * n, n, 1.0, &m->lab_l1[c], &m->lab_l2[c]);
    m->lab = 1;
    free(buf);
    return AE_OK;
}

ae_status ae_metrics_compare(const ae_image *pred, const ae_image *truth, double range, ae_metrics *m) {
    memset(m, 0, sizeof *m);
    if (pred->w != truth->w || pred->h != truth->h)
        return ae_error_set(AE_ERR_ARG, "images differ in size: %dx%d vs %dx%d", pred->w, pred->h,
                            truth->w, truth->h);
    if ((pred->c != 1 && pred->c != 3) || (truth->c != 1 && truth->c != 3))
        return ae_error_set(AE_ERR_ARG, "channels %d and %d: 1 or 3 expected", pred->c, truth->c);
    m->c = pred->c > truth->c ? pred->c : truth->c;
    size_t n = ae_image_npix(truth);
    double mse = 0.0;
    for (int c = 0; c < m->c; c++) {
        const float *p = chan(pred, c), *t = chan(truth, c);
        ae_status st = ae_ssim_plane(p, t, truth->h, truth->w, range, &m->ssim_ch[c]);
        if (st != AE_OK) return st;
        l1l2(p, t, n, 1.0, &m->l1[c], &m->l2[c]);
        m->ssim += m->ssim_ch[c] / m->c;
        mse += m->l2[c] / m->c;
    }
    m->mse = mse;
    m->psnr = ae_psnr_from_mse(mse, range);
    if (m->c == 3 && range == 1.0) return lab_errors(pred, truth, m);
    return AE_OK;
}
