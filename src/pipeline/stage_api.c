/* stage_api.c - helpers every stage shares (stage.h): its --json members and
 * one option parsed by its table. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "astroenh/stage.h"
#include "astroenh/status.h"
#include "options.h"

void ae_result_json(ae_result *res, const char *fmt, ...) {
    size_t len = strlen(res->json);
    if (len + 3 >= sizeof res->json) return;
    if (len > 0) {
        memcpy(res->json + len, ", ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(res->json + len, sizeof res->json - len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof res->json - len) {
        /* a member that does not fit is dropped whole, keeping the JSON valid */
        res->json[len > 2 ? len - 2 : 0] = '\0';
    }
}

int ae_stage_parse_opt(const ae_stage_def *def, void *opts, int argc, char **argv, int i) {
    return ae_opts_parse(def->options, opts, argc, argv, i, 0);
}
