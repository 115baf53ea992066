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
#include <stdint.h>
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
#pragma omp parallel for schedule(dynamic, 8) if ((size_t)h * w * th * tw > (1u << 26))
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t p = (size_t)y * w + x;
            float a;
            ae_ncc_at(img, h, w, y, x, tmpl, th, tw, &ncc[p], &a);
            if (amp) amp[p] = a;
        }
    return AE_OK;
}

/* o[x] = sum over i < n of k[i] * src[i * stride + x], x < w, the
 * terms added in order of i from 0.0f: one tap pass of either direction.
 * 32 outputs stay in registers over all the taps (several independent
 * vector chains), so each tap costs one load instead of a load, an add and
 * a store of o. Cloned for x86-64-v4 and -v3. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) static void
dot_taps(float *restrict o, const float *restrict src, size_t stride, const float *restrict k, int n, int w) {
    enum { B = 32 };
    int x = 0;
    for (; x + B <= w; x += B) {
        float acc[B] = {0};
        for (int i = 0; i < n; i++) {
            const float *sv = src + (size_t)i * stride + x;
            float ki = k[i];
            for (int l = 0; l < B; l++) acc[l] += ki * sv[l];
        }
        for (int l = 0; l < B; l++) o[x + l] = acc[l];
    }
    for (; x < w; x++) {
        float acc = 0.0f;
        for (int i = 0; i < n; i++) acc += k[i] * src[(size_t)i * stride + x];
        o[x] = acc;
    }
}

/* out = in correlated with outer(k, k), k[2r+1], zero outside; tmp[h][w].
 * Both passes sum the taps over contiguous rows (the horizontal one on a
 * zero-padded copy of the row), so that the inner loops vectorise. */
static void conv_sep(float *out, const float *in, float *tmp, int h, int w, const float *k, int r) {
    int par = (size_t)h * w * (size_t)(2 * r + 1) > (1u << 26); /* threads only pay off on big frames */
#pragma omp parallel if (par)
    {
        float *pad = calloc((size_t)w + 2 * r, sizeof *pad);
#pragma omp for schedule(static)
        for (int y = 0; y < h; y++) {
            const float *row = in + (size_t)y * w;
            float *t = tmp + (size_t)y * w;
            if (!pad) { /* out of memory: the same sums, unvectorised */
                for (int x = 0; x < w; x++) {
                    float s = 0.0f;
                    for (int i = 0; i <= 2 * r; i++)
                        if (x - r + i >= 0 && x - r + i < w) s += k[i] * row[x - r + i];
                    t[x] = s;
                }
                continue;
            }
            memcpy(pad + r, row, (size_t)w * sizeof *pad);
            dot_taps(t, pad, 1, k, 2 * r + 1, w);
        }
        free(pad);
    }
#pragma omp parallel for schedule(static) if (par)
    for (int y = 0; y < h; y++) {
        int i0 = y - r < 0 ? r - y : 0, i1 = y + r >= h ? h - y + r : 2 * r + 1; /* taps on rows inside */
        dot_taps(out + (size_t)y * w, tmp + (size_t)(y - r + i0) * w, (size_t)w, k + i0, i1 - i0, w);
    }
}

/* The vertical half of box_sum2: out = running sums of t over 2r+1 rows,
 * in the double accumulators ac[w] (zeroed); cloned for x86-64-v4/-v3,
 * whose wider vectors do the same additions per column. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) static void
box_cols(float *restrict out, const float *restrict t, double *restrict ac, int h, int w, int r) {
    for (int y = 0; y < r && y < h; y++)
        for (int x = 0; x < w; x++) ac[x] += t[(size_t)y * w + x];
    for (int y = 0; y < h; y++) {
        if (y + r < h)
            for (int x = 0; x < w; x++) ac[x] += t[(size_t)(y + r) * w + x];
        if (y - r - 1 >= 0)
            for (int x = 0; x < w; x++) ac[x] -= t[(size_t)(y - r - 1) * w + x];
        for (int x = 0; x < w; x++) out[(size_t)y * w + x] = (float)ac[x];
    }
}

/* out1, out2 = box sums of in1, in2 over the (2r+1)^2 window (zero
 * outside), by running sums in double: O(1) per pixel. The two horizontal
 * running sums are interleaved so that their dependency chains overlap.
 * tmp1, tmp2 [h][w]. */
