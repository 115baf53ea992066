/* stage_api.c - helpers every stage shares (stage.h): its --json members and
 * the one way an option's value is taken from the command line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "astroenh/stage.h"
#include "astroenh/status.h"

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

int ae_opt_value(int argc, char **argv, int i, const char *name, const char **val) {
    size_t n = strlen(name);
    if (strncmp(argv[i], name, n)) return 0;
    if (argv[i][n] == '=') {
        *val = argv[i] + n + 1;
        return 1;
    }
    if (argv[i][n]) return 0;
    if (i + 1 >= argc) return ae_error_set(AE_ERR_ARG, "option %s needs a value", name), -1;
    *val = argv[i + 1];
    return 2;
}
