/* arena.c - planned activation memory (see arena.h).
 *
 * Planning pass: a best-fit allocator over a PROT_NONE reservation hands out
 * addresses (which fault if touched) and every request is recorded as an
 * event: size and the logical times of its allocation and release.
 * Commit: offsets are assigned offline, greedy (each block into a gap
 * between the already placed blocks alive at the same time, first or best
 * fit, as in TFLite's memory planner) in three orders (by size, lifetime,
 * size x lifetime), keeping the lowest peak; this packs tighter than the
 * online allocator; the buffer is the resulting peak.
 * Real pass: the i-th request gets the i-th planned offset. Requests must
 * come in the planned order with the planned sizes, and no block may be kept
 * past its planned release; a deviation fails the request with AE_ERR_NOMEM
 * instead of handing out overlapping memory.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "astroenh/arena.h"
#include "astroenh/backend.h"

#define ARENA_ALIGN 64

typedef struct {
    size_t off, size;
    int used, ev; /* ev: index of the planning event that owns the block */
} block;

typedef struct {
    size_t size, off;
    long t0, t1; /* allocation and release times; t1 = LONG_MAX if never released */
} event;

struct ae_arena {
    const ae_backend *be;
    int planning;
    char *reserve; /* PROT_NONE address range used while planning */
    size_t reserve_bytes;
    char *buf;     /* committed backend buffer */
    size_t cap, peak, end, used, peak_live;
    block *b; /* planning: blocks tiling [0, end); real: the live blocks */
    int nb, capb;
    event *ev;
    int nev, capev, cursor;
    long clock;
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
    free(a->ev);
    free(a);
}

int ae_arena_planning(const ae_arena *a) { return a->planning; }
size_t ae_arena_peak_bytes(const ae_arena *a) { return a->peak; }
size_t ae_arena_capacity(const ae_arena *a) { return a->cap; }
size_t ae_arena_used_bytes(const ae_arena *a) { return a->used; }
size_t ae_arena_peak_live_bytes(const ae_arena *a) { return a->peak_live; }

/* Planning: every live block is released now (the recorded requests stay,
 * so a model may reset at the end of its planned forward). Real pass: back to
 * the first planned request. */
void ae_arena_reset(ae_arena *a) {
    if (a->planning) {
        for (int i = 0; i < a->nb; i++)
            if (a->b[i].used) a->ev[a->b[i].ev].t1 = a->clock;
        a->clock++;
    } else {
        a->cursor = 0;
    }
    a->nb = 0;
    a->end = 0;
    a->used = 0;
}

void ae_arena_replan(ae_arena *a) {
    a->planning = 1;
    a->peak = 0;
    a->nev = 0;
    a->clock = 0;
    ae_arena_reset(a);
}

/* Placement orders tried at commit; the one with the lowest peak wins. */
static long ev_life(const event *e) { return e->t1 == LONG_MAX ? LONG_MAX / 4 : e->t1 - e->t0; }

static int by_size_desc(const void *x, const void *y, void *ctx) {
    const event *ev = ctx;
    size_t a = ev[*(const int *)x].size, b = ev[*(const int *)y].size;
    if (a != b) return a < b ? 1 : -1;
    return *(const int *)x - *(const int *)y;
}

static int by_life_desc(const void *x, const void *y, void *ctx) {
    const event *ev = ctx;
    long a = ev_life(&ev[*(const int *)x]), b = ev_life(&ev[*(const int *)y]);
    if (a != b) return a < b ? 1 : -1;
    return by_size_desc(x, y, ctx);
}

static int by_area_desc(const void *x, const void *y, void *ctx) {
    const event *ev = ctx;
    double a = (double)ev[*(const int *)x].size * (double)ev_life(&ev[*(const int *)x]);
    double b = (double)ev[*(const int *)y].size * (double)ev_life(&ev[*(const int *)y]);
    if (a != b) return a < b ? 1 : -1;
    return by_size_desc(x, y, ctx);
}

static int by_off(const void *x, const void *y, void *ctx) {
    const size_t *offs = ctx;
    size_t a = offs[*(const int *)x], b = offs[*(const int *)y];
    return (a > b) - (a < b);
}

/* Greedy placement in the given order: each event goes into a gap between
 * the already placed events alive at the same time (the first gap that fits,
 * or with best_fit the smallest), else above them all. Writes offs[],
 * returns the peak. conf[] is scratch for n ints. */
