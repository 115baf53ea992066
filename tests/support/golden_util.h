/* golden_util.h - shared helpers of the engine's golden tests: read tensors
 * from a safetensors file in tests/golden/ as ae_tensor views, and compare
 * with |got - ref| <= atol + rtol*|ref|, printing the max abs error and the
 * first mismatch. */
#ifndef ASTROENH_TESTS_GOLDEN_UTIL_H
#define ASTROENH_TESTS_GOLDEN_UTIL_H

#include <stddef.h>
#include "astroenh/safetensors.h"
#include "astroenh/tensor.h"

/* The tensor `name` of any rank <= 4 as an NCHW view (rank 2 [a, b] -> a x b x 1 x 1,
 * rank 1 [a] -> 1 x a x 1 x 1). Fails the test when missing. */
ae_tensor golden_tensor(ae_weights *w, const char *name);
const float *golden_data(ae_weights *w, const char *name);
int golden_int(ae_weights *w, const char *key); /* fails the test when absent */

/* Number of elements outside tolerance (0 = pass); prints one summary line. */
size_t golden_compare(const char *what, const float *got, const float *ref, size_t n, float atol,
                      float rtol);

/* Opens the golden `golden`, made from the model file `model`: fails the test
 * (naming `regen`, the command that remakes it) unless its metadata
 * model_sha256 is the model's SHA-256, so a new model needs a new golden. */
ae_weights *golden_for_model(const char *golden, const char *model, const char *regen);

/* A zeroed host tensor of the given shape (free ->data with free()). */
ae_tensor golden_alloc(int n, int c, int h, int w);

#endif
