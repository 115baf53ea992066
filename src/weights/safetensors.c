/* safetensors.c - mmapped .safetensors reader (the format of huggingface/safetensors).
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data
 * buffer. The header is parsed once with cJSON and validated in full at open
 * (every tensor's dtype, shape, offsets), then reduced to a table sorted by
 * name; lookups are binary searches. F32 tensors are views into the mapping
 * when 4-byte aligned; F16/BF16 (and unaligned F32) are converted into
 * buffers owned by the ae_weights. Other dtypes are accepted in the header
 * and refused when fetched. Not thread-safe: ae_weights_get caches and marks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "astroenh/safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact */

typedef enum { DT_F32, DT_F16, DT_BF16, DT_OTHER } dtype_kind;

typedef struct {
    char *name;
    char dtype[12];
    dtype_kind kind;
    int ndim;
    int64_t shape[AE_WEIGHTS_MAX_NDIM];
    size_t numel;
    size_t begin, end; /* byte offsets into the data buffer */
    const float *data; /* set on first fetch */
    float *owned;      /* converted copy, when not a view */
    int used;
} st_tensor;

typedef struct {
    char *key, *val;
} st_meta;

struct ae_weights {
    char *path;
    unsigned char *base; /* whole file: mmap, or an owned aligned copy */
    size_t size;
    int mapped;
    const unsigned char *dbuf; /* data buffer = base + 8 + N */
    size_t dlen;
    st_tensor *t; /* header order */
    int n;
    int *by_name; /* indices into t sorted by name */
    st_meta *meta;
    int n_meta;
};

static const struct {
    const char *name;
    size_t size;
    dtype_kind kind;
} g_dtypes[] = {
    {"F32", 4, DT_F32},    {"F16", 2, DT_F16},    {"BF16", 2, DT_BF16},  {"F64", 8, DT_OTHER},
    {"I64", 8, DT_OTHER},  {"I32", 4, DT_OTHER},  {"I16", 2, DT_OTHER},  {"I8", 1, DT_OTHER},
    {"U64", 8, DT_OTHER},  {"U32", 4, DT_OTHER},  {"U16", 2, DT_OTHER},  {"U8", 1, DT_OTHER},
    {"BOOL", 1, DT_OTHER}, {"F8_E4M3", 1, DT_OTHER}, {"F8_E5M2", 1, DT_OTHER},
};

float ae_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    float f;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact in float */
        f = (float)man * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13); /* inf, or NaN keeping its payload */
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

float ae_bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

void ae_weights_close(ae_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta[i].key);
        free(w->meta[i].val);
    }
    if (w->base) {
        if (w->mapped) munmap(w->base, w->size);
        else free(w->base);
    }
    free(w->t);
    free(w->by_name);
    free(w->meta);
    free(w->path);
    free(w);
}

/* ---- header parsing ---- */

static int json_exact_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0 && d <= MAX_EXACT_INT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++) {
        if (shape[i] < 0) k += (size_t)snprintf(buf + k, cap - k, "%s?", i ? ", " : "");
        else k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

static ae_status parse_dtype(const ae_weights *w, st_tensor *t, const cJSON *e, size_t *elsize) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    if (!cJSON_IsString(dt))
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': missing or non-string \"dtype\"", w->path, t->name);
    for (size_t i = 0; i < sizeof g_dtypes / sizeof g_dtypes[0]; i++) {
        if (strcmp(dt->valuestring, g_dtypes[i].name) == 0) {
            snprintf(t->dtype, sizeof t->dtype, "%s", g_dtypes[i].name);
            t->kind = g_dtypes[i].kind;
            *elsize = g_dtypes[i].size;
            return AE_OK;
        }
    }
    return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%.32s\"", w->path, t->name,
                        dt->valuestring);
}

static ae_status parse_shape(const ae_weights *w, st_tensor *t, const cJSON *e) {
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"), *d;
    if (!cJSON_IsArray(sh))
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': missing or non-array \"shape\"", w->path, t->name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > AE_WEIGHTS_MAX_NDIM)
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': %d dimensions (at most %d supported)", w->path,
                            t->name, nd, AE_WEIGHTS_MAX_NDIM);
    size_t numel = 1;
    t->ndim = 0;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!json_exact_uint(d, &v) || v > INT64_MAX)
            return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer",
                                w->path, t->name, t->ndim);
        if (v > SIZE_MAX || ae_mul_size(numel, (size_t)v, &numel))
            return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': element count overflows", w->path, t->name);
        t->shape[t->ndim++] = (int64_t)v;
    }
    t->numel = numel;
    return AE_OK;
}

