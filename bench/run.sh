#!/usr/bin/env bash
# The benchmark in one command: install what it needs from Debian, build a
# release binary in build-release/, then run bench/bench.py (antigravityd
# versus nginx, loopback only) and write bench/results/<date>-<commit>/
# results.md and results.json (also bench/results/latest.{md,json}).
#
#   bench/run.sh [--quick] [--no-install] [--no-build] [BENCH.PY OPTIONS...]
#
#   --quick       about 3 minutes instead of about 15 (shorter windows,
#                 1,000 streams held 10 s instead of 1,000 and 10,000 held 60 s)
#   --no-install  do not check or install packages
#   --no-build    use build-release/ as it is
# Anything else goes to bench/bench.py (python3 bench/bench.py --help), e.g.
# --rounds 5, --only w1,w7, --no-nginx, --nice -10, --keep, --peers.
#
# Environment: AGD_JOBS  parallel compile jobs (default: number of CPUs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'bench: %s\n' "$*" >&2; }

install=1
build=1
args=()
for a in "$@"; do
    case $a in
        --no-install) install=0 ;;
        --no-build) build=0 ;;
        *) args+=("$a") ;;
    esac
done

# ---------------------------------------------------------------- packages
# Build dependencies (the project's own list), then the benchmark's tools:
# nginx (baseline proxy and fast mock), wrk (saturation), h2load from
# nghttp2-client (latency at one request at a time), perf (system call
# counts, profiles), strace (system call breakdown), openssl (the test
# certificates of workload 7, https upstream).
bench_packages=(nginx wrk nghttp2-client linux-perf strace openssl util-linux procps python3 git)

if ((install)); then
    scripts/install-deps.sh "${bench_packages[@]}"
fi

# ---------------------------------------------------------------- build
# -O2, no sanitizers, no assertions, no tests: what a distribution would ship.
dir=build-release
if ((build)); then
    if [[ ! -f $dir/meson-private/coredata.dat ]]; then
        log "configuring $dir"
        meson setup "$dir" --buildtype=release -Doptimization=2 -Db_sanitize=none -Dtests=false
    else
        opts=$(meson introspect "$dir" --buildoptions | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["optimization"], o["debug"], o["b_sanitize"], o["tests"])')
        if [[ $opts != "2 False none False" ]]; then
            log "reconfiguring $dir (was: optimization, debug, b_sanitize, tests = $opts)"
            meson configure "$dir" -Doptimization=2 -Ddebug=false -Db_sanitize=none -Dtests=false
        fi
    fi
    log "building $dir"
    ninja -C "$dir" -j "${AGD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
fi

cc_version=$(c++ --version 2>/dev/null | head -n1 || true)
exec python3 -B bench/bench.py \
    --agd "$dir/src/antigravityd" \
    --mock "$dir/tools/mock-upstream/agd-mock-upstream" \
    --build-info "(meson buildtype=release, -O2, no sanitizers; ${cc_version})" \
    "${args[@]}"
