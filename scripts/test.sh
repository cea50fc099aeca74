#!/bin/sh
# Build btvmm three ways and run every test: the plain build (unit tests,
# differential guests against QEMU, CLI contract), the same suite under
# UndefinedBehaviorSanitizer, and the unit tests under AddressSanitizer
# (ASan cannot run the monitor itself: its shadow memory lies inside the
# host [0, 8 GiB) that btvmm reserves for the guest).
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
JOBS=$(nproc 2>/dev/null || echo 2)

run_suite() { # dir cmake-args ctest-args
    dir=$1; shift
    cfg=$1; shift
    echo "== btvmm tests: $dir"
    # shellcheck disable=SC2086
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo $cfg >/dev/null
    if [ "$dir" = build-asan ]; then
        cmake --build "$dir" -j "$JOBS" --target unit-tests
    else
        cmake --build "$dir" -j "$JOBS"
    fi
    # shellcheck disable=SC2068
    ctest --test-dir "$dir" --output-on-failure -j "$JOBS" $@
}

run_suite build ""
run_suite build-ubsan "-DBTVMM_SANITIZE=undefined"
run_suite build-asan "-DBTVMM_SANITIZE=address" -L unit
