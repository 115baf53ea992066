/* batch.c - collecting inputs, mapping them to outputs, and running a
 * per-file function over them the way a cron job needs (see batch.h).
 *
 * Files are processed independently: a failure is one line on stderr and a
 * count, never the end of the batch. With --jobs N, N pthreads pull the next
 * index from one atomic counter; every message is printed whole under a
 * mutex, so lines from different workers never interleave.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "astroenh/backend.h"
#include "astroenh/batch.h"

/* ---- inputs ---- */

static const char *const k_image_ext[] = {".fits", ".fit", ".fts", ".fz", ".png", ".jpg", ".jpeg", NULL};

/* Length of `name` without a ".gz" that follows a FITS extension
 * ("m13.fits.gz" is a FITS file, read through gzip). */
static size_t strip_fits_gz(const char *name, size_t n) {
    static const char *const fits_gz[] = {".fits.gz", ".fit.gz", ".fts.gz"};
    for (size_t i = 0; i < sizeof fits_gz / sizeof *fits_gz; i++) {
        size_t k = strlen(fits_gz[i]);
        if (n > k && strncasecmp(name + n - k, fits_gz[i], k) == 0) return n - 3;
    }
    return n;
}

int ae_path_is_image(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    buf[strip_fits_gz(buf, strlen(buf))] = '\0';
    const char *dot = strrchr(buf, '.');
    const char *slash = strrchr(buf, '/');
    if (!dot || (slash && dot < slash)) return 0;
    for (int i = 0; k_image_ext[i]; i++)
        if (strcasecmp(dot, k_image_ext[i]) == 0) return 1;
    return 0;
}

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ae_malloc(n, "path");
    if (d) memcpy(d, s, n);
    return d;
}

static char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    while (la > 1 && a[la - 1] == '/') la--;
    char *p = ae_malloc(la + lb + 2, "path");
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

/* The relative name an output is derived from: `rel` without an HDU
 * selector ("f.fits[1]" would be taken as one by every FITS reader) and
 * without the ".gz" of a gzip-ed FITS input (outputs are written plain). */
static char *output_rel(const char *path, const char *rel) {
    char file[4096];
    size_t cut = strlen(path) - strlen(ae_path_file(path, file, sizeof file));
    size_t n = strlen(rel);
    n = cut < n ? n - cut : n;
    n = strip_fits_gz(rel, n);
    char *d = ae_malloc(n + 1, "path");
    if (d) memcpy(d, rel, n), d[n] = '\0';
    return d;
}

static ae_status list_add(ae_batch_list *l, const char *path, const char *rel, int from_dir, int missing) {
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        ae_batch_item *it = realloc(l->items, (size_t)cap * sizeof *it);
        if (!it) return ae_error_set(AE_ERR_NOMEM, "out of memory listing input files");
        l->items = it;
        l->cap = cap;
    }
    ae_batch_item *it = &l->items[l->n];
    memset(it, 0, sizeof *it);
    it->path = str_dup(path);
    it->rel = output_rel(path, rel);
    if (!it->path || !it->rel) {
        free(it->path);
        free(it->rel);
        return AE_ERR_NOMEM;
    }
    it->from_dir = from_dir;
    it->missing = missing;
    l->n++;
    return AE_OK;
}

typedef struct {
    dev_t dev;
    ino_t ino;
    int set;
} file_id;

