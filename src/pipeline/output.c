/* output.c - atomic output files: write a temp file beside the target, then
 * rename() it over the target; never overwrite the input.
 *
 * Used by the batch runner for every main output and by stages for their
 * side outputs (masks, catalogues). Temp files are registered so that a
 * SIGINT/SIGTERM removes them before the process dies: a killed cron run
 * leaves no partial files behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "astroenh/batch.h"

/* ---- temp-file registry for signal cleanup ---- */

#define AE_TEMP_SLOTS 64
static char g_temp[AE_TEMP_SLOTS][PATH_MAX];
static atomic_int g_temp_used[AE_TEMP_SLOTS];
static atomic_uint g_temp_counter;

static int temp_register(const char *path) {
    if (strlen(path) >= PATH_MAX) return -1;
    for (int i = 0; i < AE_TEMP_SLOTS; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&g_temp_used[i], &expect, 2)) {
            strcpy(g_temp[i], path);
            atomic_store(&g_temp_used[i], 1);
            return i;
        }
    }
    return -1;
}

static void temp_unregister(int slot) {
    if (slot >= 0) atomic_store(&g_temp_used[slot], 0);
}

int ae_output_cleanup_add(const char *path) {
    return temp_register(path);
}

void ae_output_cleanup_remove(int slot) {
    temp_unregister(slot);
}

