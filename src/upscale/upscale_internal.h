/* upscale_internal.h - shared between src/upscale/stage.c and drive.c. */
#ifndef ASTROENH_UPSCALE_INTERNAL_H
#define ASTROENH_UPSCALE_INTERNAL_H

#include <pthread.h>
#include "astroenh/arena.h"
#include "astroenh/backend.h"
#include "astroenh/image.h"
#include "astroenh/rdn.h"
#include "astroenh/safetensors.h"
#include "astroenh/sampler.h"
#include "astroenh/sr3.h"
#include "astroenh/srfast.h"

typedef enum { UP_MODEL_FAST = 0, UP_MODEL_SR3 } up_model;

typedef struct {
    int scale;      /* 2 | 4 */
    up_model model;
    int steps;      /* 0: default */
    int sampler;    /* -1: default, else ae_sampler_kind */
    int samples;    /* >= 1 */
    int start_step; /* SR3: training step the reverse process starts at, 1..AE_SR3_T; 0: the model's default */
    int flux;       /* -1: default by format, 0 off, 1 on */
    int prefilter;
    const char *weights; /* model file override */
} up_opts;

typedef struct {
    const ae_backend *be;
    ae_weights *W;
    ae_weights *Wbase; /* SR3 with base=fast: that fast network's file (in fast / rdn) */
    ae_arena *A;
    int plan_h, plan_w; /* tile shape the arena is planned for (0: none) */
    int plan_net;       /* and for which network: 0 fast, 1 SR3 */
    up_model model;
    ae_srfast fast;
    ae_rdn *rdn; /* --model fast with an arch=rdn file: runs instead of `fast` */
    ae_sr3 *sr3;
    ae_schedule sched;
    int scale, tile;
    int start_step; /* SR3: the training step the reverse process starts at (AE_SR3_T: pure noise) */
    int net_scale; /* the fast network's own scale: scale, or 2 for --scale 4 with a 2x RDN run twice */
    unsigned long long seed;
    char path[512];
    pthread_mutex_t mu; /* one image at a time through the network (--jobs) */
} up_state;

/* Runs the fast network over disp (display values in [0,1], c planes) into
 * out (c x h*s x w*s, preallocated), tile by tile. */
ae_status up_run_fast(up_state *s, const ae_image *disp, ae_image *out);

/* The SR3 tile side in output pixels, a function of the output's size only
 * (--tile does not apply to SR3): the whole output when its longer side is
 * <= 512, else 256. */
int up_sr3_tile(int out_h, int out_w);

/* SR3 sampling of one sample (noise streams of `sample`) into out. */
ae_status up_run_sr3(up_state *s, const ae_image *disp, ae_image *out, int sample);

#endif
