/* cmd_slurm.c - one batch as a Slurm job array.
 *
 * `--shard I/N` (every file command) keeps the files of one array task, and
 * with --json frames its per-file lines with a start and an end line.
 * `astroenh slurm [sbatch options] -- COMMAND ...` writes an array script
 * (task I runs COMMAND --shard I/N --skip-existing --json into its own log)
 * beside a manifest of the command, and submits it with sbatch; submitting
 * the same command again finishes what the first array left undone.
 * `slurm-summary` (cmd_slurm_summary.c) reads the logs back.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"

#define MAX_SHARDS 1000000
#define MANIFEST "astroenh-slurm.json"
#define SCRIPT "astroenh-slurm.sh"

double cli_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- --shard ---- */

static int env_long(const char *name, long *v) {
    const char *s = getenv(name);
    char *end;
    if (!s || !s[0]) return -1;
    errno = 0;
    *v = strtol(s, &end, 10);
    return errno || *end ? -1 : 0;
}

static int shard_from_slurm(int *index, int *count) {
    long id, min, n, step = 1;
    if (env_long("SLURM_ARRAY_TASK_ID", &id) || env_long("SLURM_ARRAY_TASK_MIN", &min) ||
        env_long("SLURM_ARRAY_TASK_COUNT", &n)) {
        return ae_error_set(AE_ERR_ARG, "--shard auto: not a Slurm array task (SLURM_ARRAY_TASK_ID, "
                                        "SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT must be set)"), -1;
    }
    if (getenv("SLURM_ARRAY_TASK_STEP") && (env_long("SLURM_ARRAY_TASK_STEP", &step) || step < 1)) step = 1;
    long k = id - min;
    if (n < 1 || n > MAX_SHARDS || k < 0 || k % step || k / step >= n) {
        return ae_error_set(AE_ERR_ARG, "--shard auto: task %ld is not one of %ld tasks from %ld in steps of %ld; "
                                        "auto needs one array of evenly spaced tasks, else use --shard I/N",
                            id, n, min, step), -1;
    }
    *index = (int)(k / step);
    *count = (int)n;
    return 0;
}

int cli_parse_shard(const char *v, int *index, int *count) {
    if (!strcmp(v, "auto")) return shard_from_slurm(index, count);
    const char *slash = strchr(v, '/');
    long i = -1, n = -1;
    if (slash && v[0] >= '0' && v[0] <= '9' && slash[1] >= '0' && slash[1] <= '9') {
        char *end;
        errno = 0;
        i = strtol(v, &end, 10);
        if (end != slash) i = -1;
        n = strtol(slash + 1, &end, 10);
        if (*end || errno) n = -1;
    }
    if (i < 0 || n < 1 || n > MAX_SHARDS || i >= n) {
        return ae_error_set(AE_ERR_ARG, "bad value '%s' for --shard (I/N with 0 <= I < N <= %d, or auto)", v,
                            MAX_SHARDS), -1;
    }
    *index = (int)i;
    *count = (int)n;
    return 0;
}

/* ---- the lines that frame a shard's --json output ---- */

void cli_shard_json_start(const cli_opts *o, int files) {
    if (!o->json || !o->shard_count) return;
    char host[256] = "", line[1024];
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    snprintf(line, sizeof line, "{\"event\": \"start\", \"command\": ");
    ae_json_append_string(line, sizeof line, o->cmd);
    size_t n = strlen(line);
    snprintf(line + n, sizeof line - n, ", \"shard\": %d, \"shards\": %d, \"files\": %d, \"pid\": %ld, \"host\": ",
             o->shard_index, o->shard_count, files, (long)getpid());
    ae_json_append_string(line, sizeof line, host);
    strcat(line, ", \"slurm_job\": ");
    ae_json_append_string(line, sizeof line, getenv("SLURM_JOB_ID"));
    printf("%s}\n", line);
    fflush(stdout);
}

void cli_shard_json_end(const cli_opts *o, int ok, int failed, int skipped, double seconds) {
    if (!o->json || !o->shard_count) return;
    printf("{\"event\": \"end\", \"shard\": %d, \"shards\": %d, \"ok\": %d, \"failed\": %d, \"skipped\": %d, "
           "\"seconds\": %.3f}\n", o->shard_index, o->shard_count, ok, failed, skipped, seconds);
    fflush(stdout);
}

