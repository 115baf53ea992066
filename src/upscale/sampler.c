/* sampler.c - SR3 schedules, DDPM/DDIM reverse steps, counter-based noise.
 *
 * Mirrors scripts/sr_models.py (respaced_betas, sample_ddpm, sample_ddim) and
 * the numpy noise of scripts/sr_noise.py (noise_at): splitmix64 (Steele et
 * al. 2014) hashing of (seed, stream, c, y, x), Box-Muller on two 53-bit
 * uniforms, in double, rounded to float.
 */
#include <math.h>
#include <stdlib.h>
#include "astroenh/sampler.h"

ae_status ae_schedule_create(ae_schedule *s, ae_sampler_kind kind, int steps, int n_train,
                             double beta0, double beta1) {
    return ae_schedule_create_from(s, kind, steps, n_train - 1, n_train, beta0, beta1);
}

ae_status ae_schedule_create_from(ae_schedule *s, ae_sampler_kind kind, int steps, int top, int n_train,
                                  double beta0, double beta1) {
    s->ab = NULL;
    s->steps = 0;
    s->kind = kind;
    s->top = top;
    s->n_train = n_train;
    if (n_train < 1 || n_train > 100000 || top < 0 || top >= n_train)
        return ae_error_set(AE_ERR_ARG, "sampler: start step %d outside 1..%d", top + 1, n_train);
    if (steps < 1 || steps > top + 1)
        return ae_error_set(AE_ERR_ARG, "sampler: steps %d outside 1..%d", steps, top + 1);
    if (!(beta0 > 0 && beta1 >= beta0 && beta1 < 1))
        return ae_error_set(AE_ERR_ARG, "sampler: bad beta range %g..%g", beta0, beta1);
    if (kind != AE_SAMPLER_DDPM && kind != AE_SAMPLER_DDIM)
        return ae_error_set(AE_ERR_ARG, "sampler: unknown kind %d", (int)kind);
    double *all = ae_malloc((size_t)n_train * sizeof *all, "sampler schedule");
    s->ab = ae_malloc((size_t)steps * sizeof *s->ab, "sampler schedule");
    if (!all || !s->ab) {
        free(all);
        free(s->ab);
        s->ab = NULL;
        return AE_ERR_NOMEM;
    }
    double prod = 1.0;
    for (int t = 0; t < n_train; t++) { /* np.linspace(beta0, beta1, n_train) */
        double beta = n_train == 1 ? beta0 : beta0 + t * ((beta1 - beta0) / (n_train - 1));
        if (t == n_train - 1) beta = beta1;
        prod *= 1.0 - beta;
        all[t] = prod;
    }
    for (int i = 0; i < steps; i++) { /* round(linspace(0, top, steps)) */
        double v = steps == 1 ? 0.0 : i * ((double)top / (steps - 1));
        long idx = steps == top + 1 ? i : lround(v);
        s->ab[i] = all[idx < 0 ? 0 : idx >= n_train ? n_train - 1 : idx];
    }
    free(all);
    s->steps = steps;
    return AE_OK;
}

void ae_schedule_free(ae_schedule *s) {
    if (!s) return;
    free(s->ab);
    s->ab = NULL;
    s->steps = 0;
}

float ae_schedule_gamma(const ae_schedule *s, int i) { return (float)sqrt(s->ab[i]); }

void ae_schedule_start(const ae_schedule *s, float *x, const float *guess, size_t n) {
    if (s->top == s->n_train - 1) return;
    double ab = s->ab[s->steps - 1], a = sqrt(ab), b = sqrt(1.0 - ab);
    for (size_t k = 0; k < n; k++) x[k] = (float)(b * x[k] + (guess ? a * guess[k] : 0.0));
}

/* The x0 clamp of ae_sampler_step for value k. */
static inline double clamp_x0(double x0, const float *up, double c, size_t k) {
    double lo = up ? c * (-1.0 - up[k]) : -1.0, hi = up ? c * (1.0 - up[k]) : 1.0;
    return x0 < lo ? lo : x0 > hi ? hi : x0;
}

void ae_sampler_step(const ae_schedule *s, int i, float *x, const float *eps, const float *noise,
                     const float *up, float c, size_t n) {
    double ab = s->ab[i], ab_prev = i > 0 ? s->ab[i - 1] : 1.0;
    double sa = sqrt(ab), s1a = sqrt(1.0 - ab);
    if (s->kind == AE_SAMPLER_DDIM) {
        double sp = sqrt(ab_prev), s1p = sqrt(1.0 - ab_prev);
#pragma omp parallel for schedule(static)
        for (size_t k = 0; k < n; k++) {
            double x0 = clamp_x0(((double)x[k] - s1a * eps[k]) / sa, up, c, k);
            double e = ((double)x[k] - sa * x0) / s1a;
            x[k] = (float)(sp * x0 + s1p * e);
        }
        return;
    }
    double beta = 1.0 - ab / ab_prev, alpha = ab / ab_prev;
    double c0 = sqrt(ab_prev) * beta / (1.0 - ab);
    double ct = sqrt(alpha) * (1.0 - ab_prev) / (1.0 - ab);
    double sd = i > 0 ? sqrt(beta * (1.0 - ab_prev) / (1.0 - ab)) : 0.0;
#pragma omp parallel for schedule(static)
    for (size_t k = 0; k < n; k++) {
        double x0 = clamp_x0(((double)x[k] - s1a * eps[k]) / sa, up, c, k);
        double v = c0 * x0 + ct * x[k];
        if (i > 0) v += sd * noise[k];
        x[k] = (float)v;
    }
}

static inline uint64_t splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline float noise_from_key(uint64_t key, uint64_t pix) {
    uint64_t a = splitmix64(key ^ pix);
    uint64_t b = splitmix64(a);
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(b >> 11) * 0x1.0p-53;         /* [0, 1) */
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static inline uint64_t noise_key(uint64_t seed, uint64_t stream) {
    return splitmix64(splitmix64(seed) ^ stream);
}

static inline uint64_t pix_index(int c, int y, int x) {
    return ((uint64_t)(uint32_t)c << 48) | ((uint64_t)(uint32_t)y << 24) | (uint64_t)(uint32_t)x;
}

float ae_noise_at(uint64_t seed, uint64_t stream, int c, int y, int x) {
    return noise_from_key(noise_key(seed, stream), pix_index(c, y, x));
}

void ae_noise_fill(float *out, int c, int h, int w, int y0, int x0, uint64_t seed, uint64_t stream) {
    uint64_t key = noise_key(seed, stream);
    long rows = (long)c * h;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int ch = (int)(r / h), y = (int)(r % h);
        float *o = out + (size_t)r * w;
        for (int x = 0; x < w; x++) o[x] = noise_from_key(key, pix_index(ch, y0 + y, x0 + x));
    }
}
