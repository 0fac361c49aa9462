#!/usr/bin/env bash
# Configure (or reconfigure) a meson build directory and build it.
#
#   scripts/build.sh [BUILD_DIR] [MESON_ARGS...]
#
# BUILD_DIR defaults to "build" (relative to the repository root). MESON_ARGS
# go to `meson setup`, e.g. -Dbuildtype=release or -Db_sanitize=address.
# Given on an already configured directory they reconfigure it; without them
# an existing directory is only rebuilt (ninja regenerates by itself when a
# meson.build changed).
#
# Environment: AGD_JOBS  parallel compile jobs (default: number of CPUs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build
if (($# > 0)) && [[ $1 != -* ]]; then
    build_dir=$1
    shift
fi

log() { printf 'build: %s\n' "$*" >&2; }

if [[ -f $build_dir/meson-private/coredata.dat ]]; then
    if (($# > 0)); then
        log "reconfiguring $build_dir: $*"
        meson setup --reconfigure "$build_dir" "$@"
    fi
else
    log "configuring $build_dir${*:+: $*}"
    meson setup "$build_dir" "$@"
fi

jobs=${AGD_JOBS:-$(nproc 2>/dev/null || echo 2)}
log "building $build_dir with $jobs jobs"
ninja -C "$build_dir" -j "$jobs"
