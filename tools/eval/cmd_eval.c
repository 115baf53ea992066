/* cmd_eval.c - `astroenh eval`: the metrics of the evaluation in C.
 *
 *   eval --metrics PRED TRUTH        one JSON line: SSIM, PSNR, L1/L2 per channel (RGB, Lab)
 *   eval --pairs LIST                the same for each "PRED<TAB>TRUTH" line of LIST
 *   eval --fid REF LIST...           FID and KID of each image list against REF (one path a line);
 *                                    with --inception FILE on pytorch-fid's InceptionV3 pool3
 *   eval --bicubic S LIST            torch-compatible bicubic xS of each "IN<TAB>OUT" line
 *
 * scripts/eval_all.py (`make eval`) runs the stages and drives these modes to
 * build eval/results.md. The CLI calls ae_cmd_eval (tools.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/backend.h"
#include "astroenh/batch.h"
#include "astroenh/io.h"
#include "astroenh/metrics.h"
#include "astroenh/upscale.h"
#include "../tools.h"

#define EVAL_USAGE 2
#define EVAL_FAILED 1

typedef struct {
    const char *mode;   /* "metrics", "pairs", "fid", "bicubic" */
    const char *a, *b;  /* mode arguments */
    int scale;
    double range;
    const char *feature_net;
    const char *inception; /* converted pytorch-fid InceptionV3 weights, or NULL */
    const char *device;
    int threads, kid_subsets, kid_size;
    unsigned long long seed;
    char **lists; /* positional arguments (--fid) */
    int n_lists;
} eval_opts;

static const char k_help[] =
    "usage: astroenh eval MODE ...\n\n"
    "Metrics for the evaluation tables (scripts/eval_all.py, `make eval`, drives them):\n"
    "  --metrics PRED TRUTH   one JSON line: ssim (Gaussian window sigma 1.5, K1 0.01,\n"
    "                         K2 0.03), psnr, mse, per-channel l1/l2 (data units) and,\n"
    "                         for colour images in [0,1], l1/l2 in Lab (L*, a*, b*)\n"
    "  --pairs LIST           the same for every \"PRED<TAB>TRUTH\" line of LIST\n"
    "  --fid REF LIST...      FID and KID of the images of each LIST against those of\n"
    "                         REF (files of image paths, one a line); one JSON line each\n"
    "  --bicubic S LIST       write bicubic xS (PyTorch's kernel) of each \"IN<TAB>OUT\" line\n\n"
    "Options:\n"
    "  --range R              data range for SSIM/PSNR (default 1: display values)\n"
    "  --inception FILE       FID/KID on InceptionV3 pool3 features (pytorch-fid's\n"
    "                         network): FILE is pytorch-fid's pt_inception-2015-12-05-\n"
    "                         6726825d.pth converted by scripts/convert_inception.py.\n"
    "                         With those weights FID is comparable with published FID.\n"
    "  --feature-net FILE     without --inception: features from the body of this fast\n"
    "                         SR model (default models/fast_x2_v1.safetensors). These are\n"
    "                         NOT InceptionV3 features: not comparable with published FID.\n"
    "  --kid-subsets N        KID subsets (default 100)   --kid-size M  subset size (default 50)\n"
    "  --seed N               KID subset draws (default 0)\n"
    "  --threads N  --device auto|cpu|cuda\n\n"
    "Exit status: 0 ok, 1 a file failed (its JSON line has \"error\"), 2 usage error.\n";

static int usage(const char *fmt, const char *arg) {
    fprintf(stderr, "astroenh: eval: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'astroenh eval --help'.\n");
    return EVAL_USAGE;
}

static int parse_num(const char *opt, const char *s, double lo, double hi, double *v) {
    char *end = NULL;
    *v = s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || !(*v >= lo && *v <= hi)) return usage("bad value for %s", opt);
    return 0;
}

