/* bands.c - which plane of a 3-plane FITS cube is shown as red, green and
 * blue. Survey cubes store their bands blue first (DECaLS g, r, z); a colour
 * picture puts the longest wavelength in red. The wavelength of each plane
 * comes from per-plane band names (BANDn / FILTERn, 0- or 1-based, or a
 * three-letter BANDS = 'grz') looked up in a table of effective wavelengths,
 * or from a spectral third WCS axis (WAVE/AWAV/FREQ/WAVN/ENER, linear).
 * Without them the file order is kept (plane 1 red).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "astroenh/io.h"

/* Effective wavelengths in nm (SDSS/DECam ugrizY, Johnson-Cousins UBVRI,
 * 2MASS JHK, WISE W1-W4, GALEX, common narrow bands). */
static const struct {
    const char *name;
    double nm;
} k_bands[] = {
    {"FUV", 153},  {"NUV", 231},  {"u", 355},   {"U", 365},    {"B", 445},   {"g", 475},   {"Hb", 486},
    {"Hbeta", 486}, {"OIII", 501}, {"V", 551},  {"r", 622},    {"R", 658},   {"Ha", 656},  {"Halpha", 656},
    {"H-alpha", 656}, {"SII", 672}, {"i", 763},  {"I", 806},    {"z", 905},   {"Y", 1000},  {"y", 1000},
    {"J", 1250},   {"H", 1650},   {"K", 2190},  {"Ks", 2150},  {"W1", 3400}, {"W2", 4600}, {"W3", 12000},
    {"W4", 22000},
};

/* Wavelength (nm) of a band name; 0 when unknown. Tries the whole name
 * (case first, then without), then each word ("DECam g", "g_SDSS", "r'"),
 * then an HST-style F<nnn>W number. */
static double band_nm(const char *name) {
    char buf[72], *save = NULL;
    snprintf(buf, sizeof buf, "%s", name);
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\'')) buf[--n] = '\0';
    for (size_t i = 0; i < sizeof k_bands / sizeof *k_bands; i++)
        if (!strcmp(buf, k_bands[i].name)) return k_bands[i].nm;
    for (size_t i = 0; i < sizeof k_bands / sizeof *k_bands; i++)
        if (!strcasecmp(buf, k_bands[i].name)) return k_bands[i].nm;
    if ((buf[0] == 'F' || buf[0] == 'f') && isdigit((unsigned char)buf[1])) {
        double v = strtod(buf + 1, NULL);
        if (v >= 100 && v <= 2500) return v; /* F475W: 475 nm; F160W: 1600 nm */
        if (v >= 10 && v < 100) return v * 10;
    }
    for (char *t = strtok_r(buf, " _-/.", &save); t; t = strtok_r(NULL, " _-/.", &save))
        for (size_t i = 0; i < sizeof k_bands / sizeof *k_bands; i++)
            if (!strcmp(t, k_bands[i].name)) return k_bands[i].nm;
    return 0;
}

/* The string value of `key` (quotes and trailing blanks removed); 0 if absent. */
static int get_string(const ae_header *h, const char *key, char *out, size_t cap) {
    int i = ae_header_find(h, key);
    if (i < 0) return 0;
    const char *c = h->cards[i];
    const char *q = strchr(c + 8, '\'');
    if (!q || c[8] != '=') return 0;
    size_t n = 0;
    for (q++; *q && *q != '\'' && n + 1 < cap; q++) out[n++] = *q;
    while (n > 0 && out[n - 1] == ' ') n--;
    out[n] = '\0';
    return n > 0;
}

/* Per-plane band names under prefix ("BAND", "FILTER"), 0-based or 1-based. */
static int named_planes(const ae_header *h, const char *prefix, double nm[3]) {
    for (int base = 0; base <= 1; base++) {
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++) {
            char key[16], val[72];
            snprintf(key, sizeof key, "%s%d", prefix, k + base);
            ok = get_string(h, key, val, sizeof val) && (nm[k] = band_nm(val)) > 0;
        }
        if (ok) return 1;
    }
    return 0;
}

/* A spectral third WCS axis; frequency-like axes count backwards. */
static int spectral_axis(const ae_header *h, double nm[3]) {
    char ctype[72];
    if (!get_string(h, "CTYPE3", ctype, sizeof ctype)) return 0;
    int sign = !strncmp(ctype, "WAVE", 4) || !strncmp(ctype, "AWAV", 4) ? 1
               : !strncmp(ctype, "FREQ", 4) || !strncmp(ctype, "WAVN", 4) || !strncmp(ctype, "ENER", 4) ? -1 : 0;
    double crval = 0, crpix = 1, cdelt = 0;
    if (!sign || !ae_header_get_double(h, "CRVAL3", &crval)) return 0;
    ae_header_get_double(h, "CRPIX3", &crpix);
    if (!ae_header_get_double(h, "CDELT3", &cdelt)) ae_header_get_double(h, "CD3_3", &cdelt);
    if (cdelt == 0) return 0;
    for (int k = 0; k < 3; k++) nm[k] = sign * (crval + cdelt * (k + 1 - crpix)); /* order only */
    return 1;
}

void ae_image_rgb_planes(const ae_image *img, int plane[3]) {
    for (int k = 0; k < 3; k++) plane[k] = k;
    if (!img || img->c != 3) return;
    double nm[3] = {0, 0, 0};
    char bands[72];
    int ok = named_planes(&img->hdr, "BAND", nm) || named_planes(&img->hdr, "FILTER", nm);
    if (!ok && get_string(&img->hdr, "BANDS", bands, sizeof bands) && strlen(bands) == 3) {
        ok = 1;
        for (int k = 0; k < 3 && ok; k++) {
            char one[2] = {bands[k], '\0'};
            ok = (nm[k] = band_nm(one)) > 0;
        }
    }
    if (!ok) ok = spectral_axis(&img->hdr, nm);
    if (!ok || nm[0] == nm[1] || nm[1] == nm[2] || nm[0] == nm[2]) return;
    /* red = longest wavelength, blue = shortest */
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (nm[plane[b]] > nm[plane[a]]) {
                int t = plane[a];
                plane[a] = plane[b];
                plane[b] = t;
            }
}