static ae_status parse_offsets(const ae_weights *w, st_tensor *t, const cJSON *e, size_t elsize) {
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    uint64_t b, en;
    size_t nbytes;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_exact_uint(cJSON_GetArrayItem(off, 0), &b) ||
        !json_exact_uint(cJSON_GetArrayItem(off, 1), &en))
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': \"data_offsets\" must be [begin, end] integers",
                            w->path, t->name);
    if (b > en || en > w->dlen)
        return ae_error_set(AE_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] outside the data buffer of %zu bytes",
                            w->path, t->name, (unsigned long long)b, (unsigned long long)en, w->dlen);
    if (ae_mul_size(t->numel, elsize, &nbytes) || nbytes != en - b) {
        char s[160];
        shape_str(s, sizeof s, t->ndim, t->shape);
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': %s %s needs %zu x %zu bytes but data_offsets span %llu",
                            w->path, t->name, t->dtype, s, t->numel, elsize, (unsigned long long)(en - b));
    }
    t->begin = (size_t)b;
    t->end = (size_t)en;
    return AE_OK;
}

static ae_status parse_tensor(ae_weights *w, st_tensor *t, const cJSON *e) {
    size_t elsize = 0;
    ae_status st;
    if (!cJSON_IsObject(e))
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", w->path, t->name);
    if ((st = parse_dtype(w, t, e, &elsize)) != AE_OK) return st;
    if ((st = parse_shape(w, t, e)) != AE_OK) return st;
    return parse_offsets(w, t, e, elsize);
}

static ae_status parse_meta(ae_weights *w, const cJSON *m) {
    const cJSON *kv;
    if (!cJSON_IsObject(m)) return ae_error_set(AE_ERR_FORMAT, "%s: \"__metadata__\" is not an object", w->path);
    int n = cJSON_GetArraySize(m);
    w->meta = ae_calloc((size_t)n, sizeof *w->meta, "safetensors metadata");
    if (!w->meta) return AE_ERR_NOMEM;
    cJSON_ArrayForEach(kv, m) {
        if (!cJSON_IsString(kv))
            return ae_error_set(AE_ERR_FORMAT, "%s: __metadata__ '%s' is not a string", w->path, kv->string);
        st_meta *e = &w->meta[w->n_meta++];
        e->key = strdup(kv->string);
        e->val = strdup(kv->valuestring);
        if (!e->key || !e->val) return ae_error_set(AE_ERR_NOMEM, "%s: out of memory for metadata", w->path);
    }
    return AE_OK;
}

static _Thread_local const ae_weights *g_sort_w; /* qsort has no context argument */

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(g_sort_w->t[*(const int *)a].name, g_sort_w->t[*(const int *)b].name);
}

static ae_status build_index(ae_weights *w) {
    w->by_name = ae_malloc((size_t)(w->n ? w->n : 1) * sizeof *w->by_name, "safetensors index");
    if (!w->by_name) return AE_ERR_NOMEM;
    for (int i = 0; i < w->n; i++) w->by_name[i] = i;
    g_sort_w = w;
    qsort(w->by_name, (size_t)w->n, sizeof *w->by_name, cmp_by_name);
    for (int i = 1; i < w->n; i++)
        if (strcmp(w->t[w->by_name[i - 1]].name, w->t[w->by_name[i]].name) == 0)
            return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s' appears twice in the header", w->path,
                                w->t[w->by_name[i]].name);
    return AE_OK;
}

static ae_status parse_entries(ae_weights *w, const cJSON *root) {
    const cJSON *e;
    ae_status st;
    int n = cJSON_GetArraySize(root);
    w->t = ae_calloc((size_t)(n ? n : 1), sizeof *w->t, "safetensors tensor table");
    if (!w->t) return AE_ERR_NOMEM;
    int seen_meta = 0;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta++) return ae_error_set(AE_ERR_FORMAT, "%s: \"__metadata__\" appears twice", w->path);
            if ((st = parse_meta(w, e)) != AE_OK) return st;
            continue;
        }
        st_tensor *t = &w->t[w->n++];
        if (!(t->name = strdup(e->string))) return ae_error_set(AE_ERR_NOMEM, "%s: out of memory", w->path);
        if ((st = parse_tensor(w, t, e)) != AE_OK) return st;
    }
    return build_index(w);
}

