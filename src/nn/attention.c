/* attention.c - multi-head softmax attention over spatial positions (CPU).
 *
 * The core of SR3/DDPM's SelfAttention and of nn.MultiheadAttention on
 * flattened feature maps: per (batch, head), with P = h*w positions,
 *   S = scale * Q^T K      (P x P, a chunk of query rows at a time)
 *   S = softmax(S, rows)   (max-subtracted)
 *   Y = V S^T              (head_dim x P)
 * Q, K, V are head_dim x P slices of NCHW tensors (rows = channels), so both
 * GEMMs read them in place. Work items are (batch, head, block of query
 * rows), one per OpenMP thread at a time, each with its own block of S
 * (bounded workspace) and single-threaded sgemms.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

#define ATTN_WS_FLOATS (1u << 20) /* scores per thread: 4 MiB */

/* Query rows per work item: bounded scores, AE_SPLIT_ITEMS items per head. */
static size_t attn_rows(size_t P) {
    size_t r = ATTN_WS_FLOATS / (P ? P : 1), per = (P + AE_SPLIT_ITEMS - 1) / AE_SPLIT_ITEMS;
    if (r > per) r = per;
    if (r < 1) r = 1;
    return r < P ? r : P;
}

static size_t attn_ws_floats(size_t P, int nt) { return (size_t)nt * attn_rows(P) * P; }

size_t ae_attention_ws_cpu(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q) {
    (void)be;
    (void)d;
    return attn_ws_floats((size_t)q->h * q->w, omp_get_max_threads()) * sizeof(float);
}

static void softmax_rows(float *s, size_t rows, size_t P) {
    for (size_t r = 0; r < rows; r++) ae_softmax_row(s + r * P, (long)P);
}

ae_status ae_attention_cpu(const ae_backend *be, const ae_attn_desc *d, const ae_tensor *q,
                           const ae_tensor *k, const ae_tensor *v, ae_tensor *y, float *ws,
                           size_t ws_bytes) {
    (void)be;
    ae_status st = ae_check_attention(d, q, k, v, y);
    if (st) return st;
    size_t P = (size_t)q->h * q->w;
    int nt = omp_get_max_threads();
    while (nt > 1 && attn_ws_floats(P, nt) * sizeof(float) > ws_bytes) nt--;
    if (!ws || ws_bytes < attn_ws_floats(P, nt) * sizeof(float))
        return ae_error_set(AE_ERR_ARG, "attention: workspace of %zu bytes, %zu needed", ws_bytes,
                            attn_ws_floats(P, nt) * sizeof(float));
    ae_blas_single_thread();
    size_t rc = attn_rows(P);
    long blocks = (long)((P + rc - 1) / rc), items = (long)q->n * d->heads * blocks;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (items > 1)
    for (long it = 0; it < items; it++) {
        int n = (int)(it / (blocks * d->heads)), h = (int)(it / blocks % d->heads);
        size_t p0 = (size_t)(it % blocks) * rc, m = P - p0 < rc ? P - p0 : rc;
        const float *Q = q->data + ((size_t)n * q->c + d->q_off + (size_t)h * d->head_stride) * P;
        const float *K = k->data + ((size_t)n * k->c + d->k_off + (size_t)h * d->head_stride) * P;
        const float *V = v->data + ((size_t)n * v->c + d->v_off + (size_t)h * d->head_stride) * P;
        float *Y = y->data + ((size_t)n * y->c + (size_t)h * d->head_dim) * P;
        float *S = ws + (size_t)omp_get_thread_num() * rc * P;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)P, d->head_dim, d->scale,
                    Q + p0, (int)P, K, (int)P, 0.0f, S, (int)P);
        softmax_rows(S, m, P);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->head_dim, (int)m, (int)P, 1.0f, V,
                    (int)P, S, (int)P, 0.0f, Y + p0, (int)P);
    }
    return AE_OK;
}
