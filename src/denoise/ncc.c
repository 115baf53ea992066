/* ncc.c - normalised cross-correlation with PSF templates (cv::matchTemplate
 * TM_CCOEFF_NORMED, with NaN and image borders handled).
 *
 * At each pixel the window is fitted as a*T + b by least squares over its
 * valid pixels (finite and inside the image); ncc is the Pearson correlation
 * of window and template over those pixels and a the template amplitude, so
 * a / sigma * sqrt(sum (T - mean T)^2) is the matched-filter significance.
 * The sums are correlations of the image, its square and the validity mask
 * with T, T^2 and a box: separable for Gaussian templates (ae_ncc_map_sep),
 * direct for any template (ae_ncc_map, used for Moffat and as reference).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/denoise.h"

void ae_psf_template(float *t, int r, float sigma, float beta) {
    int side = 2 * r + 1;
    /* Moffat with the Gaussian's FWHM: alpha = fwhm / (2 sqrt(2^(1/beta) - 1)). */
    float fwhm = 2.35482f * sigma;
    float alpha = beta > 0.0f ? fwhm / (2.0f * sqrtf(powf(2.0f, 1.0f / beta) - 1.0f)) : 0.0f;
    for (int y = -r; y <= r; y++)
        for (int x = -r; x <= r; x++) {
            float r2 = (float)(x * x + y * y);
            float v = beta > 0.0f ? powf(1.0f + r2 / (alpha * alpha), -beta) : expf(-r2 / (2.0f * sigma * sigma));
            t[(y + r) * side + (x + r)] = v;
        }
}

/* The fit from the six window sums; writes ncc and amp for one pixel. */
static void fit_window(double n, double st, double stt, double si, double sii, double sit, int nmin, float *ncc,
                       float *amp) {
    *ncc = 0.0f;
    if (amp) *amp = 0.0f;
    if (n < nmin) return;
    double cov = sit - st * si / n, vt = stt - st * st / n, vi = sii - si * si / n;
    if (vt <= 1e-12 * stt || vi <= 1e-6 * sii + 1e-30) return;
    double r = cov / sqrt(vt * vi);
    *ncc = (float)(r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r);
    if (amp) *amp = (float)(cov / vt);
}

void ae_ncc_at(const float *img, int h, int w, int y, int x, const float *tmpl, int th, int tw, float *ncc,
               float *amp) {
    int ry = th / 2, rx = tw / 2;
    double n = 0, st = 0, stt = 0, si = 0, sii = 0, sit = 0;
    for (int j = -ry; j <= ry; j++) {
        int yy = y + j;
        if (yy < 0 || yy >= h) continue;
        for (int i = -rx; i <= rx; i++) {
            int xx = x + i;
            if (xx < 0 || xx >= w) continue;
            double v = img[(size_t)yy * w + xx];
            if (!isfinite(v)) continue;
            double t = tmpl[(j + ry) * tw + (i + rx)];
            n += 1;
            st += t;
            stt += t * t;
            si += v;
            sii += v * v;
            sit += v * t;
        }
    }
    fit_window(n, st, stt, si, sii, sit, (th * tw + 1) / 2, ncc, amp);
    if (!isfinite(img[(size_t)y * w + x])) *ncc = 0.0f;
}

ae_status ae_ncc_map(float *ncc, float *amp, const float *img, int h, int w, const float *tmpl, int th, int tw) {
    if (!ncc || !img || !tmpl || h <= 0 || w <= 0 || th <= 0 || tw <= 0 || !(th & 1) || !(tw & 1))
        return ae_error_set(AE_ERR_ARG, "ae_ncc_map: bad arguments (template %dx%d must be odd)", tw, th);
#pragma omp parallel for schedule(dynamic, 8)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float a;
            ae_ncc_at(img, h, w, y, x, tmpl, th, tw, &ncc[p], &a);
            if (amp) amp[p] = a;
        }
    return AE_OK;
}

