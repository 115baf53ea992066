/* embed.c - SR3's PositionalEncoding of the noise level (CPU).
 *
 * Mirrors sr3 model/sr3_modules/unet.py PositionalEncoding.forward:
 *   count = dim // 2; step = arange(count) / count
 *   enc = gamma[:, None] * exp(-ln(1e4) * step[None]);  out = cat(sin(enc), cos(enc))
 * computed in float32 like PyTorch.
 */
#include <math.h>
#include "astroenh/backend.h"
#include "cpu_ops.h"

ae_status ae_noise_embed_cpu(const ae_backend *be, const float *gamma, ae_tensor *y) {
    (void)be;
    if (y->c < 2 || y->c % 2 || y->h != 1 || y->w != 1) {
        char s[64];
        return ae_error_set(AE_ERR_SHAPE, "noise_embed: output %s must be n x even-dim x 1 x 1",
                            ae_tensor_shape_str(y, s, sizeof s));
    }
    int count = y->c / 2;
    const float ln1e4 = (float)log(1e4);
    for (int n = 0; n < y->n; n++) {
        float *o = y->data + (size_t)n * y->c;
        for (int j = 0; j < count; j++) {
            float step = (float)j / (float)count;
            float e = gamma[n] * expf(-ln1e4 * step);
            o[j] = sinf(e);
            o[count + j] = cosf(e);
        }
    }
    return AE_OK;
}
