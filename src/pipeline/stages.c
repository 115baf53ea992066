/* stages.c - the table of processing stages compiled into this build.
 *
 * Each stage defines one `const ae_stage_def ae_stage_<name>` in its own
 * files. The references below are ordinary (not weak) ones, so that linking
 * this table from libastroenh.a also pulls in every stage.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "astroenh/stage.h"

extern const ae_stage_def ae_stage_denoise;
extern const ae_stage_def ae_stage_colorize;
extern const ae_stage_def ae_stage_upscale;

const ae_stage_def *const ae_stages[] = {&ae_stage_denoise, &ae_stage_colorize, &ae_stage_upscale,
                                         NULL};

const ae_stage_def *ae_stage_find(const char *name) {
    for (int i = 0; ae_stages[i]; i++)
        if (strcmp(ae_stages[i]->name, name) == 0) return ae_stages[i];
    return NULL;
}

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
