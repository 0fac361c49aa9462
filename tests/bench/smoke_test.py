#!/usr/bin/env python3
"""Smoke test of the benchmark harness: runs `bench/bench.py --smoke` (a few
seconds) against this build's antigravityd and mock, then checks that it
produced a results table and numbers for every workload. It never checks a
speed: the figures of a smoke run on a shared CI machine mean nothing.

Environment: AGD_BIN, AGD_MOCK (set by meson; default: build/).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(ROOT, "bench", "bench.py")
AGD_BIN = os.environ.get("AGD_BIN") or os.path.join(ROOT, "build", "src", "antigravityd")
AGD_MOCK = os.environ.get("AGD_MOCK") or os.path.join(ROOT, "build", "tools", "mock-upstream",
                                                      "agd-mock-upstream")


def have_nginx():
    return bool(shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK))


class BenchSmoke(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="agd-bench-smoke-")
        cls.out = os.path.join(cls.tmp, "results")
        missing = [t for t, ok in (("nginx", have_nginx()), ("wrk", shutil.which("wrk")),
                                   ("h2load", shutil.which("h2load"))) if not ok]
        if missing:
            print("bench-smoke: %s not installed: %s (bench/run.sh installs them)"
                  % (", ".join(missing),
                     "the nginx side is skipped" if "nginx" in missing else
                     "Python load generators stand in"), flush=True)
        cmd = [sys.executable, "-B", BENCH, "--smoke", "--agd", AGD_BIN, "--mock", AGD_MOCK,
               "--out", cls.out]
        cls.proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=200)
        cls.output = cls.proc.stdout.decode(errors="replace")
        print(cls.output[-6000:], flush=True)
        path = os.path.join(cls.out, "results.json")
        cls.res = None
        if os.path.exists(path):
            with open(path) as f:
                cls.res = json.load(f)
        cls.nginx = have_nginx()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def number(self, value, what, positive=True):
        self.assertIsInstance(value, (int, float), "%s: no number (%r)" % (what, value))
        if positive:
            self.assertGreater(value, 0, what)

    def suts(self):
        return ["agd", "nginx"] if self.nginx else ["agd"]

    def test_ran(self):
        self.assertEqual(self.proc.returncode, 0, "bench.py --smoke failed")
        self.assertIsNotNone(self.res, "no results.json")
        with open(os.path.join(self.out, "results.md")) as f:
            md = f.read()
        self.assertIn("| workload | figure | antigravityd | nginx |", md)

    def test_workload1_numbers(self):
        w1 = self.res["w1"]
        for name in ["direct"] + self.suts():
            self.assertTrue(w1["check"][name]["ok"], "the %s answer was not a chat.completion" % name)
        s = w1["summary"]
        for name in self.suts():
            self.number(s[name]["rps"], name + " requests/s")
            self.number(s[name]["cpu_us_per_req"], name + " CPU per request", positive=False)
            self.number(s[name]["lat_p50_us"], name + " latency p50")
            self.number(s[name]["lat_p99_us"], name + " latency p99")
            self.number(s[name]["added_p99_us"], name + " added p99", positive=False)

    def test_workload2_reported(self):
        self.assertIn(self.res["w2"]["status"].split(" ")[0], ("measured", "not"))

    def test_workload7_reported(self):
        w7 = self.res["w7"]
        self.assertIn(w7["status"].split(" ")[0], ("measured", "not"), w7["status"])
        if self.nginx and shutil.which("openssl"):
            # nginx serves the https mock and the openssl tool makes its CA:
            # then the https workload must have gone through, both sides.
            self.assertEqual(w7["status"], "measured", w7)
            for name in self.suts():
                self.number(w7["summary"][name]["rps"], name + " requests/s over https")
                self.number(w7["summary"][name]["cpu_us_per_req"], name + " CPU per request over https",
                            positive=False)

    def test_workload8_reported(self):
        w8 = self.res["w8"]
        self.assertIn(w8["status"].split(" ")[0], ("measured", "not"), w8["status"])

    def test_workload3_numbers(self):
        s = self.res["w3"]["summary"]
        for name in ["direct"] + self.suts():
            self.number(s[name]["ttfc_p50_us"], name + " time to first chunk")
            self.number(s[name]["chunk_delay_p99_us"], name + " per-chunk delay p99")
            self.assertGreater(s[name]["paced"]["streams"], 0)
            self.assertGreater(s[name]["burst"]["streams"], 0)

    def test_workload4_numbers(self):
        for r in self.res["w4"]["rounds"]:
            for name in self.suts():
                self.assertGreater(r[name]["streams"], 0)
                self.number(r[name]["complete"], name + " completed streams", positive=False)
                self.number(r[name]["levels"][0]["rss_kib"], name + " RSS with streams open")

    def test_workload5_numbers(self):
        w5 = self.res["w5"]
        for name in self.suts():
            self.number(w5["idle_after_start"][name]["rss_kib"], name + " idle RSS")
            self.number(w5["under_load"]["after_load"][name]["rss_kib"], name + " RSS under load")

    def test_workload6_numbers(self):
        w6 = self.res["w6"]
        for name in ("off", "on", "client"):
            self.number(w6["summary"][name]["rps"], name + " requests/s")
            self.number(w6["summary"][name]["cpu_us_per_req"], name + " CPU per request")
            self.assertEqual(w6["summary"][name]["errors"], 0)
        self.number(w6["summary"]["cpu_ratio"], "accounting CPU ratio")
        self.number(w6["summary"]["client_cpu_ratio"], "accounting + client CPU ratio")
        # The accounting side counted and stored what it served.
        self.number(w6["metrics_requests_total"], "requests_total in the scrape")
        self.assertTrue(w6["store"]["ok"], w6["store"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
