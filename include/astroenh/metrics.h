/* metrics.h - image-quality metrics and feature-distribution distances
 * (tools/eval/metrics.c, tools/eval/fid.c, tools/eval/features.c).
 *
 * Image metrics follow scikit-image's definitions (checked against it in
 * tests/test_metrics.c on real images):
 *   SSIM  Wang et al. 2004 with a Gaussian window (sigma 1.5, radius 5, i.e.
 *         skimage's gaussian_weights=True, use_sample_covariance=False),
 *         K1 = 0.01, K2 = 0.03, averaged over the pixels whose window lies
 *         inside the image; colour images: the mean of the per-channel SSIMs.
 *   PSNR  10 log10(range^2 / MSE), MSE over all pixels and channels.
 *   L1/L2 per channel: mean |a-b| and mean (a-b)^2, in the units of the data
 *         (the caller scales, e.g. x255 for 8-bit units), and for colour
 *         images also in CIE Lab (L*, a*, b* units, via color.h).
 * FID (Heusel et al. 2017) is the Frechet distance of two Gaussians fitted
 * to feature vectors; KID (Binkowski et al. 2018) the unbiased MMD^2 with
 * the kernel (x.y/d + 1)^3 averaged over random subsets.
 */
#ifndef ASTROENH_METRICS_H
#define ASTROENH_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "astroenh/backend.h"
#include "astroenh/image.h"
#include "astroenh/status.h"

#define AE_SSIM_SIGMA 1.5
#define AE_SSIM_RADIUS 5 /* int(3.5 * sigma + 0.5), skimage's truncate */
#define AE_SSIM_K1 0.01
#define AE_SSIM_K2 0.03

/* Mean SSIM of two planes [h][w] with values spanning `range`. Needs
 * h, w >= 2 * AE_SSIM_RADIUS + 1. Errors: AE_ERR_ARG (size, range <= 0,
 * a non-finite pixel), AE_ERR_NOMEM. */
ae_status ae_ssim_plane(const float *a, const float *b, int h, int w, double range, double *ssim);

/* 10 log10(range^2 / mse); +inf when mse == 0. */
double ae_psnr_from_mse(double mse, double range);

typedef struct {
    int c;               /* channels compared: 1 or 3 */
    double l1[3], l2[3]; /* per channel, data units */
    double lab_l1[3], lab_l2[3]; /* L*, a*, b* (only when c == 3 and lab == 1) */
    int lab;
    double mse, psnr;    /* over all channels */
    double ssim, ssim_ch[3];
} ae_metrics;

/* Compares `pred` with `truth` (same w, h). A 1-channel image compared with a
 * 3-channel one is replicated to 3 channels. Lab errors are computed when
 * both (after replication) have 3 channels and range == 1 (sRGB in [0,1]).
 * Errors: AE_ERR_ARG naming the sizes or a non-finite pixel. */
ae_status ae_metrics_compare(const ae_image *pred, const ae_image *truth, double range, ae_metrics *m);

/* ---- feature statistics and distances (fid.c) ---- */

/* Mean mu[d] and covariance cov[d][d] (divisor n-1, numpy's np.cov) of n
 * feature rows x[n][d]. n >= 2. */
ae_status ae_feature_stats(const float *x, int n, int d, double *mu, double *cov);

/* Frechet distance |mu1-mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2) with
 * tr((S1 S2)^1/2) = tr((S1^1/2 S2 S1^1/2)^1/2), square roots by symmetric
 * eigendecomposition (LAPACK dsyevd), negative eigenvalues (round-off) as 0.
 * Errors: AE_ERR_ARG (d < 1), AE_ERR_NOMEM, AE_ERR_FORMAT when LAPACK fails. */
ae_status ae_frechet_distance(const double *mu1, const double *s1, const double *mu2, const double *s2,
                              int d, double *fd);

/* KID: for each of `subsets` subsets, m = min(subset_size, na, nb) rows drawn
 * without replacement from each set (splitmix64 from `seed`), the unbiased
 * MMD^2 with k(x, y) = (x.y / d + 1)^3; *mean and *std (population) over the
 * subsets. Errors: AE_ERR_ARG (m < 2, subsets < 1), AE_ERR_NOMEM. */
ae_status ae_kid(const float *xa, int na, const float *xb, int nb, int d, int subsets, int subset_size,
                 uint64_t seed, double *mean, double *std);

/* ---- feature extractor (features.c) ---- */

typedef struct ae_featnet ae_featnet;

#define AE_FEATNET_SIDE 64

/* Loads the feature network: the body (head, residual blocks, body conv and
 * long skip) of a fast SR model (models/fast_x2_v1.safetensors, the EDSR-like 2x net) trained here.
 * Features of an image: the image is first averaged over k x k blocks, k the
 * smallest integer bringing its longest side to <= AE_FEATNET_SIDE (cost);
 * then for each of its 3 colour planes (a grey image is replicated), the spatial mean and standard deviation of each body channel
 * of the plane mapped to [-1, 1] -> ae_featnet_dim() = 6 x channels values.
 * These are NOT InceptionV3 pool3 features: distances from them are not
 * comparable with published FID. Free with ae_featnet_free. */
ae_status ae_featnet_load(ae_featnet **out, const char *path, const ae_backend *be);
/* Loads pytorch-fid's InceptionV3 (inception.h; a .safetensors from
 * scripts/convert_inception.py, a .pth is refused with that advice) instead:
 * features are the pool3 of the image clamped to [0,1] and quantised to 8
 * bits (pytorch-fid reads files as 8-bit RGB), a grey image replicated. */
ae_status ae_featnet_load_inception(ae_featnet **out, const char *path, const ae_backend *be);
void ae_featnet_free(ae_featnet *f); /* NULL-safe */
int ae_featnet_dim(const ae_featnet *f);
const char *ae_featnet_describe(const ae_featnet *f);
int ae_featnet_is_inception(const ae_featnet *f);
/* 1 only for InceptionV3 with pytorch-fid's published weights (file metadata):
 * then, and only then, FIDs are comparable with published ones. */
int ae_featnet_comparable(const ae_featnet *f);

/* Features of a display-range image (values in [0,1], NaN read as 0) into
 * out[ae_featnet_dim()]. Errors: AE_ERR_ARG (channels, < 4 px a side after
 * the block averaging), engine errors. */
ae_status ae_featnet_features(ae_featnet *f, const ae_image *img, float *out);

#endif
