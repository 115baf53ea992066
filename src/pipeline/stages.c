/* stages.c - the table of processing stages compiled into this build.
 *
 * Each stage defines one `const ae_stage_def ae_stage_<name>` in its own
 * files. They are referenced here as weak symbols, so a build without a
 * stage still links and the stage is simply absent from ae_stages[]. The
 * table is filled once, before main (and again harmlessly at first use).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "astroenh/stage.h"

extern const ae_stage_def ae_stage_denoise __attribute__((weak));
extern const ae_stage_def ae_stage_colorize __attribute__((weak));
extern const ae_stage_def ae_stage_upscale __attribute__((weak));

#define AE_N_STAGES 3

/* stage.h declares the table const for its readers; it is written only here,
 * by fill_table(), through this alias. */
static const ae_stage_def *stage_table[AE_N_STAGES + 1];
extern const ae_stage_def *const ae_stages[AE_N_STAGES + 1] __attribute__((alias("stage_table")));

__attribute__((constructor)) static void fill_table(void) {
    const ae_stage_def *all[AE_N_STAGES] = {&ae_stage_denoise, &ae_stage_colorize,
                                            &ae_stage_upscale};
    int n = 0;
    for (int i = 0; i < AE_N_STAGES; i++)
        if (all[i]) stage_table[n++] = all[i];
    stage_table[n] = NULL;
}

const ae_stage_def *ae_stage_find(const char *name) {
    if (!stage_table[0]) fill_table();
    for (int i = 0; stage_table[i]; i++)
        if (strcmp(stage_table[i]->name, name) == 0) return stage_table[i];
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
