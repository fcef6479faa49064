# synack — the front door. `make demo` and `make test` install what is missing, build and run.
.DEFAULT_GOAL := help

BUILD       ?= build
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= $(if $(CI),10,60)
CMAKE_FLAGS ?=
FORMAT_FILES = $(shell git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' 2>/dev/null)
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format)

.PHONY: help deps configure build debug asan demo test test-release test-asan fuzz fuzz-build \
        format format-check no-clocks clean bench bench-loss

help:
	@echo "make demo    install deps, build, watch the Linux kernel's TCP traced by synack"
	@echo "make test    install deps, build Release and ASan+UBSan, run every test, format check, fuzz briefly"
	@echo "make build   Release build in $(BUILD)/release (synack binary: $(BUILD)/release/synack)"
	@echo "make fuzz    run every fuzz target for FUZZ_SECONDS (default 60) each"
	@echo "make format  apply .clang-format to every C++ file"
	@echo "make bench   the benchmark table: synack vs the Linux kernel and lwIP (root; < 10 min)"
	@echo "make bench-loss  goodput under loss, synack vs the kernel through TUN (root; ~90 s)"

deps:
	@scripts/install-deps

$(BUILD)/%/build.ninja: CMakeLists.txt
	@cmake -S . -B $(BUILD)/$* -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE_$*) $(CMAKE_FLAGS) >/dev/null

BUILD_TYPE_release = Release
BUILD_TYPE_debug   = Debug
BUILD_TYPE_asan    = Asan

configure: deps $(BUILD)/release/build.ninja

build: deps $(BUILD)/release/build.ninja
	@cmake --build $(BUILD)/release -j $(JOBS)

debug: deps $(BUILD)/debug/build.ninja
	@cmake --build $(BUILD)/debug -j $(JOBS)

asan: deps $(BUILD)/asan/build.ninja
	@cmake --build $(BUILD)/asan -j $(JOBS)

demo: build
	@scripts/demo $(BUILD)/release/synack

bench: build
	@bench/run.py --build $(BUILD)/release

bench-loss: build
	@bench/loss.sh $(BUILD)/release/synack

test-release: build
	@cd $(BUILD)/release && ctest --output-on-failure -j $(JOBS)

test-asan: asan
	@cd $(BUILD)/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

test: deps format-check no-clocks test-release test-asan
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(if $(CI),10,$(FUZZ_SECONDS_TEST))
	@echo "make test: all passed"

FUZZ_SECONDS_TEST ?= 5

fuzz-build: deps
	@cmake -S . -B $(BUILD)/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Fuzz \
	  -DCMAKE_CXX_COMPILER=clang++ $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD)/fuzz -j $(JOBS)

fuzz: fuzz-build
	@scripts/run-fuzzers $(BUILD)/fuzz $(FUZZ_SECONDS)

# wire/ and tcp/ run on injected time only (STYLE.md §2): no clock may be read there.
no-clocks:
	@! grep -rnE 'steady_clock|system_clock|high_resolution_clock|gettimeofday|clock_gettime|[^_a-z]time\(' \
	  src/wire src/tcp include/synack/wire include/synack/tcp || \
	  { echo "no-clocks: a clock is read in wire/ or tcp/ (time must come in as an argument)" >&2; exit 1; }

format:
	@$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES) || \
	  { echo "format-check: run 'make format'" >&2; exit 1; }

clean:
	rm -rf $(BUILD)
