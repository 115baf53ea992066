/* main.c - the astroenh command line: subcommand dispatch, the options every
 * subcommand shares, --help and --version. The only place that exits.
 *
 * Subcommands: the table k_commands below: info, convert (cmd_info.c,
 * cmd_process.c), one per stage of the stage table (stages.c), run (a chain
 * of stages), eval/bench (tools/), slurm, slurm-summary.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include "astroenh/backend.h"
#include "../../tools/tools.h"
#include "cli.h"

/* The commands, in the order of --help. The entry with no name stands for the
 * stages of the stage table (stages.c), each a command of its own name. */
typedef struct {
    const char *name;
    const char *usage; /* the --help column: name and arguments ("info FILE...") */
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

static const cli_command k_commands[] = {
    {"info", "info FILE...", "format, size, channels, bit depth, WCS, min/median/max", cli_cmd_info},
    {"convert", "convert IN... -o OUT", "convert between FITS, PNG and JPEG (also: convert IN OUT)",
     cli_cmd_convert},
    {NULL, NULL, NULL, NULL}, /* the stages */
    {"run", "run", "chain stages per file: --stages colorize,upscale,denoise", cli_cmd_run},
    {"eval", "eval", "evaluate the stages on held-out data", ae_cmd_eval},
    {"bench", "bench", "benchmarks", ae_cmd_bench},
    {"slurm", "slurm", "submit a command as a Slurm job array, one shard per task", cli_cmd_slurm},
    {"slurm-summary", "slurm-summary", "merge the shard logs of `slurm`: counts, failures, times",
     cli_cmd_slurm_summary},
};
#define N_COMMANDS (sizeof k_commands / sizeof k_commands[0])

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fputs("astroenh: ", stderr);
    if (cmd) fprintf(stderr, "%s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'astroenh %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return CLI_EXIT_USAGE;
}

void cli_apply_globals(cli_opts *o) {
    if (o->g.quiet) ae_backend_set_quiet(1);
    (void)ae_backend_set_precision(cli_precision_name(o)); /* always a name it takes */
    const char *source;
    o->g.threads = ae_backend_set_threads(o->g.threads, &source);
    if (o->g.verbose)
        fprintf(stderr, "astroenh: %s: %d threads (%s)\n", o->cmd, o->g.threads,
                strcmp(source, "default") ? source : "OpenMP default");
}

/* One line of --help: the usage column and the summary's first line. */
static void print_command(const char *usage, const char *summary) {
    printf("  %-18s%s%.*s\n", usage, strlen(usage) < 18 ? " " : "  ", (int)strcspn(summary, "\n"), summary);
}

static void print_help(void) {
    printf("astroenh %s - enhance astronomical images (FITS, PNG, JPEG)\n\n"
           "usage: astroenh [global options] COMMAND [options] IN... [-o OUT]\n\n"
           "Commands:\n",
           AE_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        const cli_command *c = &k_commands[i];
        if (c->name) print_command(c->usage, c->summary);
        else
            for (int k = 0; ae_stages[k]; k++) print_command(ae_stages[k]->name, ae_stages[k]->summary);
    }
    printf("\n'astroenh COMMAND --help' shows a command's options.\n"
           "  --version          version and build (cpu / cuda)\n"
           "  --list-stages      the stages compiled into this build, one per line\n\n");
    cli_print_common_help();
    printf("\nExit status: 0 all files ok, 1 some file failed, 2 usage error.\n");
}

static void print_version(void) {
#ifdef AE_HAVE_CUDA
    printf("astroenh %s (build: cpu, cuda)\n", AE_VERSION);
#else
    printf("astroenh %s (build: cpu)\n", AE_VERSION);
#endif
}

static int dispatch(const char *cmd, int argc, char **argv) {
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (k_commands[i].name && !strcmp(cmd, k_commands[i].name)) return k_commands[i].run(argc, argv);
    if (ae_stage_find(cmd)) return cli_cmd_stage(cmd, argc, argv);
    return cli_usage_error(NULL, "unknown command '%s'", cmd);
}

/* OpenBLAS and libgomp read their settings from the environment once, when
 * the process starts, before any of our code runs. Two defaults cost a lot
 * here: OpenBLAS 0.3.21 does not recognise recent AVX-512 CPUs (Zen 5) and
 * falls back to AVX2 kernels (half the sgemm speed), and libgomp's spinning
 * workers slow everything down on a loaded machine (2-5x measured under cron-
 * like load). So when the user has set neither, re-execute once with better
 * values. A user's own settings always win; AE_NO_REEXEC=1 disables this. */
static void maybe_reexec_with_tuned_env(char **argv) {
    if (getenv("AE_REEXECED") || getenv("AE_NO_REEXEC")) return;
    char set[64] = ""; /* what we set, for `slurm` to take back from its jobs */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        strcat(set, "OMP_WAIT_POLICY,");
    }
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
        setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1);
        strcat(set, "OPENBLAS_CORETYPE,");
    }
    if (!set[0]) return;
    setenv("AE_REEXECED", set, 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the libraries' defaults */
}

int main(int argc, char **argv) {
    maybe_reexec_with_tuned_env(argv);
    ae_output_install_signal_cleanup();
    /* Global options may come before the command; they are parsed again
     * (with the command's own options) by the command, so pass them on. */
    cli_opts pre;
    cli_opts_init(&pre, NULL);
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1]) {
        if (!strcmp(argv[i], "--version")) return print_version(), CLI_EXIT_OK;
        if (!strcmp(argv[i], "--list-stages")) {
            for (int k = 0; ae_stages[k]; k++) printf("%s\n", ae_stages[k]->name);
            return CLI_EXIT_OK;
        }
        int n = cli_parse_common(&pre, argc, argv, i);
        if (n < 0) return CLI_EXIT_USAGE;
        if (n == 0) return cli_usage_error(NULL, "unknown option '%s'", argv[i]);
        i += n;
    }
    if (i >= argc) {
        if (pre.help) return print_help(), CLI_EXIT_OK;
        fprintf(stderr, "usage: astroenh [global options] COMMAND [options] IN... [-o OUT]\n"
                        "Try 'astroenh --help'.\n");
        return CLI_EXIT_USAGE;
    }
    /* argv for the command: its name first, then the leading globals, then the rest */
    char **args = malloc(sizeof *args * (size_t)(argc + 1));
    if (!args) {
        fprintf(stderr, "astroenh: out of memory\n");
        return CLI_EXIT_FAILED;
    }
    int n = 0;
    args[n++] = argv[i];
    for (int k = 1; k < i; k++) args[n++] = argv[k];
    for (int k = i + 1; k < argc; k++) args[n++] = argv[k];
    args[n] = NULL;
    int rc = dispatch(argv[i], n, args);
    free(args);
    fflush(stdout);
    if (ferror(stdout)) {
        fprintf(stderr, "astroenh: cannot write standard output\n");
        if (rc == CLI_EXIT_OK) rc = CLI_EXIT_FAILED;
    }
    return rc;
}