static ae_status scan_dir(ae_batch_list *l, const char *root, const char *rel, int recursive,
                          const file_id *skip) {
    char *dir = rel[0] ? path_join(root, rel) : str_dup(root);
    if (!dir) return AE_ERR_NOMEM;
    DIR *d = opendir(dir);
    if (!d) {
        ae_status st = ae_error_set(AE_ERR_IO, "%s: cannot read directory: %s", dir, strerror(errno));
        free(dir);
        return st;
    }
    ae_status st = AE_OK;
    struct dirent *e;
    while (st == AE_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char *full = path_join(dir, e->d_name);
        char *sub = rel[0] ? path_join(rel, e->d_name) : str_dup(e->d_name);
        struct stat sb, lsb;
        if (!full || !sub) st = AE_ERR_NOMEM;
        else if (stat(full, &sb) != 0) {
            /* a dangling link or a file removed meanwhile: not an input */
        } else if (S_ISDIR(sb.st_mode)) {
            int is_link = lstat(full, &lsb) == 0 && S_ISLNK(lsb.st_mode);
            int is_skip = skip->set && sb.st_dev == skip->dev && sb.st_ino == skip->ino;
            if (recursive && !is_link && !is_skip) st = scan_dir(l, root, sub, recursive, skip);
        } else if (S_ISREG(sb.st_mode) && ae_path_is_image(e->d_name)) {
            st = list_add(l, full, sub, 1, 0);
        }
        free(full);
        free(sub);
    }
    closedir(d);
    free(dir);
    return st;
}

static int cmp_rel(const void *a, const void *b) {
    return strcmp(((const ae_batch_item *)a)->rel, ((const ae_batch_item *)b)->rel);
}

