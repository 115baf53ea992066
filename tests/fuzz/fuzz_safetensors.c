/* fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 *
 * Opens the input with ae_weights_open_mem; when it is accepted, fetches
 * every tensor with its own shape (and once with a wrong ndim), reads every
 * converted value, and queries metadata and leftovers. Seeds: seeds/safetensors/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "astroenh/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ae_weights *w = NULL;
    if (ae_weights_open_mem(&w, data, size, "fuzz.safetensors") != AE_OK) {
        if (w) __builtin_trap(); /* a failed open must not return a handle */
        return 0;
    }
    volatile float sink = 0.0f;
    for (int i = 0; i < ae_weights_count(w); i++) {
        const char *name = ae_weights_name(w, i);
        int64_t shape[AE_WEIGHTS_MAX_NDIM];
        const float *d = NULL;
        int nd = ae_weights_shape(w, name, shape, AE_WEIGHTS_MAX_NDIM);
        if (nd < 0 || !ae_weights_has(w, name)) __builtin_trap();
        size_t numel = 1;
        for (int k = 0; k < nd; k++) numel *= (size_t)shape[k];
        if (nd > 0) shape[0] = -1;
        if (ae_weights_get(w, name, nd, shape, &d) == AE_OK) {
            for (size_t k = 0; k < numel; k++) sink += d[k];
        }
        if (nd < AE_WEIGHTS_MAX_NDIM && ae_weights_get(w, name, nd + 1, shape, &d) != AE_ERR_SHAPE) __builtin_trap();
    }
    (void)sink;
    ae_weights_check_all_used(w);
    ae_weights_meta(w, "arch");
    ae_weights_meta_int(w, "base_ch", 0);
    ae_weights_close(w);
    return 0;
}
