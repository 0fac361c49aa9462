"""The npm packages of the client tests (package.json, versions pinned in
package-lock.json), installed once into AGD_CLIENTS_DIR (default:
build/clients), again whenever either file changes.

`npm install`, not `npm ci`: @qwen-code/qwen-code names optional clipboard
binaries for other platforms that were never published, so the lock file
cannot list them and `npm ci` refuses it as out of sync. `npm install`
still takes every version from the lock file."""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def install():
    """The directory holding node_modules."""
    target = os.environ.get("AGD_CLIENTS_DIR") or os.path.join(harness.ROOT, "build", "clients")
    os.makedirs(target, exist_ok=True)
    stamp = os.path.join(target, "node_modules", ".agd-installed")
    for name in ("package.json", "package-lock.json"):
        src, dst = os.path.join(HERE, name), os.path.join(target, name)
        if not os.path.exists(dst) or read_bytes(src) != read_bytes(dst):
            shutil.copyfile(src, dst)
            shutil.rmtree(os.path.join(target, "node_modules"), ignore_errors=True)
    if not os.path.exists(stamp):
        # The registry is remote: a passing network hiccup gets two more tries.
        for attempt in range(3):
            r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error"],
                               cwd=target, timeout=900)
            if r.returncode == 0:
                open(stamp, "w").close()
                break
            if attempt == 2:
                raise AssertionError("npm ci failed %d times in %s" % (attempt + 1, target))
    return target