ae_status ae_batch_collect(ae_batch_list *list, char *const *args, int nargs, int recursive,
                           const char *skip_dir) {
    file_id skip = {0};
    struct stat sb;
    if (skip_dir && stat(skip_dir, &sb) == 0) {
        skip.dev = sb.st_dev;
        skip.ino = sb.st_ino;
        skip.set = 1;
    }
    for (int a = 0; a < nargs; a++) {
        const char *arg = args[a];
        ae_status st;
        list->n_args++;
        if (stat(arg, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            int first = list->n;
            list->n_dirs++;
            st = scan_dir(list, arg, "", recursive, &skip);
            if (st == AE_OK && list->n > first)
                qsort(list->items + first, (size_t)(list->n - first), sizeof *list->items, cmp_rel);
        } else {
            const char *slash = strrchr(arg, '/');
            const char *base = slash && slash[1] ? slash + 1 : arg;
            char file[4096];
            st = list_add(list, arg, base, 0, access(ae_path_file(arg, file, sizeof file), F_OK) != 0);
        }
        if (st != AE_OK) return st;
    }
    return AE_OK;
}

void ae_batch_list_free(ae_batch_list *list) {
    if (!list) return;
    for (int i = 0; i < list->n; i++) {
        free(list->items[i].path);
        free(list->items[i].rel);
        free(list->items[i].out);
        free(list->items[i].error);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

/* ---- output paths ---- */

const char *ae_format_ext(const char *format) {
    if (!format) return NULL;
    if (strcasecmp(format, "fits") == 0 || strcasecmp(format, "fit") == 0) return ".fits";
    if (strcasecmp(format, "png") == 0) return ".png";
    if (strcasecmp(format, "jpg") == 0 || strcasecmp(format, "jpeg") == 0) return ".jpg";
    return NULL;
}

int ae_batch_dir_mode(const ae_batch_list *list, const char *out) {
    struct stat sb;
    if (list->n_args > 1 || list->n_dirs > 0) return 1;
    return out && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode);
}

ae_status ae_batch_output_path(const ae_batch_item *it, const char *out, int dir_mode,
                               const char *format, char **out_path) {
    const char *ext = NULL;
    if (format && !(ext = ae_format_ext(format)))
        return ae_error_set(AE_ERR_ARG, "unknown format '%s' (fits, png or jpg)", format);
    if (!dir_mode) {
        *out_path = str_dup(out);
        return *out_path ? AE_OK : AE_ERR_NOMEM;
    }
    const char *rel = it->rel;
    while (rel[0] == '/') rel++;
    size_t keep = strlen(rel);
    if (ext) {
        const char *dot = strrchr(rel, '.');
        const char *slash = strrchr(rel, '/');
        if (dot && (!slash || dot > slash + 1) && dot != rel) keep = (size_t)(dot - rel);
    }
    size_t lo = strlen(out);
    while (lo > 1 && out[lo - 1] == '/') lo--;
    size_t cap = lo + 1 + keep + (ext ? strlen(ext) : 0) + 1;
    char *p = ae_malloc(cap, "output path");
    if (!p) return AE_ERR_NOMEM;
    snprintf(p, cap, "%.*s/%.*s%s", (int)lo, out, (int)keep, rel, ext ? ext : "");
    *out_path = p;
    return AE_OK;
}

static int cmp_out(const void *a, const void *b) {
    const ae_batch_item *x = *(ae_batch_item *const *)a, *y = *(ae_batch_item *const *)b;
    int c = strcmp(x->out, y->out);
    return c ? c : (x < y ? -1 : x > y);
}

ae_status ae_batch_map_outputs(ae_batch_list *list, const char *out, int dir_mode, const char *format) {
    for (int i = 0; i < list->n; i++) {
        ae_status st = ae_batch_output_path(&list->items[i], out, dir_mode, format, &list->items[i].out);
        if (st != AE_OK) return st;
    }
    if (list->n < 2) return AE_OK;
    ae_batch_item **order = ae_malloc((size_t)list->n * sizeof *order, "output list");
    if (!order) return AE_ERR_NOMEM;
    for (int i = 0; i < list->n; i++) order[i] = &list->items[i];
    qsort(order, (size_t)list->n, sizeof *order, cmp_out);
    for (int i = 1; i < list->n; i++) {
        if (strcmp(order[i]->out, order[i - 1]->out) != 0) continue;
        size_t cap = strlen(order[i]->out) + strlen(order[i - 1]->path) + 64;
        order[i]->error = ae_malloc(cap, "message");
        if (!order[i]->error) {
            free(order);
            return AE_ERR_NOMEM;
        }
        snprintf(order[i]->error, cap, "output %s is already written from %s", order[i]->out,
                 order[i - 1]->path);
    }
    free(order);
    return AE_OK;
}

/* ---- shards ---- */

int ae_shard_of(const char *rel, int count) {
    if (count <= 1) return 0;
    while (rel[0] == '/') rel++;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    /* splitmix64's finaliser: FNV-1a's low k bits depend only on the low k
     * bits of each byte, so with 2^k shards "M51_1.fits" and "m51_1.fits"
     * (0x4d, 0x6d) would always share a shard */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return (int)(h % (uint64_t)count);
}

int ae_batch_select_shard(ae_batch_list *list, int index, int count) {
    int mine = 0;
    for (int i = 0; i < list->n; i++) {
        ae_batch_item *it = &list->items[i];
        it->other_shard = count > 0 && ae_shard_of(it->rel, count) != index;
        mine += !it->other_shard;
    }
    return mine;
}

/* ---- lock ---- */

#define AE_LOCK_NAME ".astroenh.lock"

/* Signal-cleanup slots of the exclusive locks this process holds (the plain
 * run's lock, a shard's own lock), by descriptor. A shared lock is never
 * removed on a signal: other shards may still hold it, and a leftover file
 * blocks no one (flock ends with the process). */
#define AE_LOCK_SLOTS 4
static struct {
    int fd, slot;
} g_lock_slots[AE_LOCK_SLOTS] = {{-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};

static void lock_slot_set(int fd, int slot) {
    for (int i = 0; i < AE_LOCK_SLOTS; i++)
        if (g_lock_slots[i].fd < 0) {
            g_lock_slots[i].fd = fd, g_lock_slots[i].slot = slot;
            return;
        }
    ae_output_cleanup_remove(slot); /* no room: the file is then only removed by unlock */
}

static void lock_slot_clear(int fd) {
    for (int i = 0; i < AE_LOCK_SLOTS; i++)
        if (g_lock_slots[i].fd == fd) {
            ae_output_cleanup_remove(g_lock_slots[i].slot);
            g_lock_slots[i].fd = g_lock_slots[i].slot = -1;
        }
}

static long lock_owner(int fd) {
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

/* 1 while `path` still names the file open on `fd` (a holder removes the
 * lock file when it is done, so an fd may point at a file no longer there). */
static int lock_file_current(int fd, const char *path) {
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* flock()s dir/name (LOCK_EX or LOCK_SH in `op`) and writes our pid into it.
 * `rival` names the other holder in the message when it is taken. */
static ae_status lock_named(const char *dir, const char *name, int op, int wait, const char *rival,
                            int *fd) {
    *fd = -1;
    char *path = path_join(dir, name);
    if (!path) return AE_ERR_NOMEM;
    ae_status st = AE_OK;
    for (;;) {
        int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (f < 0) {
            st = ae_error_set(AE_ERR_IO, "%s: cannot create lock file: %s", path, strerror(errno));
            break;
        }
        if (flock(f, op | LOCK_NB) != 0) {
            int busy = errno == EWOULDBLOCK;
            long pid = lock_owner(f);
            if (busy && !wait && !lock_file_current(f, path)) {
                close(f); /* its holder has just removed it: try the new one */
                continue;
            }
            if (!busy || !wait) {
                if (pid > 0) st = ae_error_set(AE_ERR_IO, "%s is locked by %s (pid %ld)", dir, rival, pid);
                else st = ae_error_set(AE_ERR_IO, "%s is locked by %s (pid unknown)", dir, rival);
                close(f);
                break;
            }
            if (flock(f, op) != 0) {
                st = ae_error_set(AE_ERR_IO, "%s: cannot lock: %s", path, strerror(errno));
                close(f);
                break;
            }
        }
        /* the previous holder may have removed the file while we waited */
        if (!lock_file_current(f, path)) {
            close(f);
            continue;
        }
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t)n, 0) != n) {
            /* the lock holds without the pid; only the message of a rival run suffers */
        }
        *fd = f;
        /* a SIGTERM/SIGINT/SIGHUP then removes an exclusive lock too (output.c's handler) */
        if (op == LOCK_EX) lock_slot_set(f, ae_output_cleanup_add(path));
        break;
    }
    free(path);
    return st;
}

/* Removes dir/name when no one else holds it (only then does LOCK_EX come
 * at once: a shared lock stays with the file while other shards run). */
static void unlock_named(const char *dir, const char *name, int fd) {
    if (fd < 0 || !dir) return;
    lock_slot_clear(fd);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        char *path = path_join(dir, name);
        if (path && lock_file_current(fd, path)) unlink(path);
        free(path);
    }
    close(fd);
}

ae_status ae_batch_lock(const char *dir, int wait, int *fd) {
    *fd = -1;
    if (!dir) return AE_OK;
    return lock_named(dir, AE_LOCK_NAME, LOCK_EX, wait, "another astroenh run", fd);
}

void ae_batch_unlock(const char *dir, int fd) {
    unlock_named(dir, AE_LOCK_NAME, fd);
}

static void shard_lock_name(char *buf, size_t cap, int index, int count) {
    snprintf(buf, cap, ".astroenh.shard-%d-of-%d.lock", index, count);
}

ae_status ae_batch_lock_shard(const char *dir, int wait, int index, int count, int fd[2]) {
    fd[0] = fd[1] = -1;
    if (!dir) return AE_OK;
    char name[96], rival[96];
    shard_lock_name(name, sizeof name, index, count);
    snprintf(rival, sizeof rival, "another run of shard %d/%d", index, count);
    ae_status st = lock_named(dir, AE_LOCK_NAME, LOCK_SH, wait, "another astroenh run", &fd[0]);
    if (st == AE_OK) st = lock_named(dir, name, LOCK_EX, wait, rival, &fd[1]);
    if (st != AE_OK) {
        unlock_named(dir, AE_LOCK_NAME, fd[0]);
        fd[0] = -1;
    }
    return st;
}

void ae_batch_unlock_shard(const char *dir, int index, int count, const int fd[2]) {
    char name[96];
    shard_lock_name(name, sizeof name, index, count);
    unlock_named(dir, name, fd[1]);
    unlock_named(dir, AE_LOCK_NAME, fd[0]);
}

/* ---- JSON ---- */

void ae_json_append_string(char *buf, size_t cap, const char *s) {
    size_t n = strlen(buf);
    if (!s) {
        snprintf(buf + n, cap - n, "null");
        return;
    }
    if (n + 1 < cap) buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 8 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", *p);
        } else {
            buf[n++] = (char)*p;
        }
    }
    if (n + 1 < cap) buf[n++] = '"';
    buf[n < cap ? n : cap - 1] = '\0';
}