static void box_sum2(float *out1, float *out2, const float *in1, const float *in2, float *tmp1, float *tmp2, int h,
                     int w, int r) {
    for (int y = 0; y < h; y++) {
        const float *r1 = in1 + (size_t)y * w, *r2 = in2 + (size_t)y * w;
        float *t1 = tmp1 + (size_t)y * w, *t2 = tmp2 + (size_t)y * w;
        double a1 = 0, a2 = 0;
        for (int x = 0; x < r && x < w; x++) a1 += r1[x], a2 += r2[x];
        for (int x = 0; x < w; x++) {
            if (x + r < w) a1 += r1[x + r], a2 += r2[x + r];
            if (x - r - 1 >= 0) a1 -= r1[x - r - 1], a2 -= r2[x - r - 1];
            t1[x] = (float)a1, t2[x] = (float)a2;
        }
    }
    double *acc = calloc(2 * (size_t)w, sizeof *acc);
    if (!acc) { /* out of memory: the O(r) path */
        float one[2 * 64 + 1];
        for (int i = 0; i <= 2 * r; i++) one[i] = 1.0f;
        conv_sep(out1, in1, tmp1, h, w, one, r);
        conv_sep(out2, in2, tmp1, h, w, one, r);
        return;
    }
    box_cols(out1, tmp1, acc, h, w, r);
    box_cols(out2, tmp2, acc + w, h, w, r);
    free(acc);
}

/* Sums of 1, k, k^2 over the part of a (2r+1) window at position x that
 * lies inside [0, n): a[x], a[n + x], a[2n + x]. */
static void edge_sums(double *a, int n, const float *k, int r) {
    for (int x = 0; x < n; x++) {
        double s0 = 0, s1 = 0, s2 = 0;
        for (int i = 0; i <= 2 * r; i++)
            if (x - r + i >= 0 && x - r + i < n) s0 += 1, s1 += k[i], s2 += (double)k[i] * k[i];
        a[x] = s0, a[n + x] = s1, a[2 * (size_t)n + x] = s2;
    }
}

/* 16-byte vectors: their calling convention is the same with and without
 * AVX, so the helpers below may be called from the AVX2 clone (GCC and
 * clang reject or warn about 32-byte vector arguments there). */
typedef float v4sf __attribute__((vector_size(16)));
typedef int32_t v4si __attribute__((vector_size(16)));

static inline v4sf ld4(const float *p) {
    v4sf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, v4sf v) { memcpy(p, &v, sizeof v); }
static inline v4sf sel4(v4si m, v4sf a, v4sf b) { return (v4sf)(((v4si)a & m) | ((v4si)b & ~m)); }

/* 1/sqrt(x) for normal x > 0: the bit-level first guess refined by three
 * Newton steps (relative error below 1e-6, float rounding). */
static inline v4sf rsqrt4(v4sf x) {
    v4sf y = (v4sf)(0x5f375a86 - ((v4si)x >> 1));
    for (int i = 0; i < 3; i++) y = y * (1.5f - 0.5f * x * y * y);
    return y;
}

/* fit_window over one row, on per-pixel template sums n, st, stt, in
 * float four pixels at a time (the inputs are float sums already); the
 * sqrt is a Newton reciprocal square root because GCC does not vectorise
 * sqrtf under the default -fmath-errno. Cloned for x86-64-v3. */
