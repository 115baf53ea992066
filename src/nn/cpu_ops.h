/* cpu_ops.h - the CPU backend's op implementations (src/nn/), internal.
 *
 * Each function has exactly the arguments of its ae_backend table entry
 * (backend.h documents them); src/backend/cpu.c puts them in the table.
 * They run on host memory, use OpenMP for their loops and OpenBLAS for
 * GEMMs (called outside any OpenMP parallel region).
 */
#ifndef ASTROENH_NN_CPU_OPS_H
#define ASTROENH_NN_CPU_OPS_H

#include "astroenh/backend.h"

size_t ae_conv2d_ws_cpu(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x);
ae_status ae_conv2d_cpu(const ae_backend *be, const ae_conv2d_desc *d, const ae_tensor *x,
                        const float *w, const float *b, ae_tensor *y, float *ws, size_t ws_bytes);
size_t ae_conv_transpose2d_ws_cpu(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x);
ae_status ae_conv_transpose2d_cpu(const ae_backend *be, const ae_convT2d_desc *d, const ae_tensor *x,
                                  const float *w, const float *b, ae_tensor *y, float *ws,
                                  size_t ws_bytes);
ae_status ae_linear_cpu(const ae_backend *be, const ae_tensor *x, const float *w, const float *b,
                        ae_tensor *y);

ae_status ae_batchnorm_cpu(const ae_backend *be, const ae_tensor *x, const float *mean,
                           const float *var, const float *gamma, const float *beta, float eps,
                           ae_tensor *y);
ae_status ae_groupnorm_cpu(const ae_backend *be, const ae_tensor *x, int groups, const float *gamma,
                           const float *beta, float eps, ae_tensor *y);
ae_status ae_instancenorm_cpu(const ae_backend *be, const ae_tensor *x, const float *gamma,
                              const float *beta, float eps, ae_tensor *y);

ae_status ae_activation_cpu(const ae_backend *be, ae_act kind, float alpha, const ae_tensor *x,
                            ae_tensor *y);
ae_status ae_add_cpu(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y);
ae_status ae_mul_cpu(const ae_backend *be, const ae_tensor *a, const ae_tensor *b, ae_tensor *y);
ae_status ae_scale_shift_cpu(const ae_backend *be, const ae_tensor *x, const ae_tensor *scale,
                             float scale_bias, const ae_tensor *shift, ae_tensor *y);
ae_status ae_concat_cpu(const ae_backend *be, const ae_tensor *const *xs, int count, ae_tensor *y);
ae_status ae_copy_cpu(const ae_backend *be, const ae_tensor *x, ae_tensor *y);

ae_status ae_upsample_cpu(const ae_backend *be, ae_upsample_mode mode, const ae_tensor *x,
                          ae_tensor *y);
ae_status ae_pixel_shuffle_cpu(const ae_backend *be, int r, const ae_tensor *x, ae_tensor *y);
ae_status ae_pool_cpu(const ae_backend *be, const ae_pool_desc *d, const ae_tensor *x, ae_tensor *y);

size_t ae_attention_ws_cpu(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q);
ae_status ae_attention_cpu(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q,
                           const ae_tensor *k, const ae_tensor *v, ae_tensor *y, float *ws,
                           size_t ws_bytes);
ae_status ae_noise_embed_cpu(const ae_backend *be, const float *gamma, ae_tensor *y);

/* Elementwise-like loops over fewer elements than this run on one thread:
 * an OpenMP fork/join costs more than the work (many small tensors in the
 * 16..32 px levels of a U-Net). */
#define AE_PAR_MIN 32768L

/* How many work items ops split their output into (rows of attention scores,
 * column tiles of im2col, row blocks of the implicit/direct conv). A constant,
 * not the thread count: where the split falls can change the rounding of some
 * kernels (OpenBLAS's small-matrix paths), and results must not depend on
 * --threads (the seed promise of `astroenh upscale`). 16 items keep up to 8
 * threads busy with two items each. */
#define AE_SPLIT_ITEMS 16

/* Vectorised exp (vmath.c): max relative error against double exp stated by
 * test_ops, for x in [-87.3, 88.3] (clamped outside). The _n loops work on n
 * contiguous floats (y may equal x) on one thread; callers split the work. */
float ae_vexpf(float x);
void ae_vexp_n(const float *x, float *y, long n);
void ae_silu_n(const float *x, float *y, long n);
void ae_sigmoid_n(const float *x, float *y, long n);
/* softmax of one row of n >= 1 floats, in place (max-subtracted) */
void ae_softmax_row(float *p, long n);

/* Sets OpenBLAS to one thread if it is not: the CPU backend runs every GEMM
 * inside its own OpenMP threads (one thread pool, no oversubscription with
 * OpenBLAS's pthread pool on shared machines). Cheap; called by each op. */
void ae_blas_single_thread(void);

/* Conv strategy, exposed for tests and the benchmark: AE_CONV_AUTO (implicit
 * for every stride-1 conv where the direct AVX-512 kernel runs, else implicit
 * GEMM for stride-1 convs with >= 32 input channels per group; im2col for the
 * rest), or force one (implicit applies to stride-1 convs only; IMPLICIT uses
 * the direct kernel where the CPU has AVX-512, IMPLICIT_SGEMM never does). */
enum { AE_CONV_AUTO = 0, AE_CONV_IMPLICIT = 1, AE_CONV_IM2COL = 2, AE_CONV_IMPLICIT_SGEMM = 3 };
void ae_conv2d_cpu_set_strategy(int s);
int ae_conv2d_cpu_strategy(void);
/* 1 if this CPU runs a direct conv kernel for stride-1 convs (AVX-512: all of
 * them; AVX2+FMA: those with cin_g x taps <= 576, see conv.c). */
int ae_conv2d_cpu_direct_available(void);

#endif
