# astroenh - build, test, demo, data, training, eval.
#
#   make            CPU build (plus CUDA when nvcc and cuDNN are found) -> ./astroenh
#   make demo       run astroenh on data/samples/ into out/
#   make test       unit + golden + CLI tests, the same under ASan/UBSan, short fuzz runs
#   make bench      engine/stage benchmarks against PyTorch / OpenCV in one run
#   V=1             show the commands;  SANITIZE=1  ASan+UBSan build in build-asan/
#   CUDA=0          never build the CUDA backend
#   CUDA_HOME=...   CUDNN_INC=... CUDNN_LIB=...   where to find CUDA and cuDNN

VERSION := 0.1.0
CC      ?= cc
ifeq ($(CC),cc)
CC := gcc
endif
PYTHON  ?= $(shell for p in python3 /usr/bin/python3; do $$p -c 'import torch' >/dev/null 2>&1 && { echo $$p; break; }; done)
# scripts that only need numpy/PIL/skimage/opencv use Debian's interpreter first
PYTHON_SCI ?= $(shell for p in /usr/bin/python3 python3; do $$p -c 'import numpy' >/dev/null 2>&1 && { echo $$p; break; }; done)

ifeq ($(SANITIZE),1)
BUILD   := build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     := -O1 -g
else
BUILD   := build
SANFLAGS :=
OPT     ?= -O3 -march=x86-64-v2 -g
endif

WARN    := -Wall -Wextra -Wno-unused-parameter
ifneq ($(CI)$(WERROR),)
WARN    += -Werror
endif
CPPFLAGS += -Iinclude -DAE_VERSION='"$(VERSION)"' -D_GNU_SOURCE
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) $(WARN) -fopenmp -MMD -MP $(SANFLAGS)
LDLIBS  += -lcfitsio -lwcs -lpng -ljpeg -lopenblas -lcjson -lz -lm -lpthread
LDFLAGS += -fopenmp $(SANFLAGS)

