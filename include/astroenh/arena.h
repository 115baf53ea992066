/* arena.h - activation memory for one network forward, planned up front.
 *
 * Usage (ggml-style dry run):
 *
 *     ae_arena *A;  ae_arena_create(&A, be);      // starts in planning mode
 *     model_forward(be, A, ...);                   // dry pass: tensors get addresses in a
 *                                                  // reserved inaccessible range, ops are
 *                                                  // skipped, the peak is recorded
 *     ae_arena_commit(A);                          // ONE backend allocation of the peak
 *     model_forward(be, A, ...);                   // real pass: same calls, same offsets
 *     ae_arena_reset(A);  model_forward(...);      // next tile / diffusion step
 *     ae_arena_free(A);
 *
 * Inside the arena a first-fit allocator with coalescing hands out blocks
 * (64-byte aligned) and takes them back in any order (U-Net skips outlive
 * later layers). The planning pass runs the same allocator over an unbounded
 * address space, so the real pass, making the same calls in the same order,
 * fits exactly; a real pass that asks for more than was planned gets
 * AE_ERR_NOMEM naming the request (it never reallocates behind the caller).
 * No malloc happens per alloc/release in the real pass.
 *
 * Op workspace (im2col, attention scores) comes from the same arena through
 * ae_arena_scratch, so the peak includes it.
 */
#ifndef ASTROENH_ARENA_H
#define ASTROENH_ARENA_H

#include <stddef.h>
#include "astroenh/status.h"
#include "astroenh/tensor.h"

typedef struct ae_backend ae_backend;
typedef struct ae_arena ae_arena;

/* Largest plan we accept (virtual address space reserved for planning). */
#define AE_ARENA_MAX_BYTES (64ull << 30)
/* Creates an empty arena in planning mode whose memory will come from
 * be->alloc. `be` must outlive the arena. Free with ae_arena_free. */
ae_status ae_arena_create(ae_arena **out, const ae_backend *be);
void ae_arena_free(ae_arena *a); /* NULL-safe; frees the backend memory */

/* 1 while planning: tensors' data then point into a reserved address range
 * that faults on any access, so ops (and uploads/downloads) must be skipped;
 * the ae_nn_* wrappers of nn.h do this. Pointer arithmetic on them is fine. */
int ae_arena_planning(const ae_arena *a);

/* Ends planning: allocates peak bytes from the backend (keeps the existing
 * buffer when it is large enough), switches to the real mode and resets.
 * Errors: AE_ERR_NOMEM / AE_ERR_DEVICE from the backend. */
ae_status ae_arena_commit(ae_arena *a);

/* Goes back to planning (e.g. for a larger tile); the recorded peak is kept
 * as a lower bound and the buffer is kept until the next commit. */
void ae_arena_replan(ae_arena *a);

/* Releases every block (the buffer stays). Call between tiles/steps. */
void ae_arena_reset(ae_arena *a);

/* Gives t a shape n x c x h x w and a block of the arena (a reserved address
 * while planning). Errors: AE_ERR_SHAPE (bad dims), AE_ERR_NOMEM (over the
 * plan, or a plan over AE_ARENA_MAX_BYTES). */
ae_status ae_arena_tensor(ae_arena *a, ae_tensor *t, int n, int c, int h, int w);

/* Returns t's block to the arena (t->data / shape are cleared). NULL-safe,
 * and a tensor not from this arena (data outside it) is ignored. */
void ae_arena_release(ae_arena *a, ae_tensor *t);

/* Workspace of `bytes` for one op (*out is NULL when bytes == 0). Give it
 * back with ae_arena_scratch_release (NULL-safe). */
ae_status ae_arena_scratch(ae_arena *a, size_t bytes, float **out);
void ae_arena_scratch_release(ae_arena *a, float *p);

/* Peak bytes recorded so far (planning and real passes), for --verbose. */
size_t ae_arena_peak_bytes(const ae_arena *a);
/* Bytes of the committed buffer (0 before the first commit). */
size_t ae_arena_capacity(const ae_arena *a);
/* Bytes in use right now. */
size_t ae_arena_used_bytes(const ae_arena *a);
/* Largest sum of live blocks seen (<= peak; the difference is fragmentation). */
size_t ae_arena_peak_live_bytes(const ae_arena *a);

#endif