static void on_fatal_signal(int sig) {
    for (int i = 0; i < AE_TEMP_SLOTS; i++)
        if (atomic_load(&g_temp_used[i]) == 1) unlink(g_temp[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void ae_output_install_signal_cleanup(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* ---- paths ---- */

int ae_path_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    char fa[4096], fb[4096]; /* "f.fits[1]" reads f.fits */
    if (!a || !b || stat(ae_path_file(a, fa, sizeof fa), &sa) != 0 || stat(ae_path_file(b, fb, sizeof fb), &sb) != 0)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- the running batch's guard ---- */

typedef struct {
    dev_t dev;
    ino_t ino;
    const char *path;
} guard_input;

static guard_input *g_in;
static int g_n_in;
static char **g_out; /* canonical names of the run's outputs */
static int g_n_out;

/* realpath() of the file, or of its directory plus the base name when the
 * file does not exist yet, or the name itself when neither resolves. */
static char *canonical_name(const char *path) {
    char *r = realpath(path, NULL);
    if (r) return r;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path + (slash == path))) : strdup(".");
    char *rd = dir ? realpath(dir, NULL) : NULL;
    free(dir);
    if (!rd) return strdup(path);
    const char *base = slash ? slash + 1 : path;
    size_t cap = strlen(rd) + strlen(base) + 2;
    char *c = malloc(cap);
    if (c) snprintf(c, cap, "%s/%s", strcmp(rd, "/") ? rd : "", base);
    free(rd);
    return c;
}

static int cmp_input(const void *a, const void *b) {
    const guard_input *x = a, *y = b;
    if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ae_output_guard_end(void) {
    for (int i = 0; i < g_n_out; i++) free(g_out[i]);
    free(g_out);
    free(g_in);
    g_in = NULL;
    g_out = NULL;
    g_n_in = g_n_out = 0;
}

ae_status ae_output_guard_begin(const ae_batch_list *list) {
    ae_output_guard_end();
    if (list->n == 0) return AE_OK;
    g_in = calloc((size_t)list->n, sizeof *g_in);
    g_out = calloc((size_t)list->n, sizeof *g_out);
    if (!g_in || !g_out) {
        ae_output_guard_end();
        return ae_error_set(AE_ERR_NOMEM, "out of memory (output guard)");
    }
    for (int i = 0; i < list->n; i++) {
        const ae_batch_item *it = &list->items[i];
        struct stat st;
        char file[4096];
        if (!it->missing && stat(ae_path_file(it->path, file, sizeof file), &st) == 0)
            g_in[g_n_in++] = (guard_input){st.st_dev, st.st_ino, it->path};
        if (it->out) {
            g_out[g_n_out] = canonical_name(it->out);
            if (!g_out[g_n_out]) {
                ae_output_guard_end();
                return ae_error_set(AE_ERR_NOMEM, "out of memory (output guard)");
            }
            g_n_out++;
        }
    }
    /* sorted once, searched per file: a run over a large archive stays n log n */
    qsort(g_in, (size_t)g_n_in, sizeof *g_in, cmp_input);
    qsort(g_out, (size_t)g_n_out, sizeof *g_out, cmp_name);
    return AE_OK;
}

ae_status ae_output_guard_check(const char *path, int side) {
    struct stat st;
    if (g_n_in && stat(path, &st) == 0) {
        guard_input key = {st.st_dev, st.st_ino, NULL};
        const guard_input *hit = bsearch(&key, g_in, (size_t)g_n_in, sizeof *g_in, cmp_input);
        if (hit)
            return ae_error_set(AE_ERR_ARG, "refusing to write %s: it is the input file %s", path, hit->path);
    }
    if (!side || g_n_out == 0) return AE_OK;
    char *c = canonical_name(path);
    if (!c) return ae_error_set(AE_ERR_NOMEM, "out of memory (output guard)");
    int hit = bsearch(&c, g_out, (size_t)g_n_out, sizeof *g_out, cmp_name) != NULL;
    free(c);
    if (hit) return ae_error_set(AE_ERR_ARG, "refusing to write %s: it is an output of this run", path);
    return AE_OK;
}

/* The temp name keeps the target's extension (the writer keys on it) and as
 * much of its stem as fits NAME_MAX with the ".tmp-<pid>-<n>" part: a target
 * whose own name is 243-255 bytes long still gets a valid temp name. */
char *ae_output_temp_path(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dirlen = (size_t)(base - path);
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = base + strlen(base);
    /* ".fits.fz" style double extensions: keep ".fz" (what the writer keys on) */
    size_t stemlen = (size_t)(dot - base);
    char tag[64];
    unsigned n = atomic_fetch_add(&g_temp_counter, 1u);
    int taglen = snprintf(tag, sizeof tag, ".tmp-%ld-%u", (long)getpid(), n);
    size_t fixed = 1 + (size_t)taglen + strlen(dot); /* the leading '.', tag, extension */
    if (fixed >= NAME_MAX) {
        dot = ""; /* an absurd extension: the temp file is then written by the name's */
        fixed = 1 + (size_t)taglen;
    }
    if (stemlen > NAME_MAX - fixed) stemlen = NAME_MAX - fixed;
    size_t cap = strlen(path) + sizeof tag + 2;
    char *t = ae_malloc(cap, "temp file name");
    if (!t) return NULL;
    snprintf(t, cap, "%.*s.%.*s%s%s", (int)dirlen, path, (int)stemlen, base, tag, dot);
    return t;
}

/* realpath() of the deepest existing directory above `path` (the ones below
 * it do not exist yet and will be made by mkdir, which adds no links). */
static char *existing_ancestor(const char *path) {
    char *dir = strdup(path);
    if (!dir) return NULL;
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash) {
            free(dir);
            return realpath(".", NULL);
        }
        if (slash == dir) slash[1] = '\0';
        else *slash = '\0';
        char *r = realpath(dir, NULL);
        if (r || errno != ENOENT || slash == dir) {
            free(dir);
            return r;
        }
    }
}

ae_status ae_output_check_inside(const char *root, const char *path) {
    char *r = realpath(root, NULL);
    if (!r) return ae_error_set(AE_ERR_IO, "%s: %s", root, strerror(errno));
    char *a = existing_ancestor(path);
    if (!a) {
        ae_status st = ae_error_set(AE_ERR_IO, "%s: cannot resolve its directory: %s", path, strerror(errno));
        free(r);
        return st;
    }
    size_t n = strlen(r);
    int inside = !strcmp(r, "/") || (!strncmp(a, r, n) && (a[n] == '\0' || a[n] == '/'));
    ae_status st = AE_OK;
    if (!inside)
        st = ae_error_set(AE_ERR_ARG, "refusing to write %s: a symbolic link inside the output directory %s leads "
                          "out of it (to %s)", path, root, a);
    free(a);
    free(r);
    return st;
}

ae_status ae_output_make_dir(const char *dir) {
    char buf[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0) return AE_OK;
    if (len >= sizeof buf) return ae_error_set(AE_ERR_ARG, "%s: path too long", dir);
    memcpy(buf, dir, len + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            struct stat st;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ae_error_set(AE_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            if (stat(buf, &st) != 0)
                return ae_error_set(AE_ERR_IO, "cannot create directory %s: %s", buf, strerror(errno));
            if (!S_ISDIR(st.st_mode))
                return ae_error_set(AE_ERR_IO, "cannot create directory %s: %s", buf, strerror(ENOTDIR));
            *p = c;
            if (c == '\0') break;
        }
    }
    return AE_OK;
}

ae_status ae_output_make_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return AE_OK;
    char buf[PATH_MAX];
    size_t len = (size_t)(slash - path);
    if (len >= sizeof buf) return ae_error_set(AE_ERR_ARG, "%s: path too long", path);
    memcpy(buf, path, len);
    buf[len] = '\0';
    return ae_output_make_dir(buf);
}

