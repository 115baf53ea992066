/* cmd_slurm_summary.c - `astroenh slurm-summary LOGDIR`: what the shard
 * logs of a job array (and of its resubmissions) say together.
 *
 * Every *.json file of LOGDIR is read, oldest first (by modification time),
 * as a sequence of attempts: a {"event": "start"} line, per-file lines, and
 * an {"event": "end"} line when the task was not killed. The latest attempt
 * of each shard decides (it lists every file of the shard as it is now; a
 * file removed since an earlier attempt no longer counts): "ok" or
 * "skipped" (the output exists) is done, "error" failed, and the files an
 * unfinished attempt (no end line) does not mention were not reached. The
 * time per file is that of a file's last "ok", whichever attempt wrote it.
 * Exit 0 only when every shard finished and no file failed. Logs without
 * start lines (no --shard) count as one attempt: last line wins.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "cli.h"

typedef struct {
    char *file, *status, *error;
    double seconds; /* -1: not given */
    int seq;        /* position among all lines read */
    int attempt;    /* index into logs.a, -1 before any start line */
} file_line;

typedef struct {
    char *log;      /* file name in LOGDIR */
    int shard, shards, files, reported, ended;
    int current;    /* the latest attempt of its shard */
} attempt;

typedef struct {
    file_line *l;
    int n, cap;
    attempt *a;
    int na, capa;
    int bad_lines;
} logs;

static void logs_free(logs *g) {
    for (int i = 0; i < g->n; i++) {
        free(g->l[i].file);
        free(g->l[i].status);
        free(g->l[i].error);
    }
    for (int i = 0; i < g->na; i++) free(g->a[i].log);
    free(g->l);
    free(g->a);
}

static int grow(void **p, int *cap, int n, size_t size) {
    if (n < *cap) return 0;
    int c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static char *json_str(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

static int json_int(const cJSON *o, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static int add_attempt(logs *g, const char *log, const cJSON *o) {
    if (grow((void **)&g->a, &g->capa, g->na, sizeof *g->a)) return -1;
    attempt *a = &g->a[g->na++];
    *a = (attempt){strdup(log), json_int(o, "shard", -1), json_int(o, "shards", -1), json_int(o, "files", 0), 0, 0, 0};
    return a->log ? 0 : -1;
}

/* One parsed line: a start/end event or a file's line. */
static int take_line(logs *g, const char *log, const cJSON *o) {
    char *ev = json_str(o, "event");
    int rc = 0;
    if (ev && !strcmp(ev, "start")) rc = add_attempt(g, log, o);
    else if (ev && !strcmp(ev, "end") && g->na > 0 && !strcmp(g->a[g->na - 1].log, log)) g->a[g->na - 1].ended = 1;
    free(ev);
    if (ev || rc) return rc;
    char *file = json_str(o, "file");
    if (!file) return 0;
    if (grow((void **)&g->l, &g->cap, g->n, sizeof *g->l)) return free(file), -1;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "seconds");
    int in = g->na > 0 && !strcmp(g->a[g->na - 1].log, log) ? g->na - 1 : -1;
    g->l[g->n] = (file_line){file, json_str(o, "status"), json_str(o, "error"),
                             cJSON_IsNumber(sec) ? sec->valuedouble : -1, g->n, in};
    g->n++;
    if (in >= 0) g->a[in].reported++;
    return 0;
}

static int read_log(logs *g, const char *dir, const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return fprintf(stderr, "astroenh: slurm-summary: %s: %s\n", path, strerror(errno)), -1;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        if (cJSON_IsObject(o)) rc = take_line(g, name, o);
        else g->bad_lines++; /* a line cut short when its task was killed */
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return rc;
}

typedef struct {
    char name[NAME_MAX + 1];
    struct timespec mtime;
} log_file;

static int cmp_log(const void *a, const void *b) {
    const log_file *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec) return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec) return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The *.json logs of dir but the manifest, oldest first. */
static int list_logs(const char *dir, log_file **out, int *n) {
    DIR *d = opendir(dir);
    if (!d) return fprintf(stderr, "astroenh: slurm-summary: %s: %s\n", dir, strerror(errno)), -1;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") || !strcmp(e->d_name, "astroenh-slurm.json")) continue;
        char path[PATH_MAX];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (grow((void **)out, &cap, *n, sizeof **out)) break;
        snprintf((*out)[*n].name, sizeof (*out)[*n].name, "%s", e->d_name);
        (*out)[(*n)++].mtime = sb.st_mtim;
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, cmp_log);
    return 0;
}

