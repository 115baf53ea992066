/* fuzz_jpeg.c - libFuzzer target for the JPEG reader (ae_jpeg_load_mem).
 *
 * A rejected input must leave no image; an accepted one must have sane
 * dimensions, 1 or 3 channels and every value in [0,1]; it is then pushed
 * through an MTF stretch and back, so stretch.c sees decoder-made data too.
 * Seeds: seeds/jpeg/.
 */
#include <stddef.h>
#include <stdint.h>
#include "astroenh/io.h"
#include "astroenh/stretch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ae_image *img = NULL;
    if (ae_jpeg_load_mem(&img, data, size, "fuzz.jpg") != AE_OK) {
        if (img) __builtin_trap();
        return 0;
    }
    if (img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3) || img->range != AE_RANGE_DISPLAY) __builtin_trap();
    size_t n = ae_image_npix(img) * (size_t)img->c;
    for (size_t i = 0; i < n; i++)
        if (!(img->data[i] >= 0.0f && img->data[i] <= 1.0f)) __builtin_trap();
    ae_stretch st;
    if (ae_stretch_fit(&st, img, AE_STRETCH_MTF) == AE_OK) {
        ae_stretch_apply(&st, img);
        ae_stretch_invert(&st, img);
    }
    ae_image_free(img);
    return 0;
}
