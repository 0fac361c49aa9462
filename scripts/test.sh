#!/usr/bin/env bash
# Build antigravityd and run its whole test suite three times: a normal
# debugoptimized build in ./build, an AddressSanitizer + UBSan build in
# ./build-asan, and a ThreadSanitizer build in ./build-tsan (unit tests and
# every integration suite; the harness fails a test whose daemon, mock or
# CLI run printed a sanitizer report, tests/tsan.supp lists the few reports
# outside our code). Then, when clang++ is installed, builds the libFuzzer
# targets of tests/fuzz in ./build-fuzz and runs each briefly from its seed
# corpus (one test per target). Then, as root with time left, builds the
# Debian package (scripts/package.sh) and installs, upgrades, removes and
# purges it on this machine (tests/package). Ends with one summary line "N passed, N
# failed" (and ", N skipped" when some were) counted from each build's
# meson-logs/testlog.json and the fuzz runs, and exits non-zero if anything
# failed.
#
#   scripts/test.sh [--no-asan] [--no-tsan] [--no-fuzz] [--no-package] [-- MESON_TEST_ARGS...]
#
#   --no-asan          skip the ASan+UBSan build (or set AGD_NO_ASAN=1)
#   --no-tsan          skip the ThreadSanitizer build (or set AGD_NO_TSAN=1)
#   --no-fuzz          skip the fuzz targets (or set AGD_NO_FUZZ=1)
#   --no-package       skip the Debian package (or set AGD_NO_PACKAGE=1); it
#                      also needs root and runs only with 20 minutes of the
#                      time budget left
#   MESON_TEST_ARGS    passed to `meson test`, e.g. `-- unit` for one suite
#                      (the fuzz targets are then skipped too)
#
# From scratch on a 2-core machine the whole run takes about 70 minutes: the
# debug build and its tests about 20, the ASan build about 27 and its tests
# about 12, the ThreadSanitizer build about 8 and its tests about 5, the
# fuzz targets a few. Later runs rebuild only what changed.
#
# Environment:
#   AGD_JOBS         parallel compile jobs (scripts/build.sh)
#   AGD_FUZZ_SECONDS how long each fuzz target runs (default 20)
#   AGD_TIME_BUDGET  seconds the whole run may take (.ci/run sets it): a build
#                    or test phase still running when it is spent is stopped
#                    and counted as a failure, so the summary still prints
set -uo pipefail

usage() { sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

asan=1
[[ ${AGD_NO_ASAN:-0} == 1 ]] && asan=0
tsan=1
[[ ${AGD_NO_TSAN:-0} == 1 ]] && tsan=0
fuzz=1
[[ ${AGD_NO_FUZZ:-0} == 1 ]] && fuzz=0
package=1
[[ ${AGD_NO_PACKAGE:-0} == 1 ]] && package=0
test_args=()
while (($# > 0)); do
    case $1 in
        --no-asan) asan=0 ;;
        --no-tsan) tsan=0 ;;
        --no-fuzz) fuzz=0 ;;
        --no-package) package=0 ;;
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

