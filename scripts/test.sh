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
# Environment:
#   AGD_JOBS         parallel compile jobs (scripts/build.sh)
#   AGD_TIME_BUDGET  seconds the whole run may take (.ci/run sets it): a build
#                    or test phase still running when it is spent is stopped
#                    and counted as a failure, so the summary still prints
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
budget=${AGD_TIME_BUDGET:-0}
# limit: prefix that stops a command when the time budget runs out (keeping
# 30s for the summary); empty without a budget.
limit=()
set_limit() {
    limit=()
    ((budget > 0)) || return 0
    local left
    left=$(awk -v a="$total_start" -v b="$(now)" -v t="$budget" 'BEGIN { printf "%d", t - (b - a) - 30 }')
    ((left < 1)) && left=1
    limit=(timeout -k 20 "$left")
}
# A build that did not compile counts as one failure.
broken_builds=()

run_phase "install dependencies" bash scripts/install-deps.sh || {
    echo "test.sh: cannot install the build dependencies" >&2
    exit 1
}

# count_results DIR: counts DIR/meson-logs/testlog.json (one JSON object per
# line; "result" is OK, SKIP, FAIL, EXPECTEDFAIL, UNEXPECTEDPASS, TIMEOUT or
# ERROR) and prints "PASSED FAILED SKIPPED". Read right after the run, before
# anything else can rewrite the log.
count_results() {
    python3 - "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
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
except FileNotFoundError:
    print(f"{d}: no {path}: meson test did not run", file=sys.stderr)
    c[1] += 1
print(*c)
PY
}

passed=0 failed=0 skipped=0
results=()  # one line per build, for the summary

# test_build DIR LABEL TIMEOUT_MULTIPLIER [MESON_TEST_ENV...] -- MESON_SETUP_ARGS...
test_build() {
    local dir=$1 label=$2 multiplier=$3
    shift 3
    local envs=()
    while (($# > 0)) && [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    set_limit
    if ! run_phase "build $dir ($label)" "${limit[@]}" bash scripts/build.sh "$dir" "$@"; then
        broken_builds+=("$dir")
        return
    fi
    # A stale log from an earlier run must not be counted.
    rm -f "$dir/meson-logs/testlog.json"
    local rc=0 p f k note=
    set_limit
    run_phase "test $dir ($label)" "${limit[@]}" env "${envs[@]}" \
        meson test -C "$dir" --print-errorlogs --timeout-multiplier "$multiplier" \
        "${test_args[@]}" </dev/null || rc=$?
    read -r p f k < <(count_results "$dir" || echo 0 1 0)
    if ((rc != 0 && f == 0)); then
        # meson test itself failed (e.g. its rebuild did not compile).
        f=1
        note=" (meson test exited $rc)"
    fi
    ((rc == 124 && budget > 0)) && note+=" (stopped: AGD_TIME_BUDGET=${budget}s spent)"
    results+=("$(printf '%s: %d ok, %d not ok, %d skipped%s' "$dir" "$p" "$f" "$k" "$note")")
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k))
}

test_build build debugoptimized 1 -- -Dbuildtype=debugoptimized -Db_sanitize=none

if ((asan)); then
    # Sanitized code runs a few times slower: give each test longer, and
    # have the integration tests use their smaller load and longer waits.
    test_build build-asan "ASan+UBSan" 3 \
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        AGD_SCALE=small AGD_TIMEOUT_SCALE=3 -- \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false
else
    banner "sanitizer build skipped (--no-asan / AGD_NO_ASAN=1)"
fi

banner "summary"
for i in "${!phase_names[@]}"; do
    printf '  %-40s %8ss\n' "${phase_names[$i]}" "${phase_secs[$i]}"
done
printf '  %-40s %8ss\n' "total" "$(elapsed "$total_start")"
for r in "${results[@]}"; do
    printf '  %s\n' "$r"
done
for d in "${broken_builds[@]}"; do
    printf '  %s: the build failed, its tests did not run (counted as 1 failure)\n' "$d"
done
failed=$((failed + ${#broken_builds[@]}))
if ((passed + failed + skipped == 0)); then
    echo "  warning: no test ran"
fi

line="$passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"

((failed == 0))
