#!/usr/bin/env bash
# Build the Debian package (antigravityd_VERSION_ARCH.deb) from this source
# tree on Debian 12: installs the packaging tools and the package's
# Build-Depends, copies the files git tracks into a scratch directory with
# packaging/debian as debian/, runs dpkg-buildpackage there (the unit tests
# run at build time), checks the result with lintian, and leaves the .deb,
# its debug symbols and the .buildinfo/.changes in dist/.
#
#   scripts/package.sh [--no-check] [--no-lintian]
#
#   --no-check     skip the build-time unit tests (DEB_BUILD_OPTIONS=nocheck)
#   --no-lintian   do not run lintian
#
# Then: apt install ./dist/antigravityd_*_amd64.deb
#
# Environment: AGD_JOBS  parallel build jobs (default: the CPU count)
set -euo pipefail

check=1
lintian=1
while (($# > 0)); do
    case $1 in
        --no-check) check=0 ;;
        --no-lintian) lintian=0 ;;
        -h | --help) sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) printf 'package.sh: unknown argument %s\n' "$1" >&2; exit 64 ;;
    esac
    shift
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
log() { printf 'package: %s\n' "$*" >&2; }

scripts/install-deps.sh --only dpkg-dev debhelper fakeroot lintian git

version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
work=$(mktemp -d /tmp/agd-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/antigravityd-$version"
mkdir -p "$src"

# What git tracks (a clean clone's files, with their working-tree content);
# a tree that is not a git checkout is copied whole, less its build trees.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$src")
else
    tar -C "$root" --exclude='./build*' --exclude='./dist' --exclude='./tests/clients/node_modules' -cf - . |
        tar -C "$src" -xf -
fi
cp -r packaging/debian "$src/debian"

sudo=()
((EUID == 0)) || sudo=(sudo)
log "installing the Build-Depends"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q build-dep -y "$src" >/dev/null

opts=()
((check)) || opts+=(nocheck)
opts+=("parallel=${AGD_JOBS:-$(nproc)}")
log "dpkg-buildpackage (DEB_BUILD_OPTIONS=${opts[*]})"
(cd "$src" && DEB_BUILD_OPTIONS="${opts[*]}" dpkg-buildpackage -us -uc -b)

mkdir -p dist
rm -f dist/antigravityd_* dist/antigravityd-dbgsym_*
for f in "$work"/antigravityd_"$version"_* "$work"/antigravityd-dbgsym_"$version"_*; do
    [[ -e $f ]] && cp "$f" dist/
done
deb=$(ls dist/antigravityd_"$version"_*.deb)
log "built $deb"

if ((lintian)); then
    # --fail-on warning: a warning or an error fails the build; overrides
    # (packaging/debian/antigravityd.lintian-overrides) say why each is one.
    lintian --fail-on warning --info dist/antigravityd_"$version"_*.changes
    log "lintian: clean"
fi