/* ---- astroenh slurm ---- */

static const char k_slurm_help[] =
    "usage: astroenh slurm --shards N [options] [SBATCH OPTION...] -- COMMAND [OPTION...] IN... [-o OUT]\n\n"
    "Submits COMMAND (info, convert, denoise, colorize, upscale, run) as a Slurm job\n"
    "array of N tasks: task I runs 'astroenh COMMAND --shard I/N --skip-existing --json'\n"
    "and writes its per-file JSON lines to LOGDIR/shard-I.JOBID.json. Submitting the\n"
    "same command again finishes only the files that are not done.\n\n"
    "Options:\n";

static const char k_slurm_help_tail[] =
    "\nEvery other option before '--' goes to sbatch (-p, -t, --cpus-per-task, --mem, ...;\n"
    "not --array). With sbatch's --wait, the summary is printed when the array ends.\n"
    "Each task uses SLURM_CPUS_PER_TASK threads unless COMMAND has --threads.\n\n"
    "Exit status: 0 submitted (with --wait: every file done), 1 failed, 2 usage error.\n"
    "See also: astroenh slurm-summary LOGDIR\n";

typedef struct {
    int shards, max_running;
    int no_submit, wait, help;
    const char *log_dir;
    char **sbatch; /* sbatch's options, pointers into argv */
    int n_sbatch;
    char **cmd;    /* the astroenh command after "--" */
    int n_cmd;
} slurm_opts;

#define OFF(field) offsetof(slurm_opts, field)

static const ae_opt k_slurm_options[] = {
    {.name = "--shards", .kind = AE_OPT_INT, .off = OFF(shards), .lo = 1, .hi = MAX_SHARDS, .arg = "N", .def = "",
     .help = "number of array tasks (Slurm's MaxArraySize caps it)"},
    {.name = "--log-dir", .kind = AE_OPT_PATH, .off = OFF(log_dir), .arg = "DIR",
     .help = "logs, script and manifest"},
    {.name = "--max-running", .kind = AE_OPT_INT, .off = OFF(max_running), .lo = 1, .hi = MAX_SHARDS, .arg = "M",
     .def = "", .help = "at most M tasks at once (--array=0-N-1%M)"},
    {.name = "--no-submit", .kind = AE_OPT_FLAG, .off = OFF(no_submit), .flag_value = 1,
     .help = "write the script and print the sbatch command, submit nothing"},
    {.name = "--help", .alias = "-h", .kind = AE_OPT_FLAG, .off = OFF(help), .flag_value = 1, .help = "this help"},
    {.name = NULL}};

/* One of our options at argv[i]: entries used, 0 if not ours, -1 after a usage error. */
static int slurm_own_opt(slurm_opts *s, int argc, char **argv, int i) {
    ae_error_clear();
    int n = ae_opts_parse(k_slurm_options, s, argc, argv, i, 0);
    if (n < 0) cli_usage_error("slurm", "%s", ae_error_message());
    return n;
}

static int parse_slurm_args(slurm_opts *s, int argc, char **argv) {
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--"); ) {
        int n = slurm_own_opt(s, argc, argv, i);
        if (n < 0) return CLI_EXIT_USAGE;
        if (n > 0) {
            i += n;
            continue;
        }
        const char *a = argv[i];
        if (!strncmp(a, "--array", 7) || (a[0] == '-' && a[1] == 'a'))
            return cli_usage_error("slurm", "the array is --shards N (and --max-running M), not %s", a);
        if (!strcmp(a, "--wait") || !strcmp(a, "-W")) s->wait = 1;
        s->sbatch[s->n_sbatch++] = argv[i++];
    }
    if (s->help) return 0;
    if (i >= argc - 1) return cli_usage_error("slurm", "no command: put the astroenh command after '--'");
    s->cmd = argv + i + 1;
    s->n_cmd = argc - i - 1;
    if (s->shards < 1) return cli_usage_error("slurm", "missing --shards N");
    return 0;
}

