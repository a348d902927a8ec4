# Thin wrapper around CMake.  Build trees live under build/ (git-ignored).
#
#   make | make build   configure + build build/release (RelWithDebInfo; library + examples;
#                       no tests, no -Werror: the CMake defaults, as a plain `cmake -S . -B ...`)
#   make demo           build, then run the chapter 17 listings in order
#                       (LISTINGS="17_08 17_13" to pick some; 17-36 and 17-38, endless,
#                       are stopped after DEMO_ENDLESS_SECS and shown as an excerpt)
#   make test           every step below, in order, stopping at the first failure
#                       (KEEP_GOING=1 runs the rest), then a summary: each step's result
#                       and time, the steps not run and the steps skipped.  Exit status 1
#                       when a step failed.  SKIP="aarch64 fuzz" leaves steps out.
#                       As root it installs what the steps need (scripts/deps.sh); for
#                       test-aarch64 that changes the system: dpkg gets the arm64
#                       architecture, binfmt_misc runs arm64 binaries through qemu, and an
#                       arm64 sysroot is unpacked in /opt/weft-sysroot-aarch64
#                       (SKIP=aarch64 avoids all three).
#     make test-format    make check-format
#     make test-lint      make lint
#     make test-layers    make check-layers
#     make test-native    build/native, WEFT_WERROR=ON, ctest
#     make test-uring     build/native's test_io, test_http, test_examples,
#                         test_model.io with WEFT_IO=uring (the io_uring
#                         backend of the reactor)
#     make test-readme    the README's install-and-compile lines, run literally
#                         (scripts/readme-check.sh)
#     make test-asan      build/asan, WEFT_SANITIZE=address,undefined, ctest
#     make test-valgrind  the build/native suite under valgrind (ctest -C Valgrind -L valgrind)
#     make test-ucontext  build/ucontext, WEFT_UCONTEXT=ON, ctest
#     make test-aarch64   build/aarch64, cmake/toolchain-aarch64.cmake, ctest under qemu-aarch64
#     make test-tsan      build/tsan, WEFT_SANITIZE=thread: the cross-thread scenarios
#     make test-fault     build/fault, WEFT_FAULT_INJECTION=ON with ASan+UBSan: the failure walk
#     make test-fuzz      libFuzzer over the model-based test (FUZZ_RUNS=20000, FUZZ_COORD_RUNS=10000,
#                         FUZZ_IO_RUNS=4000)
#                       Every test build is configured with -DWEFT_BUILD_TESTS=ON
#                       -DWEFT_WERROR=ON given explicitly (both are off by default).
#   make bench          build/bench (Release, LTO) and run the benchmarks (BENCH=regex picks some)
#   make bench-compare  weft vs Go/Tokio ports, medians table (BENCH=regex, ROUNDS=3, QUICK=1)
#   make check-format   clang-format --dry-run over every C file (fails on a difference)
#   make format         clang-format -i over every C file
#   make lint           clang-tidy (.clang-tidy) and cppcheck over the library; prints
#                       only diagnostics (not clang-tidy's "N warnings generated")
#   make check-layers   the graph of calls between src/ folders, read from
#                       build/native's objects; fails on a cycle or an upward
#                       call not listed in scripts/layers.allow
#   make clean          remove build/
#
# Variables: JOBS (2), BUILD_TYPE (RelWithDebInfo), CMAKE_ARGS (added to every
# configure), CTEST_ARGS (added to every ctest), LISTINGS, DEMO_TIMEOUT,
# DEMO_ENDLESS_SECS (5), SKIP (test steps left out of make test), KEEP_GOING.

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

TEST_STEPS := format lint layers native uring readme asan valgrind ucontext aarch64 tsan fault fuzz
# make test: steps left out (listed as skipped), and whether to go on after a failure.
SKIP       ?=
KEEP_GOING ?=

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

.PHONY: all build demo test test-native test-uring test-readme test-asan test-valgrind test-ucontext test-aarch64 test-tsan test-fault test-fuzz test-format test-lint test-layers check-layers bench bench-compare check-format format lint clean help

all: build

build:
	@scripts/deps.sh build
	$(call configure,$(B)/release,-DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_EXAMPLES=ON)

demo: build
	@scripts/demo.sh --dir $(B)/release/examples --timeout $(DEMO_TIMEOUT) \
	    --expect-fail "$(DEMO_EXPECT_FAIL)" --endless "$(DEMO_ENDLESS)" \
	    --endless-secs $(DEMO_ENDLESS_SECS) --www examples/www $(LISTINGS)

# The scripts/deps.sh group each step needs.
deps_group = $$(case $(1) in format|lint) echo lint;; layers|native|uring|readme|ucontext|tsan) echo native;; \
    asan|fault) echo asan;; *) echo $(1);; esac)