/* One option at argv[i]; returns entries used, or -1 after a usage error (rc set). */
static int parse_one(eval_opts *o, int argc, char **argv, int i, int *rc) {
    const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    double x;
    if (s[0] != '-') {
        o->lists[o->n_lists++] = argv[i];
        return 1;
    }
    /* --name=value: one entry, the value after '=' */
    char name[32];
    const char *eq = strchr(s, '=');
    if (eq && (size_t)(eq - s) < sizeof name) {
        snprintf(name, sizeof name, "%.*s", (int)(eq - s), s);
        s = name, v = eq + 1;
        if (!strcmp(s, "--metrics") || !strcmp(s, "--bicubic") || !strcmp(s, "--quiet") ||
            !strcmp(s, "--verbose") || !strcmp(s, "--json"))
            return *rc = usage("option %s takes no '=VALUE'", s), -1;
    }
    int used = s == name ? 1 : 2;
    if (!strcmp(s, "--metrics")) {
        if (i + 2 >= argc) return *rc = usage("%s needs two arguments", s), -1;
        o->mode = s + 2, o->a = argv[i + 1], o->b = argv[i + 2];
        return 3;
    }
    if (!strcmp(s, "--bicubic")) {
        if (i + 2 >= argc) return *rc = usage("%s needs a scale and a list", s), -1;
        if ((*rc = parse_num(s, argv[i + 1], 1, 8, &x))) return -1;
        o->mode = "bicubic", o->scale = (int)x, o->a = argv[i + 2];
        return 3;
    }
    if (!strcmp(s, "--quiet") || !strcmp(s, "--verbose") || !strcmp(s, "--json")) return 1;
    if (!v) return *rc = usage("option %s needs a value (or is unknown)", s), -1;
    if (!strcmp(s, "--pairs")) o->mode = "pairs", o->a = v;
    else if (!strcmp(s, "--fid")) o->mode = "fid", o->a = v;
    else if (!strcmp(s, "--feature-net")) o->feature_net = v;
    else if (!strcmp(s, "--inception")) o->inception = v;
    else if (!strcmp(s, "--device")) o->device = v;
    else if (!strcmp(s, "--range")) {
        if ((*rc = parse_num(s, v, 1e-12, 1e30, &o->range))) return -1;
    } else if (!strcmp(s, "--threads")) {
        if ((*rc = parse_num(s, v, 0, 4096, &x))) return -1;
        o->threads = (int)x;
    } else if (!strcmp(s, "--kid-subsets") || !strcmp(s, "--kid-size")) {
        if ((*rc = parse_num(s, v, 2, 1e6, &x))) return -1;
        *(strcmp(s, "--kid-size") ? &o->kid_subsets : &o->kid_size) = (int)x;
    } else if (!strcmp(s, "--seed")) {
        if ((*rc = parse_num(s, v, 0, 1.8e19, &x))) return -1;
        o->seed = (unsigned long long)x;
    } else return *rc = usage("unknown option '%s'", argv[i]), -1;
    return used;
}

static void print_metrics(const char *pa, const char *pb, const ae_metrics *m) {
    static const char *rgb[3] = {"R", "G", "B"}, *lab[3] = {"L", "a", "b"};
    printf("{\"pred\": \"%s\", \"truth\": \"%s\", \"channels\": %d, \"ssim\": %.6f, ", pa, pb, m->c, m->ssim);
    if (isfinite(m->psnr)) printf("\"psnr\": %.4f, ", m->psnr);
    else printf("\"psnr\": null, ");
    printf("\"mse\": %.8g", m->mse);
    for (int c = 0; c < m->c; c++)
        printf(", \"ssim_%s\": %.6f, \"l1_%s\": %.8g, \"l2_%s\": %.8g", m->c == 1 ? "Y" : rgb[c], m->ssim_ch[c],
               m->c == 1 ? "Y" : rgb[c], m->l1[c], m->c == 1 ? "Y" : rgb[c], m->l2[c]);
    for (int c = 0; m->lab && c < 3; c++)
        printf(", \"l1_%s*\": %.8g, \"l2_%s*\": %.8g", lab[c], m->lab_l1[c], lab[c], m->lab_l2[c]);
    printf("}\n");
}

static void print_error(const char *pa, const char *pb) {
    printf("{\"pred\": \"%s\", \"truth\": \"%s\", \"error\": \"", pa, pb);
    for (const char *s = ae_error_message(); *s; s++) putchar(*s == '"' || *s == '\\' ? '\'' : *s);
    printf("\"}\n");
    fprintf(stderr, "astroenh: eval: %s: %s\n", pa, ae_error_message());
}

static int compare(const char *pa, const char *pb, double range) {
    ae_image *a = NULL, *b = NULL;
    ae_metrics m;
    ae_status st = ae_image_load(&a, pa);
    if (st == AE_OK) st = ae_image_load(&b, pb);
    if (st == AE_OK) st = ae_metrics_compare(a, b, range, &m);
    if (st == AE_OK) print_metrics(pa, pb, &m);
    else print_error(pa, pb);
    ae_image_free(a);
    ae_image_free(b);
    return st == AE_OK ? 0 : EVAL_FAILED;
}