static int manifest_shards(const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/astroenh-slurm.json", dir);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *m = cJSON_Parse(buf);
    int s = json_int(m, "shards", -1);
    cJSON_Delete(m);
    return s;
}

/* ---- the report ---- */

static int cmp_file_line(const void *a, const void *b) {
    const file_line *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : x->seq - y->seq;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    int files, done, written, failed;
    double *secs; /* seconds of each file written */
    int n_secs;
    const char *slowest;
} file_counts;

static int is_done(const char *status) {
    return status && (!strcmp(status, "ok") || !strcmp(status, "skipped"));
}

/* The line that decides a file among its lines [i, j): its last one in a
 * current attempt (any last one when there are no attempts); NULL when
 * the file is not an input any more. */
static const file_line *deciding_line(const logs *g, int i, int j) {
    for (int k = j - 1; k >= i; k--) {
        int a = g->l[k].attempt;
        if (g->na == 0 || (a >= 0 && g->a[a].current)) return &g->l[k];
    }
    return NULL;
}

static void count_file(file_counts *c, const file_line *last, const file_line *ok, double *max) {
    c->files++;
    if (is_done(last->status)) c->done++;
    else {
        if (c->failed++ == 0) printf("failed files (the error of their last attempt):\n");
        printf("  %s: %s\n", last->file, last->error ? last->error : last->status ? last->status : "?");
    }
    if (!ok) return;
    c->written++;
    if (ok->seconds < 0) return;
    c->secs[c->n_secs++] = ok->seconds;
    if (ok->seconds > *max) *max = ok->seconds, c->slowest = ok->file;
}

/* Counts every file of the current attempts and prints the failed ones. */
static int count_files(logs *g, file_counts *c) {
    qsort(g->l, (size_t)g->n, sizeof *g->l, cmp_file_line);
    c->secs = calloc(g->n > 0 ? (size_t)g->n : 1, sizeof *c->secs);
    if (!c->secs) return -1;
    double max = -1;
    for (int i = 0, j; i < g->n; i = j) {
        const file_line *ok = NULL;
        for (j = i; j < g->n && !strcmp(g->l[j].file, g->l[i].file); j++)
            if (g->l[j].status && !strcmp(g->l[j].status, "ok")) ok = &g->l[j];
        const file_line *last = deciding_line(g, i, j);
        if (last) count_file(c, last, ok, &max);
    }
    return 0;
}

/* --files: every file of the current attempts (sorted by count_files),
 * its state and the seconds of the run that wrote it. */
static void list_files(const logs *g) {
    printf("per file (state, seconds of the run that wrote it):\n");
    for (int i = 0, j; i < g->n; i = j) {
        const file_line *ok = NULL;
        for (j = i; j < g->n && !strcmp(g->l[j].file, g->l[i].file); j++)
            if (g->l[j].status && !strcmp(g->l[j].status, "ok")) ok = &g->l[j];
        const file_line *last = deciding_line(g, i, j);
        if (!last) continue;
        char secs[32] = "-";
        if (ok && ok->seconds >= 0) snprintf(secs, sizeof secs, "%.3f", ok->seconds);
        printf("  %-8s %9s  %s\n", last->status ? last->status : "?", secs, last->file);
    }
}

/* Marks the latest attempt of each shard current; returns how many shards
 * did not finish and, with `print`, says why for each, and adds the files
 * its latest attempt did not reach to *not_reached. */
static int report_shards(logs *g, int shards, int print, int *not_reached) {
    int unfinished = 0;
    for (int s = 0; s < shards; s++) {
        attempt *last = NULL;
        for (int i = 0; i < g->na; i++)
            if (g->a[i].shard == s && g->a[i].shards == shards) last = &g->a[i];
        if (last) last->current = 1;
        if (last && last->ended) continue;
        unfinished++;
        if (!print) continue;
        if (!last) {
            printf("  shard %d/%d: no log (not started, or failed before it ran)\n", s, shards);
            continue;
        }
        int left = last->files - last->reported;
        *not_reached += left > 0 ? left : 0;
        printf("  shard %d/%d: unfinished: %s reports %d of its %d files and no end "
               "(killed, out of time, or still running)\n", s, shards, last->log, last->reported, last->files);
    }
    return unfinished;
}

