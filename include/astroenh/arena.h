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
 * Blocks (64-byte aligned) may be released in any order (U-Net skips
 * outlive later layers). The planning pass records every request and
 * release; commit places the blocks offline (greedy by size, so the buffer is
 * close to the largest set of simultaneously live blocks) and the real pass
 * gets the planned offsets. The real pass must make the same requests in
 * the same order and release each block no later than planned (the same
 * model code on the same shapes and thread count does: CPU op workspace is
 * sized per OpenMP thread); otherwise the request fails with
 * AE_ERR_NOMEM rather than hand out overlapping memory, and the arena never
 * reallocates behind the caller. No malloc happens per request in the real pass.
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

/* Goes back to planning (e.g. for another tile size); the buffer is kept
 * and reused by the next commit when the new plan fits in it. */
void ae_arena_replan(ae_arena *a);

/* Releases every block (the buffer stays). In the real pass it also rewinds
 * to the first planned request: call it between passes (tiles, diffusion
 * steps); a pass that released all its blocks rewinds by itself. While
 * planning, the requests recorded so far are kept (a model may reset at the
 * end of its forward in both passes). */
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

/* The buffer the plan needs, for --verbose: after commit the placed peak;
 * while planning an upper bound (the online allocator's high-water mark). */
size_t ae_arena_peak_bytes(const ae_arena *a);
/* Bytes of the committed buffer (0 before the first commit). */
size_t ae_arena_capacity(const ae_arena *a);
/* Bytes in use right now. */
size_t ae_arena_used_bytes(const ae_arena *a);
/* Largest sum of live blocks seen (<= peak; the difference is fragmentation). */
size_t ae_arena_peak_live_bytes(const ae_arena *a);

#endif