__attribute__((target_clones("arch=x86-64-v3", "default"))) static void
fit_row(float *ncc, float *amp, int w, const float *n, const float *st, const float *stt, const float *si,
        const float *sii, const float *sit, int nmin) {
    int x = 0;
    const v4sf one = {1, 1, 1, 1}, zero = {0};
    for (; x + 4 <= w; x += 4) {
        v4sf cn = ld4(n + x), t1 = ld4(st + x), t2 = ld4(stt + x), s1 = ld4(si + x), s2 = ld4(sii + x);
        v4si has = cn >= (float)nmin;
        v4sf in = one / sel4(has, cn, one);
        v4sf cov = ld4(sit + x) - t1 * s1 * in, vt = t2 - t1 * t1 * in, vi = s2 - s1 * s1 * in;
        v4si ok = has & (vt > 1e-6f * t2) & (vi > 1e-6f * s2 + 1e-30f);
        vt = sel4(ok, vt, one), vi = sel4(ok, vi, one);
        v4sf r = cov * rsqrt4(vt) * rsqrt4(vi), a = cov / vt;
        r = sel4(r > 1.0f, one, sel4(r < -1.0f, -one, r));
        st4(ncc + x, sel4(ok, r, zero));
        st4(amp + x, sel4(ok, a, zero));
    }
    for (; x < w; x++) {
        float cn = n[x], t1 = st[x], t2 = stt[x], s1 = si[x], s2 = sii[x];
        ncc[x] = amp[x] = 0.0f;
        if (!(cn >= (float)nmin)) continue;
        float cov = sit[x] - t1 * s1 / cn, vt = t2 - t1 * t1 / cn, vi = s2 - s1 * s1 / cn;
        if (!(vt > 1e-6f * t2) || !(vi > 1e-6f * s2 + 1e-30f)) continue;
        float r = cov / sqrtf(vt) / sqrtf(vi);
        ncc[x] = r > 1.0f ? 1.0f : r < -1.0f ? -1.0f : r;
        amp[x] = cov / vt;
    }
}

typedef void (*fit_row_fn)(float *ncc, float *amp, int w, const float *n, const float *st, const float *stt,
                           const float *si, const float *sii, const float *sit, int nmin);

#if defined(__x86_64__) && defined(__GNUC__)
/* fit_row eight pixels a step (AVX2), lane for lane the same arithmetic;
 * the rest of the row takes fit_row's 4-wide and scalar paths, so the
 * result is bit-identical. The 32-byte vectors stay inside this function
 * (the helpers are always inlined), so no call passes one. */
typedef float v8sf __attribute__((vector_size(32)));
typedef int32_t v8si __attribute__((vector_size(32)));
typedef float v8sf_u __attribute__((vector_size(32), aligned(4), may_alias));

__attribute__((target("avx2"), always_inline)) static inline v8sf sel8(v8si m, v8sf a, v8sf b) {
    return (v8sf)(((v8si)a & m) | ((v8si)b & ~m));
}
__attribute__((target("avx2"), always_inline)) static inline v8sf rsqrt8(v8sf x) {
    v8sf y = (v8sf)(0x5f375a86 - ((v8si)x >> 1));
    for (int i = 0; i < 3; i++) y = y * (1.5f - 0.5f * x * y * y);
    return y;
}

