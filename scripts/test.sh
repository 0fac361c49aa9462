#!/usr/bin/env bash
# Build antigravityd and run its whole test suite, twice: a normal
# debugoptimized build in ./build, then an AddressSanitizer + UBSan build in
# ./build-asan. Ends with one summary line "N passed, N failed" (and
# ", N skipped" when some were) counted from each build's
# meson-logs/testlog.json, and exits non-zero if anything failed.
#
#   scripts/test.sh [--no-asan] [-- MESON_TEST_ARGS...]
#
#   --no-asan          skip the sanitizer build (or set AGD_NO_ASAN=1)
#   MESON_TEST_ARGS    passed to `meson test`, e.g. `-- unit` for one suite
#
# Environment: AGD_JOBS  parallel compile jobs (scripts/build.sh)
set -uo pipefail

usage() { sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

asan=1
[[ ${AGD_NO_ASAN:-0} == 1 ]] && asan=0
test_args=()
while (($# > 0)); do
    case $1 in
        --no-asan) asan=0 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; test_args=("$@"); break ;;
        *) printf 'test.sh: unknown argument %s\n\n' "$1" >&2; usage >&2; exit 64 ;;
    esac
    shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

phase_names=()
phase_secs=()
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
banner() { printf '\n==> %s\n' "$*"; }
# run_phase NAME COMMAND...: runs COMMAND, prints and records how long it took.
run_phase() {
    local name=$1 start rc secs
    shift
    banner "$name"
    start=$(now)
    "$@"
    rc=$?
    secs=$(elapsed "$start")
    phase_names+=("$name")
    phase_secs+=("$secs")
    printf '==> %s: %s in %ss\n' "$name" "$( ((rc == 0)) && echo ok || echo "FAILED (exit $rc)")" "$secs"
    return "$rc"
}

total_start=$(now)
failed_phases=0
# Builds whose tests ran; a build that did not compile counts as one failure.
tested_builds=()
broken_builds=()

run_phase "install dependencies" bash scripts/install-deps.sh || {
    echo "test.sh: cannot install the build dependencies" >&2
    exit 1
}

# test_build DIR LABEL TIMEOUT_MULTIPLIER [MESON_TEST_ENV...] -- MESON_SETUP_ARGS...
test_build() {
    local dir=$1 label=$2 multiplier=$3
    shift 3
    local envs=()
    while (($# > 0)) && [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    if ! run_phase "build $dir ($label)" bash scripts/build.sh "$dir" "$@"; then
        broken_builds+=("$dir")
        failed_phases=$((failed_phases + 1))
        return
    fi
    # A stale log from an earlier run must not be counted.
    rm -f "$dir/meson-logs/testlog.json"
    tested_builds+=("$dir")
    run_phase "test $dir ($label)" env "${envs[@]}" \
        meson test -C "$dir" --print-errorlogs --timeout-multiplier "$multiplier" \
        "${test_args[@]}" </dev/null ||
        failed_phases=$((failed_phases + 1))
}

test_build build debugoptimized 1 -- -Dbuildtype=debugoptimized -Db_sanitize=none

if ((asan)); then
    # Sanitized code runs a few times slower: give each test longer.
    test_build build-asan "ASan+UBSan" 3 \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 -- \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
else
    banner "sanitizer build skipped (--no-asan / AGD_NO_ASAN=1)"
fi

# Count results from testlog.json: one JSON object per line, "result" is
# OK, SKIP, FAIL, EXPECTEDFAIL, UNEXPECTEDPASS, TIMEOUT or ERROR. Prints one
# line per build, then the totals "PASSED FAILED SKIPPED".
count_results() {
    python3 - "$@" <<'PY'
import json, os, sys
total = [0, 0, 0]
for d in sys.argv[1:]:
    c = [0, 0, 0]
    path = os.path.join(d, "meson-logs", "testlog.json")
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line).get("result", "")
                if r in ("OK", "EXPECTEDFAIL"):
                    c[0] += 1
                elif r == "SKIP":
                    c[2] += 1
                else:
                    c[1] += 1
        print(f"  {d}: {c[0]} ok, {c[1]} not ok, {c[2]} skipped")
    except FileNotFoundError:
        print(f"  {d}: no {path}: meson test did not run (counted as 1 failure)")
        c[1] += 1
    total = [a + b for a, b in zip(total, c)]
print(*total)
PY
}
if ((${#tested_builds[@]} > 0)); then
    report=$(count_results "${tested_builds[@]}") || report=$'  cannot read the test logs\n0 1 0'
else
    report="0 0 0"
fi
banner "summary"
for i in "${!phase_names[@]}"; do
    printf '  %-40s %8ss\n' "${phase_names[$i]}" "${phase_secs[$i]}"
done
printf '  %-40s %8ss\n' "total" "$(elapsed "$total_start")"
if [[ $report == *$'\n'* ]]; then printf '%s\n' "${report%$'\n'*}"; fi
for d in "${broken_builds[@]}"; do
    printf '  %s: the build failed, its tests did not run (counted as 1 failure)\n' "$d"
done
read -r passed failed skipped <<<"${report##*$'\n'}"
failed=$((failed + ${#broken_builds[@]}))
if ((passed + failed + skipped == 0)); then
    echo "  warning: no test ran"
fi

line="$passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"

((failed == 0 && failed_phases == 0))
