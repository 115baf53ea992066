/* cli.h - what the subcommand files of src/cli/ share: the parsed command
 * line and the option helpers. Only src/cli/ prints usage and exits.
 */
#ifndef ASTROENH_CLI_H
#define ASTROENH_CLI_H

#include "astroenh/batch.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1
#define CLI_EXIT_USAGE 2

typedef struct {
    const char *cmd;        /* subcommand name, for messages */
    ae_global_opts g;
    int json, quiet, verbose;
    int jobs, threads;
    const char *out;        /* -o */
    const char *format;     /* --format */
    int recursive, skip_existing, wait_lock;
    ae_stretch_kind stretch;
    int stretch_set;
    int bit_depth, quality;
    int help;
    char **inputs;          /* positional arguments (pointers into argv) */
    int n_inputs;
} cli_opts;

void cli_opts_init(cli_opts *o, const char *cmd);

/* Parses the global/batch option at argv[i]. Returns the argv entries used,
 * 0 if it is not one of them, -1 after printing a usage error. */
int cli_parse_common(cli_opts *o, int argc, char **argv, int i);

/* Matches "--name VALUE" or "--name=VALUE"; returns entries used (1 or 2),
 * 0 if argv[i] is not --name, -1 (printed) if the value is missing. */
int cli_opt_value(const char *cmd, int argc, char **argv, int i, const char *name, const char **val);

/* Parses a whole int in [lo, hi]; prints a usage error and returns -1 otherwise. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *v);

/* Prints "astroenh: [cmd: ]msg" and the --help hint; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Applies --threads to OpenMP and OpenBLAS. */
void cli_apply_threads(const cli_opts *o);

/* The help text of the common options. */
extern const char cli_common_help[];

int cli_cmd_info(int argc, char **argv);
int cli_cmd_convert(int argc, char **argv);
int cli_cmd_stage(const char *name, int argc, char **argv);
int cli_cmd_run(int argc, char **argv);

#endif