__attribute__((target("avx2"))) static void fit_row8(float *ncc, float *amp, int w, const float *n, const float *st,
                                                     const float *stt, const float *si, const float *sii,
                                                     const float *sit, int nmin) {
    int x = 0;
    const v8sf one = {1, 1, 1, 1, 1, 1, 1, 1}, zero = {0};
    for (; x + 8 <= w; x += 8) {
        v8sf cn = *(const v8sf_u *)(n + x), t1 = *(const v8sf_u *)(st + x), t2 = *(const v8sf_u *)(stt + x);
        v8sf s1 = *(const v8sf_u *)(si + x), s2 = *(const v8sf_u *)(sii + x);
        v8si has = cn >= (float)nmin;
        v8sf in = one / sel8(has, cn, one);
        v8sf cov = *(const v8sf_u *)(sit + x) - t1 * s1 * in, vt = t2 - t1 * t1 * in, vi = s2 - s1 * s1 * in;
        v8si ok = has & (vt > 1e-6f * t2) & (vi > 1e-6f * s2 + 1e-30f);
        vt = sel8(ok, vt, one), vi = sel8(ok, vi, one);
        v8sf r = cov * rsqrt8(vt) * rsqrt8(vi), a = cov / vt;
        r = sel8(r > 1.0f, one, sel8(r < -1.0f, -one, r));
        *(v8sf_u *)(ncc + x) = sel8(ok, r, zero);
        *(v8sf_u *)(amp + x) = sel8(ok, a, zero);
    }
    if (x < w) fit_row(ncc + x, amp + x, w - x, n + x, st + x, stt + x, si + x, sii + x, sit + x, nmin);
}

static fit_row_fn pick_fit_row(void) { return __builtin_cpu_supports("avx2") ? fit_row8 : fit_row; }
#else
static fit_row_fn pick_fit_row(void) { return fit_row; }
#endif

/* Like ae_ncc_map for the template outer(k, k), k[2r+1] (Gaussian: k = 1-D
 * Gaussian), in O(r) per pixel: one separable correlation for sum I*T, box
 * sums for sum I and sum I^2, and the template sums over the valid window
 * from 1-D edge sums when there is no NaN (correlations of the mask else). */
ae_status ae_ncc_map_sep(float *ncc, float *amp, const float *img, int h, int w, const float *k, int r) {
    if (!ncc || !img || !k || h <= 0 || w <= 0 || r < 0 || r > 64)
        return ae_error_set(AE_ERR_ARG, "ae_ncc_map_sep: bad arguments (radius %d, at most 64)", r);
    size_t n = ae_ncc_sep_scratch_size(h, w);
    if (!n) return ae_error_set(AE_ERR_NOMEM, "ncc: image %dx%d too large", w, h);
    void *work = ae_malloc(n, "ncc scratch");
    if (!work) return AE_ERR_NOMEM;
    ae_status st = ae_ncc_sep_prepare(img, h, w, work);
    if (st == AE_OK) st = ae_ncc_map_sep_ws(ncc, amp, img, h, w, k, r, work);
    free(work);
    return st;
}

/* The scratch: this header, 3 (w + h) doubles of edge sums, then float
 * planes: v (validity), iv (image - offset), i2 (iv^2), which depend on the
 * image only, and tmp, sn, st, stt, s, tmp2 of each call, and 3 rows. */
typedef struct {
    size_t nnan;
} ncc_prep;

size_t ae_ncc_sep_scratch_size(int h, int w) {
    size_t hw, a, b;
    if (h <= 0 || w <= 0 || ae_mul_size((size_t)h, (size_t)w, &hw) || hw > SIZE_MAX / 16 - (size_t)w ||
        ae_mul3_size(9 * hw + 3 * (size_t)w, 1, sizeof(float), &a) ||
        ae_mul3_size((size_t)w + h, 3, sizeof(double), &b) || a + b < a || a + b + 64 < a + b)
        return 0;
    return 64 + a + b;
}

static float *scratch_planes(void *work, int h, int w) {
    double *es = (double *)((char *)work + 64);
    return (float *)(es + 3 * ((size_t)w + h));
}

/* v, iv, i2 from img; an offset is subtracted so that the float sums of
 * squares stay accurate. */
static void prepare_planes(const float *img, size_t hw, float *v, float *iv, float *i2, size_t *nnan) {
    double off = 0.0;
    size_t cnt = 0;
    for (size_t p = 0; p < hw; p += 97)
        if (isfinite(img[p])) off += img[p], cnt++;
    off = cnt ? off / cnt : 0.0;
    *nnan = 0;
    for (size_t p = 0; p < hw; p++) {
        int ok = isfinite(img[p]);
        *nnan += !ok;
        v[p] = ok ? 1.0f : 0.0f;
        iv[p] = ok ? (float)(img[p] - off) : 0.0f;
        i2[p] = iv[p] * iv[p];
    }
}