static size_t place_in_order(const event *ev, const int *order, int n, int best_fit, int *placed,
                             int *conf, size_t *offs) {
    size_t top = 0;
    for (int k = 0; k < n; k++) {
        const event *e = &ev[order[k]];
        int nc = 0;
        for (int j = 0; j < k; j++) {
            const event *p = &ev[placed[j]];
            if (!(p->t1 <= e->t0 || e->t1 <= p->t0)) conf[nc++] = placed[j];
        }
        qsort_r(conf, (size_t)nc, sizeof *conf, by_off, offs);
        size_t pos = 0, off = (size_t)-1, gap_best = (size_t)-1;
        for (int j = 0; j < nc; j++) {
            size_t po = offs[conf[j]], pe = po + ev[conf[j]].size;
            if (po >= pos + e->size && po - pos < gap_best) { /* the gap [pos, po) fits */
                off = pos;
                gap_best = po - pos;
                if (!best_fit) break;
            }
            if (pe > pos) pos = pe;
        }
        if (off == (size_t)-1) off = pos;
        offs[order[k]] = off;
        placed[k] = order[k];
        if (off + e->size > top) top = off + e->size;
    }
    return top;
}

/* Offline placement (as TFLite's memory planner): greedy by size, by
 * lifetime and by size x lifetime, each first-fit and best-fit, then a short
 * hill climb on the order; keeps the lowest peak. On the SR3 benchmark net at
 * 2 threads all greedy orders left the peak 13% above the largest live set;
 * the hill climb reaches it. */
static ae_status place_events(ae_arena *a, size_t *peak) {
    static int (*const orders[])(const void *, const void *, void *) = {by_size_desc, by_life_desc,
                                                                         by_area_desc};
    int n = a->nev;
    int *order = malloc(((size_t)n + 1) * sizeof *order), *placed = malloc(((size_t)n + 1) * sizeof *placed);
    int *conf = malloc(((size_t)n + 1) * sizeof *conf);
    size_t *offs = malloc(((size_t)n + 1) * sizeof *offs), best = (size_t)-1;
    if (!order || !placed || !conf || !offs) {
        free(order), free(placed), free(conf), free(offs);
        return ae_error_set(AE_ERR_NOMEM, "arena: out of memory planning %d blocks", n);
    }
    for (size_t o = 0; o < 2 * sizeof orders / sizeof *orders; o++) {
        for (int i = 0; i < n; i++) order[i] = i;
        qsort_r(order, (size_t)n, sizeof *order, orders[o / 2], a->ev);
        size_t top = place_in_order(a->ev, order, n, (int)(o % 2), placed, conf, offs);
        if (top < best) {
            best = top;
            for (int i = 0; i < n; i++) a->ev[i].off = offs[i];
        }
    }
    /* Hill climbing from the size order: swap two of the largest blocks' places
     * in the order, keep the swap unless the peak grows, stop at the largest
     * live set (a lower bound). Fixed seed: the same plan every run. */
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, by_size_desc, a->ev);
    int m = n < 64 ? n : 64;
    long iters = m < 2 ? 0 : 40000000L / ((long)n * n + 1);
    if (iters > 400) iters = 400;
    size_t cur = place_in_order(a->ev, order, n, 0, placed, conf, offs);
    unsigned rng = 12345u;
    for (long it = 0; it < iters && best > a->peak_live; it++) {
        rng = rng * 1664525u + 1013904223u;
        int i = (int)((rng >> 8) % (unsigned)m), j = (int)((rng >> 20) % (unsigned)m), t = order[i];
        if (i == j) continue;
        order[i] = order[j], order[j] = t;
        size_t top = place_in_order(a->ev, order, n, 0, placed, conf, offs);
        if (top > cur) { /* undo */
            order[j] = order[i], order[i] = t;
            continue;
        }
        cur = top;
        if (top < best) {
            best = top;
            for (int k = 0; k < n; k++) a->ev[k].off = offs[k];
        }
    }
    free(order), free(placed), free(conf), free(offs);
    *peak = n ? best : 0;
    return AE_OK;
}

