/* lab.c - sRGB <-> CIE L*a*b* (D65), the colour space of the colorizer.
 *
 * Mirrors scripts/astrodata.py (rgb_to_lab, lab_to_rgb, grey_to_L) formula
 * for formula; tests/test_lab.c checks round trips and reference values.
 */
#include <math.h>
#include "astroenh/color.h"

static const float k_rgb2xyz[3][3] = {{0.4124564f, 0.3575761f, 0.1804375f},
                                      {0.2126729f, 0.7151522f, 0.0721750f},
                                      {0.0193339f, 0.1191920f, 0.9503041f}};
static const float k_xyz2rgb[3][3] = {{3.2404542f, -1.5371385f, -0.4985314f},
                                      {-0.9692660f, 1.8760108f, 0.0415560f},
                                      {0.0556434f, -0.2040259f, 1.0572252f}};
static const float k_white[3] = {0.95047f, 1.0f, 1.08883f};
#define LAB_EPS 0.00885645168f /* (6/29)^3 */
#define LAB_K 0.12841854934f   /* 3 (6/29)^2 */
#define LAB_D 0.20689655172f   /* 6/29 */

static float clip01(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }

static float srgb_decode(float c) {
    return c <= 0.04045f ? c / 12.92f : powf((c + 0.055f) / 1.055f, 2.4f);
}

static float srgb_encode(float c) {
    return c <= 0.0031308f ? 12.92f * c : 1.055f * powf(c, 1.0f / 2.4f) - 0.055f;
}

static float lab_f(float t) { return t > LAB_EPS ? cbrtf(t) : t / LAB_K + 4.0f / 29.0f; }

static float lab_finv(float f) { return f > LAB_D ? f * f * f : LAB_K * (f - 4.0f / 29.0f); }

void ae_srgb_to_lab(float r, float g, float b, float *L, float *A, float *B) {
    float lin[3] = {srgb_decode(clip01(r)), srgb_decode(clip01(g)), srgb_decode(clip01(b))};
    float f[3];
    for (int i = 0; i < 3; i++) {
        float t = k_rgb2xyz[i][0] * lin[0] + k_rgb2xyz[i][1] * lin[1] + k_rgb2xyz[i][2] * lin[2];
        f[i] = lab_f(t / k_white[i]);
    }
    *L = 116.0f * f[1] - 16.0f;
    *A = 500.0f * (f[0] - f[1]);
    *B = 200.0f * (f[1] - f[2]);
}

/* Lab -> linear sRGB, unclipped. */
static void lab_to_linear(float L, float A, float B, float lin[3]) {
    float fy = (L + 16.0f) / 116.0f;
    float f[3] = {fy + A / 500.0f, fy, fy - B / 200.0f};
    float xyz[3];
    for (int i = 0; i < 3; i++) xyz[i] = lab_finv(f[i]) * k_white[i];
    for (int i = 0; i < 3; i++)
        lin[i] = k_xyz2rgb[i][0] * xyz[0] + k_xyz2rgb[i][1] * xyz[1] + k_xyz2rgb[i][2] * xyz[2];
}

void ae_lab_to_srgb(float L, float A, float B, float *r, float *g, float *b) {
    float lin[3];
    lab_to_linear(L, A, B, lin);
    float *o[3] = {r, g, b};
    for (int i = 0; i < 3; i++) *o[i] = clip01(srgb_encode(lin[i] < 0.f ? 0.f : lin[i]));
}

static int in_gamut(const float lin[3]) {
    const float tol = 1e-6f;
    for (int i = 0; i < 3; i++)
        if (!(lin[i] >= -tol && lin[i] <= 1.0f + tol)) return 0;
    return 1;
}

float ae_lab_to_srgb_keep_l(float L, float A, float B, float *r, float *g, float *b) {
    float lin[3];
    float t = 1.0f;
    lab_to_linear(L, A, B, lin);
    if (!in_gamut(lin)) {
        float lo = 0.0f, hi = 1.0f;
        for (int it = 0; it < 16; it++) {
            float mid = 0.5f * (lo + hi);
            lab_to_linear(L, A * mid, B * mid, lin);
            if (in_gamut(lin)) lo = mid;
            else hi = mid;
        }
        t = lo;
    }
    ae_lab_to_srgb(L, A * t, B * t, r, g, b);
    return t;
}

float ae_grey_to_l(float g) { return 116.0f * lab_f(srgb_decode(clip01(g))) - 16.0f; }

float ae_l_to_grey(float L) { return clip01(srgb_encode(lab_finv((L + 16.0f) / 116.0f))); }

void ae_lab_from_srgb_planes(const float *r, const float *g, const float *b, size_t n, float *L,
                             float *A, float *B) {
    for (size_t i = 0; i < n; i++) {
        float l, a, bb;
        ae_srgb_to_lab(r[i], g[i], b[i], &l, &a, &bb);
        L[i] = l;
        A[i] = a;
        B[i] = bb;
    }
}