ae_status ae_ncc_sep_prepare(const float *img, int h, int w, void *work) {
    if (!img || !work || h <= 0 || w <= 0) return ae_error_set(AE_ERR_ARG, "ae_ncc_sep_prepare: bad arguments");
    size_t hw = (size_t)h * w;
    float *buf = scratch_planes(work, h, w);
    prepare_planes(img, hw, buf, buf + hw, buf + 2 * hw, &((ncc_prep *)work)->nnan);
    return AE_OK;
}

ae_status ae_ncc_map_sep_ws(float *ncc, float *amp, const float *img, int h, int w, const float *k, int r,
                            void *work) {
    if (!ncc || !img || !k || !work || h <= 0 || w <= 0 || r < 0 || r > 64)
        return ae_error_set(AE_ERR_ARG, "ae_ncc_map_sep: bad arguments (radius %d, at most 64)", r);
    size_t hw = (size_t)h * w, nnan = ((const ncc_prep *)work)->nnan;
    double *es = (double *)((char *)work + 64);
    float *buf = scratch_planes(work, h, w);
    float *v = buf, *iv = buf + hw, *i2 = buf + 2 * hw, *tmp = buf + 3 * hw;
    float *sn = buf + 4 * hw, *st = buf + 5 * hw, *stt = buf + 6 * hw, *s = buf + 7 * hw, *tmp2 = buf + 8 * hw;
    float *sii = v, *sit = i2; /* with NaN: v and i2 are overwritten, and restored at the end */
    float k2[2 * 64 + 1], one[2 * 64 + 1];
    for (int i = 0; i <= 2 * r; i++) k2[i] = k[i] * k[i], one[i] = 1.0f;
    if (nnan) {
        conv_sep(sn, v, tmp, h, w, one, r);
        conv_sep(st, v, tmp, h, w, k, r);
        conv_sep(stt, v, tmp, h, w, k2, r);
    } else { /* sn, st, stt are made a row at a time below: their planes are free */
        sii = sn, sit = st;
        sn = buf + 9 * hw, st = sn + w, stt = st + w;
    }
    box_sum2(s, sii, iv, i2, tmp, tmp2, h, w, r); /* si, sii */
    conv_sep(sit, iv, tmp, h, w, k, r);
    double *ex = es, *ey = es + 3 * (size_t)w;
    edge_sums(ex, w, k, r);
    edge_sums(ey, h, k, r);
    int nmin = ((2 * r + 1) * (2 * r + 1) + 1) / 2;
    fit_row_fn fit = pick_fit_row();
    for (int y = 0; y < h; y++) {
        size_t o = (size_t)y * w;
        /* tmp is free now: it takes amp when the caller wants none */
        float *a = amp ? amp + o : tmp + o;
        if (nnan) {
            for (int x = 0; x < w; x++) sn[o + x] = rintf(sn[o + x]);
            fit(ncc + o, a, w, sn + o, st + o, stt + o, s + o, sii + o, sit + o, nmin);
        } else { /* no NaN: the template sums over the window inside the image factorise */
            for (int x = 0; x < w; x++) {
                sn[x] = (float)(ex[x] * ey[y]);
                st[x] = (float)(ex[w + x] * ey[h + y]);
                stt[x] = (float)(ex[2 * (size_t)w + x] * ey[2 * (size_t)h + y]);
            }
            fit(ncc + o, a, w, sn, st, stt, s + o, sii + o, sit + o, nmin);
        }
    }
    if (nnan) {
        for (size_t p = 0; p < hw; p++)
            if (!isfinite(img[p])) ncc[p] = 0.0f;
        size_t n2;
        prepare_planes(img, hw, v, iv, i2, &n2); /* for the next call */
    }
    return AE_OK;
}