test:
	@start=$$(date +%s)
	for s in $(SKIP); do
	    case " $(TEST_STEPS) " in *" $$s "*) ;; *)
	        echo "make test: SKIP names no step '$$s' (steps: $(TEST_STEPS))" >&2; exit 2;; esac
	done
	run=() skipped=() groups=()
	for step in $(TEST_STEPS); do
	    case " $(SKIP) " in
	    *" $$step "*) skipped+=("$$step") ;;
	    *) run+=("$$step"); groups+=("$(call deps_group,$$step)") ;;
	    esac
	done
	if [ $${#groups[@]} -gt 0 ]; then
	    if ! scripts/deps.sh "$${groups[@]}"; then
	        echo "==== make test: scripts/deps.sh failed (above): no step run ====" >&2
	        exit 1
	    fi
	fi
	rows=() failed=() passed=0 notrun=0 ct_pass=0 ct_fail=0
	for step in $(TEST_STEPS); do
	    case " $(SKIP) " in *" $$step "*)
	        rows+=("$$(printf '  %-9s %-8s %6s  %s' "$$step" skipped "" "in SKIP")"); continue;; esac
	    if [ $${#failed[@]} -gt 0 ] && [ -z "$(KEEP_GOING)" ]; then
	        rows+=("  $$(printf '%-9s' "$$step") not run"); notrun=$$((notrun + 1)); continue
	    fi
	    rm -f $(LOGS)/test-$$step.log
	    t0=$$(date +%s)
	    if $(MAKE) --no-print-directory test-$$step; then res=pass; passed=$$((passed + 1))
	    else res=FAIL; failed+=("$$step"); fi
	    secs=$$(( $$(date +%s) - t0 ))
	    detail=''
	    line=$$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' $(LOGS)/test-$$step.log 2>/dev/null | tail -1 || true)
	    if [ -n "$$line" ]; then
	        total=$$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$$line")
	        bad=$$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$$line")
	        ct_pass=$$(( ct_pass + total - bad )); ct_fail=$$(( ct_fail + bad ))
	        detail="ctest: $$(( total - bad )) of $$total passed"
	    fi
	    [ $$res = pass ] || detail="$${detail:+$$detail; }log: $(LOGS)/test-$$step.log"
	    [ $$res = pass ] || [ -f $(LOGS)/test-$$step.log ] || detail="output above"
	    rows+=("$$(printf '  %-9s %-8s %5ss  %s' "$$step" "$$res" "$$secs" "$$detail" | sed 's/ *$$//')")
	done
	total_secs=$$(( $$(date +%s) - start ))
	printf '\n==== make test: summary [%s] ====\n' "$$(date +%T)"
	printf '  %-9s %-8s %6s  %s\n' step result time notes
	printf '%s\n' "$${rows[@]}"
	echo "ctest, all steps together:"
	echo "weft: $$ct_pass passed, $$ct_fail failed"
	extra="$${skipped[*]:+, $${#skipped[@]} skipped ($${skipped[*]})}"
	if [ $${#failed[@]} -gt 0 ]; then
	    stop=''; [ $$notrun -gt 0 ] && stop=", $$notrun not run (stopped at the first failure; KEEP_GOING=1 runs them)"
	    printf '==== make test: FAILED: %s; %d passed%s%s in %ss ====\n' \
	        "$${failed[*]}" "$$passed" "$$stop" "$$extra" "$$total_secs" >&2
	    exit 1
	fi
	printf '==== make test: ok: %d step%s passed%s in %ss ====\n' \
	    "$$passed" "$$([ $$passed = 1 ] || echo s)" "$$extra" "$$total_secs"

test-native:
	@$(call banner,test-native: native build (WEFT_WERROR=ON) + ctest)
	scripts/deps.sh native
	$(call configure,$(B)/native,-DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/native,native)

# The I/O suites again on the io_uring backend (WEFT_IO=uring; the suites
# check that it really is the backend in use), the model's I/O programs
# (test_model.io) included.  Not under valgrind, which stays on epoll
# (valgrind runs io_uring_enter with signals blocked: tests/test_io.c,
# skip_uring_under_valgrind).
test-uring:
	@$(call banner,test-uring: build/native's I/O suites with WEFT_IO=uring)
	scripts/deps.sh native
	$(call configure,$(B)/native,-DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	export WEFT_IO=uring
	$(call ctest,$(B)/native,uring,-R '^test_(io|http|examples|model\.io)(\.real)?$$')

test-asan:
	@$(call banner,test-asan: WEFT_SANITIZE=address$(,)undefined + ctest)
	scripts/deps.sh asan
	$(call configure,$(B)/asan,-DWEFT_SANITIZE=address$(,)undefined -DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/asan,asan)

test-valgrind:
	@$(call banner,test-valgrind: the native suite under valgrind)
	scripts/deps.sh valgrind
	$(call configure,$(B)/native,-DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON -DWEFT_VALGRIND_TESTS=ON)
	$(call ctest,$(B)/native,valgrind,-C Valgrind -L valgrind)

test-ucontext:
	@$(call banner,test-ucontext: WEFT_UCONTEXT=ON + ctest)
	scripts/deps.sh native
	$(call configure,$(B)/ucontext,-DWEFT_UCONTEXT=ON -DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/ucontext,ucontext)

test-aarch64:
	@$(call banner,test-aarch64: cross build for aarch64 + ctest under qemu-aarch64)
	scripts/deps.sh aarch64
	$(call configure,$(B)/aarch64,-DCMAKE_TOOLCHAIN_FILE=$(CURDIR)/cmake/toolchain-aarch64.cmake -DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=ON)
	$(call ctest,$(B)/aarch64,aarch64)

test-tsan:
	@$(call banner,test-tsan: WEFT_SANITIZE=thread + the cross-thread scenarios)
	scripts/deps.sh native
	$(call configure,$(B)/tsan,-DWEFT_SANITIZE=thread -DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=OFF)
	$(call ctest,$(B)/tsan,tsan)

test-fault:
	@$(call banner,test-fault: WEFT_FAULT_INJECTION=ON + ASan/UBSan: the failure walk)
	scripts/deps.sh asan
	$(call configure,$(B)/fault,-DWEFT_FAULT_INJECTION=ON -DWEFT_SANITIZE=address$(,)undefined -DWEFT_WERROR=ON -DWEFT_BUILD_TESTS=ON -DWEFT_BUILD_EXAMPLES=OFF)
	$(call ctest,$(B)/fault,fault,-R '^test_fault$$')

test-readme:
	@$(call banner,test-readme: the README's install-and-compile lines$(,) run literally)
	scripts/deps.sh native
	scripts/readme-check.sh

test-format: check-format
test-lint: lint
test-layers: check-layers

check-layers:
	@$(call banner,check-layers: calls between src/ folders (scripts/layers.allow))
	scripts/deps.sh native
	JOBS=$(JOBS) scripts/check-layers.sh $(B)/native

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
	# clang-tidy counts on stderr the warnings it generated and then suppressed
	# (system headers, checks that are off): "29 warnings generated.",
	# "Suppressed 12 warnings ...".  Only the rest is printed; any of it fails.
	clang-tidy -p $(B)/lint --quiet $$(git ls-files 'src/*.c' | grep -v '^src/arch/ucontext/') 2>&1 |
	    { grep -vE '^([0-9]+ warnings? (and [0-9]+ errors? )?generated\.|Suppressed [0-9]+ warnings? \(.*\)\.|Use -header-filter=.*|Use -system-headers .*)$$' || true; } |
	    tee $(B)/lint/clang-tidy.out
	if [ -s $(B)/lint/clang-tidy.out ]; then echo "lint: clang-tidy reported the above" >&2; exit 1; fi
	cppcheck -q --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -DWEFT_BUILDING=1 -I include -I src src
	echo "lint: ok"

# The model-based test's generator driven by libFuzzer (tests/fuzz_model.c),
# the library compiled in with ASan+UBSan so its switches are annotated
# (with the epoll backend only: src/io/uring_off.c, not uring.c, which
# would need -luring).
FUZZ_RUNS ?= 20000
# and the coordination programs (WEFT_MODEL_MODE=5: cloned receivers,
# semaphore, task group), with a corpus of their own
FUZZ_COORD_RUNS ?= 10000
# and the I/O programs (WEFT_MODEL_MODE=6: socketpairs between tasks)
FUZZ_IO_RUNS ?= 4000
FUZZ_ARCH = $$(case "$$(uname -m)" in aarch64|arm64) echo aarch64;; *) echo x86_64;; esac)
test-fuzz:
	@$(call banner,test-fuzz: libFuzzer over the model ($(FUZZ_RUNS) runs + $(FUZZ_COORD_RUNS) coordination + $(FUZZ_IO_RUNS) I/O))
	scripts/deps.sh fuzz
	mkdir -p $(B)/fuzz/corpus $(B)/fuzz/corpus-coord $(B)/fuzz/corpus-io
	clang -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -D_GNU_SOURCE -DWEFT_BUILDING=1 -DWEFT_ASSERTS=1 -Iinclude -Isrc -Itests tests/fuzz_model.c tests/model_core.c \
	    $$(git ls-files 'src/*.c' | grep -v -e '^src/arch/' -e '^src/http/' -e '^src/io/uring\.c$$') src/arch/$(FUZZ_ARCH)/switch.S \
	    -lpthread -o $(B)/fuzz/fuzz_model
	$(B)/fuzz/fuzz_model -runs=$(FUZZ_RUNS) -seed=1 $(B)/fuzz/corpus 2>&1 | tail -3
	WEFT_MODEL_MODE=5 $(B)/fuzz/fuzz_model -runs=$(FUZZ_COORD_RUNS) -seed=1 $(B)/fuzz/corpus-coord 2>&1 | tail -3
	WEFT_MODEL_MODE=6 $(B)/fuzz/fuzz_model -runs=$(FUZZ_IO_RUNS) -seed=1 $(B)/fuzz/corpus-io 2>&1 | tail -3

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
