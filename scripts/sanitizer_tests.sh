#!/usr/bin/env bash
# Builds the C++ unit tests (gtest, against fakes) under ThreadSanitizer and
# under AddressSanitizer+UBSan, each in its own build directory (ccache makes
# a rebuild with nothing changed take seconds), and runs them with ctest.
# Usage: scripts/sanitizer_tests.sh [thread|address]...   (default: both)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CCACHE_BASEDIR="$root"
# -g builds hash the working directory unless told not to: without this a fresh clone
# (CI) rebuilds both sanitizer trees cold (~7 min) instead of hitting the cache.
export CCACHE_NOHASHDIR=true
jobs=$(nproc 2>/dev/null || echo 2)
tests=(common_test rpc_test object_store_test raylet_test core_worker_test)
status=0
for sanitizer in "${@:-thread address}"; do
  for s in $sanitizer; do
    dir="build/sanitize-$s"
    echo "sanitizer_tests: building the gtests under $s sanitizer in $dir"
    cmake -S cpp -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCYRAY_SANITIZER="$s" >/dev/null || { status=1; continue; }
    cmake --build "$dir" --target "${tests[@]}" -- -j"$jobs" >"$dir/build.log" 2>&1 || {
      tail -40 "$dir/build.log"; echo "sanitizer_tests: $s build failed"; status=1; continue; }
    # halt_on_error: the first report fails the test that caused it.
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" \
      ctest --test-dir "$dir" --output-on-failure -j"$jobs" 2>&1 | grep -vE 'Test +#[0-9]+: .* Passed' | grep -E 'tests passed|tests failed|Failed|\*\*\*|ERROR|WARNING: ThreadSanitizer|runtime error'
    [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "sanitizer_tests: $s FAILED"; status=1; }
  done
done
exit $status