# chromium: the web console's browser test (tests/integration/test_console.py).
run_phase "install dependencies" bash scripts/install-deps.sh chromium || {
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
    banner "ASan+UBSan build skipped (--no-asan / AGD_NO_ASAN=1)"
fi

if ((tsan)); then
    # ThreadSanitizer cannot be combined with ASan: a build of its own. The
    # first report stops the process (halt_on_error), so a race fails the
    # test that produced it; tests/tsan.supp says why each entry is there.
    test_build build-tsan "TSan" 3 \
        TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
        AGD_SCALE=small AGD_TIMEOUT_SCALE=3 -- \
        -Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false
else
    banner "ThreadSanitizer build skipped (--no-tsan / AGD_NO_TSAN=1)"
fi

# build_fuzz DIR: configures DIR for the fuzz targets (clang, ASan+UBSan,
# no unit tests) and builds only them (the `fuzz` alias), not the daemon.
build_fuzz() {
    local dir=$1 args=(-Dfuzzing=true -Dtests=false -Dbuildtype=debugoptimized
                       -Db_sanitize=address,undefined -Db_lundef=false)
    [[ -f $dir/meson-private/coredata.dat ]] && args+=(--reconfigure)
    mkdir -p "$dir"
    set_limit
    CXX=clang++ "${limit[@]}" meson setup "$dir" "${args[@]}" >"$dir/fuzz-setup.log" 2>&1 || {
        tail -20 "$dir/fuzz-setup.log"
        return 1
    }
    set_limit
    "${limit[@]}" ninja -C "$dir" -j "${AGD_JOBS:-$(nproc 2>/dev/null || echo 2)}" fuzz
}

# run_fuzzers DIR: runs each target for AGD_FUZZ_SECONDS from a scratch copy
# of its seed corpus (the repository is not modified); a crash, leak, UB or
# failed invariant counts as one failure. Inputs that crashed are kept in
# DIR/fuzz-artifacts/, logs in DIR/fuzz-logs/.
run_fuzzers() {
    local dir=$1 secs=${AGD_FUZZ_SECONDS:-20} t rc tmp p=0 f=0 note=
    tmp=$(mktemp -d) || return 1
    mkdir -p "$dir/fuzz-artifacts" "$dir/fuzz-logs"
    for t in fuzz_sse fuzz_request_decode fuzz_response_decode fuzz_stream fuzz_h1_response fuzz_usage_scan fuzz_packed_row fuzz_credentials fuzz_multipart fuzz_socket fuzz_tls_split; do
        cp -r "tests/fuzz/corpus/$t" "$tmp/$t"
        set_limit
        rc=0
        "${limit[@]}" timeout -k 5 "$((secs + 60))" env \
            ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/fuzz/ubsan.supp" \
            "$dir/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -dict=tests/fuzz/translate.dict \
            -artifact_prefix="$dir/fuzz-artifacts/$t-" "$tmp/$t" \
            >"$dir/fuzz-logs/$t.log" 2>&1 </dev/null || rc=$?
        if ((rc == 0)); then
            p=$((p + 1))
            printf '  %-22s ok   %s\n' "$t" "$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$dir/fuzz-logs/$t.log" | tail -1)"
        else
            f=$((f + 1))
            printf '  %-22s FAILED (exit %d), log %s:\n' "$t" "$rc" "$dir/fuzz-logs/$t.log"
            { grep -a -m1 -E -A12 'ERROR: |runtime error|fuzz invariant failed' "$dir/fuzz-logs/$t.log"
              grep -a -E 'Test unit written to' "$dir/fuzz-logs/$t.log"; } |
                awk '!seen[$0]++' | cut -c1-240 | sed 's/^/    /'
            ((rc == 124 && budget > 0)) && note=" (stopped: AGD_TIME_BUDGET=${budget}s spent)"
        fi
    done
    rm -rf "$tmp"
    results+=("$(printf '%s: %d ok, %d not ok, 0 skipped (fuzz targets, %ss each)%s' "$dir" "$p" "$f" "$secs" "$note")")
    passed=$((passed + p)) failed=$((failed + f))
    ((f == 0))
}

if ((fuzz && ${#test_args[@]} == 0)) && command -v clang++ >/dev/null 2>&1; then
    if run_phase "build build-fuzz (libFuzzer, clang)" build_fuzz build-fuzz; then
        run_phase "fuzz build-fuzz (${AGD_FUZZ_SECONDS:-20}s per target)" run_fuzzers build-fuzz
    else
        broken_builds+=(build-fuzz)
    fi
elif ((fuzz && ${#test_args[@]} > 0)); then
    banner "fuzz targets skipped (meson test arguments given)"
elif ((fuzz)); then
    banner "fuzz targets skipped: clang++ is not installed (scripts/install-deps.sh installs it)"
else
    banner "fuzz targets skipped (--no-fuzz / AGD_NO_FUZZ=1)"
fi

# The Debian package: built from what git tracks (unit tests skipped: the
# builds above ran them), checked by lintian, then installed, started as its
# user, upgraded, removed and purged here. It changes the machine, so it runs
# only as root, and only when the budget leaves it room (it takes about 8
# minutes on 2 cores).
package_phase() {
    local rc=0
    set_limit
    run_phase "package: build and lintian" "${limit[@]}" bash scripts/package.sh --no-check || rc=$?
    if ((rc == 0)); then
        set_limit
        run_phase "package: install, upgrade, remove, purge" "${limit[@]}" env AGD_PACKAGE_TEST=1 \
            python3 -B tests/package/test_package.py </dev/null || rc=$?
    fi
    if ((rc == 0)); then
        results+=("package: 1 ok, 0 not ok, 0 skipped")
        passed=$((passed + 1))
    else
        results+=("package: 0 ok, 1 not ok, 0 skipped (exit $rc)")
        failed=$((failed + 1))
    fi
}

if ((package && ${#test_args[@]} == 0)); then
    left=$(awk -v a="$total_start" -v b="$(now)" -v t="$budget" 'BEGIN { printf "%d", t - (b - a) }')
    if ((EUID != 0)); then
        banner "Debian package skipped: it installs a package, as root only"
    elif ((budget > 0 && left < 1200)); then
        banner "Debian package skipped: ${left}s of AGD_TIME_BUDGET left, it needs about 1200"
    else
        package_phase
    fi
elif ((package)); then
    banner "Debian package skipped (meson test arguments given)"
else
    banner "Debian package skipped (--no-package / AGD_NO_PACKAGE=1)"
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
