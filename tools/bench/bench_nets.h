/* bench_nets.h - the two benchmark networks of `astroenh bench`, mirrored
 * from scripts/bench_engine.py (UNet, SR3Lite) by state_dict name. Internal
 * to tools/bench/. */
#ifndef ASTROENH_BENCH_NETS_H
#define ASTROENH_BENCH_NETS_H

#include "astroenh/nn.h"

/* Counted while the arena plans: FLOPs (2 per multiply-add of convs, linears,
 * attention) and the largest input+output bytes of one layer. */
typedef struct {
    double flops;
    size_t max_layer_bytes;
} bench_stats;

typedef struct bench_unet bench_unet;
typedef struct bench_sr3 bench_sr3;

ae_status bench_unet_load(bench_unet **out, ae_weights *W);
void bench_unet_free(bench_unet *u);
/* x: 1 x 1 x H x W (H, W multiples of 16) in the arena; *y allocated from it. */
ae_status bench_unet_forward(const ae_backend *be, ae_arena *A, const bench_unet *u,
                             const ae_tensor *x, ae_tensor *y, bench_stats *s);

ae_status bench_sr3_load(bench_sr3 **out, ae_weights *W);
void bench_sr3_free(bench_sr3 *m);
/* x: 1 x 6 x H x W (multiples of 8), gamma: host noise level per batch item. */
ae_status bench_sr3_forward(const ae_backend *be, ae_arena *A, const bench_sr3 *m,
                            const ae_tensor *x, const float *gamma, ae_tensor *y, bench_stats *s);

#endif
