/* cuda_backend.h - internal controls of the CUDA backend (src/backend/cuda.c),
 * for tests and benchmarks; the engine itself only uses backend.h. Defined
 * only in AE_HAVE_CUDA builds. */
#ifndef ASTROENH_CUDA_BACKEND_H
#define ASTROENH_CUDA_BACKEND_H

#include "astroenh/backend.h"

/* Switches a backend made by ae_backend_cuda_create between "fp32" (TF32
 * allowed) and "fp16" (it is made with ae_backend_precision()). Caches are keyed
 * by precision, so switching is safe between ops. AE_ERR_ARG for another name. */
ae_status ae_backend_cuda_set_precision(ae_backend *be, const char *name);
const char *ae_backend_cuda_precision(const ae_backend *be); /* "fp32" | "fp16" */

/* One line describing the device: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs,
 * 79 GiB), driver CUDA 13.0, runtime 13.0, cuDNN 91900, fp32". */
const char *ae_backend_cuda_describe(const ae_backend *be);

/* Device weight copies cached so far (floats and halves), for tests. */
size_t ae_backend_cuda_cached_weights(const ae_backend *be);

#endif
