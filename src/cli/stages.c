/* stages.c - the stages the CLI offers, in the order of `--help` and
 * `--list-stages`.
 *
 * Each stage defines one `const ae_stage_def ae_stage_<name>` in its own
 * folder of the library (src/denoise/, src/colorize/, src/upscale/); this
 * table is the one place that lists them. Its references pull the stages out
 * of libastroenh.a.
 */
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
