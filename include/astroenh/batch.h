/* batch.h - the batch runner behind every file-processing subcommand.
 *
 * The CLI turns its arguments into an ae_batch_list (files, or the image
 * files of directories), maps each item to an output path, and hands the
 * list to ae_batch_run with a per-file callback. The runner owns everything
 * a cron job cares about: one error line per bad file and the batch goes on,
 * inputs never overwritten, no partial outputs (temp file + rename), a lock
 * on the output directory, --skip-existing, --jobs N, progress and --json.
 *
 * Nothing here exits or prints except ae_batch_run, which prints the
 * per-file lines (stderr) and the --json lines (stdout).
 */
#ifndef ASTROENH_BATCH_H
#define ASTROENH_BATCH_H

#include "astroenh/image.h"
#include "astroenh/io.h"
#include "astroenh/stage.h"
#include "astroenh/stretch.h"

/* ---- inputs and output paths ---- */

typedef struct {
    char *path;    /* the input file as found (argument, or dir/rel) */
    char *rel;     /* path relative to its directory argument, or its base name */
    int from_dir;  /* found inside a directory argument */
    int missing;   /* the argument does not exist: reported as a per-file failure */
    char *out;     /* output path (set by ae_batch_map_outputs), owned */
    char *error;   /* set when the item cannot be processed (e.g. duplicate output) */
    int other_shard; /* belongs to another --shard: kept for the checks, not processed */
} ae_batch_item;

typedef struct {
    ae_batch_item *items;
    int n, cap;
    int n_dirs;    /* how many arguments were directories */
    int n_args;    /* how many input arguments were given */
} ae_batch_list;

/* 1 if `path` ends in an image extension we read (.fits .fit .fts .fz .png
 * .jpg .jpeg, any case). */
int ae_path_is_image(const char *path);

/* Adds each argument: a file (or a nonexistent name, flagged `missing`) as
 * itself; a directory as its image files (direct files only unless
 * `recursive`), sorted by path, skipping dot-files and the directory
 * `skip_dir` (the output directory, may be NULL). Errors: AE_ERR_NOMEM,
 * AE_ERR_IO (unreadable directory, message names it). */
ae_status ae_batch_collect(ae_batch_list *list, char *const *args, int nargs, int recursive,
                           const char *skip_dir);
void ae_batch_list_free(ae_batch_list *list); /* NULL-safe; frees the items, not `list` */

/* 1 when `out` names a directory: several inputs, a directory input, or an
 * existing directory `out`. */
int ae_batch_dir_mode(const ae_batch_list *list, const char *out);

/* Output path of one item. In directory mode: out/<rel>, its extension
 * replaced by `format` ("fits"|"png"|"jpg"|"jpeg", or NULL to keep it); else
 * `out` itself. Caller frees *out_path. AE_ERR_ARG for a bad format. */
ae_status ae_batch_output_path(const ae_batch_item *it, const char *out, int dir_mode,
                               const char *format, char **out_path);

/* Sets every item's `out`; an item whose output another item already maps
 * to gets `error` set instead of being processed twice. */
ae_status ae_batch_map_outputs(ae_batch_list *list, const char *out, int dir_mode,
                               const char *format);

/* ---- shards (--shard I/N: one task of a cluster job array) ----
 * An item belongs to shard hash(rel) mod N, rel being its path relative to
 * its directory argument (leading '/' ignored). The hash is fixed (FNV-1a 64
 * with a splitmix64 finaliser) so that every task, on any machine, agrees,
 * and a file keeps its shard when others are added or removed. */

/* The shard of `rel` among `count` (>= 1) shards: 0..count-1. */
int ae_shard_of(const char *rel, int count);

/* Marks every item not of shard `index` of `count` as other_shard and
 * returns how many remain. Call after ae_batch_map_outputs, so that clashes
 * between outputs are found over the whole list, whichever shard owns them. */
int ae_batch_select_shard(ae_batch_list *list, int index, int count);

/* Extension (with the dot) of a format name: "fits" -> ".fits"; NULL if unknown. */
const char *ae_format_ext(const char *format);

/* ---- output files ---- */

/* 1 if a and b are the same existing file (st_dev/st_ino), 0 otherwise. */
int ae_path_same_file(const char *a, const char *b);

/* The temp name used for `path`: "<dir>/.<stem>.tmp-<pid>-<n><ext>", so that
 * the writer still picks the format from the extension; the stem is cut so
 * that the name fits NAME_MAX. Caller frees. */
char *ae_output_temp_path(const char *path);

/* ae_output_write_image with save options (NULL = defaults). */
ae_status ae_output_write_image_opts(const ae_image *img, const char *path, const char *protect,
                                     const ae_save_opts *opts);

/* AE_ERR_ARG (message naming both) when the directory `path` would be written
 * in resolves outside `root`, i.e. a symbolic link inside the output
 * directory leads elsewhere; AE_OK otherwise. Called before any mkdir. */
ae_status ae_output_check_inside(const char *root, const char *path);

/* mkdir -p of the directory part of `path`. */
ae_status ae_output_make_parent(const char *path);

/* mkdir -p `dir`. */
ae_status ae_output_make_dir(const char *dir);

