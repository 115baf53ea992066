/* fuzz_fits.c - libFuzzer target for the FITS reader (ae_fits_load_mem,
 * cfitsio underneath, including tile-compressed HDUs).
 *
 * A rejected input must leave no image; an accepted one must have sane
 * dimensions and 1 or 3 channels, 80-column header cards, and its header
 * goes through the WCS and card functions. Seeds: seeds/fits/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "astroenh/io.h"

/* cfitsio 4.2's imcomp_decompress_tile leaks a small buffer on some corrupt
 * tiles (its own allocation, freed on no path we can reach); not ours to fix. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:imcomp_decompress_tile\n"; }

/* cfitsio asks calloc for absurd column tables on some corrupt binary-table
 * headers, depending on state left by earlier inputs (seen only when a crash
 * input is replayed after others). calloc then returns NULL in a normal build
 * and cfitsio reports MEMORY_ALLOCATION; let ASan behave the same way. Our
 * own allocations are bounded before they are made (AE_MAX_PIXELS). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ae_image *img = NULL;
    if (ae_fits_load_mem(&img, data, size, "fuzz.fits") != AE_OK) {
        if (img) __builtin_trap();
        return 0;
    }
    if (img->w < 1 || img->h < 1 || img->w > AE_MAX_DIM || img->h > AE_MAX_DIM ||
        (img->c != 1 && img->c != 3) || img->src_format != AE_FMT_FITS)
        __builtin_trap();
    for (int i = 0; i < img->hdr.n_cards; i++)
        if (strlen(img->hdr.cards[i]) != 80) __builtin_trap();
    volatile size_t nan = ae_image_nan_count(img);
    (void)nan;
    ae_header h = {0};
    if (ae_header_copy(&h, &img->hdr) == AE_OK) {
        double v;
        (void)ae_wcs_present(&h);
        (void)ae_header_get_double(&h, "CRPIX1", &v);
        (void)ae_wcs_rescale(&h, 2.0);
        (void)ae_header_add_history(&h, "fuzz");
    }
    ae_header_free(&h);
    ae_image_free(img);
    return 0;
}