/* ---- display data ---- */

ae_status ae_to_display(const ae_image *in, ae_image **out, ae_stretch *s, ae_stretch_kind kind) {
    *out = NULL;
    memset(s, 0, sizeof *s);
    s->kind = AE_STRETCH_NONE;
    ae_image *img = NULL;
    ae_status st = ae_image_clone(&img, in);
    if (st != AE_OK) return st;
    if (in->range == AE_RANGE_LINEAR) {
        st = ae_stretch_fit(s, img, kind == AE_STRETCH_NONE ? AE_STRETCH_MTF : kind);
        if (st != AE_OK) {
            ae_image_free(img);
            return st;
        }
        ae_stretch_apply(s, img);
        img->range = AE_RANGE_DISPLAY;
    }
    *out = img;
    return AE_OK;
}

ae_status ae_from_display(const ae_image *in, ae_image **out, const ae_stretch *s) {
    *out = NULL;
    ae_image *img = NULL;
    ae_status st = ae_image_clone(&img, in);
    if (st != AE_OK) return st;
    if (s->kind != AE_STRETCH_NONE) {
        ae_stretch_invert(s, img);
        img->range = AE_RANGE_LINEAR;
    }
    *out = img;
    return AE_OK;
}

/* ---- the run ---- */

typedef struct {
    const ae_batch_list *list;
    const ae_batch_opts *o;
    ae_batch_fn fn;
    void *user;
    atomic_int next;
    pthread_mutex_t mu;
    int done;
    int total;        /* files of this shard (all of them when not sharded) */
    int bar;          /* draw a progress bar (stderr is a terminal) */
    int file_threads; /* compute threads per file, 0 = leave alone */
    ae_batch_counts c;
} run_state;