static int only_space(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\0') return 0;
    return 1;
}

static ae_status parse_file(ae_weights *w) {
    uint64_t n = 0;
    if (w->size < 8)
        return ae_error_set(AE_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file (needs an 8-byte header length)",
                            w->path, w->size);
    for (int i = 7; i >= 0; i--) n = (n << 8) | w->base[i];
    if (n > w->size - 8)
        return ae_error_set(AE_ERR_FORMAT, "%s: header length %llu exceeds the file size %zu (truncated or not safetensors)",
                            w->path, (unsigned long long)n, w->size);
    if (n > AE_WEIGHTS_MAX_HEADER)
        return ae_error_set(AE_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u bytes", w->path,
                            (unsigned long long)n, AE_WEIGHTS_MAX_HEADER);
    const char *js = (const char *)w->base + 8, *end = NULL;
    w->dbuf = w->base + 8 + n;
    w->dlen = w->size - 8 - (size_t)n;
    cJSON *root = cJSON_ParseWithLengthOpts(js, (size_t)n, &end, 0);
    if (!root || !only_space(end, js + n)) {
        size_t at = root ? (size_t)(end - js) : (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - js : 0);
        cJSON_Delete(root);
        return ae_error_set(AE_ERR_FORMAT, "%s: JSON header is not valid JSON (at byte %zu of %llu)", w->path, at,
                            (unsigned long long)n);
    }
    ae_status st = cJSON_IsObject(root) ? parse_entries(w, root)
                                        : ae_error_set(AE_ERR_FORMAT, "%s: JSON header is not an object", w->path);
    cJSON_Delete(root);
    return st;
}

static ae_status weights_new(ae_weights **out, const char *path) {
    *out = ae_calloc(1, sizeof **out, "safetensors handle");
    if (!*out) return AE_ERR_NOMEM;
    if (!((*out)->path = strdup(path))) {
        free(*out);
        *out = NULL;
        return ae_error_set(AE_ERR_NOMEM, "out of memory for path %s", path);
    }
    return AE_OK;
}

static ae_status finish_open(ae_weights **out, ae_weights *w) {
    ae_status st = parse_file(w);
    if (st != AE_OK) {
        ae_weights_close(w);
        return st;
    }
    *out = w;
    return AE_OK;
}

ae_status ae_weights_open(ae_weights **out, const char *path) {
    ae_weights *w;
    struct stat sb;
    ae_status st;
    if (!out || !path) return ae_error_set(AE_ERR_ARG, "ae_weights_open: NULL argument");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ae_error_set(AE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ae_error_set(AE_ERR_IO, "%s: not a regular file", path);
    }
    if ((st = weights_new(&w, path)) != AE_OK) {
        close(fd);
        return st;
    }
    w->size = (size_t)sb.st_size;
    if (w->size > 0) {
        void *m = mmap(NULL, w->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            st = ae_error_set(AE_ERR_IO, "%s: mmap of %zu bytes failed: %s", path, w->size, strerror(errno));
            close(fd);
            ae_weights_close(w);
            return st;
        }
        w->base = m;
        w->mapped = 1;
    }
    close(fd);
    return finish_open(out, w);
}

ae_status ae_weights_open_mem(ae_weights **out, const void *buf, size_t len, const char *name) {
    ae_weights *w;
    ae_status st;
    if (!out || (!buf && len)) return ae_error_set(AE_ERR_ARG, "ae_weights_open_mem: NULL argument");
    *out = NULL;
    if ((st = weights_new(&w, name ? name : "<memory>")) != AE_OK) return st;
    if (len > 0) {
        if (posix_memalign((void **)&w->base, 16, len) != 0) {
            ae_weights_close(w);
            return ae_error_set(AE_ERR_NOMEM, "%s: out of memory copying %zu bytes", name ? name : "<memory>", len);
        }
        memcpy(w->base, buf, len);
    }
    w->size = len;
    return finish_open(out, w);
}

/* ---- lookups ---- */

static st_tensor *find(const ae_weights *w, const char *name) {
    int lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, w->t[w->by_name[mid]].name);
        if (c == 0) return &w->t[w->by_name[mid]];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static ae_status check_shape(const ae_weights *w, const st_tensor *t, int ndim, int64_t *shape) {
    int ok = ndim == t->ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char want[200], got[200];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        return ae_error_set(AE_ERR_SHAPE, "%s: tensor '%s': expected shape %s, found %s", w->path, t->name, want, got);
    }
    for (int i = 0; i < ndim; i++) shape[i] = t->shape[i];
    return AE_OK;
}

