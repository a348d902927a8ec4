# Thin wrapper around CMake.  Build trees live under build/ (git-ignored).
#
#   make | make build   configure + build build/release (RelWithDebInfo; library + examples)
#   make demo           build, then run the chapter 17 listings in order
#                       (LISTINGS="17_08 17_13" to pick some)
#   make test           every step below, in order, stopping at the first failure:
#     make test-format    make check-format
#     make test-lint      make lint
#     make test-native    build/native, WEFT_WERROR=ON, ctest
#     make test-uring     build/native's test_io, test_http, test_examples with
#                         WEFT_IO=uring (the io_uring backend of the reactor)
#     make test-asan      build/asan, WEFT_SANITIZE=address,undefined, ctest
#     make test-valgrind  the build/native suite under valgrind (ctest -C Valgrind -L valgrind)
#     make test-ucontext  build/ucontext, WEFT_UCONTEXT=ON, ctest
#     make test-aarch64   build/aarch64, cmake/toolchain-aarch64.cmake, ctest under qemu-aarch64
#     make test-tsan      build/tsan, WEFT_SANITIZE=thread: the cross-thread scenarios
#     make test-fault     build/fault, WEFT_FAULT_INJECTION=ON with ASan+UBSan: the failure walk
#     make test-fuzz      libFuzzer over the model-based test (FUZZ_RUNS=20000)
#   make bench          build/bench (Release, LTO) and run the benchmarks (BENCH=regex picks some)
#   make bench-compare  weft vs Go/Tokio ports, medians table (BENCH=regex, ROUNDS=3, QUICK=1)
#   make check-format   clang-format --dry-run over every C file (fails on a difference)
#   make format         clang-format -i over every C file
#   make lint           clang-tidy (.clang-tidy) and cppcheck over the library
#   make clean          remove build/
#
# Variables: JOBS (2), BUILD_TYPE (RelWithDebInfo), CMAKE_ARGS (added to every
# configure), CTEST_ARGS (added to every ctest), LISTINGS, DEMO_TIMEOUT.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.NOTPARALLEL:
.DEFAULT_GOAL := build
MAKEFLAGS += --no-print-directory

JOBS       ?= 2
BUILD_TYPE ?= RelWithDebInfo
CMAKE      ?= cmake
CTEST      ?= ctest
CMAKE_ARGS ?=
CTEST_ARGS ?=
B          := build
LOGS       := $(B)/logs

# Listings that end with a deadlock report and a non-zero exit (CHAPTER17.md).
DEMO_EXPECT_FAIL ?= 17_10 17_11
# Listings that never end by design: stopped after DEMO_ENDLESS_SECS.
DEMO_ENDLESS      ?= 17_36 17_38
DEMO_ENDLESS_SECS ?= 5
# Any other listing taking longer than this fails the demo.
DEMO_TIMEOUT      ?= 120
LISTINGS          ?=

TEST_STEPS := format lint native uring asan valgrind ucontext aarch64 tsan fault fuzz

# $(call configure,DIR,CMAKE OPTIONS)
define configure
echo "+ $(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(2) $(CMAKE_ARGS)"
$(CMAKE) -S . -B $(1) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(2) $(CMAKE_ARGS)
echo "+ $(CMAKE) --build $(1) -j$(JOBS)"
$(CMAKE) --build $(1) -j$(JOBS)
endef

# $(call ctest,DIR,STEP,EXTRA CTEST OPTIONS): log kept in build/logs/test-STEP.log
define ctest
mkdir -p $(LOGS)
echo "+ $(CTEST) --test-dir $(1) --output-on-failure --no-tests=error -j$(JOBS) $(3) $(CTEST_ARGS)"
$(CTEST) --test-dir $(1) --output-on-failure --no-tests=error -j$(JOBS) $(3) $(CTEST_ARGS) 2>&1 | tee $(LOGS)/test-$(2).log
endef

# $(call banner,TEXT)
define banner
printf '\n==== %s ==== [%s]\n' "$(1)" "$$(date +%T)"
endef

.PHONY: all build demo test test-native test-uring test-asan test-valgrind test-ucontext test-aarch64 test-tsan test-fault test-fuzz test-format test-lint bench bench-compare check-format format lint clean help

all: build

build:
	@scripts/deps.sh build
	$(call configure,$(B)/release,-DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=ON)

demo: build
	@scripts/demo.sh --dir $(B)/release/examples --timeout $(DEMO_TIMEOUT) \
	    --expect-fail "$(DEMO_EXPECT_FAIL)" --endless "$(DEMO_ENDLESS)" \
	    --endless-secs $(DEMO_ENDLESS_SECS) --www examples/www $(LISTINGS)

test:
	@scripts/deps.sh all
	start=$$(date +%s); times=""
	for step in $(TEST_STEPS); do
	    t0=$$(date +%s)
	    if ! $(MAKE) --no-print-directory test-$$step; then
	        before=$${times%,}
	        printf '\n==== make test: FAILED at test-%s (after %ss; passed before it:%s) ====\n' \
	            "$$step" "$$(( $$(date +%s) - t0 ))" "$${before:- none}" >&2
	        exit 1
	    fi
	    times="$$times $$step $$(( $$(date +%s) - t0 ))s,"
	done
	passed=0; failed=0
	for step in $(TEST_STEPS); do
	    [ -f $(LOGS)/test-$$step.log ] || continue   # format, lint: no ctest
	    line=$$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' $(LOGS)/test-$$step.log | tail -1 || true)
	    [ -n "$$line" ] || continue
	    total=$$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$$line")
	    bad=$$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$$line")
	    passed=$$(( passed + total - bad )); failed=$$(( failed + bad ))
	done
	printf '\n==== make test: all %d steps passed in %ss:%s ====\n' \
	    "$(words $(TEST_STEPS))" "$$(( $$(date +%s) - start ))" "$${times%,}"
	echo "ctest, all steps together:"
	echo "weft: $$passed passed, $$failed failed"

