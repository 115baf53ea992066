/* io.c - format detection and the load/save dispatchers of io.h.
 *
 * Loading trusts the file's magic bytes (a PNG named .fits still loads as
 * PNG; gzip-ed data is taken for FITS); saving goes by the extension the
 * user asked for. "f.fits[2]" names a FITS HDU: the bracket suffix is
 * stripped before the file is opened for sniffing, and the full name is
 * handed on to the FITS reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>
#include "astroenh/io.h"
#include "io_internal.h"

static const char *path_ext(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot ? dot : "";
}

/* Copies `path` into buf without a trailing "[...]" HDU selector. */
static void strip_hdu_suffix(const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", path);
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == ']') {
        char *lb = strrchr(buf, '[');
        if (lb && lb != buf) *lb = '\0';
    }
}

/* Opens `file` for reading, refusing anything but a regular file: opening a
 * FIFO would block until a writer appears, a device may never end. The open
 * does not block (O_NONBLOCK); the flag is cleared once fstat says "regular". */
static ae_status open_regular(const char *path, const char *file, FILE **out, struct stat *sb) {
    *out = NULL;
    int fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    ae_status st = AE_OK;
    if (fstat(fd, sb) != 0) st = ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    else if (S_ISDIR(sb->st_mode)) st = ae_error_set(AE_ERR_IO, "%s: is a directory", path);
    else if (!S_ISREG(sb->st_mode))
        st = ae_error_set(AE_ERR_IO, "%s: not a regular file (a %s); only regular files are read", path,
                          S_ISFIFO(sb->st_mode) ? "FIFO" : S_ISSOCK(sb->st_mode) ? "socket" : "device");
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(*out = fdopen(fd, "rb")))
        st = ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    if (st != AE_OK) close(fd);
    return st;
}

ae_status ae_io_read_file(const char *path, unsigned char **buf, size_t *len) {
    *buf = NULL;
    *len = 0;
    struct stat sb;
    FILE *f;
    ae_status st = open_regular(path, path, &f, &sb);
    if (st != AE_OK) return st;
    size_t cap = sb.st_size > 0 ? (size_t)sb.st_size : 4096, n = 0;
    unsigned char *p = ae_malloc(cap, path);
    if (!p) {
        fclose(f);
        return AE_ERR_NOMEM;
    }
    for (;;) {
        n += fread(p + n, 1, cap - n, f);
        if (n < cap || ferror(f)) break;
        unsigned char *q = cap <= SIZE_MAX / 2 ? realloc(p, cap * 2) : NULL;
        if (!q) {
            free(p);
            fclose(f);
            return ae_error_set(AE_ERR_NOMEM, "%s: out of memory reading the file", path);
        }
        p = q;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        return ae_error_set(AE_ERR_IO, "%s: read error", path);
    }
    *buf = p;
    *len = n;
    return AE_OK;
}

unsigned long long ae_io_max_samples(void) {
    const char *env = getenv("ASTROENH_MAX_PIXELS");
    if (env && *env) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(env, &end, 10);
        if (!errno && *end == '\0' && v > 0 && env[0] != '-') return v;
    }
    return AE_DEFAULT_MAX_SAMPLES;
}

ae_status ae_io_check_samples(const char *name, unsigned long long w, unsigned long long h, int c) {
    unsigned long long lim = ae_io_max_samples();
    if (w == 0 || h == 0 || c < 1 || w <= lim / (h * (unsigned long long)c)) return AE_OK; /* no overflow */
    return ae_error_set(AE_ERR_UNSUPPORTED,
                        "%s: declares %llux%llu pixels x %d channel%s, over the limit of %llu values "
                        "(%llu MiB as float); set ASTROENH_MAX_PIXELS to allow more",
                        name, w, h, c, c == 1 ? "" : "s", lim, lim >> 18);
}

void ae_io_remove_partial(const char *path) {
    struct stat sb;
    if (path && lstat(path, &sb) == 0 && S_ISREG(sb.st_mode)) remove(path);
}

