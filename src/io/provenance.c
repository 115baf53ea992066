/* provenance.c - HISTORY cards that say which astroenh version, stage,
 * parameters and model file (by SHA-256) produced an output. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "astroenh/io.h"
#include "astroenh/sha256.h"

#ifndef AE_VERSION
#define AE_VERSION "unknown"
#endif

ae_status ae_sha256_file(const char *path, char hex[65]) {
    hex[0] = '\0';
    struct stat sb;
    if (stat(path, &sb) != 0) return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return ae_error_set(AE_ERR_IO, "%s: is a directory", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ae_error_set(AE_ERR_IO, "%s: %s", path, strerror(errno));
    ae_sha256_ctx ctx;
    ae_sha256_init(&ctx);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) ae_sha256_update(&ctx, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return ae_error_set(AE_ERR_IO, "%s: read error while computing its SHA-256", path);
    unsigned char digest[32];
    ae_sha256_final(&ctx, digest);
    ae_sha256_hex(digest, hex);
    return AE_OK;
}

ae_status ae_header_add_provenance(ae_header *h, const char *stage, const char *params,
                                   const char *model_path) {
    if (!h || !stage) return ae_error_set(AE_ERR_ARG, "ae_header_add_provenance: no header or stage");
    char line[1024];
    snprintf(line, sizeof line, "astroenh %s %s%s%s", AE_VERSION, stage,
             params && *params ? " " : "", params ? params : "");
    ae_status st = ae_header_add_history(h, line);
    if (st || !model_path || !*model_path) return st;
    char hex[65];
    st = ae_sha256_file(model_path, hex);
    if (st) {
        ae_error_prefix("model checksum for HISTORY");
        return st;
    }
    const char *slash = strrchr(model_path, '/');
    snprintf(line, sizeof line, "model %s sha256=%s", slash ? slash + 1 : model_path, hex);
    return ae_header_add_history(h, line);
}