# ---- CUDA (issue 7): built when nvcc and cudnn.h are found, CUDA=0 disables
CUDA_HOME ?= /usr/local/cuda
NVCC      ?= $(CUDA_HOME)/bin/nvcc
CUDNN_INC ?= $(CUDA_HOME)/include
CUDNN_LIB ?= $(CUDA_HOME)/lib64
CU_SRC  := $(wildcard kernels/*.cu)
ifneq ($(CUDA),0)
ifneq ($(wildcard $(NVCC)),)
ifneq ($(wildcard $(CUDNN_INC)/cudnn.h),)
ifneq ($(CU_SRC),)
HAVE_CUDA := 1
endif
endif
endif
endif
ifeq ($(HAVE_CUDA),1)
CPPFLAGS += -DAE_HAVE_CUDA -I$(CUDA_HOME)/include -I$(CUDNN_INC)
# SASS for A100 (sm_80) and H100/H200 (sm_90), PTX of sm_90 for newer GPUs
NVFLAGS  ?= -O3 -std=c++17 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
            -gencode arch=compute_90,code=compute_90 -Xcompiler -fPIC
# cuBLAS is not linked: src/backend/cuda.c dlopens it (linking libcublasLt costs every
# astroenh process ~0.6 s of CPU at start-up, GPU or not)
LDLIBS   += -L$(CUDA_HOME)/lib64 -L$(CUDNN_LIB) -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDNN_LIB) \
            -lcudnn -lcudart -lstdc++
CU_OBJ   := $(CU_SRC:%.cu=$(BUILD)/%.o)
endif

LIB_SRC := $(sort $(shell find src -name '*.c' ! -path 'src/cli/*'))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(CU_OBJ)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
# eval and bench: commands of the CLI, not part of the library
TOOLS_SRC := $(sort $(shell find tools -name '*.c'))
TOOLS_OBJ := $(TOOLS_SRC:%.c=$(BUILD)/%.o)
LIB_A   := $(BUILD)/libastroenh.a
TOOLS_A := $(BUILD)/libastroenh-tools.a
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(BUILD)/%.o)
BIN     := astroenh$(if $(filter 1,$(SANITIZE)),-asan,)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps demo test test-unit test-asan fuzz fuzz-smoke bench data train eval clean golden format
all: $(BIN)

# Installs the Debian packages once when a header or library is missing.
DEPS_STAMP := build/.deps-ok
deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/setup.sh
	$(Q)scripts/setup.sh --check >/dev/null 2>&1 || scripts/setup.sh
	$(Q)mkdir -p build && touch $@

# Rebuild everything when the flags change.
FLAGS_FILE := $(BUILD)/.flags
FLAGS_NOW  := $(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) $(LDLIBS) $(HAVE_CUDA)
$(FLAGS_FILE): FORCE | $(DEPS_STAMP)
	$(Q)mkdir -p $(BUILD)
	$(Q)echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' > $@
FORCE:

$(BUILD)/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/kernels/%.o: kernels/%.cu $(FLAGS_FILE) $(wildcard kernels/*.h include/astroenh/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NVCC    $<")
	$(Q)$(NVCC) $(NVFLAGS) -Iinclude -Ikernels -I$(CUDNN_INC) -c $< -o $@

# The library: everything under src/ but the CLI, plus the CUDA kernels.
# Written afresh with `ar q`: src/denoise/stage.o and src/upscale/stage.o share
# a member name, which `ar r` would replace instead of adding.
$(LIB_A): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) qcs $@ $^

# eval and bench, for the tests of their metrics and feature nets
$(TOOLS_A): $(TOOLS_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) qcs $@ $^

# The tools' objects are linked whole: the CLI reaches their commands through
# weak symbols (batch.h), which would not pull them out of an archive.
$(BIN): $(CLI_OBJ) $(TOOLS_OBJ) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(CLI_OBJ) $(TOOLS_OBJ) $(LIB_A) $(LDLIBS) -o $@

# The support objects are reached only through the pattern rule below, which
# would make them intermediate: make deleted them after the first build and
# rebuilt them on the next, relinking every test binary.
.SECONDARY: $(TEST_SUPPORT_OBJ)
$(BUILD)/tests/%: tests/%.c $(TOOLS_A) $(LIB_A) $(TEST_SUPPORT_OBJ) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $< $(TEST_SUPPORT_OBJ) $(TEST_EXTRA_OBJ) $(TOOLS_A) $(LIB_A) $(LDFLAGS) $(LDLIBS) -lcmocka -o $@
# test_batch checks the CLI's stage table
$(BUILD)/tests/test_batch: TEST_EXTRA_OBJ := $(BUILD)/src/cli/stages.o
$(BUILD)/tests/test_batch: $(BUILD)/src/cli/stages.o

# ---- tests: the unit/golden/CLI suite, then the same under ASan+UBSan, then fuzz smoke runs
# The three parts run one after another even under -j (their output would
# interleave), each runs to the end when another fails, and the summary line
# is printed in every case.
test:
	@rm -rf $(BUILD)/test-results build-asan/test-results build/fuzz-results
	@rc=0; \
	$(MAKE) --no-print-directory test-unit || rc=1; \
	$(MAKE) --no-print-directory test-asan || rc=1; \
	$(MAKE) --no-print-directory fuzz-smoke || rc=1; \
	tests/summarize.sh $(BUILD)/test-results build-asan/test-results build/fuzz-results || rc=1; \
	exit $$rc

test-unit: $(BIN) $(TEST_BIN)
	@tests/run_tests.sh $(BUILD) ./$(BIN)

test-asan:
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 astroenh-asan $(TEST_SRC:tests/%.c=build-asan/tests/%)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run_tests.sh build-asan ./astroenh-asan

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_LIB_SRC := $(filter-out src/backend/cuda%.c,$(LIB_SRC))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_LIB_A   := build/fuzz/libastroenh.a
# -Wno-pass-failed: at -O1 clang declines the `omp simd` loops and says so per
# loop; the fuzzers test parsing, not speed. The library is instrumented
# (fuzzer-no-link) once, into its own archive; libFuzzer's main comes in at
# the fuzzers' link.
FUZZ_CFLAGS := -std=c11 -g -O1 -Iinclude -DAE_VERSION='"$(VERSION)"' -D_GNU_SOURCE \
	    -fopenmp -Wno-unused-command-line-argument -Wno-pass-failed
build/fuzz/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CLANG   $<")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c $< -o $@
$(FUZZ_LIB_A): $(FUZZ_LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) qcs $@ $^
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_A) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $< $(FUZZ_LIB_A) $(filter-out -lcudnn -lcublas -lcudart -lstdc++,$(LDLIBS)) -o $@
fuzz: $(FUZZ_BIN)
# without clang the fuzzers are not built and smoke.sh records them as SKIP
fuzz-smoke: $(if $(shell command -v clang 2>/dev/null),$(FUZZ_BIN))
	@tests/fuzz/smoke.sh $(FUZZ_SEC) $(FUZZ_BIN)

# ---- the job on bundled samples
demo: $(BIN)
	@scripts/demo.sh ./$(BIN)

bench: $(BIN)
	./$(BIN) bench

data:
	$(PYTHON_SCI) scripts/make_data.py

golden:
	$(PYTHON) scripts/gen_golden.py

# the tables of eval/results.md and eval/figures/ from the shipped models (scripts/eval_all.py
# drives ./astroenh; metrics by `astroenh eval`); runs scripts/make_data.py first when needed.
# INCEPTION=FILE (pytorch-fid's weights via scripts/convert_inception.py): FID on InceptionV3 pool3
eval: $(BIN)
	$(PYTHON_SCI) scripts/eval_all.py --bin ./$(BIN) $(if $(INCEPTION),--inception $(INCEPTION))

format:
	clang-format --style=file -i $$(find src tools include tests kernels -name '*.[ch]' -o -name '*.cu')

clean:
	rm -rf build build-asan astroenh astroenh-asan

-include $(shell find build build-asan -name '*.d' 2>/dev/null)
