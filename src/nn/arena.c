/* arena.c - planned activation memory (see arena.h).
 *
 * Blocks are kept in an array sorted by offset that tiles [0, end); a request
 * takes the best-fitting free block (split) or extends `end`. The planning
 * pass runs the same allocator over a PROT_NONE reservation, so planned
 * tensors have addresses that fault if touched, and records the peak `end`.
 * The real pass makes the same calls and therefore gets the same offsets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "astroenh/arena.h"
#include "astroenh/backend.h"

#define ARENA_ALIGN 64

typedef struct {
    size_t off, size;
    int used;
} block;

struct ae_arena {
    const ae_backend *be;
    int planning;
    char *reserve;   /* PROT_NONE address range used while planning */
    size_t reserve_bytes;
    char *buf;       /* committed backend buffer */
    size_t cap, peak, end, used, peak_live;
    block *b;
    int nb, capb;
};

ae_status ae_arena_create(ae_arena **out, const ae_backend *be) {
    ae_arena *a = ae_calloc(1, sizeof *a, "arena");
    if (!a) return AE_ERR_NOMEM;
    a->be = be;
    a->planning = 1;
    a->reserve_bytes = AE_ARENA_MAX_BYTES;
    void *r = mmap(NULL, a->reserve_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        a->reserve_bytes = (size_t)8 << 30;
        r = mmap(NULL, a->reserve_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    if (r == MAP_FAILED) {
        free(a);
        return ae_error_set(AE_ERR_NOMEM, "arena: cannot reserve address space for planning");
    }
    a->reserve = r;
    *out = a;
    return AE_OK;
}

void ae_arena_free(ae_arena *a) {
    if (!a) return;
    if (a->buf) a->be->free(a->be, a->buf);
    munmap(a->reserve, a->reserve_bytes);
    free(a->b);
    free(a);
}

int ae_arena_planning(const ae_arena *a) { return a->planning; }
size_t ae_arena_peak_bytes(const ae_arena *a) { return a->peak; }
size_t ae_arena_capacity(const ae_arena *a) { return a->cap; }
size_t ae_arena_used_bytes(const ae_arena *a) { return a->used; }
size_t ae_arena_peak_live_bytes(const ae_arena *a) { return a->peak_live; }

void ae_arena_reset(ae_arena *a) {
    a->nb = 0;
    a->end = 0;
    a->used = 0;
}

void ae_arena_replan(ae_arena *a) {
    a->planning = 1;
    ae_arena_reset(a);
}

ae_status ae_arena_commit(ae_arena *a) {
    if (a->peak > a->cap || !a->buf) {
        void *p = NULL;
        if (a->buf) a->be->free(a->be, a->buf);
        a->buf = NULL;
        a->cap = 0;
        ae_status st = a->be->alloc(a->be, a->peak ? a->peak : ARENA_ALIGN, &p);
        if (st) {
            ae_error_prefix("arena of %zu bytes", a->peak);
            return st;
        }
        a->buf = p;
        a->cap = a->peak;
    }
    a->planning = 0;
    ae_arena_reset(a);
    return AE_OK;
}

static char *arena_base(const ae_arena *a) { return a->planning ? a->reserve : a->buf; }
static size_t arena_limit(const ae_arena *a) { return a->planning ? a->reserve_bytes : a->cap; }

static ae_status insert_block(ae_arena *a, int at, block nb) {
    if (a->nb == a->capb) {
        int nc = a->capb ? a->capb * 2 : 64;
        block *p = realloc(a->b, (size_t)nc * sizeof *p);
        if (!p) return ae_error_set(AE_ERR_NOMEM, "arena: out of memory for the block table");
        a->b = p;
        a->capb = nc;
    }
    memmove(a->b + at + 1, a->b + at, (size_t)(a->nb - at) * sizeof *a->b);
    a->b[at] = nb;
    a->nb++;
    return AE_OK;
}

static ae_status arena_alloc(ae_arena *a, size_t bytes, size_t *off) {
    size_t sz = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (sz < bytes) return ae_error_set(AE_ERR_NOMEM, "arena: request of %zu bytes overflows", bytes);
    int best = -1;
    for (int i = 0; i < a->nb; i++)
        if (!a->b[i].used && a->b[i].size >= sz && (best < 0 || a->b[i].size < a->b[best].size)) best = i;
    if (best >= 0) {
        block *blk = &a->b[best];
        if (blk->size > sz) {
            block rest = {blk->off + sz, blk->size - sz, 0};
            blk->size = sz;
            ae_status st = insert_block(a, best + 1, rest);
            if (st) return st;
        }
        a->b[best].used = 1;
        *off = a->b[best].off;
        a->used += sz;
        if (a->used > a->peak_live) a->peak_live = a->used;
        return AE_OK;
    }
    size_t start = a->end;
    if (a->nb && !a->b[a->nb - 1].used) start = a->b[--a->nb].off; /* grow the trailing hole */
    if (start + sz < start || start + sz > arena_limit(a))
        return ae_error_set(AE_ERR_NOMEM, "arena: %zu more bytes needed beyond the %s of %zu bytes "
                            "(was the planning pass different from the real one?)", sz,
                            a->planning ? "planning limit" : "planned size", arena_limit(a));
    ae_status st = insert_block(a, a->nb, (block){start, sz, 1});
    if (st) return st;
    a->end = start + sz;
    if (a->end > a->peak) a->peak = a->end;
    a->used += sz;
    if (a->used > a->peak_live) a->peak_live = a->used;
    *off = start;
    return AE_OK;
}

static void arena_release_off(ae_arena *a, size_t off) {
    int lo = 0, hi = a->nb - 1, i = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (a->b[mid].off == off) { i = mid; break; }
        if (a->b[mid].off < off) lo = mid + 1; else hi = mid - 1;
    }
    if (i < 0 || !a->b[i].used) return;
    a->b[i].used = 0;
    a->used -= a->b[i].size;
    if (i + 1 < a->nb && !a->b[i + 1].used) {
        a->b[i].size += a->b[i + 1].size;
        memmove(a->b + i + 1, a->b + i + 2, (size_t)(a->nb - i - 2) * sizeof *a->b);
        a->nb--;
    }
    if (i > 0 && !a->b[i - 1].used) {
        a->b[i - 1].size += a->b[i].size;
        memmove(a->b + i, a->b + i + 1, (size_t)(a->nb - i - 1) * sizeof *a->b);
        a->nb--;
        i--;
    }
    if (i == a->nb - 1) { /* a trailing hole gives its space back to `end` */
        a->end = a->b[i].off;
        a->nb--;
    }
}

ae_status ae_arena_tensor(ae_arena *a, ae_tensor *t, int n, int c, int h, int w) {
    ae_status st = ae_tensor_check_shape(n, c, h, w, "arena tensor");
    if (st) return st;
    ae_tensor tmp = {NULL, n, c, h, w};
    size_t off = 0;
    st = arena_alloc(a, ae_tensor_bytes(&tmp), &off);
    if (st) return st;
    tmp.data = (float *)(void *)(arena_base(a) + off);
    *t = tmp;
    return AE_OK;
}

static int arena_owns(const ae_arena *a, const void *p, size_t *off) {
    const char *base = arena_base(a), *q = p;
    if (!base || !q || q < base || (size_t)(q - base) >= arena_limit(a)) return 0;
    *off = (size_t)(q - base);
    return 1;
}

void ae_arena_release(ae_arena *a, ae_tensor *t) {
    size_t off = 0;
    if (!a || !t) return;
    if (arena_owns(a, t->data, &off)) arena_release_off(a, off);
    memset(t, 0, sizeof *t);
}

ae_status ae_arena_scratch(ae_arena *a, size_t bytes, float **out) {
    *out = NULL;
    if (bytes == 0) return AE_OK;
    size_t off = 0;
    ae_status st = arena_alloc(a, bytes, &off);
    if (st) return st;
    *out = (float *)(void *)(arena_base(a) + off);
    return AE_OK;
}

void ae_arena_scratch_release(ae_arena *a, float *p) {
    size_t off = 0;
    if (a && arena_owns(a, p, &off)) arena_release_off(a, off);
}
