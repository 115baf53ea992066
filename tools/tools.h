/* tools.h - the commands of tools/ (eval, bench), which the CLI links in but
 * the library does not hold. Called with argv[0] = "eval" / "bench" and the
 * rest of the command line; they return the process exit status. */
#ifndef ASTROENH_TOOLS_H
#define ASTROENH_TOOLS_H

int ae_cmd_eval(int argc, char **argv);  /* tools/eval/cmd_eval.c */
int ae_cmd_bench(int argc, char **argv); /* tools/bench/bench_engine.c */

#endif