/* The running batch's guard: the identity (st_dev/st_ino) of every input and
 * the canonical name of every output, so that no file the run writes - main
 * output or side output (mask, catalogue, uncertainty) - replaces an input
 * of the run or another output of it, whatever names lead there.
 * ae_batch_run sets it up before the first file and clears it after the
 * last; it is read-only in between, so --jobs workers share it. */
ae_status ae_output_guard_begin(const ae_batch_list *list);
void ae_output_guard_end(void);
/* AE_ERR_ARG, message naming the input, when `path` is (or would replace) an
 * input of the running batch; with `side` also when it names one of the
 * run's outputs. AE_OK when no batch is running. */
ae_status ae_output_guard_check(const char *path, int side);

/* Temp files being written are registered so that SIGINT/SIGTERM removes
 * them (and the lock file) before the process dies. Installs the handlers. */
void ae_output_install_signal_cleanup(void);

/* Registers a file (the output-directory lock) that the signal handler
 * removes too; returns its slot (-1 when none is free), for
 * ae_output_cleanup_remove once the file is gone. */
int ae_output_cleanup_add(const char *path);
void ae_output_cleanup_remove(int slot); /* -1 is ignored */

/* ---- the run ---- */

/* The work done on one file: given the loaded input, produce the image to
 * write (the runner frees it) and fill `res`. `save` starts from the batch's
 * save options and may be changed for this file. Return a status with the
 * message set on failure (the runner prefixes the file name). */
typedef ae_status (*ae_batch_fn)(void *user, const ae_image *in, ae_image **out,
                                 ae_save_opts *save, const ae_stage_ctx *ctx, ae_result *res);

typedef struct {
    int jobs;            /* files processed at once (>= 1) */
    int threads;         /* compute threads in all (0: ae_backend_threads()); the caller
                          * applies them (ae_backend_set_threads), and with jobs > 1 each
                          * worker thread gets max(1, threads / jobs) */
    int quiet, verbose, json;
    int skip_existing;   /* an existing output -> "skipped" */
    int wait_lock;       /* wait for the output-directory lock instead of failing */
    const char *lock_dir;/* the output directory (locked; outputs must resolve inside it), or NULL */
    int shard_index, shard_count; /* --shard I/N (count 0: not sharded); items are already selected */
    ae_stretch_kind stretch; /* for LINEAR images written to PNG/JPEG (NONE = write as is) */
    ae_save_opts save;   /* defaults for every file */
    ae_global_opts g;
} ae_batch_opts;

typedef struct {
    int ok, failed, skipped;
    int locked;          /* the lock was held by another run; nothing was done */
} ae_batch_counts;

/* Processes every item of `list` (outputs already mapped) but those of other
 * shards. Per file: skip if asked (the output is a non-empty regular file:
 * outputs appear whole by rename, so an existing one is complete; an empty
 * one is what a crash before the data reached the disk can leave), refuse
 * output == input, load, fn, stretch for display formats, write
 * atomically; print one line (progress or error). Returns AE_OK when the
 * run happened (per-file failures are only counted); an error (message
 * set) when the lock could not be taken or the output directory made. */
ae_status ae_batch_run(const ae_batch_list *list, const ae_batch_opts *o, ae_batch_fn fn,
                       void *user, ae_batch_counts *counts);

/* Locks `dir`/.astroenh.lock (flock, exclusive). *fd gets the lock's fd (-1
 * when `dir` is NULL). When held by another process: waits if `wait`, else
 * AE_ERR_IO with "<dir> is locked by another astroenh run (pid N)". */
ae_status ae_batch_lock(const char *dir, int wait, int *fd);
void ae_batch_unlock(const char *dir, int fd);

/* The lock of one shard: `dir`/.astroenh.lock shared (every shard of an
 * array runs at once; an unsharded run, which locks it exclusively, is kept
 * out and keeps them out) plus `dir`/.astroenh.shard-I-of-N.lock exclusive
 * (a second run of the same shard is refused: "<dir> is locked by another
 * run of shard I/N (pid P)"). fd[0], fd[1] get the two fds. The last holder
 * of the shared file removes it. */
ae_status ae_batch_lock_shard(const char *dir, int wait, int index, int count, int fd[2]);
void ae_batch_unlock_shard(const char *dir, int index, int count, const int fd[2]);

/* Appends `s` to buf (size cap) as a JSON string with quotes, escaped. */
void ae_json_append_string(char *buf, size_t cap, const char *s);

/* ---- display-referred data for stages ---- */

/* *out = a copy of `in` in display range [0,1]. A LINEAR image is stretched
 * with `kind` (AE_STRETCH_NONE -> MTF), and the stretch used is stored in *s;
 * a DISPLAY image is copied and s->kind = AE_STRETCH_NONE. Caller frees *out. */
ae_status ae_to_display(const ae_image *in, ae_image **out, ae_stretch *s, ae_stretch_kind kind);

/* *out = a copy of `in` brought back through the inverse of `s` (LINEAR
 * range), or a plain copy when s->kind is AE_STRETCH_NONE. */
ae_status ae_from_display(const ae_image *in, ae_image **out, const ae_stretch *s);

#endif