static int check_command(const slurm_opts *s) {
    const char *c = s->cmd[0];
    if (strcmp(c, "info") && strcmp(c, "convert") && strcmp(c, "run") && !ae_stage_find(c))
        return cli_usage_error("slurm", "'%s' is not a file command (info, convert, a stage, run)", c);
    for (int i = 1; i < s->n_cmd && strcmp(s->cmd[i], "--"); i++)
        if (!strncmp(s->cmd[i], "--shard", 7) && (s->cmd[i][7] == '\0' || s->cmd[i][7] == '='))
            return cli_usage_error("slurm", "COMMAND must not have --shard: each task gets its own");
    return 0;
}

/* The log directory, made and resolved; its name goes unquoted into
 * #SBATCH lines and Slurm's %-patterns, so characters that mean something
 * there are refused. Caller frees. */
static char *prepare_log_dir(const char *dir) {
    if (ae_output_make_dir(dir) != AE_OK) {
        fprintf(stderr, "astroenh: slurm: %s\n", ae_error_message());
        return NULL;
    }
    char *abs = realpath(dir, NULL);
    if (!abs) fprintf(stderr, "astroenh: slurm: %s: %s\n", dir, strerror(errno));
    else if (strpbrk(abs, " \t\n'\"\\$`%")) {
        cli_usage_error("slurm", "the log directory '%s' has a space, quote, '$', '`', '\\' or '%%'; "
                                 "choose another --log-dir", abs);
        free(abs);
        return NULL;
    }
    return abs;
}

static char *manifest_text(const slurm_opts *s, const char *cwd) {
    cJSON *m = cJSON_CreateObject(), *cmd = cJSON_CreateArray();
    if (!m || !cmd) {
        cJSON_Delete(m);
        cJSON_Delete(cmd);
        return NULL;
    }
    cJSON_AddNumberToObject(m, "shards", (double)s->shards);
    cJSON_AddStringToObject(m, "cwd", cwd);
    for (int i = 0; i < s->n_cmd; i++) cJSON_AddItemToArray(cmd, cJSON_CreateString(s->cmd[i]));
    cJSON_AddItemToObject(m, "command", cmd);
    char *t = cJSON_Print(m);
    cJSON_Delete(m);
    return t;
}

static char *read_small_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 20);
    if (buf && fread(buf, 1, (1 << 20) - 1, f) == 0 && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* A log directory serves one command: a resubmission of it adds logs, a
 * different command would mix its files into the summary. */
static int write_manifest(const char *dir, const char *text) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
    char *old = read_small_file(path);
    int same = old && !strcmp(old, text);
    free(old);
    if (old && !same)
        return cli_usage_error("slurm", "%s holds the logs of another command (see %s): use another --log-dir",
                               dir, path);
    if (same) return 0;
    if (ae_output_write_text(text, strlen(text), path, NULL) != AE_OK) {
        fprintf(stderr, "astroenh: slurm: %s\n", ae_error_message());
        return CLI_EXIT_FAILED;
    }
    return 0;
}

static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

static char *script_text(const slurm_opts *s, const char *dir, const char *cwd, const char *bin) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    fprintf(f, "#!/bin/bash\n# Written by 'astroenh slurm': array task I processes shard I/%d of the files.\n"
               "# --skip-existing: a resubmitted array finishes only what is missing.\n", s->shards);
    fprintf(f, "#SBATCH --array=0-%d", s->shards - 1);
    if (s->max_running > 0) fprintf(f, "%%%d", s->max_running);
    fprintf(f, "\n#SBATCH --job-name=astroenh-%s\n#SBATCH --output=%s/shard-%%a.%%A.out\n", s->cmd[0], dir);
    fputs("cd ", f);
    put_quoted(f, cwd);
    fputs(" || exit 1\nexec ", f);
    put_quoted(f, bin);
    fputc(' ', f);
    put_quoted(f, s->cmd[0]);
    fprintf(f, " --shard \"$SLURM_ARRAY_TASK_ID/%d\" --skip-existing --json", s->shards);
    for (int i = 1; i < s->n_cmd; i++) {
        fputc(' ', f);
        put_quoted(f, s->cmd[i]);
    }
    fprintf(f, " >\"%s/shard-$SLURM_ARRAY_TASK_ID.$SLURM_ARRAY_JOB_ID.json\"\n", dir);
    fclose(f);
    return buf;
}

/* The tuned OpenBLAS/OpenMP settings main.c gave this process suit this
 * CPU, not the compute nodes': the jobs (sbatch exports our environment)
 * choose their own. */
