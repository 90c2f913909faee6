#!/usr/bin/env bash
# Bootstraps, builds (incrementally) and runs every test suite: C++ unit tests
# (ctest/gtest), lint (ruff) and the Python tests (pytest). Prints a summary of
# each suite; exits non-zero if any failed. Extra arguments go to pytest.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/bootstrap.sh || exit 1
# shellcheck disable=SC1091
source .venv/bin/activate

t0=$(date +%s)
scripts/build.sh || { echo "test.sh: build failed"; exit 1; }
t1=$(date +%s)
echo "test.sh: build took $((t1 - t0)) s"

declare -A result
ctest_log=$(mktemp)
ctest --test-dir build/cmake --output-on-failure -j2 2>&1 | tee "$ctest_log" | grep -vE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed' 
result[ctest]=${PIPESTATUS[0]}
ctest_summary=$(grep -E 'tests passed|tests failed' "$ctest_log" | tail -1)
rm -f "$ctest_log"

# The same gtests under ThreadSanitizer and AddressSanitizer+UBSan.
sanitize_log=$(mktemp)
scripts/sanitizer_tests.sh 2>&1 | tee "$sanitize_log"
result[sanitize]=${PIPESTATUS[0]}
sanitize_summary=$(grep -E 'tests passed|tests failed' "$sanitize_log" | tr '\n' ' ')
rm -f "$sanitize_log"

ruff check pkg tests scripts setup.py
result[ruff]=$?
# C++ formatting is mechanical: clang-format -i on the files it names fixes it.
find cpp/src \( -name '*.h' -o -name '*.cc' \) -print0 | xargs -0 clang-format --dry-run --Werror
result[format]=$?

pytest_log=$(mktemp)
python -m pytest tests "$@" 2>&1 | tee "$pytest_log"
result[pytest]=${PIPESTATUS[0]}
pytest_summary=$(tail -1 "$pytest_log")
rm -f "$pytest_log"
t2=$(date +%s)

echo
echo "==================== summary ===================="
echo "build : $((t1 - t0)) s"
echo "ctest : ${ctest_summary:-no result} (exit ${result[ctest]})"
echo "tsan/asan: ${sanitize_summary:-no result}(exit ${result[sanitize]})"
echo "ruff  : exit ${result[ruff]}"
echo "format: exit ${result[format]} (clang-format)"
echo "pytest: ${pytest_summary} (exit ${result[pytest]})"
echo "total : $((t2 - t0)) s"
for suite in ctest sanitize ruff format pytest; do
  [ "${result[$suite]}" -eq 0 ] || { echo "test.sh: $suite FAILED"; exit 1; }
done
echo "test.sh: all suites passed"
