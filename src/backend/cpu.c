/* cpu.c - the CPU backend table: host memory and the ops of src/nn/.
 * Always built and complete; the reference every other backend is checked
 * against. */
#include <stdlib.h>
#include <string.h>
#include "astroenh/backend.h"
#include "../nn/cpu_ops.h"

static int cpu_supports(const ae_backend *be, ae_op op) {
    (void)be;
    return op >= 0 && op < AE_OP_COUNT;
}

static ae_status cpu_alloc(const ae_backend *be, size_t bytes, void **out) {
    (void)be;
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes) return ae_error_set(AE_ERR_NOMEM, "cpu backend: %zu bytes is too large", bytes);
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p) return ae_error_set(AE_ERR_NOMEM, "cpu backend: out of memory allocating %zu bytes", bytes);
    *out = p;
    return AE_OK;
}

static void cpu_free(const ae_backend *be, void *p) {
    (void)be;
    free(p);
}

static ae_status cpu_copy_bytes(const ae_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
    return AE_OK;
}

static ae_status cpu_sync(const ae_backend *be) {
    (void)be;
    return AE_OK;
}

static const ae_backend g_cpu = {
    .name = "cpu",
    .ctx = NULL,
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy_bytes,
    .download = cpu_copy_bytes,
    .sync = cpu_sync,
    .conv2d_ws = ae_conv2d_ws_cpu,
    .conv2d = ae_conv2d_cpu,
    .conv_transpose2d_ws = ae_conv_transpose2d_ws_cpu,
    .conv_transpose2d = ae_conv_transpose2d_cpu,
    .linear = ae_linear_cpu,
    .batchnorm = ae_batchnorm_cpu,
    .groupnorm = ae_groupnorm_cpu,
    .instancenorm = ae_instancenorm_cpu,
    .activation = ae_activation_cpu,
    .add = ae_add_cpu,
    .mul = ae_mul_cpu,
    .scale_shift = ae_scale_shift_cpu,
    .concat = ae_concat_cpu,
    .copy = ae_copy_cpu,
    .upsample = ae_upsample_cpu,
    .pool = ae_pool_cpu,
    .pixel_shuffle = ae_pixel_shuffle_cpu,
    .attention_ws = ae_attention_ws_cpu,
    .attention = ae_attention_cpu,
    .noise_embed = ae_noise_embed_cpu,
    .release = NULL,
};

const ae_backend *ae_backend_cpu(void) { return &g_cpu; }