ae_format ae_format_from_path(const char *path) {
    if (!path) return AE_FMT_UNKNOWN;
    char buf[4096];
    strip_hdu_suffix(path, buf, sizeof buf);
    const char *ext = path_ext(buf);
    static const char *fits_ext[] = {".fits", ".fit", ".fts", ".fz"};
    for (size_t i = 0; i < sizeof fits_ext / sizeof *fits_ext; i++)
        if (!strcasecmp(ext, fits_ext[i])) return AE_FMT_FITS;
    if (!strcasecmp(ext, ".png")) return AE_FMT_PNG;
    if (!strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg")) return AE_FMT_JPEG;
    return AE_FMT_UNKNOWN;
}

static ae_format sniff_bytes(const unsigned char *b, size_t n) {
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 9 && !memcmp(b, "SIMPLE  =", 9)) return AE_FMT_FITS;
    if (n >= 8 && !memcmp(b, png_sig, 8)) return AE_FMT_PNG;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return AE_FMT_JPEG;
    /* gzip: archives serve FITS as .fits.gz; the FITS reader inflates it and
     * says so when what is inside is not FITS */
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b) return AE_FMT_FITS;
    return AE_FMT_UNKNOWN;
}

const char *ae_path_file(const char *path, char *buf, size_t cap) {
    struct stat sb;
    if (stat(path, &sb) == 0) snprintf(buf, cap, "%s", path);
    else strip_hdu_suffix(path, buf, cap);
    return buf;
}

/* Reads up to `cap` leading bytes of the file; *n = 0 for an empty file.
 * Returns AE_ERR_IO (message set) when the file cannot be opened or read. */
static ae_status read_head(const char *path, const char *file, unsigned char *head, size_t cap, size_t *n) {
    struct stat sb;
    FILE *f;
    ae_status st = open_regular(path, file, &f, &sb);
    if (st != AE_OK) return st;
    *n = fread(head, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return ae_error_set(AE_ERR_IO, "%s: read error", path);
    return AE_OK;
}

ae_format ae_format_sniff(const char *path) {
    unsigned char head[16];
    char file[4096];
    size_t n = 0;
    if (!path) return AE_FMT_UNKNOWN;
    ae_path_file(path, file, sizeof file);
    if (read_head(path, file, head, sizeof head, &n) != AE_OK) return AE_FMT_UNKNOWN;
    return sniff_bytes(head, n);
}

const char *ae_format_name(ae_format f) {
    switch (f) {
    case AE_FMT_FITS: return "FITS";
    case AE_FMT_PNG: return "PNG";
    case AE_FMT_JPEG: return "JPEG";
    case AE_FMT_UNKNOWN: break;
    }
    return "unknown";
}

ae_status ae_image_load(ae_image **out, const char *path) {
    if (!out || !path) return ae_error_set(AE_ERR_ARG, "ae_image_load: NULL argument");
    *out = NULL;
    unsigned char head[16];
    char file[4096];
    size_t n = 0;
    ae_path_file(path, file, sizeof file);
    ae_status st = read_head(path, file, head, sizeof head, &n);
    if (st != AE_OK) return st;
    if (n == 0) return ae_error_set(AE_ERR_FORMAT, "%s: empty file", path);
    switch (sniff_bytes(head, n)) {
    case AE_FMT_FITS: return ae_fits_load(out, path);
    case AE_FMT_PNG: return ae_png_load(out, file);
    case AE_FMT_JPEG: return ae_jpeg_load(out, file);
    case AE_FMT_UNKNOWN: break;
    }
    return ae_error_set(AE_ERR_FORMAT, "%s: not a FITS, PNG or JPEG file", path);
}

ae_status ae_image_save(const ae_image *img, const char *path, const ae_save_opts *opts) {
    if (!img || !path) return ae_error_set(AE_ERR_ARG, "ae_image_save: NULL argument");
    switch (ae_format_from_path(path)) {
    case AE_FMT_FITS: return ae_fits_save(img, path, opts);
    case AE_FMT_PNG: return ae_png_save(img, path, opts);
    case AE_FMT_JPEG: return ae_jpeg_save(img, path, opts);
    case AE_FMT_UNKNOWN: break;
    }
    const char *ext = path_ext(path);
    if (!*ext)
        return ae_error_set(AE_ERR_ARG, "%s: no file extension; use .fits, .fit, .fts, .fz, .png, .jpg or .jpeg",
                            path);
    return ae_error_set(AE_ERR_ARG, "%s: unknown extension '%s'; use .fits, .fit, .fts, .fz, .png, .jpg or .jpeg",
                        path, ext);
}