static void report_times(file_counts *c) {
    if (c->n_secs == 0) return;
    qsort(c->secs, (size_t)c->n_secs, sizeof *c->secs, cmp_double);
    double total = 0;
    for (int i = 0; i < c->n_secs; i++) total += c->secs[i];
    double med = c->n_secs % 2 ? c->secs[c->n_secs / 2]
                               : 0.5 * (c->secs[c->n_secs / 2 - 1] + c->secs[c->n_secs / 2]);
    printf("time per written file (%d): mean %.3f s, median %.3f s, max %.3f s (%s); %.1f s in all\n",
           c->n_secs, total / c->n_secs, med, c->secs[c->n_secs - 1], c->slowest ? c->slowest : "?", total);
}

static int summarize(logs *g, const char *dir, int n_logs, int per_file) {
    int shards = manifest_shards(dir);
    for (int i = 0; shards < 0 && i < g->na; i++) shards = g->a[i].shards;
    printf("%s: %d log%s\n", dir, n_logs, n_logs == 1 ? "" : "s");
    int not_reached = 0, unfinished = shards > 0 ? report_shards(g, shards, 0, NULL) : 0;
    if (shards > 0) printf("shards: %d, %d finished, %d unfinished\n", shards, shards - unfinished, unfinished);
    else printf("shards: unknown (no manifest and no start lines)\n");
    if (unfinished) report_shards(g, shards, 1, &not_reached);
    file_counts c = {0};
    if (count_files(g, &c)) return fprintf(stderr, "astroenh: slurm-summary: out of memory\n"), CLI_EXIT_FAILED;
    printf("files: %d done (%d written by these jobs, %d found done), %d failed, %d not reached\n", c.done,
           c.written, c.done - c.written > 0 ? c.done - c.written : 0, c.failed, not_reached);
    report_times(&c);
    if (per_file) list_files(g);
    free(c.secs);
    if (g->bad_lines) printf("unreadable log lines: %d (cut short by a kill?)\n", g->bad_lines);
    int all = shards > 0 && unfinished == 0 && c.failed == 0;
    if (all) printf("result: every file is done\n");
    else printf("result: NOT done: %d failed, %d not reached, %d shard%s unfinished; submit the same 'astroenh slurm'\n"
                "command again to finish (done files are skipped, failed ones retried)\n",
                c.failed, not_reached, unfinished, unfinished == 1 ? "" : "s");
    return all ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

int cli_slurm_summary(const char *dir, int per_file) {
    log_file *files = NULL;
    int n = 0;
    if (list_logs(dir, &files, &n)) return CLI_EXIT_USAGE;
    logs g = {0};
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = read_log(&g, dir, files[i].name);
    free(files);
    if (rc) rc = CLI_EXIT_FAILED;
    else if (n == 0) rc = (fprintf(stderr, "astroenh: slurm-summary: no shard logs (*.json) in %s\n", dir), CLI_EXIT_USAGE);
    else rc = summarize(&g, dir, n, per_file);
    logs_free(&g);
    return rc;
}

int cli_cmd_slurm_summary(int argc, char **argv) {
    int per_file = argc == 3 && !strcmp(argv[1], "--files");
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: astroenh slurm-summary [--files] LOGDIR\n\n"
               "Merges the shard logs that 'astroenh slurm' tasks wrote to LOGDIR (every *.json\n"
               "there, oldest first): shards finished or not, files done, failed (with the\n"
               "error of their last attempt) and not reached, and the time per written file.\n"
               "  --files   also every file: its state and the seconds of the run that wrote it\n\n"
               "Exit status: 0 every file is done, 1 not (or a log unreadable), 2 no logs.\n");
        return CLI_EXIT_OK;
    }
    if (argc != 2 + per_file) return cli_usage_error("slurm-summary", "give one LOGDIR (and --files before it)");
    return cli_slurm_summary(argv[1 + per_file], per_file);
}
