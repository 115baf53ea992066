/* sampler.h - SR3 noise schedules, DDPM/DDIM updates and the counter-based
 * noise generator (src/upscale/sampler.c).
 *
 * SR3 is trained on the continuous noise level gamma = sqrt(alpha_bar) of a
 * T-step linear beta schedule, so the number of sampling steps is a run-time
 * choice: a schedule of `steps` keeps alpha_bar at the training indices
 * round(linspace(0, T-1, steps)) (DDPM re-spacing, Nichol & Dhariwal 2021);
 * steps == T is the training schedule itself. Mirrors sample_ddpm /
 * sample_ddim / respaced_betas of scripts/sr_models.py.
 *
 * Noise is a pure function of (seed, stream, channel, y, x) of the global
 * image: splitmix64 hashing of the counter, then Box-Muller. Results do not
 * depend on the thread count, the tile size or the order of evaluation.
 */
#ifndef ASTROENH_SAMPLER_H
#define ASTROENH_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include "astroenh/status.h"

typedef enum { AE_SAMPLER_DDPM = 0, AE_SAMPLER_DDIM } ae_sampler_kind;

#define AE_SR3_T 2000         /* training steps of SR3's schedule */
#define AE_SR3_BETA0 1e-6     /* linear betas from ... */
#define AE_SR3_BETA1 1e-2     /* ... to */

typedef struct {
    ae_sampler_kind kind;
    int steps;   /* sampling steps, 1..top+1 */
    int top;     /* training index of the noisiest step (n_train - 1: the whole schedule) */
    int n_train;
    double *ab;  /* [steps] alpha_bar of step i (ab[0] = least noise); owned */
} ae_schedule;

/* Builds the re-spaced schedule of `steps` from the n_train-step linear beta
 * schedule beta0..beta1. Errors: AE_ERR_ARG (steps outside 1..n_train, bad
 * betas), AE_ERR_NOMEM. Free with ae_schedule_free (NULL-safe, keeps s). */
ae_status ae_schedule_create(ae_schedule *s, ae_sampler_kind kind, int steps, int n_train,
                             double beta0, double beta1);

/* The same over the training indices round(linspace(0, top, steps)) only: a
 * truncated reverse process that starts at training step top + 1 of n_train
 * from x_top = sqrt(ab) x0_guess + sqrt(1 - ab) z (ae_schedule_start), not
 * from pure noise (SDEdit, Meng et al. 2022): less is invented, the result
 * stays closer to the guess. top = n_train - 1 is ae_schedule_create. */
ae_status ae_schedule_create_from(ae_schedule *s, ae_sampler_kind kind, int steps, int top, int n_train,
                                  double beta0, double beta1);

/* x_top in place on x (holding z, n values): unchanged for a whole schedule
 * (x_T = z, as trained); for a truncated one sqrt(1 - ab) z + sqrt(ab) guess
 * (guess NULL: 0, the residual targets' prior mean). */
void ae_schedule_start(const ae_schedule *s, float *x, const float *guess, size_t n);
void ae_schedule_free(ae_schedule *s);

/* The noise level the network is given at step i: sqrt(ab[i]). */
float ae_schedule_gamma(const ae_schedule *s, int i);

/* One reverse step from step i to i-1 over n values, in place on x (x_t):
 * x0 = clamp((x - sqrt(1-ab_i) eps) / sqrt(ab_i), lo, hi), where
 *   up == NULL (target=image): lo = -1, hi = 1;
 *   up != NULL (target=residual, x0 = (HR - up) * c, up = bicubic(LR) [n]):
 *   lo = c (-1 - up), hi = c (1 - up), i.e. HR = up + x0 / c in [-1, 1];
 * then
 *   DDPM: x = c0 x0 + ct x + sqrt(var) noise  (posterior q(x_{t-1} | x_t, x0);
 *         no noise at i = 0; noise may be NULL only then)
 *   DDIM: x = sqrt(ab_prev) x0 + sqrt(1-ab_prev) eps'  (eta = 0,
 *         eps' = (x - sqrt(ab_i) x0) / sqrt(1-ab_i)); noise unused.
 * ab_prev = ab[i-1], or 1 at i = 0. Coefficients in double. */
void ae_sampler_step(const ae_schedule *s, int i, float *x, const float *eps, const float *noise,
                     const float *up, float c, size_t n);

/* A standard normal value for (seed, stream, channel, y, x). Streams used by
 * the SR3 sampler: ae_noise_stream(sample, draw), draw 0 = x_T, draw k >= 1
 * = the noise of the k-th DDPM update. */
float ae_noise_at(uint64_t seed, uint64_t stream, int c, int y, int x);
static inline uint64_t ae_noise_stream(int sample, int draw) {
    return ((uint64_t)(uint32_t)sample << 32) | (uint32_t)draw;
}

/* Fills out[c][h][w] with the noise of the window (y0, x0, h, w) of the
 * global image (OpenMP over rows). */
void ae_noise_fill(float *out, int c, int h, int w, int y0, int x0, uint64_t seed, uint64_t stream);

#endif
