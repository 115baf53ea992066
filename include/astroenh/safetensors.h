/* safetensors.h - read-only access to a .safetensors weight file.
 *
 * The file is mmapped and its JSON header validated in full when opened
 * (sizes, dtypes, shapes, offsets); tensors are then fetched by their
 * PyTorch state_dict names. Format: u64 little-endian header length N,
 * N bytes of JSON {name: {"dtype", "shape", "data_offsets": [b, e]},
 * "__metadata__": {str: str}}, then the data buffer (offsets relative to it).
 */
#ifndef ASTROENH_SAFETENSORS_H
#define ASTROENH_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "astroenh/status.h"

#define AE_WEIGHTS_MAX_NDIM 8
#define AE_WEIGHTS_MAX_HEADER (100u * 1000u * 1000u) /* JSON header bytes */

typedef struct ae_weights ae_weights; /* an mmapped .safetensors file */

/* Opens and mmaps `path`, validating the header fully. Tensors of dtypes other
 * than F32/F16/BF16 are accepted here and refused by ae_weights_get.
 * Errors: AE_ERR_IO (open/mmap), AE_ERR_FORMAT (names the file and tensor),
 * AE_ERR_NOMEM. Free with ae_weights_close. */
ae_status ae_weights_open(ae_weights **out, const char *path);

/* Same as ae_weights_open over `len` bytes at `buf`. The bytes are COPIED
 * (into a 16-byte aligned buffer owned by the result), so `buf` may be freed
 * right after the call. `name` is used in messages and by ae_weights_path
 * (NULL -> "<memory>"). */
ae_status ae_weights_open_mem(ae_weights **out, const void *buf, size_t len, const char *name);

void ae_weights_close(ae_weights *w); /* NULL-safe */

/* Looks up `name`, checks ndim/shape (shape[i] = -1 means "any", filled in on return),
 * converts f16/bf16/f32 to f32 (f32 data is a view into the mmap when aligned, else a copy;
 * converted data is owned by `w` and freed by ae_weights_close), marks it used.
 * Errors (AE_ERR_SHAPE/AE_ERR_FORMAT) name the tensor, the expected and the found shape/dtype:
 * missing tensor or wrong ndim/shape -> AE_ERR_SHAPE, unsupported dtype -> AE_ERR_FORMAT.
 * `shape` may be NULL only when ndim is 0 (a scalar). Fetching twice returns the same data. */
ae_status ae_weights_get(ae_weights *w, const char *name, int ndim, int64_t *shape, const float **data);

int ae_weights_has(const ae_weights *w, const char *name); /* 1 if present */

/* Number of tensors, and the name / dtype ("F32", "I64", ...) / shape of the i-th
 * (header order); NULL / -1 when i is out of range. For listing and debugging. */
int ae_weights_count(const ae_weights *w);
const char *ae_weights_name(const ae_weights *w, int i);
const char *ae_weights_dtype(const ae_weights *w, const char *name);
int ae_weights_shape(const ae_weights *w, const char *name, int64_t *shape, int max_ndim); /* ndim or -1 */

/* Error AE_ERR_SHAPE listing (up to a few) tensors never fetched by ae_weights_get. */
ae_status ae_weights_check_all_used(const ae_weights *w);

const char *ae_weights_meta(const ae_weights *w, const char *key); /* __metadata__ string or NULL */
/* __metadata__ value parsed as a decimal int; `dflt` when absent or not a full int. */
int ae_weights_meta_int(const ae_weights *w, const char *key, int dflt);
const char *ae_weights_path(const ae_weights *w);

/* IEEE half and bfloat16 bit patterns to float (exact, subnormals/inf/NaN included). */
float ae_half_to_float(uint16_t h);
float ae_bf16_to_float(uint16_t b);

#endif
