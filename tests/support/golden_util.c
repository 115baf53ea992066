/* golden_util.c - see golden_util.h. */
#include <math.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "golden_util.h"
#include "astroenh/io.h"

ae_tensor golden_tensor(ae_weights *w, const char *name) {
    int64_t shape[AE_WEIGHTS_MAX_NDIM];
    int nd = ae_weights_shape(w, name, shape, AE_WEIGHTS_MAX_NDIM);
    if (nd < 1 || nd > 4) fail_msg("golden tensor %s: missing or rank %d", name, nd);
    const float *p = NULL;
    if (ae_weights_get(w, name, nd, shape, &p) != AE_OK) fail_msg("%s", ae_error_message());
    int d[4] = {1, 1, 1, 1};
    if (nd == 1)
        d[1] = (int)shape[0];
    else
        for (int i = 0; i < nd; i++) d[i] = (int)shape[i];
    return ae_tensor_make((float *)(uintptr_t)p, d[0], d[1], d[2], d[3]);
}

const float *golden_data(ae_weights *w, const char *name) { return golden_tensor(w, name).data; }

int golden_int(ae_weights *w, const char *key) {
    const char *s = ae_weights_meta(w, key);
    if (!s) fail_msg("golden metadata %s missing", key);
    return atoi(s);
}

size_t golden_compare(const char *what, const float *got, const float *ref, size_t n, float atol,
                      float rtol) {
    size_t bad = 0, first = (size_t)-1;
    double maxerr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)ref[i]);
        if (!(e <= atol + rtol * fabs((double)ref[i]))) {
            if (!bad) first = i;
            bad++;
        }
        if (e > maxerr || isnan(e)) maxerr = e;
    }
    if (bad)
        printf("  %-22s FAIL %zu/%zu outside atol=%g rtol=%g, max abs err %.3g, first at %zu: "
               "got %.7g, ref %.7g\n", what, bad, n, (double)atol, (double)rtol, maxerr, first,
               (double)got[first], (double)ref[first]);
    else
        printf("  %-22s ok   n=%zu max abs err %.3g (atol=%g rtol=%g)\n", what, n, maxerr,
               (double)atol, (double)rtol);
    return bad;
}

ae_tensor golden_alloc(int n, int c, int h, int w) {
    float *p = calloc((size_t)n * c * h * w, sizeof(float));
    if (!p) fail_msg("out of memory");
    return ae_tensor_make(p, n, c, h, w);
}

ae_weights *golden_for_model(const char *golden, const char *model, const char *regen) {
    ae_weights *G = NULL;
    char have[65];
    assert_int_equal(ae_weights_open(&G, golden), AE_OK);
    assert_int_equal(ae_sha256_file(model, have), AE_OK);
    const char *want = ae_weights_meta(G, "model_sha256");
    if (!want || strcmp(want, have) != 0)
        fail_msg("%s was made from another %s (%s, now %s): run %s", golden, model, want ? want : "none", have,
                 regen);
    return G;
}