test-native:
	@$(call banner,test-native: native build (WEFT_WERROR=ON) + ctest)
	scripts/deps.sh native
	$(call configure,$(B)/native,-DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/native,native)

# The I/O suites again on the io_uring backend (WEFT_IO=uring; the suites
# check that it really is the backend in use).  Not under valgrind, which
# stays on epoll.
test-uring:
	@$(call banner,test-uring: build/native's I/O suites with WEFT_IO=uring)
	scripts/deps.sh native
	$(call configure,$(B)/native,-DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	export WEFT_IO=uring
	$(call ctest,$(B)/native,uring,-R '^test_(io|http|examples)$$')

test-asan:
	@$(call banner,test-asan: WEFT_SANITIZE=address$(,)undefined + ctest)
	scripts/deps.sh asan
	$(call configure,$(B)/asan,-DWEFT_SANITIZE=address$(,)undefined -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/asan,asan)

test-valgrind:
	@$(call banner,test-valgrind: the native suite under valgrind)
	scripts/deps.sh valgrind
	$(call configure,$(B)/native,-DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON -DWEFT_VALGRIND_TESTS=ON)
	$(call ctest,$(B)/native,valgrind,-C Valgrind -L valgrind)

test-ucontext:
	@$(call banner,test-ucontext: WEFT_UCONTEXT=ON + ctest)
	scripts/deps.sh native
	$(call configure,$(B)/ucontext,-DWEFT_UCONTEXT=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/ucontext,ucontext)

test-aarch64:
	@$(call banner,test-aarch64: cross build for aarch64 + ctest under qemu-aarch64)
	scripts/deps.sh aarch64
	$(call configure,$(B)/aarch64,-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/toolchain-aarch64.cmake -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/aarch64,aarch64)

test-tsan:
	@$(call banner,test-tsan: WEFT_SANITIZE=thread + the cross-thread scenarios)
	scripts/deps.sh native
	$(call configure,$(B)/tsan,-DWEFT_SANITIZE=thread -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=OFF)
	$(call ctest,$(B)/tsan,tsan)

test-fault:
	@$(call banner,test-fault: WEFT_FAULT_INJECTION=ON + ASan/UBSan: the failure walk)
	scripts/deps.sh asan
	$(call configure,$(B)/fault,-DWEFT_FAULT_INJECTION=ON -DWEFT_SANITIZE=address$(,)undefined -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=OFF)
	$(call ctest,$(B)/fault,fault,-R '^test_fault$$')

test-format: check-format
test-lint: lint

C_FILES = $$(git ls-files '*.c' '*.h' | grep -v '^bench/peers/')

check-format:
	@$(call banner,check-format: clang-format --dry-run --Werror)
	scripts/deps.sh lint
	clang-format --dry-run --Werror $(C_FILES)
	echo "check-format: ok"

format:
	clang-format -i $(C_FILES)

lint:
	@$(call banner,lint: clang-tidy + cppcheck)
	scripts/deps.sh lint
	$(CMAKE) -S . -B $(B)/lint -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=OFF >/dev/null
	clang-tidy -p $(B)/lint --quiet $$(git ls-files 'src/*.c' | grep -v '^src/arch/ucontext/')
	cppcheck -q --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -DWEFT_BUILDING=1 -I include -I src src
	echo "lint: ok"

# The model-based test's generator driven by libFuzzer (tests/fuzz_model.c),
# the library compiled in with ASan+UBSan so its switches are annotated.
FUZZ_RUNS ?= 20000
FUZZ_ARCH = $$(case "$$(uname -m)" in aarch64|arm64) echo aarch64;; *) echo x86_64;; esac)
test-fuzz:
	@$(call banner,test-fuzz: libFuzzer over the model ($(FUZZ_RUNS) runs))
	scripts/deps.sh fuzz
	mkdir -p $(B)/fuzz/corpus
	clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -D_GNU_SOURCE -DWEFT_BUILDING=1 -Iinclude -Isrc -Itests tests/fuzz_model.c \
	    $$(git ls-files 'src/*.c' | grep -v -e '^src/arch/' -e '^src/http/') src/arch/$(FUZZ_ARCH)/switch.S \
	    -lpthread -o $(B)/fuzz/fuzz_model
	$(B)/fuzz/fuzz_model -runs=$(FUZZ_RUNS) -seed=1 $(B)/fuzz/corpus 2>&1 | tail -3

BENCH ?=
bench:
	@bench/run.sh "$(BENCH)"

bench-compare:
	@bench/compare.sh "$(BENCH)"

clean:
	rm -rf $(B)

help:
	@sed -n '1,/^$$/p' Makefile | sed 's/^# \{0,1\}//'

, := ,
