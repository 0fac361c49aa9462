#!/usr/bin/env python3
"""antigravityd benchmark harness: antigravityd versus nginx as a reverse
proxy in front of the same mocks, on one machine, loopback only.

Usually started by bench/run.sh (which installs the tools and builds the
release binary). Directly:

  python3 bench/bench.py --agd build-release/src/antigravityd \
      --mock build-release/tools/mock-upstream/agd-mock-upstream [--quick|--smoke]

Writes results.json (raw numbers) and results.md (the table) to --out
(default bench/results/<date>-<commit>/, also copied to
bench/results/latest.{md,json}). Never asserts a speed.
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
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import clients  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
import rig  # noqa: E402
from rig import log  # noqa: E402
from stats import median, pct, ratio, sub  # noqa: E402

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"

MODES = {
    # The default run: about 15 minutes on a 2-core machine.
    "full": dict(rounds=3, warmup=5, window=10, conns=64, lat_window=5, lat_warmup=1,
                 sys_window=3, profile=True, ttfc_n=2000, sse_streams=8, sse_chunks=64,
                 sse_pace_ms=20, burst_n=10, burst_chunks=256, many=[1000, 10000], hold=60,
                 ramp=200, w5_seconds=60),
    "quick": dict(rounds=3, warmup=1, window=3, conns=64, lat_window=2, lat_warmup=0.5,
                  sys_window=2, profile=True, ttfc_n=500, sse_streams=4, sse_chunks=64,
                  sse_pace_ms=20, burst_n=3, burst_chunks=256, many=[1000], hold=10,
                  ramp=200, w5_seconds=15),
    # The test suite's smoke run: a few seconds, only checks that numbers come out.
    "smoke": dict(rounds=1, warmup=0, window=1, conns=8, lat_window=0.5, lat_warmup=0.2,
                  sys_window=0.5, profile=False, ttfc_n=5, sse_streams=2, sse_chunks=8,
                  sse_pace_ms=20, burst_n=1, burst_chunks=64, many=[50], hold=2,
                  ramp=50, w5_seconds=1),
}

WORKLOADS = ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8")


def _read(path):
    try:
        with open(path) as f:
            return " ".join(f.read().split())
    except OSError:
        return None


# --------------------------------------------------------------------------
# Tools


class Tools:
    def __init__(self, args):
        self.nginx = None if args.no_nginx else rig.which_nginx()
        self.wrk = None if args.python_load else shutil.which("wrk")
        self.h2load = None if args.python_load else shutil.which("h2load")
        self.perf = shutil.which("perf") if self._perf_ok() else None
        self.strace = shutil.which("strace")
        self.openssl = shutil.which("openssl")
        self.nginx_ssl = rig.nginx_has_ssl(self.nginx) if self.nginx else False

    @staticmethod
    def _perf_ok():
        if not shutil.which("perf"):
            return False
        try:
            r = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
            return r.returncode == 0 and b"raw_syscalls" in r.stderr
        except (OSError, subprocess.TimeoutExpired):
            return False

    def versions(self):
        return {"nginx": rig.version_of([self.nginx, "-v"]) if self.nginx else None,
                "wrk": rig.version_of([self.wrk, "-v"]) if self.wrk else None,
                "h2load": rig.version_of([self.h2load, "--version"]) if self.h2load else None,
                "perf": rig.version_of(["perf", "--version"]) if self.perf else None,
                "strace": rig.version_of(["strace", "-V"]) if self.strace else None,
                "openssl": rig.version_of([self.openssl, "version"]) if self.openssl else None,
                "python": sys.version.split()[0]}


# --------------------------------------------------------------------------
# The rig


class Bench:
    def __init__(self, args):
        self.args = args
        self.p = dict(MODES[args.mode])
        if args.rounds:
            self.p["rounds"] = args.rounds
        if args.window:
            self.p["window"] = args.window
        if args.streams:
            self.p["many"] = sorted(int(x) for x in args.streams.split(","))
        if args.hold:
            self.p["hold"] = args.hold
        self.tools = Tools(args)
        self.pl = rig.Placement(pin=not args.no_pin, nice=args.nice)
        self.work = tempfile.mkdtemp(prefix="agd-bench-")
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.nofile = rig.raise_nofile(200000)
        self.res = {"meta": {}, "notes": []}
        self.procs = []
        self.agd = self.nginx = self.fast = self.stream = None
        # Workload 7: the test PKI (its tls_port the https mock's), the https
        # mock, and whether antigravityd takes the CA as the provider's ca_file
        # (else only through SSL_CERT_FILE).
        self.tls = self.tls_mock = None
        self.tls_ca_file = args.tls_trust == "ca_file"
        self.body_file = os.path.join(self.work, "chat.json")
        with open(self.body_file, "wb") as f:
            f.write(rig.chat_request("gpt-bench"))
        self.body_file_tr = os.path.join(self.work, "chat-anthropic.json")
        with open(self.body_file_tr, "wb") as f:
            f.write(rig.chat_request("claude-bench"))
        self.body_file_tls = os.path.join(self.work, "chat-tls.json")
        with open(self.body_file_tls, "wb") as f:
            f.write(rig.chat_request("tls-bench"))
        self.body_file_msg = os.path.join(self.work, "messages-openai.json")
        with open(self.body_file_msg, "wb") as f:
            f.write(rig.messages_request("gpt-bench"))
        self.t0 = time.monotonic()

    def note(self, msg):
        log(msg)
        self.res["notes"].append(msg)

    # -- processes

    def start(self):
        self.pl.pin_self()
        if self.tools.nginx:
            self.fast = rig.start_fast_mock_nginx(self.tools.nginx, self.work, self.pl)
            self.fast_kind = "nginx return 200"
        else:
            self.note("nginx is not installed: the nginx side is skipped, and the agd mock serves the "
                      "non-streaming answers too (run bench/run.sh to install nginx)")
            self.fast = rig.StreamMock(self.args.mock, self.work, self.pl, name="fast-mock")
            self.fast_kind = "agd-mock-upstream"
        self.stream = rig.StreamMock(self.args.mock, self.work, self.pl)
        self.start_agd()
        if self.tools.nginx:
            self.start_nginx()

    def start_agd(self):
        self.agd = rig.Antigravityd(self.args.agd, self.work, self.pl, self.fast.port, self.stream.port,
                                    log_level=self.args.agd_log_level, tls=self.tls,
                                    tls_ca_file=self.tls_ca_file)
        time.sleep(0.3)

    def start_nginx(self):
        self.nginx = rig.start_nginx_proxy(self.tools.nginx, self.work, self.pl, self.fast.port,
                                           self.stream.port, tls=self.tls)
        time.sleep(0.3)

    def restart(self, name):
        if name == "agd":
            self.agd.stop()
            self.start_agd()
        else:
            self.nginx.stop()
            self.start_nginx()

    def stop(self):
        for p in (self.agd, self.nginx, self.stream, self.fast, self.tls_mock):
            if p is not None:
                try:
                    p.stop()
                except Exception as e:  # keep stopping the others
                    log("stop failed: %s" % e)

    def suts(self):
        """The systems under test, in alternation order (A B)."""
        out = [("agd", self.agd)]
        if self.nginx:
            out.append(("nginx", self.nginx))
        return out

    def fast_port(self, name):
        if name == "direct":
            return self.fast.port
        return self.agd.port if name == "agd" else self.nginx.port_fast

    def stream_port(self, name):
        if name == "direct":
            return self.stream.port
        return self.agd.port if name == "agd" else self.nginx.port_stream

    def tls_port(self, name):
        """Workload 7: the SUTs' port for the https upstream; "direct" is the
        https mock itself (https)."""
        if name == "direct":
            return self.tls_mock.port
        return self.agd.port if name == "agd" else self.nginx.port_tls

    def sut(self, name):
        return self.agd if name == "agd" else self.nginx

    def check_alive(self):
        for name, s in self.suts():
            if not s.p.alive():
                raise rig.RigError("%s exited during the run:\n%s" % (name, s.p.log_text()))

    # -- load generators

    def load(self, port, seconds, conns=None, body_file=None, auth=None, path=CHAT, tls=False, headers=()):
        """Saturation load on port for seconds; dict with requests, rps, errors.
        auth: an Authorization header value for every request; path: the
        request path; tls: https (to the https mock of workload 7); headers:
        more (name, value) pairs for every request (peers)."""
        conns = conns or self.p["conns"]
        body_file = body_file or self.body_file
        if self.tools.wrk:
            env = dict(os.environ, AGD_BENCH_BODY=body_file, AGD_BENCH_AUTH=auth or "",
                       AGD_BENCH_HEADERS="\n".join("%s: %s" % h for h in headers))
            cmd = self.pl.prefix("load") + [self.tools.wrk, "-t1", "-c%d" % conns,
                                            "-d%ds" % max(1, round(seconds)), "--timeout", "5s",
                                            "-s", os.path.join(HERE, "post.lua"),
                                            "%s://127.0.0.1:%d%s" % ("https" if tls else "http", port, path)]
            r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=seconds + 60)
            text = r.stdout.decode(errors="replace")
            m = re.search(r"^WRKJSON (.*)$", text, re.M)
            if not m:
                raise rig.RigError("wrk gave no result:\n" + text)
            w = json.loads(m.group(1))
            dur = w["duration_us"] / 1e6
            errs = w["errors"]
            return {"requests": w["requests"], "duration_s": dur, "rps": w["requests"] / dur,
                    "errors": errs["connect"] + errs["read"] + errs["write"] + errs["timeout"],
                    "non2xx": errs["status"], "lat_p50_us": w["lat_p50_us"],
                    "lat_p99_us": w["lat_p99_us"], "tool": "wrk -t1 -c%d" % conns}
        if auth:
            raise rig.RigError("the Python load generator sends no Authorization header: install wrk")
        with open(body_file, "rb") as f:
            body = f.read()
        return clients.closed_loop(port, path, body, conns, seconds,
                                   ssl_context=self.tls.client_context() if tls else None,
                                   extra="".join("%s: %s\r\n" % h for h in headers))

    def measured_load(self, name, port, seconds, body_file=None, auth=None, pids=None, path=CHAT, headers=()):
        """load() with the SUT's CPU time over the window."""
        if pids is None:
            pids = self.sut(name).pids if name != "direct" else []
        c0 = rig.cpu_seconds(pids) if pids else None
        r = self.load(port, seconds, body_file=body_file, auth=auth, path=path, headers=headers)
        if pids:
            c1 = rig.cpu_seconds(pids)
            r["cpu_s"] = c1 - c0
            r["cpu_us_per_req"] = (c1 - c0) * 1e6 / r["requests"] if r["requests"] else None
            r["cpu_util"] = (c1 - c0) / r["duration_s"]
            r["rss_kib"] = rig.rss_kib(pids[0])
        return r

    def latency_c1(self, port, seconds, warmup, body_file=None, tls=False):
        """Latencies (µs) of one request at a time on one keep-alive connection."""
        body_file = body_file or self.body_file
        if self.tools.h2load:
            logf = os.path.join(self.work, "h2load.log")
            if os.path.exists(logf):
                os.unlink(logf)
            cmd = self.pl.prefix("load") + [self.tools.h2load, "--h1", "-c1", "-m1",
                                            "-D", "%dms" % (seconds * 1000),
                                            "--warm-up-time", "%dms" % (warmup * 1000),
                                            "-d", body_file, "-H", "content-type: application/json",
                                            "--log-file", logf,
                                            "%s://127.0.0.1:%d%s" % ("https" if tls else "http", port, CHAT)]
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=seconds + warmup + 60)
            lat, bad = [], 0
            with open(logf) as f:
                for line in f:
                    cols = line.split()
                    if len(cols) >= 3:
                        lat.append(float(cols[2]))
                        if cols[1] != "200":
                            bad += 1
            if not lat:
                raise rig.RigError("h2load gave no samples:\n" + r.stdout.decode(errors="replace"))
            return lat, bad, "h2load --h1 -c1"
        with open(body_file, "rb") as f:
            body = f.read()
        lat, bad = clients.sequential_latency(port, CHAT, body, seconds, warmup,
                                              ssl_context=self.tls.client_context() if tls else None)
        return lat, bad, "python, one request at a time"

    def syscalls(self, name, seconds, port=None, body_file=None):
        """System calls per request of the SUT over a saturation window (on
        port, workload 1's by default)."""
        pids = self.sut(name).pids
        port = port or self.fast_port(name)
        if self.tools.perf:
            outf = os.path.join(self.work, "perf-stat.txt")
            cmd = ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-o", outf,
                   "-p", ",".join(str(p) for p in pids)]
            pr = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            r = self.load(port, seconds, body_file=body_file)
            pr.send_signal(signal.SIGINT)
            pr.wait(30)
            count = None
            with open(outf) as f:
                for line in f:
                    cols = line.strip().split(",")
                    if len(cols) > 2 and "raw_syscalls:sys_enter" in line and cols[0].isdigit():
                        count = int(cols[0])
            if count is None or not r["requests"]:
                return None
            return {"per_request": count / r["requests"], "syscalls": count,
                    "requests": r["requests"], "tool": "perf stat -e raw_syscalls:sys_enter"}
        if self.tools.strace:
            t = self.strace_c(name, seconds, port=port, body_file=body_file)
            return {"per_request": t["total_per_request"], "tool": "strace -c -f (slows the SUT)",
                    "requests": t["requests"]} if t else None
        return None

    def strace_c(self, name, seconds, conns=16, port=None, body_file=None):
        """strace -c -f -p over a short run: per-syscall calls per request."""
        pids = self.sut(name).pids
        outf = os.path.join(self.work, "strace-%s.txt" % name)
        cmd = ["strace", "-c", "-f", "-o", outf]
        for p in pids:
            cmd += ["-p", str(p)]
        pr = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        r = self.load(port or self.fast_port(name), seconds, conns=conns, body_file=body_file)
        pr.send_signal(signal.SIGINT)
        pr.wait(30)
        rows = {}
        if not os.path.exists(outf):
            return None
        with open(outf) as f:
            text = f.read()
        for line in text.splitlines():
            cols = line.split()
            if len(cols) >= 5 and re.match(r"^[\d.]+$", cols[0]) and cols[-1] != "total":
                try:
                    calls = int(cols[3])
                except ValueError:
                    continue
                rows[cols[-1]] = calls
        if not r["requests"] or not rows:  # strace could not attach (ptrace not permitted)
            return None
        per = {k: v / r["requests"] for k, v in sorted(rows.items(), key=lambda kv: -kv[1])}
        return {"requests": r["requests"], "total_per_request": sum(per.values()),
                "per_request": {k: round(v, 3) for k, v in per.items() if v >= 0.01},
                "raw": text}

    def perf_record(self, name, seconds, port=None, body_file=None):
        """A CPU profile of the SUT under saturation: top symbols and DSOs."""
        pids = self.sut(name).pids
        data = os.path.join(self.work, "perf-%s.data" % name)
        cmd = ["perf", "record", "-F", "1999", "-g", "-o", data, "-p", ",".join(map(str, pids))]
        pr = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        r = self.load(port or self.fast_port(name), seconds, body_file=body_file)
        pr.send_signal(signal.SIGINT)
        pr.wait(60)
        out = {"requests": r["requests"]}
        for key, sort in (("by_dso", "dso"), ("by_symbol", "dso,sym")):
            rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                                  "--sort", sort, "--percent-limit", "0.7", "-g", "none"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=120)
            lines = [ln for ln in rep.stdout.decode(errors="replace").splitlines()
                     if ln.strip() and not ln.startswith("#")]
            out[key] = lines[:40]
        return out

    # ----------------------------------------------------------------------
    # Workload 1: OpenAI chat passthrough. Its procedure (passthrough()) also
    # measures workload 7, the same passthrough to an https upstream.

    def check_passthrough(self, port_of, body, tls_direct=False):
        """One request through every target (port_of(name)) and straight to
        the mock: a chat.completion, byte for byte the mock's answer when the
        mock is nginx. tls_direct: the mock speaks https."""
        want = rig.openai_body().encode() if self.fast_kind.startswith("nginx") or tls_direct else None
        checks = {}
        for name in ["direct"] + [n for n, _ in self.suts()]:
            ctx = self.tls.client_context() if tls_direct and name == "direct" else None
            try:
                st, hdr, b = clients.fetch(port_of(name), CHAT, body, ssl_context=ctx)
            except OSError as e:
                st, b = None, str(e).encode()
            ok = st == 200
            try:
                j = json.loads(b)
                ok = ok and j.get("object") == "chat.completion"
            except ValueError:
                ok = False
            checks[name] = {"status": st, "bytes": len(b), "ok": ok,
                            "identical_to_mock": (b == want) if want else None}
            if not ok:
                checks[name]["body"] = b[:300].decode(errors="replace")
                self.note("passthrough check failed for %s: HTTP %s %r" % (name, st, b[:200]))
        return checks

    def w1(self):
        self.res["w1"] = self.passthrough("workload 1", self.fast_port, self.body_file, profile="")

    def passthrough(self, what, port_of, body_file, tls_direct=False, profile=None, checked=None):
        """Workload 1's procedure against the targets port_of(name) ("direct":
        the mock alone; tls_direct: over https): warm-up, saturation in A B
        rounds with the mock alone, latency at one request at a time, system
        calls per request, and with profile (a file name suffix) strace -c and
        perf record. checked: the check_passthrough() already made. Returns
        the results with their summary."""
        p = self.p
        if checked is None:
            with open(body_file, "rb") as f:
                checked = self.check_passthrough(port_of, f.read(), tls_direct)
        res = {"check": checked, "rounds": [], "latency_rounds": [], "syscall_rounds": []}
        if p["warmup"]:
            log("%s: warm-up" % what)
            for name, _ in self.suts():
                self.load(port_of(name), p["warmup"], body_file=body_file)
        for r in range(p["rounds"]):
            log("%s: saturation, round %d/%d" % (what, r + 1, p["rounds"]))
            row = {"round": r + 1, "direct": self.load(port_of("direct"), p["window"], body_file=body_file,
                                                       tls=tls_direct)}
            for name, _ in self.suts():
                row[name] = self.measured_load(name, port_of(name), p["window"], body_file=body_file)
            res["rounds"].append(row)
            self.check_alive()
        for r in range(p["rounds"]):
            log("%s: latency at one request at a time, round %d/%d" % (what, r + 1, p["rounds"]))
            row = {"round": r + 1}
            # The window is cut into slices of about a second that take the
            # targets in turn (A B direct A B direct ...): the machine's speed
            # drifts over seconds, and a p99 difference of tens of µs is
            # otherwise mostly which target ran while it was slower.
            names = [n for n, _ in self.suts()] + ["direct"]
            slices = max(1, int(round(p["lat_window"])))
            lats = {name: [] for name in names}
            bads = {name: 0 for name in names}
            for _ in range(slices):
                for name in names:
                    lat, bad, tool = self.latency_c1(port_of(name), p["lat_window"] / slices,
                                                     p["lat_warmup"] / slices, body_file=body_file,
                                                     tls=tls_direct and name == "direct")
                    lats[name] += lat
                    bads[name] += bad
            for name in names:
                lat, bad = lats[name], bads[name]
                row[name] = {"n": len(lat), "non200": bad, "p50_us": pct(lat, 50), "p90_us": pct(lat, 90),
                             "p99_us": pct(lat, 99), "tool": tool, "slices": slices}
            for name, _ in self.suts():
                row[name]["added_p50_us"] = sub(row[name]["p50_us"], row["direct"]["p50_us"])
                row[name]["added_p99_us"] = sub(row[name]["p99_us"], row["direct"]["p99_us"])
            res["latency_rounds"].append(row)
        if self.tools.perf or self.tools.strace:
            for r in range(p["rounds"]):
                log("%s: system calls per request, round %d/%d" % (what, r + 1, p["rounds"]))
                row = {"round": r + 1}
                for name, _ in self.suts():
                    try:
                        row[name] = self.syscalls(name, p["sys_window"], port=port_of(name), body_file=body_file)
                    except (OSError, subprocess.SubprocessError, rig.RigError) as e:
                        self.note("system call count of %s failed: %s" % (name, e))
                        row[name] = None
                res["syscall_rounds"].append(row)
        else:
            self.note("neither perf nor strace is usable: no system call counts")
        if profile is not None and p["profile"] and not self.args.no_profile:
            res["profile"] = {}
            for name, _ in self.suts():
                prof = {}
                try:
                    self.profile(what, name, prof, port_of(name), body_file, profile)
                except (OSError, subprocess.SubprocessError, rig.RigError) as e:
                    self.note("profiling %s failed: %s" % (name, e))
                res["profile"][name] = prof
        res["summary"] = self.summarize_passthrough(res)
        return res

    def profile(self, what, name, prof, port, body_file, suffix):
        """strace -c and perf record of one SUT under a saturation load on
        port; the text goes to the results directory (strace-NAME<suffix>.txt,
        perf-NAME<suffix>.txt)."""
        if self.tools.strace:
            log("%s: strace -c of %s" % (what, name))
            t = self.strace_c(name, 3, port=port, body_file=body_file)
            if t:
                with open(os.path.join(self.out, "strace-%s%s.txt" % (name, suffix)), "w") as f:
                    f.write(t.pop("raw"))
                prof["strace"] = t
        if self.tools.perf:
            log("%s: perf record of %s" % (what, name))
            pr = self.perf_record(name, 5, port=port, body_file=body_file)
            with open(os.path.join(self.out, "perf-%s%s.txt" % (name, suffix)), "w") as f:
                f.write("# perf report --no-children --sort dso\n" + "\n".join(pr["by_dso"]) +
                        "\n\n# perf report --no-children --sort dso,sym\n" +
                        "\n".join(pr["by_symbol"]) + "\n")
            prof["perf"] = pr

    def summarize_passthrough(self, res):
        s = {}
        for name in ["direct"] + [n for n, _ in self.suts()]:
            rows = [r[name] for r in res["rounds"]]
            s[name] = {"rps": median([x["rps"] for x in rows]),
                       "errors": sum(x["errors"] + x["non2xx"] for x in rows)}
            if name != "direct":
                s[name]["cpu_us_per_req"] = median([x.get("cpu_us_per_req") for x in rows])
                s[name]["cpu_util"] = median([x.get("cpu_util") for x in rows])
                # RSS at the end of the last saturation window.
                s[name]["rss_after_load_kib"] = rows[-1].get("rss_kib") if rows else None
                lr = [r[name] for r in res["latency_rounds"]]
                s[name]["lat_p50_us"] = median([x["p50_us"] for x in lr])
                s[name]["lat_p99_us"] = median([x["p99_us"] for x in lr])
                s[name]["added_p50_us"] = median([x["added_p50_us"] for x in lr])
                s[name]["added_p99_us"] = median([x["added_p99_us"] for x in lr])
                sr = [r[name] for r in res["syscall_rounds"] if r.get(name)]
                s[name]["syscalls_per_req"] = median([x["per_request"] for x in sr]) if sr else None
            else:
                lr = [r["direct"] for r in res["latency_rounds"]]
                s[name]["lat_p50_us"] = median([x["p50_us"] for x in lr])
                s[name]["lat_p99_us"] = median([x["p99_us"] for x in lr])
        if "nginx" in s:
            s["round_ratios"] = {
                "rps": [ratio(r["agd"]["rps"], r["nginx"]["rps"]) for r in res["rounds"]],
                "cpu_us_per_req": [ratio(r["agd"].get("cpu_us_per_req"), r["nginx"].get("cpu_us_per_req"))
                                   for r in res["rounds"]],
                "added_p99_us": [ratio(r["agd"]["added_p99_us"], r["nginx"]["added_p99_us"])
                                 for r in res["latency_rounds"]]}
        ceiling = s["direct"]["rps"]
        s["rig_bound"] = {n: bool(ceiling and s[n]["rps"] and s[n]["rps"] >= 0.9 * ceiling)
                          for n, _ in self.suts()}
        return s

    # ----------------------------------------------------------------------
    # Workload 2: OpenAI client -> Anthropic upstream (translation), and
    # workload 8, the other direction: Anthropic client -> OpenAI upstream.

    def w2(self):
        def translated(j, text):
            content = j["choices"][0]["message"]["content"]
            return (j.get("object") == "chat.completion" and j["choices"][0].get("finish_reason") == "stop"
                    and (content == text if text else isinstance(content, str) and content != ""))
        self.res["w2"] = self.translation("workload 2", CHAT, self.body_file_tr, translated, rig.ANTHROPIC_TEXT,
                                          "an OpenAI chat.completion carrying the Anthropic text")

    def w8(self):
        def translated(j, text):
            content = j["content"][0]["text"]
            return (j.get("type") == "message" and j.get("stop_reason") == "end_turn"
                    and (content == text if text else isinstance(content, str) and content != ""))
        self.res["w8"] = self.translation("workload 8", MESSAGES, self.body_file_msg, translated, rig.OPENAI_TEXT,
                                          "an Anthropic message carrying the OpenAI text")

    def translation(self, what, path, body_file, translated, text, want):
        """A request that antigravityd must translate (POST body_file to
        path), measured like workload 1's saturation and reported against
        nginx's passthrough of workload 1 in the same rounds, after a check
        that the answer really was translated: translated(json, text) is
        true, text the fixed body's text the nginx mock answers with, or None
        with agd-mock-upstream as the fast mock (then any text will do: that
        mock answers in the upstream's protocol)."""
        with open(body_file, "rb") as f:
            body = f.read()
        if not self.fast_kind.startswith("nginx"):
            text = None
        st, hdr, b = clients.fetch(self.agd.port, path, body)
        res = {"probe": {"status": st, "body": b[:400].decode(errors="replace")}}
        ok = False
        if st == 200:
            try:
                ok = bool(translated(json.loads(b), text))
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                ok = False
        res["translated"] = ok
        if not ok:
            why = ("HTTP %d" % st) if st != 200 else "answer is not %s" % want
            res["status"] = "not yet (%s)" % why
            log("%s: translation not available yet (%s): skipped" % (what, why))
            return res
        res["status"] = "measured"
        p = self.p
        if p["warmup"]:
            self.load(self.agd.port, p["warmup"], body_file=body_file, path=path)
        res["rounds"] = []
        for r in range(p["rounds"]):
            log("%s: translation, round %d/%d" % (what, r + 1, p["rounds"]))
            row = {"round": r + 1,
                   "agd": self.measured_load("agd", self.agd.port, p["window"], body_file=body_file, path=path)}
            if self.nginx:
                row["nginx_passthrough"] = self.measured_load("nginx", self.nginx.port_fast, p["window"])
            res["rounds"].append(row)
        res["summary"] = {
            "agd_rps": median([r["agd"]["rps"] for r in res["rounds"]]),
            "agd_cpu_us_per_req": median([r["agd"]["cpu_us_per_req"] for r in res["rounds"]]),
            "nginx_passthrough_rps": median([r["nginx_passthrough"]["rps"] for r in res["rounds"]])
            if self.nginx else None}
        return res

    # ----------------------------------------------------------------------
    # Workload 3: SSE

    def sse_sequential(self, port, model, chunks, n, timeout=30):
        """n streams one after the other, each on a fresh connection."""
        out = []
        for _ in range(n):
            ss = clients.StreamSet(port, model, chunks)
            ss.open(1)
            ss.run(lambda s: s.finished == 1, timeout)
            ss.close_all()
            out.append(ss)
        return out

    def sse_sequential_alternating(self, ports, model, chunks, n, block=100, timeout=30):
        """n streams per target, one after the other, each on a fresh
        connection, in blocks of `block` streams that take the targets in
        turn (A B C A B C ...). The machine's hiccups (they come in bursts
        of a few ms) then fall on every target alike instead of on whichever
        long run of streams they hit, and every stream still follows one to
        the same target (the stream ending a block of another target would
        leave its tail work on the mock's core: the first stream of each
        block is a warm-up and is not counted). Returns {name: [StreamSet]}."""
        out = {name: [] for name in ports}
        for done in range(0, n, block):
            k = min(block, n - done)
            for name, port in ports.items():
                out[name] += self.sse_sequential(port, model, chunks, k + 1, timeout)[1:]
        return out

    def sse_paced(self, port, n, chunks, pace_ms):
        """n concurrent paced streams, started pace/n apart so their chunks
        do not arrive at the same moment."""
        ss = clients.StreamSet(port, "sse+chunks=%d+pace=%dms+stamp=1" % (chunks, pace_ms), chunks)
        for i in range(n):
            ss.open(1)
            ss.run_for(pace_ms / 1000.0 / n)
        ss.run(lambda s: s.finished == n, chunks * pace_ms / 1000.0 + 30)
        ss.close_all()
        return ss

    @staticmethod
    def _sse_stats(sets):
        ttfc, delays, first_delay, last_delay, spans = [], [], [], [], []
        summ = {"streams": 0, "complete": 0, "lost_chunks": 0, "merged_events": 0,
                "duplicate_chunks": 0, "out_of_order": 0, "errors": {}}
        for ss in sets:
            s = ss.summary()
            for k in ("streams", "complete", "lost_chunks", "merged_events", "duplicate_chunks",
                      "out_of_order"):
                summ[k] += s[k]
            for k, v in s["errors"].items():
                summ["errors"][k] = summ["errors"].get(k, 0) + v
            for st in ss.streams:
                if st.t_first is not None and st.t_sent is not None:
                    ttfc.append((st.t_first - st.t_sent) / 1000.0)
                d = [(r - s_) / 1000.0 for r, s_ in zip(st.recv_ns, st.stamps) if s_ is not None]
                if d:
                    first_delay.append(d[0])
                    delays += d[1:]
                    last_delay.append(d[-1])
                if len(st.recv_ns) >= 2 and st.t_sent is not None:
                    spans.append((st.recv_ns[-1] - st.t_sent) / 1000.0)
        return {"ttfc_us": ttfc, "chunk_delay_us": delays, "first_chunk_delay_us": first_delay,
                "last_chunk_delay_us": last_delay, "request_to_last_us": spans, "summary": summ}

    def w3(self):
        p = self.p
        names = [n for n, _ in self.suts()] + ["direct"]
        res = {"rounds": [], "params": {"chunks": p["sse_chunks"], "pace_ms": p["sse_pace_ms"],
                                        "concurrent_streams": p["sse_streams"], "ttfc_streams": p["ttfc_n"],
                                        "burst_chunks": p["burst_chunks"], "burst_streams": p["burst_n"]}}
        for name in names:  # warm-up: connections to the mock exist in every pool
            self.sse_sequential(self.stream_port(name), "sse+chunks=2+stamp=1", 2, 3)
        for r in range(p["rounds"]):
            log("workload 3: SSE, round %d/%d" % (r + 1, p["rounds"]))
            row = {"round": r + 1}
            firsts = self.sse_sequential_alternating({name: self.stream_port(name) for name in names},
                                                     "sse+chunks=1+stamp=1", 1, p["ttfc_n"])
            for name in names:
                port = self.stream_port(name)
                t = self._sse_stats(firsts[name])
                paced = self._sse_stats([self.sse_paced(port, p["sse_streams"], p["sse_chunks"],
                                                        p["sse_pace_ms"])])
                burst = self._sse_stats(self.sse_sequential(
                    port, "sse+chunks=%d+stamp=1" % p["burst_chunks"], p["burst_chunks"], p["burst_n"]))
                row[name] = {
                    "ttfc_p50_us": pct(t["ttfc_us"], 50), "ttfc_p99_us": pct(t["ttfc_us"], 99),
                    "ttfc_n": len(t["ttfc_us"]), "ttfc_check": t["summary"],
                    "paced_ttfc_p50_us": pct(paced["ttfc_us"], 50),
                    "chunk_delay_p50_us": pct(paced["chunk_delay_us"], 50),
                    "chunk_delay_p99_us": pct(paced["chunk_delay_us"], 99),
                    "chunk_delay_n": len(paced["chunk_delay_us"]),
                    "paced": paced["summary"],
                    "burst_last_delay_p50_us": pct(burst["last_chunk_delay_us"], 50),
                    "burst_request_to_last_p50_us": pct(burst["request_to_last_us"], 50),
                    "burst": burst["summary"]}
            for name, _ in self.suts():
                d, x = row["direct"], row[name]
                x["added_ttfc_p50_us"] = sub(x["ttfc_p50_us"], d["ttfc_p50_us"])
                x["added_ttfc_p99_us"] = sub(x["ttfc_p99_us"], d["ttfc_p99_us"])
                x["added_chunk_p50_us"] = sub(x["chunk_delay_p50_us"], d["chunk_delay_p50_us"])
                x["added_chunk_p99_us"] = sub(x["chunk_delay_p99_us"], d["chunk_delay_p99_us"])
                x["added_burst_request_to_last_us"] = sub(x["burst_request_to_last_p50_us"],
                                                          d["burst_request_to_last_p50_us"])
            res["rounds"].append(row)
            self.check_alive()
        s = {}
        for name in names:
            rows = [r[name] for r in res["rounds"]]
            s[name] = {k: median([x[k] for x in rows]) for k in rows[0]
                       if not isinstance(rows[0][k], dict)}
            for k in ("paced", "burst", "ttfc_check"):
                agg = {"streams": 0, "complete": 0, "lost_chunks": 0, "merged_events": 0,
                       "duplicate_chunks": 0, "out_of_order": 0}
                for x in rows:
                    for kk in agg:
                        agg[kk] += x[k][kk]
                s[name][k] = agg
        res["summary"] = s
        self.res["w3"] = res

    # ----------------------------------------------------------------------
    # Workload 4: many concurrent streams

    def many_streams(self, name, levels, hold):
        """Opens streams up to each level (ramped), samples RSS at each,
        measures idle CPU while all are held, waits for all to complete."""
        sut = self.sut(name)
        pid = sut.pids[0]
        base = rig.rss_kib(pid)
        out = {"rss_base_kib": base, "pss_base_kib": rig.pss_kib(pid), "levels": []}
        ss = clients.StreamSet(self.stream_port(name), "hold+chunks=2+hold=%ds" % hold, 2,
                               keep_samples=False)
        t_start = time.monotonic()
        ramp = self.p["ramp"]
        for level in levels:
            t_level = time.monotonic()
            while len(ss.streams) < level and time.monotonic() - t_level < 120:
                room = min(ramp - ss.pending(), level - len(ss.streams))
                if room > 0:
                    ss.open(room)
                ss.run(lambda s: s.pending() < ramp, 5)
            ok = ss.run(lambda s: s.pending() == 0, 120)
            failed = sum(1 for st in ss.streams if st.finished and not st.complete)
            rss = rig.rss_kib(pid)
            out["levels"].append({
                "streams": level, "established": ss.first_seen, "failed_so_far": failed,
                "all_established": ok and failed == 0, "seconds_to_establish": time.monotonic() - t_level,
                "rss_kib": rss, "pss_kib": rig.pss_kib(pid), "threads": rig.threads(pid),
                "rss_per_stream_kib": (rss - base) / level if level else None})
            log("workload 4: %s: %d of %d streams established, RSS %.1f MiB"
                % (name, ss.first_seen, level, rss / 1024))
        # Idle CPU while everything is held (until shortly before the first stream ends).
        window = hold - (time.monotonic() - t_start) - min(3.0, hold * 0.3)
        if window >= 0.5:
            c0, w0 = rig.cpu_seconds(sut.pids), time.monotonic()
            ss.run_for(window)
            c1, w1 = rig.cpu_seconds(sut.pids), time.monotonic()
            out["idle_cpu_pct"] = (c1 - c0) / (w1 - w0) * 100
            out["idle_window_s"] = w1 - w0
        else:
            out["idle_cpu_pct"] = None
            self.note("workload 4: ramp took longer than the hold: no idle CPU window")
        ss.run(lambda s: s.finished >= len(s.streams), hold + 120)
        summ = ss.summary()
        ss.close_all()
        out["rss_end_kib"] = rig.rss_kib(pid)
        out.update(summ)
        out["seconds_total"] = time.monotonic() - t_start
        return out

    def w4(self):
        p = self.p
        levels = list(p["many"])
        cap = (self.nofile - 200) // 2  # a proxy holds a client and an upstream socket per stream
        if levels[-1] > cap:
            self.note("workload 4: RLIMIT_NOFILE is %d (hard limit; raising it needs CAP_SYS_RESOURCE): "
                      "a proxy needs 2 descriptors per stream, so the top level is %d streams, not %d"
                      % (self.nofile, cap, levels[-1]))
            levels = [min(x, cap) for x in levels]
        res = {"levels": levels, "hold_s": p["hold"], "rounds": []}
        for r in range(p["rounds"]):
            row = {"round": r + 1}
            for name, _ in self.suts():
                log("workload 4: %s, round %d/%d: up to %d streams held %d s"
                    % (name, r + 1, p["rounds"], levels[-1], p["hold"]))
                self.restart(name)  # a fresh process: per-stream memory from a clean start
                row[name] = self.many_streams(name, levels, p["hold"])
                row[name]["idle_rss_after_start_kib"] = row[name]["rss_base_kib"]
            res["rounds"].append(row)
        s = {}
        for name, _ in self.suts():
            rows = [r[name] for r in res["rounds"]]
            s[name] = {"levels": []}
            for i, level in enumerate(levels):
                s[name]["levels"].append({
                    "streams": level,
                    "rss_per_stream_kib": median([x["levels"][i]["rss_per_stream_kib"] for x in rows]),
                    "rss_kib": median([x["levels"][i]["rss_kib"] for x in rows]),
                    "all_established_rounds": sum(1 for x in rows if x["levels"][i]["all_established"]),
                    "seconds_to_establish": median([x["levels"][i]["seconds_to_establish"] for x in rows])})
            s[name]["complete"] = [x["complete"] for x in rows]
            s[name]["streams"] = [x["streams"] for x in rows]
            s[name]["errors"] = [x["errors"] for x in rows]
            s[name]["all_complete_every_round"] = all(x["complete"] == x["streams"] for x in rows)
            s[name]["idle_cpu_pct"] = median([x["idle_cpu_pct"] for x in rows])
            s[name]["idle_rss_after_start_kib"] = median([x["rss_base_kib"] for x in rows])
        res["summary"] = s
        self.res["w4"] = res

    # ----------------------------------------------------------------------
    # Workload 5: memory

    def w5_idle(self):
        time.sleep(0.5)
        self.res["w5"] = {"idle_after_start": {
            name: {"rss_kib": rig.rss_kib(s.pids[0]), "pss_kib": rig.pss_kib(s.pids[0]),
                   "threads": rig.threads(s.pids[0])} for name, s in self.suts()}}
        if self.nginx:
            self.res["w5"]["idle_after_start"]["nginx"]["master_rss_kib"] = rig.rss_kib(self.nginx.master)

    def w5_load(self):
        """Workload 1 for w5_seconds per SUT, split into `rounds` windows in
        alternation, without restarts: the RSS at the end of the last window
        is the RSS after w5_seconds of load."""
        p = self.p
        per = max(1, p["w5_seconds"] / p["rounds"])
        res = {"seconds_per_sut": per * p["rounds"], "rounds": []}
        for name, _ in self.suts():  # restart: the 60 s count from a fresh process
            self.restart(name)
        for r in range(p["rounds"]):
            log("workload 5: RSS under workload 1, round %d/%d (%g s each)" % (r + 1, p["rounds"], per))
            row = {"round": r + 1}
            for name, _ in self.suts():
                x = self.measured_load(name, self.fast_port(name), per)
                row[name] = {"rss_kib": x["rss_kib"], "rps": x["rps"], "pss_kib": rig.pss_kib(self.sut(name).pids[0])}
            res["rounds"].append(row)
        res["after_load"] = {name: res["rounds"][-1][name] for name, _ in self.suts()}
        time.sleep(1)
        res["idle_after_load"] = {name: {"rss_kib": rig.rss_kib(s.pids[0])} for name, s in self.suts()}
        self.res["w5"]["under_load"] = res

    # ----------------------------------------------------------------------

    # ----------------------------------------------------------------------
    # Workload 6: what accounting costs. Workload 1's passthrough from three
    # antigravityd in turn: "off" (workload 1's own), "on" with the request
    # store and a metrics listener (the figure with a goal), and "client",
    # "on" plus a named client with rpm and tpm limits whose key every
    # request carries (what limits add, reported apart).

    def w6(self):
        p = self.p
        log("workload 6: starting two more antigravityd: store and metrics on, and also a named client")
        acct = rig.Antigravityd(self.args.agd, self.work, self.pl, self.fast.port, self.stream.port,
                                log_level=self.args.agd_log_level, name="agd-acct", accounting=True)
        cli = rig.Antigravityd(self.args.agd, self.work, self.pl, self.fast.port, self.stream.port,
                               log_level=self.args.agd_log_level, name="agd-client", accounting=True,
                               client=True)
        auth = "Bearer " + rig.BENCH_CLIENT_KEY
        if not self.tools.wrk:
            self.note("workload 6: the Python load generator sends no client key: the requests are not "
                      "counted for a named client")
            auth = None
        targets = [("off", self.agd), ("on", acct), ("client", cli)]
        res = {"rounds": [], "tool": None}
        try:
            for name, t in targets:
                self.load(t.port, p["warmup"] or 1, auth=auth)
            for r in range(p["rounds"]):
                log("workload 6: accounting off / on / with a client, round %d/%d" % (r + 1, p["rounds"]))
                row = {"round": r + 1}
                for name, t in targets:
                    row[name] = self.measured_load(name, t.port, p["window"], auth=auth, pids=t.pids)
                res["rounds"].append(row)
            rows = self.scrape(acct.metrics_port)
            res["metrics_requests_total"] = rows
            res["store"] = self.store_rows(acct)
        finally:
            acct.stop()
            cli.stop()
        s = {}
        for name, _ in targets:
            rr = [row[name] for row in res["rounds"]]
            s[name] = {"rps": median([x["rps"] for x in rr]),
                       "cpu_us_per_req": median([x.get("cpu_us_per_req") for x in rr]),
                       "errors": sum(x["errors"] + x["non2xx"] for x in rr)}
        s["cpu_ratio_rounds"] = [ratio(row["on"].get("cpu_us_per_req"), row["off"].get("cpu_us_per_req"))
                                 for row in res["rounds"]]
        s["cpu_ratio"] = median(s["cpu_ratio_rounds"])
        s["client_cpu_ratio_rounds"] = [ratio(row["client"].get("cpu_us_per_req"), row["off"].get("cpu_us_per_req"))
                                        for row in res["rounds"]]
        s["client_cpu_ratio"] = median(s["client_cpu_ratio_rounds"])
        res["summary"] = s
        self.res["w6"] = res

    # ----------------------------------------------------------------------
    # Workload 7: workload 1's passthrough to an https upstream (TLS 1.3,
    # keep-alive), the way the public providers are reached. The https mock
    # is the fast mock's nginx with TLS, its certificate from a CA made for
    # the run; nginx as the SUT relays with proxy_pass https:// and verifies
    # the certificate, as antigravityd does.

    def w7_setup(self):
        """Makes the test PKI, starts the https mock and restarts both SUTs
        with an https upstream. Returns why workload 7 cannot be measured,
        or None."""
        if not self.tools.nginx:
            return "no nginx (not installed, or --no-nginx): it serves the https mock"
        if not self.tools.nginx_ssl:
            return "this nginx has no ssl module"
        if not self.tools.openssl:
            return "the openssl command is not installed: it makes the test certificates"
        try:
            pki = rig.Pki(self.work)
            self.tls_mock = rig.start_fast_mock_nginx(self.tools.nginx, self.work, self.pl, tls=pki,
                                                      tag="tls-mock")
        except (OSError, subprocess.SubprocessError, rig.RigError) as e:
            return "the https mock did not start: %s" % str(e).strip().splitlines()[0]
        pki.tls_port = self.tls_mock.port
        self.tls = pki
        log("workload 7: restarting antigravityd and nginx with an https upstream")
        self.agd.stop()
        try:
            self.start_agd()
        except rig.RigError as e:
            if not self.tls_ca_file:
                raise
            # An antigravityd from before the provider key ca_file: the CA
            # is then trusted through SSL_CERT_FILE alone.
            said = [ln for ln in str(e).splitlines() if "ca_file" in ln]
            self.note("workload 7: antigravityd did not take the provider's ca_file (%s): it trusts the test "
                      "CA through SSL_CERT_FILE only" % (said[0].strip() if said else "it did not start"))
            self.tls_ca_file = False
            self.start_agd()
        if self.nginx:
            self.restart("nginx")
        return None

    def w7(self):
        res = {"trust": None}
        why = self.w7_setup()
        if why is None:
            res["trust"] = ("the provider's ca_file (the test CA) and SSL_CERT_FILE (the system bundle + the "
                            "test CA)" if self.tls_ca_file else
                            "SSL_CERT_FILE alone (the system bundle + the test CA)")
            res["tls"] = self.tls_session()
            with open(self.body_file_tls, "rb") as f:
                checked = self.check_passthrough(self.tls_port, f.read(), tls_direct=True)
            bad = ["%s: %s" % (n, ("HTTP %s" % c["status"]) if c["status"] else c.get("body", "")[:120])
                   for n, c in checked.items() if not c["ok"]]
            if bad:
                why = "the answer through the https upstream is not the mock's chat.completion (%s)" % "; ".join(bad)
                res["check"] = checked
        if why is not None:
            res["status"] = "not measured (%s)" % why
            self.note("workload 7: not measured: " + why)
            self.res["w7"] = res
            return
        res["status"] = "measured"
        res.update(self.passthrough("workload 7", self.tls_port, self.body_file_tls, tls_direct=True,
                                    profile="-w7", checked=checked))
        self.res["w7"] = res

    def tls_session(self):
        """The protocol and cipher the https mock negotiates (with Python's
        OpenSSL, as a stand-in for the SUTs' own handshakes)."""
        try:
            s = clients.connect(self.tls_mock.port, self.tls.client_context(), timeout=10)
        except OSError as e:
            return {"error": str(e)}
        try:
            return {"version": s.version(), "cipher": s.cipher()[0]}
        finally:
            s.close()

    # ----------------------------------------------------------------------
    # Peers (--peers, off by default): other gateways from the npm registry
    # (peers.py) on the workloads each serves, against nginx's passthrough
    # in the same rounds, as workload 2 is.

    def peers(self):
        res = {"cache": peers.cache_dir(), "runs": []}
        target, why = peers.install()
        for name, package, start, workloads in peers.definitions(self.fast.port):
            runs = [{"peer": name, "workload": w, "label": label} for w, label, *_ in workloads]
            res["runs"] += runs
            if why is None:
                for run in runs:
                    run["version"] = peers.version(target, package)
                try:
                    peer = start(target, self.work, self.pl, self.fast.port)
                except (OSError, rig.RigError) as e:
                    err = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    for run in runs:
                        run["status"] = "not measured (%s)" % err
                    continue
                try:
                    for run, (w, label, path, body, headers, check) in zip(runs, workloads):
                        self.peer_workload(run, peer, path, body, headers, check)
                finally:
                    peer.stop()
            for run in runs:
                run.setdefault("status", "not measured (%s)" % why)
                if run["status"] != "measured":
                    self.note("peers: %s, %s: %s" % (run["peer"], run["workload"], run["status"]))
        self.res["peers"] = res

    def peer_workload(self, run, peer, path, body, headers, check):
        p = self.p
        extra = "".join("%s: %s\r\n" % h for h in headers)
        try:
            st, _, b = clients.fetch(peer.port, path, body, extra=extra)
            ok = st == 200 and check(json.loads(b))
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            st, b, ok = None, str(e).encode(), False
        if not ok:
            run["status"] = "not measured (HTTP %s: %s)" % (st, b[:160].decode(errors="replace"))
            return
        body_file = os.path.join(self.work, "peer-%s-%s.json" % (peer.name, run["workload"]))
        with open(body_file, "wb") as f:
            f.write(body)
        if p["warmup"]:
            self.load(peer.port, p["warmup"], body_file=body_file, path=path, headers=headers)
        run["rounds"] = []
        for r in range(p["rounds"]):
            log("peers: %s, %s, round %d/%d" % (run["peer"], run["workload"], r + 1, p["rounds"]))
            row = {"round": r + 1, "peer": self.measured_load("peer", peer.port, p["window"], body_file=body_file,
                                                              path=path, headers=headers, pids=peer.pids)}
            if self.nginx:
                row["nginx_passthrough"] = self.measured_load("nginx", self.nginx.port_fast, p["window"])
            run["rounds"].append(row)
        rows = run["rounds"]
        run["status"] = "measured"
        run["summary"] = {
            "rps": median([x["peer"]["rps"] for x in rows]),
            "cpu_us_per_req": median([x["peer"].get("cpu_us_per_req") for x in rows]),
            "rss_kib": rows[-1]["peer"].get("rss_kib"),
            "errors": sum(x["peer"]["errors"] + x["peer"]["non2xx"] for x in rows),
            "nginx_passthrough_rps": median([x["nginx_passthrough"]["rps"] for x in rows]) if self.nginx else None}

    @staticmethod
    def scrape(port):
        """antigravityd_requests_total summed over its series (None when the scrape fails)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = 0.0
        for line in text.splitlines():
            if line.startswith("antigravityd_requests_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def store_rows(self, acct):
        r = subprocess.run([self.args.agd, "status", "--json", "-c", acct.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=30)
        try:
            return json.loads(r.stdout).get("store")
        except ValueError:
            return None

    def meta(self):
        def git(*a):
            try:
                return subprocess.run(["git", "-C", ROOT] + list(a), stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, timeout=20).stdout.decode().strip()
            except (OSError, subprocess.TimeoutExpired):
                return None
        cpu = None
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        status = git("status", "--porcelain") or ""
        self.res["meta"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": len([ln for ln in status.splitlines() if ln.strip()]),
            "kernel": os.uname().release, "cpu": cpu, "cpus": len(self.pl.cpus),
            "placement": self.pl.describe(), "mode": self.args.mode, "params": self.p,
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "nofile": self.nofile, "agd_bin": os.path.abspath(self.args.agd),
            "agd_build": self.args.build_info, "agd_log_level": self.args.agd_log_level,
            "fast_mock": self.fast_kind, "tools": self.tools.versions(),
            "sysctl": {k: _read("/proc/sys/" + k.replace(".", "/")) for k in
                       ("net.ipv4.tcp_tw_reuse", "net.core.somaxconn", "net.ipv4.ip_local_port_range",
                        "kernel.perf_event_paranoid")},
        }

    def run(self):
        try:
            self.start()
            self.meta()
            wanted = set(self.args.only.split(",")) if self.args.only else set(WORKLOADS)
            self.w5_idle()
            if "w1" in wanted:
                self.w1()
            if "w2" in wanted:
                self.w2()
            if "w8" in wanted:
                self.w8()
            if "w3" in wanted:
                self.w3()
            if "w5" in wanted:
                self.w5_load()
            if "w4" in wanted:
                self.w4()
            if "w6" in wanted:
                self.w6()
            if "w7" in wanted:  # last: it restarts both SUTs with an https upstream
                self.w7()
            if self.args.peers:
                self.peers()
            self.check_alive()
        finally:
            self.stop()
            self.res["meta"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
            self.res["meta"]["seconds"] = round(time.monotonic() - self.t0, 1)
            self.write()
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                log("work directory kept: " + self.work)

    def write(self):
        jpath = os.path.join(self.out, "results.json")
        with open(jpath, "w") as f:
            json.dump(self.res, f, indent=1, sort_keys=True, default=str)
        md = report.markdown(self.res)
        mpath = os.path.join(self.out, "results.md")
        with open(mpath, "w") as f:
            f.write(md)
        if self.args.latest:
            for src, dst in ((jpath, "latest.json"), (mpath, "latest.md")):
                shutil.copyfile(src, os.path.join(self.args.latest, dst))
        log("results: %s and %s" % (mpath, jpath))
        print(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agd", default=os.path.join(ROOT, "build-release", "src", "antigravityd"))
    ap.add_argument("--mock", default=os.path.join(ROOT, "build-release", "tools", "mock-upstream",
                                                   "agd-mock-upstream"))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="about 3 minutes: shorter windows, 1,000 streams held 10 s")
    g.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                   help="a few seconds; for the test suite")
    ap.set_defaults(mode="full")
    ap.add_argument("--rounds", type=int, help="A B rounds (default 3; smoke 1)")
    ap.add_argument("--window", type=float, help="saturation window in seconds")
    ap.add_argument("--streams", help="workload 4 levels, e.g. 1000,10000")
    ap.add_argument("--hold", type=int, help="workload 4 hold in seconds (default 60)")
    ap.add_argument("--only", help="comma-separated workloads: w1,w2,w3,w4,w5,w6,w7,w8")
    ap.add_argument("--out", help="results directory (default bench/results/<date>-<commit>)")
    ap.add_argument("--no-nginx", action="store_true", help="skip the nginx side")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--no-profile", action="store_true", help="skip strace -c and perf record")
    ap.add_argument("--nice", type=int, default=0,
                    help="run every rig process at this niceness (e.g. -10 on a machine others use; needs root)")
    ap.add_argument("--python-load", action="store_true", help="use the Python load generators, not wrk/h2load")
    ap.add_argument("--agd-log-level", default="notice",
                    help="antigravityd log_level (default notice: no access log, like nginx's access_log off)")
    ap.add_argument("--peers", action="store_true",
                    help="also measure other gateways from the npm registry (Portkey gateway, claude-code-router; "
                         "installed with npm ci into ~/.cache/antigravityd-bench/peers)")
    ap.add_argument("--tls-trust", choices=("ca_file", "env"), default="ca_file",
                    help="workload 7: antigravityd trusts the test CA by the provider's ca_file and "
                         "SSL_CERT_FILE (ca_file, the default), or by SSL_CERT_FILE alone (env)")
    ap.add_argument("--build-info", default="", help="how the binary was built (recorded)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory (logs, configs)")
    args = ap.parse_args()
    for path, what in ((args.agd, "--agd"), (args.mock, "--mock")):
        if not os.access(path, os.X_OK):
            ap.error("%s %s is not an executable (build it first, or use bench/run.sh)" % (what, path))
    args.latest = None
    if not args.out:
        res_dir = os.path.join(HERE, "results")
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL).stdout.decode().strip() or "nocommit"
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out = os.path.join(res_dir, "%s-%s%s" % (stamp, commit, "" if args.mode == "full" else "-" + args.mode))
        args.latest = res_dir
    Bench(args).run()


if __name__ == "__main__":
    main()