static void drop_reexec_env(void) {
    const char *set = getenv("AE_REEXECED");
    char names[128];
    if (!set) return;
    snprintf(names, sizeof names, "%s", set);
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save)) unsetenv(t);
    unsetenv("AE_REEXECED");
}

static int run_sbatch(const slurm_opts *s, const char *script) {
    char **args = calloc((size_t)s->n_sbatch + 3, sizeof *args);
    if (!args) return CLI_EXIT_FAILED;
    int n = 0;
    args[n++] = "sbatch";
    for (int i = 0; i < s->n_sbatch; i++) args[n++] = s->sbatch[i];
    args[n++] = (char *)script;
    if (s->no_submit) {
        for (int i = 0; i < n; i++) printf("%s%s", i ? " " : "", args[i]);
        printf("\n");
        free(args);
        return 0;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        drop_reexec_env();
        execvp("sbatch", args);
        fprintf(stderr, "astroenh: slurm: cannot run sbatch: %s\n", strerror(errno));
        _exit(127);
    }
    free(args);
    int ws = 0;
    if (pid < 0 || waitpid(pid, &ws, 0) < 0) {
        fprintf(stderr, "astroenh: slurm: cannot run sbatch: %s\n", strerror(errno));
        return CLI_EXIT_FAILED;
    }
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Writes manifest and script into the resolved log dir; 0 or an exit status. */
static int write_job_files(const slurm_opts *s, const char *dir, char *script, size_t cap) {
    char cwd[PATH_MAX], bin[PATH_MAX];
    ssize_t bl = readlink("/proc/self/exe", bin, sizeof bin - 1);
    if (!getcwd(cwd, sizeof cwd) || bl <= 0) {
        fprintf(stderr, "astroenh: slurm: cannot tell the working directory or this program's path\n");
        return CLI_EXIT_FAILED;
    }
    bin[bl] = '\0';
    char *man = manifest_text(s, cwd);
    int rc = man ? write_manifest(dir, man) : CLI_EXIT_FAILED;
    free(man);
    char *text = rc ? NULL : script_text(s, dir, cwd, bin);
    snprintf(script, cap, "%s/%s", dir, SCRIPT);
    if (!rc && (!text || ae_output_write_text(text, strlen(text), script, NULL) != AE_OK)) {
        fprintf(stderr, "astroenh: slurm: %s\n", text ? ae_error_message() : "out of memory");
        rc = CLI_EXIT_FAILED;
    }
    free(text);
    return rc;
}

int cli_cmd_slurm(int argc, char **argv) {
    const slurm_opts defaults = {.log_dir = "astroenh-slurm-logs"};
    slurm_opts s = defaults;
    s.sbatch = calloc((size_t)argc, sizeof *s.sbatch);
    if (!s.sbatch) return CLI_EXIT_FAILED;
    int rc = parse_slurm_args(&s, argc, argv);
    if (!rc && s.help) {
        fputs(k_slurm_help, stdout);
        ae_opts_help(stdout, k_slurm_options, &defaults);
        fputs(k_slurm_help_tail, stdout);
        free(s.sbatch);
        return CLI_EXIT_OK;
    }
    if (!rc) rc = check_command(&s);
    char *dir = rc ? NULL : prepare_log_dir(s.log_dir);
    if (!rc && !dir) rc = CLI_EXIT_FAILED;
    char script[PATH_MAX + 32];
    if (!rc) rc = write_job_files(&s, dir, script, sizeof script);
    if (!rc) {
        int sb = run_sbatch(&s, script);
        if (sb != 0 && !s.wait) {
            fprintf(stderr, "astroenh: slurm: sbatch failed (exit status %d)\n", sb);
            rc = CLI_EXIT_FAILED;
        } else if (s.wait && !s.no_submit) {
            rc = cli_slurm_summary(dir, 0);
        } else if (!s.no_submit) {
            fprintf(stderr, "astroenh: slurm: %d tasks submitted; logs in %s\n"
                            "  when they are done: astroenh slurm-summary %s\n"
                            "  the same command again finishes whatever is left undone\n", s.shards, dir, dir);
        }
    }
    free(dir);
    free(s.sbatch);
    return rc;
}
