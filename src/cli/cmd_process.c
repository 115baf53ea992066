/* cmd_process.c - the subcommands that turn input files into output files:
 * `convert`, one command per stage of the stage table (denoise, colorize,
 * upscale) and `run` (a chain of stages applied per file in memory).
 *
 * All of them parse their options, then hand the files to ae_batch_run with
 * a per-file function; the runner does loading, the display stretch for
 * PNG/JPEG outputs, atomic writing and the per-file lines.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#define MAX_CHAIN 8

static const char k_convert_help[] =
    "usage: astroenh convert [options] IN... -o OUT\n"
    "       astroenh convert [options] IN OUT\n\n"
    "Converts between FITS, PNG and JPEG; the output extension picks the format.\n"
    "Linear (FITS) data written to PNG/JPEG is stretched (--stretch, default auto);\n"
    "FITS to FITS keeps the data, BITPIX and header and adds a provenance HISTORY\n"
    "card; PNG/JPEG data written to FITS is stored as float32 in [0,1].\n"
    "--stretch with a FITS output stretches the data too.\n\n"
    "convert options:\n";

static const ae_opt_choice k_bit_depths[] = {{"8", 8}, {"16", 16}, {NULL, 0}};

static const ae_opt k_convert_options[] = {
    {.name = "--bit-depth", .kind = AE_OPT_ENUM, .off = offsetof(cli_opts, bit_depth), .choices = k_bit_depths,
     .def = "the writer's, 16 for 16-bit sources", .help = "PNG bit depth"},
    {.name = "--quality", .kind = AE_OPT_INT, .off = offsetof(cli_opts, quality), .lo = 1, .hi = 100, .arg = "N",
     .def = "92", .help = "JPEG quality"},
    {.name = NULL}};

static const ae_opt k_run_options[] = {
    {.name = "--stages", .kind = AE_OPT_STRING, .off = offsetof(cli_opts, stages), .arg = "NAME,NAME...",
     .def = "colorize,upscale,denoise", .help = "the stages, in order"},
    {.name = NULL}};

typedef struct {
    const ae_stage_def *def[MAX_CHAIN];
    void *opts[MAX_CHAIN];
    void *state[MAX_CHAIN];
    int n;
    int nested; /* `run`: each stage's --json members under its name */
} stage_chain;

/* ---- the shared run ---- */

static int check_single_output(const cli_opts *o) {
    ae_format f = ae_format_from_path(o->out);
    if (f == AE_FMT_UNKNOWN)
        return cli_usage_error(o->cmd, "cannot tell the output format from '%s' (use .fits, .png or .jpg)", o->out);
    if (o->format) {
        const char *ext = ae_format_ext(o->format);
        if (ae_format_from_path(ext) != f)
            return cli_usage_error(o->cmd, "--format %s does not match the output name '%s'", o->format, o->out);
    }
    return 0;
}

static void fill_batch_opts(const cli_opts *o, ae_batch_opts *b, int dir_mode) {
    memset(b, 0, sizeof *b);
    b->jobs = o->jobs;
    b->threads = o->g.threads;
    b->quiet = o->g.quiet;
    b->verbose = o->g.verbose;
    b->json = o->json;
    b->skip_existing = o->skip_existing;
    b->wait_lock = o->wait_lock;
    b->lock_dir = dir_mode ? o->out : NULL;
    b->shard_index = o->shard_index;
    b->shard_count = o->shard_count;
    b->stretch = o->stretch;
    b->save.bit_depth = o->bit_depth;
    b->save.quality = o->quality;
    b->g = o->g;
}

