#!/usr/bin/env python3
"""Prometheus metrics ([metrics] listen): after known requests (passthrough
and translated, streamed and not, local, refused, unknown models) a scrape
counts each of them once with bounded labels; attempts and credential_up
follow a failover; the listener answers only GET/HEAD /metrics; the client
port never serves metrics; scrapes run concurrently with traffic and
counters never go down; `promtool check metrics` accepts a scrape (when
promtool, Debian package prometheus, is installed)."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, fingerprint, get, openai_provider, post,
                     stream, t, wait_until)

PK1 = "sk-metrics-provider-key-one-11"
PK2 = "sk-metrics-provider-key-two-22"
PKA = "sk-ant-metrics-provider-key-33"
CK = "gw-metrics-team-a-client-key-44"
CK_SLOW = "gw-metrics-slow-client-key-55"

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"
PROMTOOL = shutil.which("promtool")

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Exposition text -> {(name, frozenset of (label, value)): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not a sample line: %r" % line)
        labels = frozenset((k, re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), v))
                           for k, v in LABEL_RE.findall(m.group(2) or ""))
        key = (m.group(1), labels)
        if key in out:
            raise AssertionError("duplicate series: %r" % line)
        out[key] = float(m.group(3))
    return out


def value(metrics, name, **labels):
    return metrics.get((name, frozenset(labels.items())), 0.0)


def total(metrics, name, **labels):
    """Sum over the series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, l), v in metrics.items() if n == name and want <= l)


def series(metrics, name):
    return [dict(l) for (n, l) in metrics if n == name]


def chat(model, stream=False):
    b = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
        b["stream_options"] = {"include_usage": True}
    return b


def msgs(model, stream=False):
    b = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
    return b


def bearer(key):
    return {"Authorization": "Bearer " + key}


class MetricsTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.mport = harness.free_port_nobody_listens_on()
        self.d = self.start_daemon(self.config())

    def config(self, mport=None):
        return build_config(
            self.tmp, auth={"mode": "strict"}, routing={"strategy": "fill-first"},
            clients=[("team-a", {"key": CK}), ("slow", {"key": CK_SLOW, "rpm": "1"})],
            metrics={"listen": "127.0.0.1:%d" % (mport or self.mport)},
            providers=[
                ("oa", openai_provider(self.mock, [PK1, PK2], "gpt-4o, gpt-*, fast=gpt-real")),
                ("an", anthropic_provider(self.mock, [PKA], "claude-*")),
            ])

    def scrape_text(self, method="GET", path="/metrics", port=None):
        conn = http.client.HTTPConnection("127.0.0.1", port or self.mport, timeout=t(30))
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
        finally:
            conn.close()

    def scrape(self):
        status, headers, body = self.scrape_text()
        self.assertEqual(status, 200, body[:500])
        self.assertEqual(headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        return parse_metrics(body)

    def wait_requests(self, n):
        """Scrapes until requests_total adds up to n (the record of a request
        is counted as its answer ends, just after the client has it)."""
        box = {}

        def enough():
            box["m"] = self.scrape()
            return total(box["m"], "antigravityd_requests_total") >= n
        wait_until(enough, t(20), "%d requests counted" % n)
        return box["m"]

    def test_counts_after_known_requests(self):
        p = self.d.port
        h = bearer(CK)
        # Passthrough (Chat client, Chat upstream), not streamed and streamed.
        for model in ("gpt-4o", "gpt-4o-mini"):
            self.assertEqual(post(p, CHAT, chat(model), h).status, 200)
        r = stream(p, CHAT, chat("gpt-4o", stream=True), h)
        self.assertEqual(r.status, 200, r)
        # Translated: an Anthropic client on the Chat upstream, a Chat client
        # on the Anthropic upstream; streamed and not.
        self.assertEqual(post(p, MSGS, msgs("gpt-4o"), h).status, 200)
        self.assertEqual(stream(p, MSGS, msgs("gpt-4o", stream=True), h).status, 200)
        self.assertEqual(stream(p, CHAT, chat("claude-x", stream=True), h).status, 200)
        # A rename: counted under its client-side name.
        self.assertEqual(post(p, CHAT, chat("fast"), h).status, 200)
        # Unknown models: one "other" series, whatever the names.
        for i in range(20):
            self.assertEqual(post(p, CHAT, chat("made-up-%d-\"\\\n" % i), h).status, 404)
        # Refused before any client is known, and a local endpoint.
        self.assertEqual(post(p, CHAT, chat("gpt-4o")).status, 401)
        self.assertEqual(get(p, "/v1/models", h).status, 200)

        m = self.wait_requests(29)
        req = "antigravityd_requests_total"
        self.assertEqual(value(m, req, client="team-a", protocol="openai-chat", model="gpt-4o", provider="oa",
                               status="200"), 2)
        self.assertEqual(value(m, req, client="team-a", protocol="openai-chat", model="gpt-*", provider="oa",
                               status="200"), 1)
        self.assertEqual(value(m, req, client="team-a", protocol="anthropic", model="gpt-4o", provider="oa",
                               status="200"), 2)
        self.assertEqual(value(m, req, client="team-a", protocol="openai-chat", model="claude-*", provider="an",
                               status="200"), 1)
        self.assertEqual(value(m, req, client="team-a", protocol="openai-chat", model="fast", provider="oa",
                               status="200"), 1)
        self.assertEqual(value(m, req, client="team-a", protocol="openai-chat", model="other", provider="-",
                               status="404"), 20)
        self.assertEqual(total(m, req, status="401"), 1)
        self.assertEqual(total(m, req, status="401", client="-"), 1)
        self.assertEqual(value(m, req, client="team-a", protocol="local", model="-", provider="-", status="200"), 1)
        self.assertEqual(total(m, req), 29)
        # Model label values: only names from the config and the fixed words.
        models = {s["model"] for s in series(m, req)}
        self.assertLessEqual(models, {"gpt-4o", "gpt-*", "fast", "claude-*", "other", "-"})

        # Durations: one observation per request; first tokens for the
        # answers that had tokens.
        dur = "antigravityd_request_duration_seconds_count"
        self.assertEqual(total(m, dur), 29)
        self.assertEqual(value(m, dur, protocol="openai-chat", model="gpt-4o", provider="oa"), 2)
        self.assertEqual(value(m, dur, protocol="anthropic", model="gpt-4o", provider="oa"), 2)
        self.assertEqual(value(m, "antigravityd_time_to_first_token_seconds_count",
                               protocol="openai-chat", model="claude-*", provider="an"), 1)
        self.assertEqual(value(m, "antigravityd_time_to_first_token_seconds_count",
                               protocol="anthropic", model="gpt-4o", provider="oa"), 2)
        for labels in series(m, "antigravityd_request_duration_seconds_bucket"):
            if labels["le"] == "+Inf":
                base = {k: v for k, v in labels.items() if k != "le"}
                self.assertEqual(value(m, "antigravityd_request_duration_seconds_bucket", **labels),
                                 value(m, dur, **base))
        # Tokens the mock reported.
        self.assertGreater(value(m, "antigravityd_tokens_total", client="team-a", model="gpt-4o", provider="oa",
                                 type="input"), 0)
        self.assertGreater(value(m, "antigravityd_tokens_total", client="team-a", model="claude-*", provider="an",
                                 type="output"), 0)
        # Attempts: one per upstream request.
        self.assertEqual(total(m, "antigravityd_upstream_attempts_total", outcome="ok"), 7)
        self.assertEqual(value(m, "antigravityd_upstream_attempts_total", provider="oa",
                               credential=fingerprint(PK1), outcome="ok"), 6)
        # Gauges.
        self.assertEqual(value(m, "antigravityd_in_flight_requests"), 0)
        self.assertEqual(value(m, "antigravityd_config_generation"), 1)
        self.assertEqual(value(m, "antigravityd_credential_up", provider="oa", credential=fingerprint(PK1)), 1)
        self.assertEqual(len(series(m, "antigravityd_build_info")), 1)
        self.assertEqual(value(m, "antigravityd_log_dropped_total"), 0)
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            self.assertIn((name, frozenset()), m)
        self.assertGreater(value(m, "process_resident_memory_bytes"), 1 << 20)

        if PROMTOOL:
            _, _, body = self.scrape_text()
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True,
                               timeout=t(60))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual((r.stdout + r.stderr).strip(), "", "promtool lint")
        else:
            print("promtool not installed (Debian package prometheus): its check is skipped")

    def test_failover_attempts_and_credential_up(self):
        h = bearer(CK)
        # A key-wide 429: the credential is down for every model (a model's
        # own quota would leave it up for the others).
        r = post(self.d.port, CHAT, chat("gpt-a+fail_cred=%s+retry_after=120+quota=key" % PK1), h)
        self.assertEqual(r.status, 200, r)
        m = self.wait_requests(1)
        att = "antigravityd_upstream_attempts_total"
        self.assertEqual(value(m, att, provider="oa", credential=fingerprint(PK1), outcome="rate_limited"), 1)
        self.assertEqual(value(m, att, provider="oa", credential=fingerprint(PK2), outcome="ok"), 1)
        self.assertEqual(value(m, "antigravityd_credential_up", provider="oa", credential=fingerprint(PK1)), 0)
        self.assertEqual(value(m, "antigravityd_credential_up", provider="oa", credential=fingerprint(PK2)), 1)
        self.assertEqual(value(m, "antigravityd_credential_up", provider="an", credential=fingerprint(PKA)), 1)

    def test_client_limits(self):
        h = bearer(CK_SLOW)
        self.assertEqual(post(self.d.port, CHAT, chat("gpt-4o"), h).status, 200)
        self.assertEqual(post(self.d.port, CHAT, chat("gpt-4o"), h).status, 429)
        m = self.wait_requests(2)
        self.assertEqual(value(m, "antigravityd_client_limited_total", client="slow", limit="rpm"), 1)
        self.assertEqual(value(m, "antigravityd_requests_total", client="slow", protocol="openai-chat",
                               model="gpt-4o", provider="-", status="429"), 1)

    def test_listener_answers_only_metrics(self):
        status, headers, body = self.scrape_text("HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, "")
        self.assertGreater(int(headers["content-length"]), 1000)
        self.assertEqual(self.scrape_text("GET", "/")[0], 404)
        self.assertEqual(self.scrape_text("GET", "/v1/models")[0], 404)
        status, headers, _ = self.scrape_text("POST", "/metrics")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET, HEAD")
        # The client port does not serve them.
        r = get(self.d.port, "/metrics", bearer(CK))
        self.assertEqual(r.status, 404, r)
        self.assertNotIn(b"antigravityd_", r.body)

    def test_concurrent_scrapes_under_traffic_and_reloads_never_go_down(self):
        stop = threading.Event()
        errors = []

        def traffic():
            while not stop.is_set():
                try:
                    r = stream(self.d.port, CHAT, chat("gpt-4o+chunks=3", stream=True), bearer(CK))
                    if r.status != 200:
                        errors.append(r.status)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

        def scraper(out):
            last = 0
            for _ in range(15):
                try:
                    m = self.scrape()
                except Exception as e:  # noqa: BLE001
                    out.append(e)
                    return
                n = total(m, "antigravityd_requests_total")
                if n < last:
                    out.append("requests_total went down: %d -> %d" % (last, n))
                last = n

        def reloader():
            # A new config generation every 50 ms: each worker builds its
            # label rules again while requests of the previous one finish.
            while not stop.wait(0.05):
                self.d.send_signal(signal.SIGHUP)

        senders = [threading.Thread(target=traffic) for _ in range(4)] + [threading.Thread(target=reloader)]
        problems = []
        scrapers = [threading.Thread(target=scraper, args=(problems,)) for _ in range(6)]
        for th in senders + scrapers:
            th.start()
        for th in scrapers:
            th.join(t(120))
        try:
            wait_until(lambda: value(self.scrape(), "antigravityd_config_generation") >= 3, t(30),
                       "two reloads")
        finally:
            stop.set()
        for th in senders:
            th.join(t(60))
        self.assertEqual(problems, [])
        self.assertEqual(errors, [])
        served = self.d.status_json()["requests_served"]
        m = self.wait_requests(served)
        self.assertEqual(total(m, "antigravityd_requests_total"), served)

    def test_reload(self):
        # The generation follows reloads; a new listen address waits for a restart.
        other = harness.free_port_nobody_listens_on()
        self.write_config(self.config(mport=other), "agd.conf")
        r = self.d.cli("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.d.wait_log(r"metrics\.listen changed: takes effect at the next restart")
        m = self.scrape()
        self.assertEqual(value(m, "antigravityd_config_generation"), 2)
        with self.assertRaises(OSError):
            self.scrape_text(port=other)


if __name__ == "__main__":
    harness.main()
