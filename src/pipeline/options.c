/* options.c - the one command-line option parser (options.h): reads an
 * ae_opt table, checks ranges and enum values, and prints the table as help.
 * The messages are the CLI's ("bad value 'X' for --name (...)"); the caller
 * prints them with the command's name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "astroenh/status.h"
#include "options.h"

#define HELP_COL 24   /* where the help text starts */
#define HELP_WIDTH 79 /* where it wraps */
#define NBSP '\x01'    /* a space help does not break a line at */

static void *field(void *opts, size_t off) { return (char *)opts + off; }
static const void *cfield(const void *opts, size_t off) { return (const char *)opts + off; }

/* 1 if arg is `name` or `name=...`; *value then points after the '=' (or is NULL). */
static int match(const char *name, const char *arg, const char **value) {
    size_t n = name ? strlen(name) : 0;
    if (!n || strncmp(arg, name, n) || (arg[n] && arg[n] != '=')) return 0;
    *value = arg[n] ? arg + n + 1 : NULL;
    return 1;
}

const ae_opt *ae_opts_find(const ae_opt *table, const char *arg) {
    const char *v;
    for (const ae_opt *o = table; o && o->name; o++)
        if (match(o->name, arg, &v) || match(o->alias, arg, &v)) return o;
    return NULL;
}

static int is_word(const ae_opt *o, const char *v) { return o->word && !strcmp(v, o->word); }

/* The message for a refused number: what is accepted, and o's word if any. */
static int bad_number(const ae_opt *o, const char *v, const char *what) {
    return ae_error_set(AE_ERR_ARG, "bad value '%s' for %s (%s%s%s)", v, o->name, what, o->word ? " or " : "",
                        o->word ? o->word : ""), -1;
}

static int set_int(const ae_opt *o, void *opts, const char *v) {
    long x = (long)o->word_value;
    if (!is_word(o, v)) {
        char *end;
        errno = 0;
        x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < o->lo || x > o->hi) {
            char what[96];
            snprintf(what, sizeof what, "an integer from %ld to %ld", (long)o->lo, (long)o->hi);
            return bad_number(o, v, what);
        }
    }
    *(int *)field(opts, o->off) = (int)x;
    return 0;
}

static int set_float(const ae_opt *o, void *opts, const char *v) {
    double x = o->word_value;
    if (!is_word(o, v)) {
        char *end;
        errno = 0;
        x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= o->lo && x <= o->hi)) {
            char what[96];
            snprintf(what, sizeof what, "a number in [%g, %g]", o->lo, o->hi);
            return bad_number(o, v, what);
        }
    }
    *(float *)field(opts, o->off) = (float)x;
    return 0;
}

/* "a, b or c" into buf. */
static void list_choices(const ae_opt_choice *c, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; c[k].name && len < cap; k++) {
        const char *sep = k == 0 ? "" : c[k + 1].name ? ", " : " or ";
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", sep, c[k].name);
    }
}

static int set_enum(const ae_opt *o, void *opts, const char *v) {
    for (const ae_opt_choice *c = o->choices; c->name; c++)
        if (!strcmp(c->name, v)) {
            *(int *)field(opts, o->off) = c->value;
            return 0;
        }
    char list[256];
    list_choices(o->choices, list, sizeof list);
    return ae_error_set(AE_ERR_ARG, "bad value '%s' for %s (%s)", v, o->name, list), -1;
}

static int set_value(const ae_opt *o, void *opts, const char *v) {
    switch (o->kind) {
    case AE_OPT_INT: return set_int(o, opts, v);
    case AE_OPT_FLOAT: return set_float(o, opts, v);
    case AE_OPT_ENUM: return set_enum(o, opts, v);
    case AE_OPT_PATH:
        if (!*v) return ae_error_set(AE_ERR_ARG, "option %s needs a path, not an empty name", o->name), -1;
        /* fall through */
    case AE_OPT_STRING: *(const char **)field(opts, o->off) = v; return 0;
    case AE_OPT_FUNC: return o->parse(opts, v);
    case AE_OPT_FLAG: break;
    }
    return ae_error_set(AE_ERR_ARG, "option %s takes no value", o->name), -1;
}

