#!/usr/bin/env python3
"""No recursion a peer can drive: fails when src/ holds a recursive function
that is not on the reviewed allowlist (recursion-allowlist.txt here, each
entry with the reason its depth is bounded), or when an entry there is no
longer recursive (keep the list true). Also fails when src/ parses JSON into
a DOM other than through translate::parse_json (which enforces
server.max_json_depth) outside the files listed below.

The call graph comes from clang-tidy's misc-no-recursion over every src/
file in the build's compile_commands.json, run in parallel; it sees
recursion through functions of the same file (virtual calls and calls
across files are not followed), and not inside library headers: RapidJSON's
recursive Accept and deep copies are bounded by the parse-time limit (see
docs/DESIGN.md, Recursion).

usage: check_recursion.py BUILD_DIR SOURCE_ROOT   (exit 77: no clang-tidy, skipped)
"""

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time

WARNING = re.compile(r"^(?P<file>[^:\n]+):\d+:\d+: warning: function '(?P<fn>[^']+)' is within a recursive call chain")
ERROR = re.compile(r"^[^:\n]+:\d+:\d+: error: ", re.M)

# The only places that may run RapidJSON's reader: the body scan (SAX, its
# own depth count), the codecs' parse_json, the CLI reading its own
# daemon's control-socket answers, the ledger's hint reader (an iterative
# SAX walk of an error body's first 64 KiB that keeps no tree and reads 16
# levels at most) and the ledger's state file (an iterative parse into a
# pool-allocated document, whose values are freed without a recursive walk,
# read by a fixed path of at most three levels).
PARSE = re.compile(r"\.Parse\s*[<(]|\bParseStream\b|\bGenericReader\b|rapidjson::Reader\b|\.Populate\s*\(")
PARSE_ALLOWED = {"src/pipeline/body.cc", "src/translate/json_util.cc", "src/daemon/cli.cc",
                 "src/daemon/cli_render.cc", "src/daemon/cli_credentials.cc", "src/daemon/cli_route.cc", "src/credentials/hints.cc", "src/credentials/ledger_file.cc"}


def find_clang_tidy():
    for name in (os.environ.get("CLANG_TIDY"), "clang-tidy-14", "clang-tidy"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def load_allowlist(path):
    allowed = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                sys.exit("%s:%d: expected 'FILE FUNCTION  # why it is bounded'" % (path, n))
            allowed[(parts[0], parts[1])] = n
    return allowed


def run_tidy(tidy, build, files):
    cmd = [tidy, "-p", build, "--quiet", "-checks=-*,misc-no-recursion", "--header-filter=^$"] + files
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.stdout, p.stderr


def main():
    build, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    here = os.path.dirname(os.path.abspath(__file__))
    started = time.monotonic()
    problems = []

    for dirpath, _, names in os.walk(os.path.join(root, "src")):
        for name in names:
            if not name.endswith((".cc", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if rel in PARSE_ALLOWED:
                continue
            with open(path, errors="replace") as f:
                for n, line in enumerate(f, 1):
                    if PARSE.search(line.split("//", 1)[0]):
                        problems.append("%s:%d: parses JSON outside translate::parse_json (no depth limit): %s"
                                        % (rel, n, line.strip()))

    tidy = find_clang_tidy()
    if not tidy:
        print("clang-tidy not found (apt-get install clang-tidy): recursion check skipped")
        for p in problems:
            print(p)
        return 1 if problems else 77
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    files = sorted({os.path.normpath(os.path.join(e["directory"], e["file"])) for e in entries})
    files = [f for f in files if os.path.relpath(f, root).startswith("src" + os.sep)]
    if not files:
        sys.exit("no src/ file in %s/compile_commands.json" % build)
    jobs = max(1, os.cpu_count() or 1)
    batches = [files[i::jobs * 2] for i in range(jobs * 2)]
    found = {}
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for out, err in pool.map(lambda b: run_tidy(tidy, build, b), [b for b in batches if b]):
            for text in (out, err):
                if ERROR.search(text):
                    problems.append("clang-tidy could not analyse a file:\n" + text[-3000:])
            for line in out.splitlines():
                m = WARNING.match(line)
                if m:
                    rel = os.path.relpath(os.path.normpath(os.path.join(build, m["file"])), root)
                    found[(rel, m["fn"])] = line
    allowed = load_allowlist(os.path.join(here, "recursion-allowlist.txt"))
    for key in sorted(found):
        if key not in allowed:
            problems.append("%s: '%s' is recursive and not in tests/lint/recursion-allowlist.txt: make it "
                            "iterative, or bound its depth and list it with the reason" % key)
    for key in sorted(allowed):
        if key not in found:
            problems.append("tests/lint/recursion-allowlist.txt:%d: %s '%s' is no longer recursive: remove it"
                            % (allowed[key], key[0], key[1]))
    print("%d files, %d recursive functions (all reviewed: %s), %.1f s"
          % (len(files), len(found), "no" if problems else "yes", time.monotonic() - started))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