static ae_status check_protect(const char *path, const char *protect) {
    if (protect && ae_path_same_file(path, protect))
        return ae_error_set(AE_ERR_ARG, "refusing to overwrite the input file %s", protect);
    return AE_OK;
}

/* Writers name the file they were given; users should see the final name. */
static void message_temp_to_final(const char *tmp, const char *path) {
    const char *m = ae_error_message();
    const char *at = strstr(m, tmp);
    if (!at) return;
    char buf[2048];
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - m), m, path, at + strlen(tmp));
    ae_error_set(AE_ERR_IO, "%s", buf);
}

/* Renames tmp over path, or removes tmp; returns st unchanged when not AE_OK. */
static ae_status finish_temp(ae_status st, const char *tmp, const char *path, int slot) {
    if (st == AE_OK && rename(tmp, path) != 0)
        st = ae_error_set(AE_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (st != AE_OK) {
        unlink(tmp);
        message_temp_to_final(tmp, path);
    }
    temp_unregister(slot);
    return st;
}

ae_status ae_output_write_image_opts(const ae_image *img, const char *path, const char *protect,
                                     const ae_save_opts *opts) {
    ae_status st = check_protect(path, protect);
    if (st != AE_OK) return st;
    char *tmp = ae_output_temp_path(path);
    if (!tmp) return AE_ERR_NOMEM;
    int slot = temp_register(tmp);
    ae_save_opts def = {0};
    st = ae_image_save(img, tmp, opts ? opts : &def);
    st = finish_temp(st, tmp, path, slot);
    free(tmp);
    return st;
}

ae_status ae_output_write_image(const ae_image *img, const char *path, const char *protect) {
    return ae_output_write_image_opts(img, path, protect, NULL);
}

ae_status ae_output_write_text(const char *text, size_t len, const char *path, const char *protect) {
    ae_status st = check_protect(path, protect);
    if (st != AE_OK) return st;
    char *tmp = ae_output_temp_path(path);
    if (!tmp) return AE_ERR_NOMEM;
    int slot = temp_register(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        st = ae_error_set(AE_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        temp_unregister(slot);
        free(tmp);
        return st;
    }
    size_t done = 0;
    while (done < len && st == AE_OK) {
        ssize_t k = write(fd, text + done, len - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) st = ae_error_set(AE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        else done += (size_t)k;
    }
    if (close(fd) != 0 && st == AE_OK)
        st = ae_error_set(AE_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    st = finish_temp(st, tmp, path, slot);
    free(tmp);
    return st;
}