/* out = in correlated with outer(k, k), k[2r+1], zero outside; tmp[h][w]. */
static void conv_sep(float *out, const float *in, float *tmp, int h, int w, const float *k, int r) {
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        const float *row = in + (size_t)y * w;
        float *t = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            int a = x - r < 0 ? -(x - r) : 0, b = x + r >= w ? 2 * r - (x + r - w + 1) : 2 * r;
            float s = 0.0f;
            for (int i = a; i <= b; i++) s += k[i] * row[x - r + i];
            t[x] = s;
        }
    }
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++) {
        float *o = out + (size_t)y * w;
        for (int x = 0; x < w; x++) o[x] = 0.0f;
        for (int i = 0; i <= 2 * r; i++) {
            int yy = y - r + i;
            if (yy < 0 || yy >= h) continue;
            const float *t = tmp + (size_t)yy * w;
            float ki = k[i];
            for (int x = 0; x < w; x++) o[x] += ki * t[x];
        }
    }
}

/* Like ae_ncc_map for the template outer(k, k), k[2r+1] (Gaussian: k = 1-D
 * Gaussian), in O(r) per pixel. Allocates 8 planes of scratch. */
ae_status ae_ncc_map_sep(float *ncc, float *amp, const float *img, int h, int w, const float *k, int r) {
    if (!ncc || !img || !k || h <= 0 || w <= 0 || r < 0)
        return ae_error_set(AE_ERR_ARG, "ae_ncc_map_sep: bad arguments");
    size_t hw = (size_t)h * w, bytes;
    if (ae_mul3_size(hw, 8, sizeof(float), &bytes)) return ae_error_set(AE_ERR_NOMEM, "ncc: image too large");
    float *buf = ae_malloc(bytes, "ncc scratch");
    if (!buf) return AE_ERR_NOMEM;
    float *v = buf, *iv = buf + hw, *i2 = buf + 2 * hw, *tmp = buf + 3 * hw;
    float *sn = buf + 4 * hw, *st = buf + 5 * hw, *stt = buf + 6 * hw, *s = buf + 7 * hw;
    float k2[2 * 64 + 1], one[2 * 64 + 1];
    if (r > 64) {
        free(buf);
        return ae_error_set(AE_ERR_ARG, "ncc: template radius %d > 64", r);
    }
    for (int i = 0; i <= 2 * r; i++) k2[i] = k[i] * k[i], one[i] = 1.0f;
    /* Subtract an offset so that the float sums of squares stay accurate. */
    double off = 0.0;
    size_t cnt = 0;
    for (size_t p = 0; p < hw; p += 97)
        if (isfinite(img[p])) off += img[p], cnt++;
    off = cnt ? off / cnt : 0.0;
    for (size_t p = 0; p < hw; p++) {
        int ok = isfinite(img[p]);
        v[p] = ok ? 1.0f : 0.0f;
        iv[p] = ok ? (float)(img[p] - off) : 0.0f;
        i2[p] = iv[p] * iv[p];
    }
    conv_sep(sn, v, tmp, h, w, one, r);
    conv_sep(st, v, tmp, h, w, k, r);
    conv_sep(stt, v, tmp, h, w, k2, r);
    conv_sep(s, iv, tmp, h, w, one, r); /* si */
    conv_sep(v, i2, tmp, h, w, one, r);  /* sii (v no longer needed) */
    conv_sep(i2, iv, tmp, h, w, k, r);   /* sit */
    int nmin = ((2 * r + 1) * (2 * r + 1) + 1) / 2;
    for (size_t p = 0; p < hw; p++)
        fit_window((double)lrintf(sn[p]), st[p], stt[p], s[p], v[p], i2[p], nmin, &ncc[p], amp ? &amp[p] : NULL);
    for (size_t p = 0; p < hw; p++)
        if (!isfinite(img[p])) ncc[p] = 0.0f;
    free(buf);
    return AE_OK;
}
