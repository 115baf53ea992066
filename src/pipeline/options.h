/* options.h - command-line options declared as tables, read by one parser
 * (options.c). Internal to astroenh: the stages (src/denoise/, src/colorize/,
 * src/upscale/) and the CLI (src/cli/) each declare a table of ae_opt over
 * their own options struct; the same table gives `--help`.
 *
 * Every option with a value takes `--name VALUE` and `--name=VALUE`.
 */
#ifndef ASTROENH_OPTIONS_H
#define ASTROENH_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    AE_OPT_FLAG,   /* no value: stores flag_value in an int field */
    AE_OPT_INT,    /* int field, a whole number in [lo, hi] */
    AE_OPT_FLOAT,  /* float field, a number in [lo, hi] */
    AE_OPT_ENUM,   /* int field, the value of one of `choices` */
    AE_OPT_STRING, /* const char * field, any text (points into argv) */
    AE_OPT_PATH,   /* const char * field, a file or directory name, not empty */
    AE_OPT_FUNC,   /* parse(opts, value) does the work */
} ae_opt_kind;

typedef struct {
    const char *name;
    int value;
} ae_opt_choice;

typedef struct ae_opt {
    const char *name;  /* "--scale"; NULL ends a table */
    const char *alias; /* a short form ("-o"), or NULL */
    ae_opt_kind kind;
    size_t off;        /* offsetof the field in the options struct */
    const char *arg;   /* the value's name in --help ("N", "FILE"); enums default to "a|b|c" */
    const char *help;  /* what it does (--help wraps it) */
    const char *def;   /* the default as --help shows it; NULL: read from the
                        * initialised struct (int, float, enum, a non-NULL string) */
    double lo, hi;     /* INT, FLOAT: the accepted range */
    const char *word;  /* INT, FLOAT: a word taken besides a number ("auto"), or NULL */
    double word_value; /* ... and the number it stores */
    int flag_value;    /* FLAG: the value stored */
    const ae_opt_choice *choices; /* ENUM: ended by {NULL, 0} */
    /* FUNC: stores the value; 0, or -1 with the message set (AE_ERR_ARG) */
    int (*parse)(void *opts, const char *value);
    size_t seen;       /* AE_OPT_SEEN(field): an int set to 1 when the option is given; 0: none */
    int own_command_only; /* taken only by the stage's own command, not within `run` */
} ae_opt;

#define AE_OPT_SEEN(type, field) (offsetof(type, field) + 1)

/* The entry of `table` that argv word `arg` ("--name", "--name=VALUE" or the
 * alias) names, or NULL. */
const ae_opt *ae_opts_find(const ae_opt *table, const char *arg);

/* Parses the option at argv[i] into `opts` by `table`. With `nested` (the
 * stage is one of a `run` chain) own_command_only entries are skipped.
 * Returns the argv entries used (1 or 2), 0 if no entry matches, -1 with the
 * message set (AE_ERR_ARG) when the value is missing or refused. */
int ae_opts_parse(const ae_opt *table, void *opts, int argc, char **argv, int i, int nested);

/* Writes one help entry per option of `table` to f: name, value, help text
 * wrapped at 79 columns and the default. `defaults` is an options struct as
 * opts_init leaves it (may be NULL: only the `def` strings are shown). */
void ae_opts_help(FILE *f, const ae_opt *table, const void *defaults);

#endif