/* Reads the lines of `path` (newlines stripped) into a NULL-terminated array. */
static ae_status read_lines(const char *path, char ***out, int *count) {
    FILE *f = fopen(path, "r");
    if (!f) return ae_error_set(AE_ERR_IO, "%s: cannot open", path);
    char **v = NULL, buf[8192];
    int n = 0, cap = 0;
    ae_status st = AE_OK;
    while (st == AE_OK && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (!buf[0] || buf[0] == '#') continue;
        if (n + 1 >= cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) st = ae_error_set(AE_ERR_NOMEM, "%s: too many lines", path);
            else v = nv;
        }
        if (st == AE_OK && !(v[n++] = strdup(buf))) st = ae_error_set(AE_ERR_NOMEM, "%s: line %d", path, n);
    }
    fclose(f);
    if (st != AE_OK) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return st;
    }
    *out = v, *count = n;
    return AE_OK;
}

static void free_lines(char **v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* Splits "A<TAB>B" in place; NULL when there is no tab. */
static char *split_tab(char *line) {
    char *t = strchr(line, '\t');
    if (t) *t++ = 0;
    return t;
}

static int run_pairs(const eval_opts *o) {
    char **lines = NULL;
    int n = 0, rc = 0;
    if (read_lines(o->a, &lines, &n) != AE_OK) {
        fprintf(stderr, "astroenh: eval: %s\n", ae_error_message());
        return EVAL_FAILED;
    }
    for (int i = 0; i < n; i++) {
        char *b = split_tab(lines[i]);
        if (!b) {
            fprintf(stderr, "astroenh: eval: %s line %d: no TAB between the two paths\n", o->a, i + 1);
            rc = EVAL_FAILED;
            continue;
        }
        rc |= compare(lines[i], b, o->range);
    }
    free_lines(lines, n);
    return rc;
}

static ae_status bicubic_one(const char *in, const char *out, int s) {
    ae_image *a = NULL, *b = NULL;
    ae_status st = ae_image_load(&a, in);
    if (st == AE_OK && ((size_t)a->w * s > AE_MAX_DIM || (size_t)a->h * s > AE_MAX_DIM))
        st = ae_error_set(AE_ERR_ARG, "%s: %dx%d x%d is too large", in, a->w, a->h, s);
    if (st == AE_OK) st = ae_image_create(&b, a->w * s, a->h * s, a->c);
    if (st == AE_OK) {
        ae_bicubic_up(b->data, a->data, a->c, a->h, a->w, s);
        size_t n = (size_t)b->c * b->w * b->h;
        for (size_t i = 0; i < n; i++) b->data[i] = b->data[i] < 0.f ? 0.f : (b->data[i] > 1.f ? 1.f : b->data[i]);
        b->range = AE_RANGE_DISPLAY;
        ae_save_opts so = {.bit_depth = 16};
        st = ae_image_save(b, out, &so);
    }
    ae_image_free(a);
    ae_image_free(b);
    return st;
}

static int run_bicubic(const eval_opts *o) {
    char **lines = NULL;
    int n = 0, rc = 0;
    if (read_lines(o->a, &lines, &n) != AE_OK) {
        fprintf(stderr, "astroenh: eval: %s\n", ae_error_message());
        return EVAL_FAILED;
    }
    for (int i = 0; i < n; i++) {
        char *out = split_tab(lines[i]);
        ae_status st = out ? bicubic_one(lines[i], out, o->scale)
                           : ae_error_set(AE_ERR_ARG, "%s line %d: no TAB between the two paths", o->a, i + 1);
        if (st != AE_OK) {
            fprintf(stderr, "astroenh: eval: %s\n", ae_error_message());
            rc = EVAL_FAILED;
        }
    }
    free_lines(lines, n);
    return rc;
}

/* Features of every image listed in `list` into a new n x dim array. */
static ae_status list_features(ae_featnet *f, const char *list, float **out, int *count) {
    char **lines = NULL;
    int n = 0, d = ae_featnet_dim(f);
    ae_status st = read_lines(list, &lines, &n);
    if (st != AE_OK) return st;
    float *x = n ? ae_malloc((size_t)n * d * sizeof *x, "features") : NULL;
    if (n && !x) st = AE_ERR_NOMEM;
    for (int i = 0; i < n && st == AE_OK; i++) {
        ae_image *img = NULL;
        st = ae_image_load(&img, lines[i]);
        if (st == AE_OK) st = ae_featnet_features(f, img, x + (size_t)i * d);
        if (st != AE_OK) ae_error_prefix("%s", lines[i]);
        ae_image_free(img);
    }
    free_lines(lines, n);
    if (st != AE_OK) {
        free(x);
        return st;
    }
    *out = x, *count = n;
    return AE_OK;
}

static ae_status stats(const float *x, int n, int d, double **out) {
    double *buf = ae_malloc(((size_t)d * d + d) * sizeof *buf, "feature statistics");
    if (!buf) return AE_ERR_NOMEM;
    ae_status st = ae_feature_stats(x, n, d, buf, buf + d);
    if (st != AE_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    return AE_OK;
}

/* FID and KID of the images of `list` against the reference features. */
static ae_status fid_one(const eval_opts *o, ae_featnet *f, const float *xr, int nr, const double *sr,
                         const char *list) {
    float *xb = NULL;
    double *sb = NULL, fd = 0, km = 0, ks = 0;
    int nb = 0, d = ae_featnet_dim(f);
    ae_status st = list_features(f, list, &xb, &nb);
    if (st == AE_OK) st = stats(xb, nb, d, &sb);
    if (st == AE_OK) st = ae_frechet_distance(sr, sr + d, sb, sb + d, d, &fd);
    if (st == AE_OK) st = ae_kid(xr, nr, xb, nb, d, o->kid_subsets, o->kid_size, o->seed, &km, &ks);
    int m = o->kid_size < nr ? o->kid_size : nr;
    if (nb < m) m = nb;
    if (st == AE_OK)
        printf("{\"ref\": \"%s\", \"list\": \"%s\", \"n_ref\": %d, \"n\": %d, \"dim\": %d, \"fid\": %.6f, "
               "\"kid\": %.8f, \"kid_std\": %.8f, \"kid_subset\": %d, \"kid_subsets\": %d, "
               "\"features\": \"%s\", \"inception\": %s, \"comparable_with_published_fid\": %s}\n",
               o->a, list, nr, nb, d, fd, km, ks, m, o->kid_subsets, ae_featnet_describe(f),
               ae_featnet_is_inception(f) ? "true" : "false", ae_featnet_comparable(f) ? "true" : "false");
    free(xb);
    free(sb);
    return st;
}

static int run_fid(const eval_opts *o) {
    const ae_backend *be = NULL;
    ae_featnet *f = NULL;
    float *xr = NULL;
    double *sr = NULL;
    int nr = 0, rc = 0;
    ae_status st = ae_backend_get(o->device, &be);
    if (st == AE_OK)
        st = o->inception ? ae_featnet_load_inception(&f, o->inception, be) : ae_featnet_load(&f, o->feature_net, be);
    if (st == AE_OK) st = list_features(f, o->a, &xr, &nr);
    if (st == AE_OK) st = stats(xr, nr, ae_featnet_dim(f), &sr);
    if (st != AE_OK) {
        fprintf(stderr, "astroenh: eval: %s\n", ae_error_message());
        rc = EVAL_FAILED;
    }
    for (int i = 0; i < o->n_lists && st == AE_OK; i++) {
        if (fid_one(o, f, xr, nr, sr, o->lists[i]) != AE_OK) {
            fprintf(stderr, "astroenh: eval: %s: %s\n", o->lists[i], ae_error_message());
            rc = EVAL_FAILED;
        }
    }
    free(xr);
    free(sr);
    ae_featnet_free(f);
    return rc;
}

int ae_cmd_eval(int argc, char **argv) {
    eval_opts o = {.range = 1.0, .feature_net = "models/fast_x2_v1.safetensors", .device = "auto",
                   .kid_subsets = 100, .kid_size = 50};
    int rc = 0;
    char **lists = malloc((size_t)argc * sizeof *lists);
    if (!lists) return fputs("astroenh: eval: out of memory\n", stderr), EVAL_FAILED;
    o.lists = lists;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            free(lists);
            return fputs(k_help, stdout), 0;
        }
        int n = parse_one(&o, argc, argv, i, &rc);
        if (n < 0) {
            free(lists);
            return rc;
        }
        i += n;
    }
    if (!o.mode) rc = usage("%s", "no mode given (the whole evaluation is `make eval`)");
    else if (o.n_lists && strcmp(o.mode, "fid")) rc = usage("unexpected argument '%s'", o.lists[0]);
    else if (!strcmp(o.mode, "fid") && !o.n_lists) rc = usage("%s", "--fid REF needs at least one LIST");
    if (rc) {
        free(lists);
        return rc;
    }
    ae_backend_set_threads(o.threads, NULL);
    if (!strcmp(o.mode, "metrics")) rc = compare(o.a, o.b, o.range);
    else if (!strcmp(o.mode, "pairs")) rc = run_pairs(&o);
    else if (!strcmp(o.mode, "bicubic")) rc = run_bicubic(&o);
    else rc = run_fid(&o);
    free(lists);
    return rc;
}