static int run_batch(cli_opts *o, ae_batch_fn fn, void *user) {
    ae_batch_list list = {0};
    ae_status st = ae_batch_collect(&list, o->inputs, o->n_inputs, o->recursive, o->out);
    int dir_mode = ae_batch_dir_mode(&list, o->out);
    if (st == AE_OK && !dir_mode && check_single_output(o)) {
        ae_batch_list_free(&list);
        return CLI_EXIT_USAGE;
    }
    if (st == AE_OK) st = ae_batch_map_outputs(&list, o->out, dir_mode, o->format);
    int mine = st == AE_OK ? ae_batch_select_shard(&list, o->shard_index, o->shard_count) : 0;
    ae_batch_counts c = {0};
    ae_batch_opts b;
    fill_batch_opts(o, &b, dir_mode);
    double t0 = cli_now_s();
    if (st == AE_OK) cli_shard_json_start(o, mine);
    if (st == AE_OK) st = ae_batch_run(&list, &b, fn, user, &c);
    int n = list.n;
    ae_batch_list_free(&list);
    if (st != AE_OK) {
        fprintf(stderr, "astroenh: %s\n", ae_error_message());
        return CLI_EXIT_FAILED;
    }
    cli_shard_json_end(o, c.ok, c.failed, c.skipped, cli_now_s() - t0);
    if (n == 0 && !o->g.quiet)
        fprintf(stderr, "astroenh: %s: no image files found in the input directories\n", o->cmd);
    char shard[48] = "";
    if (o->shard_count) snprintf(shard, sizeof shard, " shard %d/%d:", o->shard_index, o->shard_count);
    if ((n > 1 || o->shard_count) && !o->g.quiet && !o->json)
        fprintf(stderr, "astroenh: %s:%s %d ok, %d failed, %d skipped\n", o->cmd, shard, c.ok, c.failed, c.skipped);
    return c.failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

/* 1 if `arg` ("--name" or "--name=value") is an option `def` takes only as
 * its own command, not within `run`. */
static int own_command_only(const ae_stage_def *def, const char *arg) {
    const ae_opt *o = ae_opts_find(def->options, arg);
    return o && o->own_command_only;
}

/* Offers the option at argv[i] to each stage of `chain` in turn (in `run`,
 * not those a stage takes only as its own command): entries used, 0 if
 * none takes it, -1 after a usage error. */
static int parse_stage_opt(const cli_opts *o, const stage_chain *chain, int argc, char **argv, int i) {
    for (int k = 0; chain && k < chain->n; k++) {
        ae_error_clear();
        int n = ae_opts_parse(chain->def[k]->options, chain->opts[k], argc, argv, i, chain->nested);
        if (n < 0) cli_usage_error(o->cmd, "%s", ae_error_message());
        if (n) return n;
    }
    for (int k = 0; chain && chain->nested && k < chain->n; k++)
        if (own_command_only(chain->def[k], argv[i]))
            return cli_usage_error(o->cmd, "%s goes to %s only in 'astroenh %s' (see 'astroenh run --help')",
                                   argv[i], chain->def[k]->name, chain->def[k]->name), -1;
    return 0;
}

/* Collects positionals; offers options to the common tables, to `extra`
 * (the command's own) and to the stages of `chain`. Returns 0, or an exit
 * status after a usage error. */
static int parse_args(cli_opts *o, stage_chain *chain, const ae_opt *extra, int argc, char **argv) {
    o->inputs = malloc(sizeof *o->inputs * (size_t)argc);
    if (!o->inputs) return CLI_EXIT_FAILED;
    int only_pos = 0;
    for (int i = 1; i < argc;) {
        if (!only_pos && !strcmp(argv[i], "--")) {
            only_pos = 1;
            i++;
            continue;
        }
        if (only_pos || argv[i][0] != '-' || !argv[i][1]) {
            o->inputs[o->n_inputs++] = argv[i++];
            continue;
        }
        int n = cli_parse_common(o, argc, argv, i);
        if (n == 0 && extra) n = cli_parse_table(extra, o, argc, argv, i);
        if (n == 0) n = parse_stage_opt(o, chain, argc, argv, i);
        if (n < 0) return CLI_EXIT_USAGE;
        if (n == 0) return cli_usage_error(o->cmd, "unknown option '%s'", argv[i]);
        i += n;
    }
    return 0;
}

static int check_io_args(cli_opts *o, int allow_pair) {
    if (!o->out && allow_pair && o->n_inputs == 2) o->out = o->inputs[--o->n_inputs];
    if (o->n_inputs == 0) return cli_usage_error(o->cmd, "no input files");
    if (!o->out) return cli_usage_error(o->cmd, "missing -o OUTPUT");
    return 0;
}

/* ---- convert ---- */

static ae_status convert_fn(void *user, const ae_image *in, ae_image **out, ae_save_opts *save,
                            const ae_stage_ctx *ctx, ae_result *res) {
    const cli_opts *o = user;
    ae_image *img = NULL;
    ae_status st = ae_image_clone(&img, in);
    if (st != AE_OK) return st;
    if (ae_format_from_path(ctx->out_path) == AE_FMT_FITS) {
        if (o->stretch_set && o->stretch != AE_STRETCH_NONE && img->range == AE_RANGE_LINEAR) {
            ae_stretch s;
            st = ae_stretch_fit_display(&s, img, o->stretch);
            if (st == AE_OK) {
                ae_stretch_apply(&s, img);
                img->range = AE_RANGE_DISPLAY;
                ae_result_json(res, "\"fits_stretch\": \"%s\"", ae_stretch_name(o->stretch));
                st = ae_header_drop_physical(&img->hdr, "convert --stretch: the pixels are display values");
            }
        }
        if (img->range == AE_RANGE_DISPLAY && save->fits_bitpix == 0) save->fits_bitpix = -32;
        char params[256];
        const char *slash = strrchr(ctx->in_path, '/');
        snprintf(params, sizeof params, "from=%s", slash ? slash + 1 : ctx->in_path);
        if (st == AE_OK) st = ae_header_add_provenance(&img->hdr, "convert", params, NULL);
    }
    if (st != AE_OK) {
        ae_image_free(img);
        return st;
    }
    *out = img;
    return AE_OK;
}

int cli_cmd_convert(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "convert");
    int rc = parse_args(&o, NULL, k_convert_options, argc, argv);
    if (!rc && o.help) {
        fputs(k_convert_help, stdout);
        ae_opts_help(stdout, k_convert_options, NULL);
        printf("\n");
        cli_print_common_help();
        rc = -1;
    }
    if (!rc) rc = check_io_args(&o, 1);
    if (!rc) {
        cli_apply_globals(&o);
        rc = run_batch(&o, convert_fn, &o);
    }
    free(o.inputs);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

/* ---- stages ---- */

static void chain_free(stage_chain *c) {
    for (int k = 0; k < c->n; k++) {
        if (c->state[k] && c->def[k]->release) c->def[k]->release(c->state[k]);
        free(c->opts[k]);
    }
    c->n = 0;
}

static int chain_add(stage_chain *c, const char *name) {
    const ae_stage_def *def = ae_stage_find(name);
    if (!def) {
        fprintf(stderr, "astroenh: %s: not available in this build\n", name);
        return CLI_EXIT_USAGE;
    }
    if (c->n == MAX_CHAIN) return cli_usage_error("run", "more than %d stages", MAX_CHAIN);
    void *opts = calloc(1, def->opts_size ? def->opts_size : 1);
    if (!opts) return CLI_EXIT_FAILED;
    if (def->opts_init) def->opts_init(opts);
    c->def[c->n] = def;
    c->opts[c->n] = opts;
    c->state[c->n] = NULL;
    c->n++;
    return 0;
}

static int chain_prepare(stage_chain *c, const cli_opts *o) {
    for (int k = 0; k < c->n; k++) {
        if (!c->def[k]->prepare) continue;
        ae_error_clear();
        ae_status st = c->def[k]->prepare(c->opts[k], &o->g, &c->state[k]);
        if (st == AE_ERR_ARG) return cli_usage_error(o->cmd, "%s", ae_error_message());
        if (st != AE_OK) {
            fprintf(stderr, "astroenh: %s: %s\n", c->def[k]->name,
                    ae_error_message()[0] ? ae_error_message() : ae_status_name(st));
            return st == AE_ERR_UNAVAILABLE ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
        }
    }
    return 0;
}

/* A stage that returns no header for a same-sized image keeps the input's. */
static ae_status keep_header(ae_image *out, const ae_image *in) {
    if (out->hdr.n_cards > 0 || in->hdr.n_cards == 0 || out->w != in->w || out->h != in->h) return AE_OK;
    return ae_header_copy(&out->hdr, &in->hdr);
}

static ae_status chain_fn(void *user, const ae_image *in, ae_image **out, ae_save_opts *save,
                          const ae_stage_ctx *ctx, ae_result *res) {
    const stage_chain *c = user;
    const ae_image *cur = in;
    ae_image *held = NULL;
    ae_status st = AE_OK;
    for (int k = 0; k < c->n && st == AE_OK; k++) {
        ae_result r;
        memset(&r, 0, sizeof r);
        ae_image *next = NULL;
        st = c->def[k]->run(c->state[k], c->opts[k], cur, &next, ctx, &r);
        if (st == AE_OK && !next) st = ae_error_set(AE_ERR_ARG, "stage produced no image");
        if (st != AE_OK) {
            if (c->n > 1) ae_error_prefix("%s", c->def[k]->name);
            ae_image_free(next);
            break;
        }
        st = keep_header(next, cur);
        if (st == AE_OK)
            st = ae_header_add_provenance(&next->hdr, c->def[k]->name, r.history,
                                          r.model_path[0] ? r.model_path : NULL);
        if (c->nested) ae_result_json(res, "\"%s\": {%s}", c->def[k]->name, r.json);
        else if (r.json[0]) ae_result_json(res, "%s", r.json);
        ae_image_free(held);
        held = next;
        cur = next;
    }
    if (st != AE_OK) {
        ae_image_free(held);
        return st;
    }
    if (held->range == AE_RANGE_DISPLAY && save->fits_bitpix == 0) save->fits_bitpix = -32;
    *out = held;
    return AE_OK;
}

static void print_chain_help(const stage_chain *c, int is_run) {
    if (is_run) {
        printf("usage: astroenh run [--stages NAME,NAME...] [options] IN... -o OUT\n\n"
               "Applies the stages to each file in turn, in memory.\n\nrun options:\n");
        ae_opts_help(stdout, k_run_options, NULL);
        printf("\n");
    } else {
        printf("usage: astroenh %s [options] IN... -o OUT\n\n%s\n\n", c->def[0]->name, c->def[0]->summary);
    }
    for (int k = 0; k < c->n; k++) {
        void *defaults = calloc(1, c->def[k]->opts_size ? c->def[k]->opts_size : 1);
        if (defaults && c->def[k]->opts_init) c->def[k]->opts_init(defaults);
        printf("%s options:\n", c->def[k]->name);
        ae_opts_help(stdout, c->def[k]->options, defaults);
        printf("\n");
        free(defaults);
    }
    cli_print_common_help();
}

static int run_chain(cli_opts *o, stage_chain *c, int argc, char **argv, int is_run) {
    int rc = parse_args(o, c, is_run ? k_run_options : NULL, argc, argv);
    if (!rc && o->help) {
        print_chain_help(c, is_run);
        return -1;
    }
    if (!rc) rc = check_io_args(o, 0);
    if (!rc) {
        cli_apply_globals(o);
        rc = chain_prepare(c, o);
    }
    if (!rc) rc = run_batch(o, chain_fn, c);
    return rc;
}

int cli_cmd_stage(const char *name, int argc, char **argv) {
    stage_chain c = {0};
    int rc = chain_add(&c, name);
    if (rc) return rc;
    cli_opts o;
    cli_opts_init(&o, name);
    rc = run_chain(&o, &c, argc, argv, 0);
    chain_free(&c);
    free(o.inputs);
    return rc < 0 ? CLI_EXIT_OK : rc;
}

int cli_cmd_run(int argc, char **argv) {
    /* denoise last, where the seed filters: measured better than first (eval/stage_order.md) */
    cli_opts pre;
    cli_opts_init(&pre, "run");
    pre.stages = "colorize,upscale,denoise";
    int help = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_parse_table(k_run_options, &pre, argc, argv, i) < 0) return CLI_EXIT_USAGE;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) help = 1;
        if (!strcmp(argv[i], "--")) break;
    }
    const char *list = pre.stages;
    stage_chain c = {.nested = 1};
    char names[256];
    snprintf(names, sizeof names, "%s", list);
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        if (!ae_stage_find(t)) rc = cli_usage_error("run", "unknown stage '%s' in --stages", t);
        else rc = chain_add(&c, t);
    }
    if (!rc && c.n == 0 && !help) rc = cli_usage_error("run", "--stages names no stage");
    cli_opts o;
    cli_opts_init(&o, "run");
    if (!rc) rc = run_chain(&o, &c, argc, argv, 1);
    chain_free(&c);
    free(o.inputs);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