typedef enum { RES_OK, RES_FAIL, RES_SKIP } outcome;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The loaders' messages usually start with the file name; don't print it twice. */
static const char *strip_path(const char *msg, const char *path) {
    size_t n = strlen(path);
    if (strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ') return msg + n + 2;
    return msg;
}

static void draw_bar(run_state *rs, const char *name) {
    int n = rs->total, width = 30;
    int fill = n ? rs->done * width / n : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : ' ';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[K[%s] %d/%d %.40s", bar, rs->done, n, name);
    if (rs->done == n) fputc('\n', stderr);
    fflush(stderr);
}

static void report(run_state *rs, const ae_batch_item *it, outcome r, const char *msg, double secs,
                   const ae_result *res) {
    const ae_batch_opts *o = rs->o;
    pthread_mutex_lock(&rs->mu);
    rs->done++;
    if (r == RES_OK) rs->c.ok++;
    else if (r == RES_FAIL) rs->c.failed++;
    else rs->c.skipped++;
    if (r == RES_FAIL) {
        if (rs->bar) fputs("\r\033[K", stderr);
        fprintf(stderr, "astroenh: %s: %s\n", it->path, msg);
    } else if (!o->quiet && !o->json && !rs->bar) {
        fprintf(stderr, "[%d/%d] %s -> %s %s%.1f s)\n", rs->done, rs->total, it->path, it->out,
                r == RES_SKIP ? "skipped (exists, " : "(", secs);
    }
    if (o->verbose && !o->json && res && res->json[0]) {
        if (rs->bar) fputs("\r\033[K", stderr);
        fprintf(stderr, "    %s: {%s}\n", it->path, res->json);
    }
    if (rs->bar) draw_bar(rs, it->path);
    if (o->json) {
        char line[16384] = "{\"file\": ";
        ae_json_append_string(line, sizeof line, it->path);
        strcat(line, ", \"output\": ");
        ae_json_append_string(line, sizeof line, it->out);
        size_t n = strlen(line);
        snprintf(line + n, sizeof line - n, ", \"status\": \"%s\", \"error\": ",
                 r == RES_OK ? "ok" : r == RES_FAIL ? "error" : "skipped");
        ae_json_append_string(line, sizeof line, r == RES_FAIL ? msg : NULL);
        n = strlen(line);
        snprintf(line + n, sizeof line - n, ", \"seconds\": %.3f%s%s}", secs,
                 res && res->json[0] ? ", " : "", res && res->json[0] ? res->json : "");
        fprintf(stdout, "%s\n", line);
        fflush(stdout);
    }
    fflush(stderr);
    pthread_mutex_unlock(&rs->mu);
}

static int is_display_format(const char *path) {
    ae_format f = ae_format_from_path(path);
    return f == AE_FMT_PNG || f == AE_FMT_JPEG;
}

/* Runs fn on a loaded image and writes the result; the message is set on failure. */
static ae_status process_loaded(run_state *rs, const ae_batch_item *it, const ae_image *in,
                                ae_result *res) {
    const ae_batch_opts *o = rs->o;
    ae_stage_ctx ctx = {it->path, it->out, &o->g};
    ae_save_opts save = o->save;
    ae_image *out = NULL;
    ae_status st = rs->fn(rs->user, in, &out, &save, &ctx, res);
    if (st == AE_OK && !out) st = ae_error_set(AE_ERR_ARG, "no output image produced");
    if (st == AE_OK && out->range == AE_RANGE_LINEAR && is_display_format(it->out)) {
        /* --stretch none: the values are taken as display values (clipped to [0,1]) */
        ae_stretch s;
        if (o->stretch != AE_STRETCH_NONE) st = ae_stretch_fit_display(&s, out, o->stretch);
        if (st == AE_OK && o->stretch != AE_STRETCH_NONE) ae_stretch_apply(&s, out);
        if (st == AE_OK) out->range = AE_RANGE_DISPLAY;
        if (st == AE_OK) ae_result_json(res, "\"stretch\": \"%s\"", ae_stretch_name(o->stretch));
    }
    if (st == AE_OK) st = ae_output_make_parent(it->out);
    if (st == AE_OK) st = ae_output_write_image_opts(out, it->out, it->path, &save);
    ae_image_free(out);
    return st;
}

/* An output at its final name was renamed there whole; an empty one is what
 * a node crash can leave of a file renamed before its data reached the disk. */
static int output_complete(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

static void process_one(run_state *rs, const ae_batch_item *it) {
    double t0 = now_s();
    ae_result res;
    memset(&res, 0, sizeof res);
    if (it->missing) {
        report(rs, it, RES_FAIL, "no such file or directory", 0, NULL);
        return;
    }
    if (it->error) {
        report(rs, it, RES_FAIL, it->error, 0, NULL);
        return;
    }
    if (rs->o->skip_existing && output_complete(it->out)) {
        report(rs, it, RES_SKIP, NULL, 0, NULL);
        return;
    }
    if (ae_path_same_file(it->path, it->out)) {
        report(rs, it, RES_FAIL, "refusing to overwrite the input file (output is the same file)", 0, NULL);
        return;
    }
    ae_error_clear();
    /* before anything is read or written: an output that is another input
     * of this run (same base name from two folders, two extensions of one
     * stem under --format) would destroy it */
    if (ae_output_guard_check(it->out, 0) != AE_OK ||
        (rs->o->lock_dir && ae_output_check_inside(rs->o->lock_dir, it->out) != AE_OK)) {
        report(rs, it, RES_FAIL, ae_error_message(), 0, NULL);
        return;
    }
    ae_image *in = NULL;
    ae_status st = ae_image_load(&in, it->path);
    if (st == AE_OK) st = process_loaded(rs, it, in, &res);
    ae_image_free(in);
    if (st != AE_OK) {
        const char *m = ae_error_message();
        report(rs, it, RES_FAIL, m[0] ? strip_path(m, it->path) : ae_status_name(st), now_s() - t0, NULL);
    } else {
        report(rs, it, RES_OK, NULL, now_s() - t0, &res);
    }
}

static void *worker(void *arg) {
    run_state *rs = arg;
    if (rs->file_threads > 0) ae_backend_set_threads(rs->file_threads, NULL); /* OpenMP's count is per thread */
    for (;;) {
        int i = atomic_fetch_add(&rs->next, 1);
        if (i >= rs->list->n) break;
        if (!rs->list->items[i].other_shard) process_one(rs, &rs->list->items[i]);
    }
    return NULL;
}

/* Each worker's share of the threads with --jobs > 1; 0 with one job, where
 * the caller's ae_backend_set_threads holds. */
static int file_threads(const ae_batch_opts *o, int jobs) {
    if (jobs <= 1) return 0;
    int total = o->threads > 0 ? o->threads : ae_backend_threads();
    return total / jobs > 1 ? total / jobs : 1;
}

static void run_workers(run_state *rs, int jobs) {
    pthread_t tid[64];
    int started = 0;
    for (; started < jobs - 1 && started < 64; started++)
        if (pthread_create(&tid[started], NULL, worker, rs) != 0) break;
    worker(rs); /* the calling thread is a worker too */
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
}

static ae_status take_lock(const ae_batch_opts *o, int fd[2]) {
    fd[0] = fd[1] = -1;
    if (o->shard_count > 0) return ae_batch_lock_shard(o->lock_dir, o->wait_lock, o->shard_index, o->shard_count, fd);
    return ae_batch_lock(o->lock_dir, o->wait_lock, &fd[0]);
}

static void release_lock(const ae_batch_opts *o, const int fd[2]) {
    if (o->shard_count > 0) ae_batch_unlock_shard(o->lock_dir, o->shard_index, o->shard_count, fd);
    else ae_batch_unlock(o->lock_dir, fd[0]);
}

ae_status ae_batch_run(const ae_batch_list *list, const ae_batch_opts *o, ae_batch_fn fn,
                       void *user, ae_batch_counts *counts) {
    memset(counts, 0, sizeof *counts);
    int lock_fd[2] = {-1, -1};
    if (o->lock_dir) {
        ae_status st = ae_output_make_dir(o->lock_dir);
        if (st == AE_OK) st = take_lock(o, lock_fd);
        if (st != AE_OK) {
            counts->locked = strstr(ae_error_message(), "is locked by") != NULL;
            return st;
        }
    }
    /* every item, other shards' too: no output of this shard may replace
     * an input that another shard reads */
    ae_status gst = ae_output_guard_begin(list);
    if (gst != AE_OK) {
        release_lock(o, lock_fd);
        return gst;
    }
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.list = list;
    rs.o = o;
    rs.fn = fn;
    rs.user = user;
    atomic_init(&rs.next, 0);
    pthread_mutex_init(&rs.mu, NULL);
    for (int i = 0; i < list->n; i++) rs.total += !list->items[i].other_shard;
    rs.bar = isatty(STDERR_FILENO) && !o->quiet && !o->json;
    int jobs = o->jobs < 1 ? 1 : o->jobs > 64 ? 64 : o->jobs;
    if (jobs > rs.total) jobs = rs.total > 0 ? rs.total : 1;
    rs.file_threads = file_threads(o, jobs);
    run_workers(&rs, jobs);
    ae_output_guard_end();
    pthread_mutex_destroy(&rs.mu);
    release_lock(o, lock_fd);
    *counts = rs.c;
    return AE_OK;
}