static ae_status convert(const ae_weights *w, st_tensor *t) {
    const unsigned char *src = w->dbuf + t->begin;
    if (t->kind == DT_F32 && ((uintptr_t)src & 3u) == 0) {
        t->data = (const float *)(const void *)src;
        return AE_OK;
    }
    size_t nbytes;
    if (ae_mul_size(t->numel, sizeof(float), &nbytes))
        return ae_error_set(AE_ERR_NOMEM, "%s: tensor '%s': size overflows", w->path, t->name);
    if (!(t->owned = ae_malloc(nbytes, t->name))) return AE_ERR_NOMEM;
    if (t->kind == DT_F32) {
        memcpy(t->owned, src, t->numel * sizeof(float));
    } else {
        for (size_t i = 0; i < t->numel; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            t->owned[i] = t->kind == DT_F16 ? ae_half_to_float(h) : ae_bf16_to_float(h);
        }
    }
    t->data = t->owned;
    return AE_OK;
}

ae_status ae_weights_get(ae_weights *w, const char *name, int ndim, int64_t *shape, const float **data) {
    ae_status st;
    if (!w || !name || !data || ndim < 0 || ndim > AE_WEIGHTS_MAX_NDIM || (ndim > 0 && !shape))
        return ae_error_set(AE_ERR_ARG, "ae_weights_get(%s): invalid argument", name ? name : "(null)");
    *data = NULL;
    st_tensor *t = find(w, name);
    if (!t) return ae_error_set(AE_ERR_SHAPE, "tensor '%s' not found in %s", name, w->path);
    if ((st = check_shape(w, t, ndim, shape)) != AE_OK) return st;
    if (t->kind == DT_OTHER)
        return ae_error_set(AE_ERR_FORMAT, "%s: tensor '%s' has dtype %s; only F32, F16 and BF16 are supported",
                            w->path, name, t->dtype);
    if (!t->data && (st = convert(w, t)) != AE_OK) return st;
    t->used = 1;
    *data = t->data;
    return AE_OK;
}

int ae_weights_has(const ae_weights *w, const char *name) { return w && name && find(w, name) != NULL; }

int ae_weights_count(const ae_weights *w) { return w ? w->n : 0; }

const char *ae_weights_name(const ae_weights *w, int i) {
    return w && i >= 0 && i < w->n ? w->t[i].name : NULL;
}

const char *ae_weights_dtype(const ae_weights *w, const char *name) {
    const st_tensor *t = w && name ? find(w, name) : NULL;
    return t ? t->dtype : NULL;
}

int ae_weights_shape(const ae_weights *w, const char *name, int64_t *shape, int max_ndim) {
    const st_tensor *t = w && name ? find(w, name) : NULL;
    if (!t) return -1;
    for (int i = 0; i < t->ndim && i < max_ndim && shape; i++) shape[i] = t->shape[i];
    return t->ndim;
}

ae_status ae_weights_check_all_used(const ae_weights *w) {
    char list[600];
    size_t k = 0;
    int unused = 0;
    if (!w) return ae_error_set(AE_ERR_ARG, "ae_weights_check_all_used: NULL weights");
    list[0] = '\0';
    for (int i = 0; i < w->n; i++) {
        if (w->t[i].used) continue;
        if (++unused <= 5 && k < sizeof list)
            k += (size_t)snprintf(list + k, sizeof list - k, "%s'%.80s'", unused > 1 ? ", " : "", w->t[i].name);
    }
    if (!unused) return AE_OK;
    return ae_error_set(AE_ERR_SHAPE, "%s: %d of %d tensors never used by the model: %s%s", w->path, unused, w->n,
                        list, unused > 5 ? ", ..." : "");
}

const char *ae_weights_meta(const ae_weights *w, const char *key) {
    if (!w || !key) return NULL;
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta[i].key, key) == 0) return w->meta[i].val;
    return NULL;
}

int ae_weights_meta_int(const ae_weights *w, const char *key, int dflt) {
    const char *s = ae_weights_meta(w, key);
    char *end;
    if (!s || !*s) return dflt;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < INT_MIN || v > INT_MAX) return dflt;
    return (int)v;
}

const char *ae_weights_path(const ae_weights *w) { return w ? w->path : NULL; }
