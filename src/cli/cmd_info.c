/* cmd_info.c - `astroenh info FILE...`: what a file holds (format, size,
 * channels, bit depth, WCS, extensions) and its finite min/median/max.
 * One line per file, or with --json one JSON object per file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char k_info_help[] =
    "usage: astroenh info [options] FILE|DIR...\n\n"
    "Prints format, size, channels, bit depth, whether a celestial WCS is present,\n"
    "the number of NaN (blank) pixels and the min/median/max of the finite pixels.\n"
    "Of the common options below, -o, --format, --skip-existing, --jobs, --wait-lock\n"
    "and --stretch do not apply.\n"
    "Exit status: 0 all files read, 1 some file failed, 2 usage error.\n\n";

typedef struct {
    float min, median, max;
    size_t finite, nan;
    int hdus;
} info_stats;

static ae_status stats_of(const ae_image *img, info_stats *s) {
    size_t n;
    memset(s, 0, sizeof *s);
    if (ae_mul_size(ae_image_npix(img), (size_t)img->c, &n))
        return ae_error_set(AE_ERR_NOMEM, "image too large");
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        float v = img->data[i];
        if (!isfinite(v)) {
            s->nan++;
            continue;
        }
        s->finite++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    s->min = s->finite ? lo : NAN;
    s->max = s->finite ? hi : NAN;
    s->median = NAN;
    if (s->finite) {
        float mad;
        ae_status st = ae_median_mad(img->data, n, &s->median, &mad);
        if (st != AE_OK) return st;
    }
    s->hdus = 1;
    for (const ae_image *e = img->next_hdu; e; e = e->next_hdu) s->hdus++;
    return AE_OK;
}

static void json_num(char *buf, size_t cap, const char *key, double v) {
    size_t n = strlen(buf);
    if (isfinite(v)) snprintf(buf + n, cap - n, ", \"%s\": %.9g", key, v);
    else snprintf(buf + n, cap - n, ", \"%s\": null", key);
}

static void print_json(const char *path, const ae_image *img, const info_stats *s, const char *err) {
    char line[8192] = "{\"file\": ";
    ae_json_append_string(line, sizeof line, path);
    size_t n = strlen(line);
    if (err) {
        snprintf(line + n, sizeof line - n, ", \"status\": \"error\", \"error\": ");
        ae_json_append_string(line, sizeof line, err);
        printf("%s}\n", line);
        return;
    }
    snprintf(line + n, sizeof line - n,
             ", \"status\": \"ok\", \"format\": \"%s\", \"width\": %d, \"height\": %d, \"channels\": %d, "
             "\"bit_depth\": %d, \"unsigned\": %s, \"wcs\": %s, \"hdus\": %d, \"nan\": %zu",
             ae_format_name(img->src_format), img->w, img->h, img->c, img->src_bitdepth,
             img->src_unsigned ? "true" : "false", ae_wcs_present(&img->hdr) ? "true" : "false",
             s->hdus, s->nan);
    json_num(line, sizeof line, "min", s->min);
    json_num(line, sizeof line, "median", s->median);
    json_num(line, sizeof line, "max", s->max);
    printf("%s}\n", line);
}

static void print_text(const char *path, const ae_image *img, const info_stats *s) {
    printf("%s: %s, %d x %d, %d channel%s, bit depth %d%s, WCS %s", path,
           ae_format_name(img->src_format), img->w, img->h, img->c, img->c == 1 ? "" : "s",
           img->src_bitdepth, img->src_unsigned ? " (unsigned)" : "",
           ae_wcs_present(&img->hdr) ? "yes" : "no");
    if (s->hdus > 1) printf(", %d HDUs", s->hdus);
    printf(", min %.6g median %.6g max %.6g", s->min, s->median, s->max);
    if (s->nan) printf(", %zu NaN", s->nan);
    printf("\n");
}

static int info_one(const cli_opts *o, const ae_batch_item *it) {
    if (it->missing) {
        fprintf(stderr, "astroenh: %s: no such file or directory\n", it->path);
        if (o->json) print_json(it->path, NULL, NULL, "no such file or directory");
        return 1;
    }
    ae_image *img = NULL;
    info_stats s;
    ae_error_clear();
    ae_status st = ae_image_load(&img, it->path);
    if (st == AE_OK) st = stats_of(img, &s);
    if (st != AE_OK) {
        const char *m = ae_error_message();
        size_t pl = strlen(it->path);
        if (!strncmp(m, it->path, pl) && m[pl] == ':' && m[pl + 1] == ' ') m += pl + 2;
        if (!m[0]) m = ae_status_name(st);
        fprintf(stderr, "astroenh: %s: %s\n", it->path, m);
        if (o->json) print_json(it->path, NULL, NULL, m);
        ae_image_free(img);
        return 1;
    }
    if (o->json) print_json(it->path, img, &s, NULL);
    else if (!o->g.quiet) print_text(it->path, img, &s);
    fflush(stdout);
    ae_image_free(img);
    return 0;
}

int cli_cmd_info(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "info");
    char **pos = malloc(sizeof *pos * (size_t)argc);
    if (!pos) return CLI_EXIT_FAILED;
    int npos = 0, only_pos = 0;
    for (int i = 1; i < argc;) {
        if (!only_pos && !strcmp(argv[i], "--")) {
            only_pos = 1;
            i++;
            continue;
        }
        if (only_pos || argv[i][0] != '-' || !argv[i][1]) {
            pos[npos++] = argv[i++];
            continue;
        }
        int n = cli_parse_common(&o, argc, argv, i);
        if (n == 0) n = (cli_usage_error("info", "unknown option '%s'", argv[i]), -1);
        if (n < 0) return free(pos), CLI_EXIT_USAGE;
        i += n;
    }
    if (o.help) {
        fputs(k_info_help, stdout);
        cli_print_common_help();
        return free(pos), CLI_EXIT_OK;
    }
    if (npos == 0) return free(pos), cli_usage_error("info", "no input files");
    cli_apply_globals(&o);
    ae_batch_list list = {0};
    ae_status st = ae_batch_collect(&list, pos, npos, o.recursive, NULL);
    free(pos);
    if (st != AE_OK) {
        fprintf(stderr, "astroenh: %s\n", ae_error_message());
        ae_batch_list_free(&list);
        return CLI_EXIT_FAILED;
    }
    int mine = ae_batch_select_shard(&list, o.shard_index, o.shard_count), failed = 0;
    double t0 = cli_now_s();
    cli_shard_json_start(&o, mine);
    for (int i = 0; i < list.n; i++)
        if (!list.items[i].other_shard) failed += info_one(&o, &list.items[i]);
    cli_shard_json_end(&o, mine - failed, failed, 0, cli_now_s() - t0);
    ae_batch_list_free(&list);
    return failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}