ae_status ae_arena_commit(ae_arena *a) {
    size_t peak = 0;
    ae_status st = place_events(a, &peak);
    if (st) return st;
    a->peak = peak;
    if (peak > a->cap || !a->buf) {
        void *p = NULL;
        if (a->buf) a->be->free(a->be, a->buf);
        a->buf = NULL;
        a->cap = 0;
        st = a->be->alloc(a->be, peak ? peak : ARENA_ALIGN, &p);
        if (st) {
            ae_error_prefix("arena of %zu bytes", peak);
            return st;
        }
        a->buf = p;
        a->cap = peak;
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

static ae_status record_event(ae_arena *a, size_t sz, int *idx) {
    if (a->nev == a->capev) {
        int nc = a->capev ? a->capev * 2 : 128;
        event *p = realloc(a->ev, (size_t)nc * sizeof *p);
        if (!p) return ae_error_set(AE_ERR_NOMEM, "arena: out of memory for the plan");
        a->ev = p;
        a->capev = nc;
    }
    a->ev[a->nev] = (event){sz, 0, a->clock++, LONG_MAX};
    *idx = a->nev++;
    return AE_OK;
}

/* Planning: best-fit over the reservation, recording the request. */
static ae_status plan_alloc(ae_arena *a, size_t sz, size_t *off) {
    int best = -1, ev = -1;
    ae_status st = record_event(a, sz, &ev);
    if (st) return st;
    for (int i = 0; i < a->nb; i++)
        if (!a->b[i].used && a->b[i].size >= sz && (best < 0 || a->b[i].size < a->b[best].size)) best = i;
    if (best >= 0) {
        if (a->b[best].size > sz) {
            block rest = {a->b[best].off + sz, a->b[best].size - sz, 0, -1};
            a->b[best].size = sz;
            if ((st = insert_block(a, best + 1, rest))) return st;
        }
        a->b[best].used = 1;
        a->b[best].ev = ev;
        *off = a->b[best].off;
        return AE_OK;
    }
    size_t start = a->end;
    if (a->nb && !a->b[a->nb - 1].used) start = a->b[--a->nb].off; /* grow the trailing hole */
    if (start + sz < start || start + sz > a->reserve_bytes)
        return ae_error_set(AE_ERR_NOMEM, "arena: a plan over %zu bytes", a->reserve_bytes);
    if ((st = insert_block(a, a->nb, (block){start, sz, 1, ev}))) return st;
    a->end = start + sz;
    if (a->end > a->peak) a->peak = a->end;
    *off = start;
    return AE_OK;
}

/* Real pass: the next planned request must have this size, and every block
 * still live must have been planned live at this point too (a block kept
 * longer than planned could overlap this one; released earlier is fine). */
static ae_status real_alloc(ae_arena *a, size_t sz, size_t *off) {
    if (a->cursor == a->nev && a->nb == 0) a->cursor = 0; /* the next pass */
    int i = a->cursor, bad = i >= a->nev || a->ev[i].size != sz;
    for (int k = 0; k < a->nb && !bad; k++) bad = a->ev[a->b[k].ev].t1 <= a->ev[i].t0;
    if (bad)
        return ae_error_set(AE_ERR_NOMEM, "arena: request %d of %zu bytes does not match the planned "
                            "pass (%d requests planned; was the planning pass different from the "
                            "real one?)", i, sz, a->nev);
    ae_status st = insert_block(a, a->nb, (block){a->ev[i].off, sz, 1, i});
    if (st) return st;
    a->cursor++;
    *off = a->ev[i].off;
    return AE_OK;
}

static ae_status arena_alloc(ae_arena *a, size_t bytes, size_t *off) {
    size_t sz = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (sz < bytes) return ae_error_set(AE_ERR_NOMEM, "arena: request of %zu bytes overflows", bytes);
    ae_status st = a->planning ? plan_alloc(a, sz, off) : real_alloc(a, sz, off);
    if (st) return st;
    a->used += sz;
    if (a->used > a->peak_live) a->peak_live = a->used;
    return AE_OK;
}

static void plan_release(ae_arena *a, int i) {
    a->b[i].used = 0;
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

static void arena_release_off(ae_arena *a, size_t off) {
    int i = -1;
    for (int k = 0; k < a->nb; k++)
        if (a->b[k].used && a->b[k].off == off) {
            i = k;
            break;
        }
    if (i < 0) return;
    event *e = &a->ev[a->b[i].ev];
    a->used -= a->b[i].size;
    if (a->planning) {
        e->t1 = a->clock++;
        plan_release(a, i);
        return;
    }
    memmove(a->b + i, a->b + i + 1, (size_t)(a->nb - i - 1) * sizeof *a->b);
    a->nb--;
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