int ae_opts_parse(const ae_opt *table, void *opts, int argc, char **argv, int i, int nested) {
    const ae_opt *o = ae_opts_find(table, argv[i]);
    if (!o || (nested && o->own_command_only)) return 0;
    const char *v = NULL;
    if (!match(o->name, argv[i], &v)) match(o->alias, argv[i], &v);
    int used = 1;
    if (o->kind == AE_OPT_FLAG) {
        if (v) return ae_error_set(AE_ERR_ARG, "option %s takes no value", o->name), -1;
        *(int *)field(opts, o->off) = o->flag_value;
    } else {
        if (!v && i + 1 >= argc) return ae_error_set(AE_ERR_ARG, "option %s needs a value", o->name), -1;
        if (!v) {
            v = argv[i + 1];
            used = 2;
        }
        if (set_value(o, opts, v)) return -1;
    }
    if (o->seen) *(int *)field(opts, o->seen - 1) = 1;
    return used;
}

/* ---- help ---- */

/* The default of o as help shows it, into buf ("" when none). */
static void default_text(const ae_opt *o, const void *d, char *buf, size_t cap) {
    buf[0] = '\0';
    if (o->def) {
        snprintf(buf, cap, "%s", o->def);
        return;
    }
    if (!d) return;
    if (o->kind == AE_OPT_INT) snprintf(buf, cap, "%d", *(const int *)cfield(d, o->off));
    else if (o->kind == AE_OPT_FLOAT) snprintf(buf, cap, "%g", (double)*(const float *)cfield(d, o->off));
    else if (o->kind == AE_OPT_ENUM) {
        int v = *(const int *)cfield(d, o->off);
        for (const ae_opt_choice *c = o->choices; c->name; c++)
            if (c->value == v) {
                snprintf(buf, cap, "%s", c->name);
                break;
            }
    } else if (o->kind == AE_OPT_STRING || o->kind == AE_OPT_PATH) {
        const char *s = *(const char *const *)cfield(d, o->off);
        if (s) snprintf(buf, cap, "%s", s);
    }
}

/* " (LO..HI, default X)" into buf: an int's range and the default, or "".
 * A short one is kept on one line (NBSP). */
static void suffix(const ae_opt *o, const void *defaults, char *buf, size_t cap) {
    char def[128], range[64] = "";
    default_text(o, defaults, def, sizeof def);
    if (o->kind == AE_OPT_INT) snprintf(range, sizeof range, "%ld..%ld", (long)o->lo, (long)o->hi);
    buf[0] = '\0';
    if (range[0] || def[0])
        snprintf(buf, cap, " (%s%s%s%s)", range, range[0] && def[0] ? ", " : "", def[0] ? "default " : "", def);
    if (strlen(buf) <= 32)
        for (char *c = buf + 1; *c; c++) *c = *c == ' ' ? NBSP : *c;
}

/* "  -o, --output OUT" into buf; its length. */
static int name_column(const ae_opt *o, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "  %s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "", o->name);
    if (o->kind == AE_OPT_FLAG || n < 0 || (size_t)n >= cap) return n;
    if (o->arg) return n + snprintf(buf + n, cap - (size_t)n, " %s", o->arg);
    for (const ae_opt_choice *c = o->choices; c && c->name && (size_t)n < cap; c++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%s", c == o->choices ? " " : "|", c->name);
    return n;
}

/* Writes text from column `col` on, wrapping at HELP_WIDTH; '\n' breaks a
 * line, NBSP is a space that does not. */
static void wrap(FILE *f, const char *text, int col) {
    int pos = col;
    for (const char *p = text; *p;) {
        if (*p == '\n' || *p == ' ') {
            if (*p == '\n') pos = HELP_WIDTH + 1; /* the next word starts a line */
            p++;
            continue;
        }
        int len = (int)strcspn(p, " \n");
        if (pos > col && pos + 1 + len > HELP_WIDTH) {
            fprintf(f, "\n%*s", col, "");
            pos = col;
        } else if (pos > col) {
            fputc(' ', f);
            pos++;
        }
        for (int k = 0; k < len; k++) fputc(p[k] == NBSP ? ' ' : p[k], f);
        pos += len;
        p += len;
    }
    fputc('\n', f);
}

void ae_opts_help(FILE *f, const ae_opt *table, const void *defaults) {
    for (const ae_opt *o = table; o && o->name; o++) {
        char head[160], def[256], text[1024];
        int n = name_column(o, head, sizeof head);
        fputs(head, f);
        if (n >= HELP_COL - 1) fprintf(f, "\n%*s", HELP_COL, "");
        else fprintf(f, "%*s", HELP_COL - n, "");
        suffix(o, defaults, def, sizeof def);
        snprintf(text, sizeof text, "%s%s", o->help ? o->help : "", def);
        wrap(f, text, HELP_COL);
    }
}
