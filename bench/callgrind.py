#!/usr/bin/env python3
"""Instructions per request of antigravityd, counted by callgrind: a figure
that stays put from run to run where wall-clock and CPU time drift with the
machine's load, for judging a user-space change.

  bench/callgrind.py [--workload w1|w2|w7|w8] [-n 2000] [--warmup 500]

Starts the same rig as bench.py (nginx as the fast mock, or agd-mock-upstream
without nginx; for w7 the https mock with a CA made for the run), runs
antigravityd (one worker) under `valgrind --tool=callgrind --instr-atstart=no`,
sends --warmup requests uninstrumented, turns instrumentation on
(`callgrind_control -i on`), sends -n requests one at a time on one
keep-alive connection (--conns for more), dumps (`callgrind_control -d`) and
prints the total instructions (Ir) / n and the top functions by inclusive and
by self cost. Start-up, warm-up and shutdown are not counted.

Workloads: w1 (passthrough), w2 (OpenAI client -> Anthropic upstream), w7
(passthrough to an https upstream), w8 (Anthropic client -> OpenAI upstream).
Use a release build (the default is build-release/, what bench/run.sh
builds). The raw callgrind file and the callgrind_annotate text are kept in
bench/results/<date>-<commit>-callgrind-<workload>/ (not tracked), for
callgrind_annotate or kcachegrind.

Exit status 0 when measured; 2 when a tool it needs is missing ("not
measured", nothing run); 1 when the run failed.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import clients  # noqa: E402
import rig  # noqa: E402
from rig import log  # noqa: E402

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"

# workload: (what, path, request body, an answer check on the parsed JSON)
WORKLOADS = {
    "w1": ("passthrough, OpenAI chat", CHAT, lambda: rig.chat_request("gpt-bench"),
           lambda j: j.get("object") == "chat.completion"),
    "w2": ("translation, OpenAI client -> Anthropic upstream", CHAT, lambda: rig.chat_request("claude-bench"),
           lambda j: j["choices"][0]["message"]["content"] == rig.ANTHROPIC_TEXT),
    "w7": ("passthrough to an https upstream", CHAT, lambda: rig.chat_request("tls-bench"),
           lambda j: j.get("object") == "chat.completion"),
    "w8": ("translation, Anthropic client -> OpenAI upstream", MESSAGES, lambda: rig.messages_request("gpt-bench"),
           lambda j: j["content"][0]["text"] == rig.OPENAI_TEXT),
}
ALIASES = {"passthrough": "w1", "translation": "w2", "https": "w7", "translation-anthropic": "w8"}


class NotMeasured(Exception):
    pass


def annotate(tool, path, inclusive, top):
    """(total Ir, [(Ir, function)]) from callgrind_annotate."""
    r = subprocess.run([tool, "--inclusive=%s" % ("yes" if inclusive else "no"), path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    text = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise RuntimeError("callgrind_annotate failed:\n" + text[-2000:])
    total, rows = None, []
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
        if not m:
            continue
        ir, name = int(m.group(1).replace(",", "")), m.group(2).strip()
        if "PROGRAM TOTALS" in name:
            total = ir
        elif total is not None and ":" in name:
            rows.append((ir, name))
    return total, rows[:top], text


def _collapse(text, open_, close, mark):
    """text with everything inside top-level open_ ... close pairs replaced
    by mark; text unchanged when they do not balance (operator<)."""
    out, depth = [], 0
    for ch in text:
        if ch == open_:
            if depth == 0:
                out.append(open_ + mark)
            depth += 1
        elif ch == close and depth:
            depth -= 1
            if depth == 0:
                out.append(close)
        elif depth == 0:
            out.append(ch)
    return text if depth else "".join(out)


def short(name, width):
    """file:function [object] shortened to width: the object's base name,
    then, while too long, the file's base name, the function's arguments and
    template arguments elided."""
    m = re.match(r"^(.*?)(?: \[(.*)\])?$", name)
    fn, obj = m.group(1), m.group(2)
    if fn.startswith("???:"):  # no source file known
        fn = fn[4:]
    if obj:
        fn += " [%s]" % os.path.basename(obj)
    if len(fn) > width:  # the source file's base name
        fn = re.sub(r"^[^:\s]*/([^/:\s]+):", r"\1:", fn)
    if len(fn) > width:
        fn = _collapse(fn, "(", ")", "…")
    if len(fn) > width:
        fn = _collapse(fn, "<", ">", "…")
    return fn if len(fn) <= width else fn[:width - 1] + "…"


def run(args):
    valgrind, control, annot = (shutil.which(t) for t in ("valgrind", "callgrind_control", "callgrind_annotate"))
    if not (valgrind and control and annot):
        raise NotMeasured("valgrind is not installed (apt-get install -y valgrind)")
    w = ALIASES.get(args.workload, args.workload)
    what, path, body_of, check = WORKLOADS[w]
    body = body_of()
    nginx = rig.which_nginx()
    if w == "w7":
        if not nginx or not rig.nginx_has_ssl(nginx):
            raise NotMeasured("w7 needs nginx with its ssl module (the https mock)")
        if not shutil.which("openssl"):
            raise NotMeasured("w7 needs the openssl command (the test certificates)")
    pl = rig.Placement(pin=not args.no_pin)
    pl.pin_self()
    work = tempfile.mkdtemp(prefix="agd-callgrind-")
    procs = []
    try:
        if nginx:
            fast = rig.start_fast_mock_nginx(nginx, work, pl)
            mock_kind = "nginx return 200"
        else:
            fast = rig.StreamMock(args.mock, work, pl, name="fast-mock")
            mock_kind = "agd-mock-upstream"
        procs.append(fast)
        pki = None
        if w == "w7":
            pki = rig.Pki(work)
            tls_mock = rig.start_fast_mock_nginx(nginx, work, pl, tls=pki, tag="tls-mock")
            procs.append(tls_mock)
            pki.tls_port = tls_mock.port
        out_file = os.path.join(work, "callgrind.out")
        wrapper = [valgrind, "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out_file]
        log("starting antigravityd under callgrind (slow)")
        agd = rig.Antigravityd(args.agd, work, pl, fast.port, fast.port, tls=pki, wrapper=wrapper,
                               ready_timeout=300)
        procs.append(agd)
        st, _, b = clients.fetch(agd.port, path, body, timeout=120)
        try:
            ok = st == 200 and check(json.loads(b))
        except (ValueError, KeyError, IndexError, TypeError):
            ok = False
        if not ok:
            raise NotMeasured("%s: HTTP %s %s" % (w, st, b[:300].decode(errors="replace")))
        log("warm-up: %d requests, uninstrumented" % args.warmup)
        if args.warmup:
            clients.closed_loop(agd.port, path, body, args.conns, 3600, requests=args.warmup)

        def ctl(*a):
            r = subprocess.run([control] + list(a) + [str(agd.pid)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            if r.returncode != 0:
                raise RuntimeError("callgrind_control %s failed:\n%s" % (" ".join(a), r.stdout.decode()))
        ctl("-i", "on")
        ctl("-z")
        log("measuring: %d requests on %d connection(s)" % (args.n, args.conns))
        t0 = time.monotonic()
        r = clients.closed_loop(agd.port, path, body, args.conns, 3600, requests=args.n)
        seconds = time.monotonic() - t0
        ctl("-d")
        ctl("-i", "off")
        if r["requests"] != args.n or r["errors"] or r["non2xx"]:
            raise RuntimeError("%d of %d answers, %d errors, %d not 2xx" % (r["requests"], args.n, r["errors"],
                                                                          r["non2xx"]))
        agd.stop()
        procs.remove(agd)
        dumps = sorted(f for f in os.listdir(work) if f.startswith("callgrind.out."))
        if not dumps:
            raise RuntimeError("no callgrind dump in " + work)
        dump = os.path.join(work, dumps[0])  # callgrind.out.1: the -d dump (the exit dump is empty)
        total, incl, incl_text = annotate(annot, dump, True, args.top)
        _, self_, self_text = annotate(annot, dump, False, args.top)
        if not total:
            raise RuntimeError("callgrind_annotate gave no total")
        res = {"workload": w, "what": what, "requests": args.n, "warmup": args.warmup, "conns": args.conns,
               "instructions": total, "per_request": total / args.n, "seconds": seconds,
               "agd": os.path.abspath(args.agd), "mock": mock_kind,
               "inclusive": [[ir, name] for ir, name in incl], "self": [[ir, name] for ir, name in self_]}
        out = args.out
        if not out:
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL).stdout.decode().strip() or "nocommit"
            out = os.path.join(HERE, "results", "%s-%s-callgrind-%s" % (
                datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), commit, w))
        os.makedirs(out, exist_ok=True)
        shutil.copyfile(dump, os.path.join(out, "callgrind.out"))
        for name, text in (("annotate-inclusive.txt", incl_text), ("annotate-self.txt", self_text)):
            with open(os.path.join(out, name), "w") as f:
                f.write(text)
        with open(os.path.join(out, "callgrind.json"), "w") as f:
            json.dump(res, f, indent=1)
        print_report(res, args.top)
        print("\nraw data: %s (callgrind_annotate %s)" % (out, os.path.join(out, "callgrind.out")))
        return 0
    finally:
        for p in reversed(procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                log("stop failed: %s" % e)
        if args.keep:
            log("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def print_report(res, top):
    n, total = res["requests"], res["instructions"]
    print("\ncallgrind, %s (%s): %d requests on %d connection(s) after %d uninstrumented; mock: %s"
          % (res["workload"], res["what"], n, res["conns"], res["warmup"], res["mock"]))
    print("instructions: %s in all, %s per request\n" % ("{:,}".format(total), "{:,.0f}".format(total / n)))
    for key, title in (("inclusive", "inclusive cost"), ("self", "self cost")):
        print("top %d functions by %s (instructions per request, %% of all):" % (top, title))
        for ir, name in res[key]:
            print("  %10s  %5.1f%%  %s" % ("{:,.0f}".format(ir / n), 100.0 * ir / total, short(name, 100)))
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agd", default=os.path.join(ROOT, "build-release", "src", "antigravityd"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "build-release", "tools", "mock-upstream",
                                                   "agd-mock-upstream"),
                    help="the fast mock when nginx is not installed")
    ap.add_argument("--workload", "-w", default="w1", choices=sorted(WORKLOADS) + sorted(ALIASES),
                    help="w1 passthrough (default), w2 translation, w7 https upstream, "
                         "w8 Anthropic client -> OpenAI upstream")
    ap.add_argument("-n", type=int, default=2000, help="requests counted (default 2000)")
    ap.add_argument("--warmup", type=int, default=500, help="requests before counting (default 500)")
    ap.add_argument("--conns", type=int, default=1, help="keep-alive connections, each one request at a time")
    ap.add_argument("--top", type=int, default=25, help="functions listed (default 25)")
    ap.add_argument("--out", help="where the raw data goes (default bench/results/<date>-<commit>-callgrind-W/)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory (configs, logs)")
    args = ap.parse_args()
    if args.n <= 0 or args.conns <= 0 or args.warmup < 0:
        ap.error("-n and --conns must be positive, --warmup not negative")
    if not os.access(args.agd, os.X_OK):
        ap.error("--agd %s is not an executable (build it first: bench/run.sh builds build-release/)" % args.agd)
    try:
        sys.exit(run(args))
    except NotMeasured as e:
        print("callgrind: not measured: %s" % e)
        sys.exit(2)
    except (OSError, RuntimeError, subprocess.SubprocessError, rig.RigError) as e:
        print("callgrind: failed: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
