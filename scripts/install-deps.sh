#!/usr/bin/env bash
# Install the Debian 12 packages that building, testing and running
# antigravityd need. Idempotent: when every package is already installed it
# touches nothing (not even apt), so running it again is quick.
#
# Usage: scripts/install-deps.sh [EXTRA-PACKAGE...]   (extra packages, e.g.
#        the benchmark's tools, are installed the same way)
#        scripts/install-deps.sh --only PACKAGE...      (those alone, e.g.
#        scripts/package.sh's packaging tools)
#
# Environment: AGD_APT_MAX_AGE  refresh the package lists with apt-get update
#                               when they are older than this many seconds
#                               (default 86400, one day) or missing.
set -euo pipefail

packages=(
    build-essential
    meson
    ninja-build
    pkg-config
    libevhtp-dev
    libonig-dev
    libevent-dev
    rapidjson-dev
    libssl-dev
    libsystemd-dev
    libcrypt-dev
    libinih-dev
    libfmt-dev
    doctest-dev
    libcurl4-openssl-dev
    libsqlite3-dev
    # WebSocket framing (the Responses API's WebSocket transport).
    libwslay-dev
    # The daemon's allocator (meson option `allocator`).
    libjemalloc-dev
    # The sqlite3 shell, to look into the request store by hand.
    sqlite3
    python3
    curl
    ca-certificates
    # The openssl tool: the TLS tests and benchmark make their own CA with it.
    openssl
    man-db
    # mandoc -Tlint checks the man pages (tests/lint).
    mandoc
    # The fuzz targets (tests/fuzz, scripts/test.sh): clang and its libFuzzer
    # and sanitizer runtimes.
    clang
    libclang-rt-14-dev
    # The recursion check (tests/lint/check_recursion.py): clang-tidy's
    # misc-no-recursion.
    clang-tidy
    # promtool, which checks the metrics listener's output (tests/unit/metrics,
    # tests/integration/test_metrics.py). Its Prometheus server is not wanted:
    # see below.
    prometheus
)

if [[ ${1:-} == --only ]]; then
    shift
    packages=()
    only=1
else
    only=0
fi
packages+=("$@")

# The SDK tests (tests/clients) run the official JavaScript SDKs: Node.js and
# npm, from Debian unless the machine already has them.
if ((!only)) && { ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; }; then
    packages+=(nodejs npm)
fi

log() { printf 'install-deps: %s\n' "$*" >&2; }

# Which of $packages are not fully installed? One dpkg-query call for all of
# them; a package dpkg has never heard of is simply absent from its output.
missing=()
declare -A installed=()
while read -r name status; do
    if [[ $status == installed ]]; then installed[$name]=1; fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
for p in "${packages[@]}"; do
    [[ -n ${installed[$p]:-} ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    log "all ${#packages[@]} packages already installed"
    exit 0
fi
log "missing: ${missing[*]}"

export DEBIAN_FRONTEND=noninteractive
sudo=()
if ((EUID != 0)); then
    if ! command -v sudo >/dev/null; then
        log "not root and sudo is not installed: install as root: apt-get install ${missing[*]}"
        exit 1
    fi
    # sudo would drop DEBIAN_FRONTEND from the environment; pass it through env.
    sudo=(sudo env DEBIAN_FRONTEND=noninteractive)
fi

# Wait for another apt/dpkg run to finish instead of failing on its lock.
apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -q)

# Fresh lists: some Packages file exists, and apt-get update ran less than
# max_age seconds ago. An update that finds nothing new keeps the old files'
# mtimes but always touches lists/partial, so that directory counts too.
lists_are_fresh() {
    local max_age=${AGD_APT_MAX_AGE:-86400} newest=0 have_lists=0 f m
    shopt -s nullglob
    for f in /var/lib/apt/lists/*_Packages* /var/lib/apt/lists/partial; do
        [[ $f == *_Packages* ]] && have_lists=1
        m=$(stat -c %Y "$f")
        if ((m > newest)); then newest=$m; fi
    done
    shopt -u nullglob
    ((have_lists && $(date +%s) - newest < max_age))
}

updated=0
if ! lists_are_fresh; then
    log "package lists missing or older than ${AGD_APT_MAX_AGE:-86400}s: apt-get update"
    "${apt[@]}" update
    updated=1
fi

install() { "${apt[@]}" install -y --no-install-recommends "${missing[@]}"; }
if ! install; then
    # A fresh-looking list can still name a version the mirror has dropped.
    if ((updated)); then exit 1; fi
    log "install failed; refreshing package lists and retrying once"
    "${apt[@]}" update
    install
fi
log "installed: ${missing[*]}"

# The prometheus package brings a Prometheus server and enables it; on a
# machine that runs systemd it is started too. Only promtool is wanted.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1 &&
    [[ -d /run/systemd/system ]]; then
    "${sudo[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
