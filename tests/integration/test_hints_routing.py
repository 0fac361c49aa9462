#!/usr/bin/env python3
"""Upstream limit hints steer the credential pool.

The mock upstream's `hint=`, `wait=`, `remaining=`, `reset=` and
`fail_times=` directives make it answer as the real APIs do when a limit is
hit or nearly hit; these tests check what the daemon makes of that, as
`antigravityd credentials --json` shows it and as the choice of credential
(echoed by the mock in the answer text) proves it:

- every hint format (Retry-After in seconds and as a date, retry-after-ms,
  OpenAI's x-ratelimit-*, Anthropic's anthropic-ratelimit-* and its
  subscription windows, Gemini's RetryInfo) rests the credential for the
  time it gives, in the scope the answer names, and is kept as evidence;
- a time longer than [routing] max_cooldown is cut to it (the evidence keeps
  the upstream's own time);
- such a long rest is probed every probe_interval, and a probe that
  succeeds puts the credential back at once;
- a credential reported at zero remaining is used only as a last resort;
- the remaining figures of a success are shown by `credentials`;
- a per-model 429 leaves the key serving other models in all three wires,
  and a Gemini RetryInfo/QuotaFailure cools only the model and names it.

No test waits on the wall clock: where time has to pass (a probe_interval)
it is configured tiny and requests are sent until the expected thing
happens, bounded by a generous timeout.
"""

import json
import os
import time

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, cred_of, gemini_provider, openai_provider,
                     post, t)

K1, K2 = "hr-oa-one-1111", "hr-oa-two-2222"
A1, A2 = "hr-ant-one-aaaa", "hr-ant-two-bbbb"
G1, G2 = "hr-gem-one-cccc", "hr-gem-two-dddd"

WAIT_S = 90
SEVEN_DAYS_MS = 7 * 86400 * 1000


# -- the three wires: each returns (response, credential that answered) --------------

def chat(port, model):
    r = post(port, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return r, (cred_of(r.json()["choices"][0]["message"]["content"]) if r.status == 200 else None)


def messages(port, model):
    r = post(port, "/v1/messages", {"model": model, "max_tokens": 8,
                                     "messages": [{"role": "user", "content": "hi"}]})
    return r, (cred_of(r.json()["content"][0]["text"]) if r.status == 200 else None)


def gemini(port, model):
    r = post(port, "/v1beta/models/%s:generateContent" % model,
             {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    return r, (cred_of(r.json()["candidates"][0]["content"]["parts"][0]["text"]) if r.status == 200 else None)


def entry_text(listing, cred_id):
    """One credential's lines of `antigravityd credentials`: its own line
    ("  ID: state, ...") and the more deeply indented ones below it."""
    lines = listing.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(cred_id + ":"):
            depth = len(line) - len(line.lstrip())
            out = [line]
            for more in lines[i + 1:]:
                if len(more) - len(more.lstrip()) <= depth:
                    break
                out.append(more)
            return "\n".join(out)
    raise AssertionError("%s not in the listing:\n%s" % (cred_id, listing))


# wire name -> (ask, provider name, base model, first key, second key)
WIRES = {
    "openai": (chat, "oa", "gpt-h", K1, K2),
    "anthropic": (messages, "an", "claude-h", A1, A2),
    "gemini": (gemini, "ge", "gemini-h", G1, G2),
}


class HintsRoutingTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def daemon(self, routing=None, wires=("openai",), name="agd"):
        """fill-first (the first key of each provider serves while it can),
        cooldown 10m unless said otherwise. Each name has its own PID file,
        control socket and state directory."""
        r = {"strategy": "fill-first", "cooldown": "10m"}
        r.update(routing or {})
        make = {"openai": lambda: openai_provider(self.mock, [K1, K2], "gpt-*"),
                "anthropic": lambda: anthropic_provider(self.mock, [A1, A2], "claude-*"),
                "gemini": lambda: gemini_provider(self.mock, [G1, G2], "gemini-*")}
        providers = [(WIRES[w][1], make[w]()) for w in wires]
        server = {k: os.path.join(self.tmp, name + suffix)
                  for k, suffix in (("pid_file", ".pid"), ("control_socket", ".sock"), ("state_dir", ".state"))}
        return self.start_daemon(build_config(self.tmp, routing=r, providers=providers, server=server), name=name)

    # -- helpers -------------------------------------------------------------------------

    def listing(self, d):
        r = d.cli("credentials", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def entry(self, d, key):
        fp = harness.fingerprint(key)
        for c in self.listing(d)["credentials"]:
            if c["fingerprint"] == fp:
                return c
        self.fail("credential %s not listed" % fp)

    def upstream_creds(self):
        return [r["credential"] for r in self.mock.requests()]

    def served_by(self, ask, port, model, key):
        r, cred = ask(port, model)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(cred, key, "answered by %s, expected %s" % (cred, key))

    def assert_rest(self, st, scope, model, low, high):
        """The credential rests for between low and high seconds, for `model`
        (scope "model") or for every model (scope "credential")."""
        if scope == "model":
            self.assertEqual(st["state"], "models_cooling", st)
            cooling = {m["model"]: m["remaining_s"] for m in st["models_cooling"]}
            self.assertIn(model, cooling, st)
            left = cooling[model]
        else:
            self.assertEqual(st["state"], "cooldown", st)
            left = st["cooldown_remaining_s"]
        self.assertGreaterEqual(left, low, st)
        self.assertLessEqual(left, high, st)

    # -- 1. every hint format ------------------------------------------------------------

    def test_every_hint_format_rests_the_credential_for_its_time(self):
        d = self.daemon(wires=("openai", "anthropic", "gemini"))
        # (wire, hint format, extra directives, scope the answer names)
        cases = [("openai", "retry-after", "", "model"),
                 ("openai", "retry-after-date", "", "model"),
                 ("openai", "retry-after-ms", "", "model"),
                 ("openai", "openai", "", "model"),
                 ("anthropic", "anthropic", "", "model"),
                 ("anthropic", "anthropic-unified", "+quota=key", "credential"),
                 ("gemini", "gemini", "", "model")]
        for wire, fmt, extra, scope in cases:
            with self.subTest(hint=fmt):
                ask, provider, base, first, second = WIRES[wire]
                self.assertEqual(d.cli("credentials", "reset", provider).returncode, 0)
                self.assertEqual(self.entry(d, first)["state"], "ok")
                model = "%s+fail_cred=%s+hint=%s+wait=%ds%s" % (base, first, fmt, WAIT_S, extra)
                self.mock.clear()
                self.served_by(ask, d.port, model, second)
                self.assertEqual(self.upstream_creds(), [first, second])

                st = self.entry(d, first)
                why = st.get("why")
                self.assertIsInstance(why, dict, st)
                self.assertEqual(why["status"], 429, st)
                self.assertEqual(why["scope"], scope, st)
                # Whole seconds (dates, unix times) are rounded up by the mock.
                self.assertGreaterEqual(why["hint_ms"], WAIT_S * 1000 - 2000, st)
                self.assertLessEqual(why["hint_ms"], WAIT_S * 1000 + 2000, st)
                self.assert_rest(st, scope, model, WAIT_S - 10, WAIT_S + 1)

                # The next request does not ask the resting credential.
                self.mock.clear()
                self.served_by(ask, d.port, model, second)
                self.assertEqual(self.upstream_creds(), [second])

    # -- 2. a week is cut to max_cooldown --------------------------------------------------

    def test_a_seven_day_hint_is_cut_to_max_cooldown(self):
        d = self.daemon(routing={"max_cooldown": "1h"}, wires=("openai", "anthropic"))
        cases = [("openai", "retry-after", "", "model"),
                 ("anthropic", "anthropic-unified", "+quota=key", "credential")]
        for wire, fmt, extra, scope in cases:
            with self.subTest(hint=fmt):
                ask, provider, base, first, second = WIRES[wire]
                model = "%s+fail_cred=%s+hint=%s+wait=7d%s" % (base, first, fmt, extra)
                self.served_by(ask, d.port, model, second)
                st = self.entry(d, first)
                # The evidence keeps what the upstream said...
                self.assertGreaterEqual(st["why"]["hint_ms"], SEVEN_DAYS_MS - 2000, st)
                self.assertLessEqual(st["why"]["hint_ms"], SEVEN_DAYS_MS + 2000, st)
                # ...the rest is at most max_cooldown (and not the default cooldown).
                self.assert_rest(st, scope, model, 3000, 3600)

    # -- 3. an early reset is noticed ---------------------------------------------------------

    def test_a_probe_notices_an_early_reset_and_puts_the_key_back(self):
        # With OpenAI's rate-limit headers on the 429 too (remaining 0): the
        # probe's success must still put the key back.
        for hint in ("retry-after", "openai"):
            with self.subTest(hint=hint):
                self.probe_notices_early_reset(hint)

    def probe_notices_early_reset(self, hint):
        d = self.daemon(routing={"max_cooldown": "1h", "probe_interval": "200ms"}, name="probe-" + hint)
        # K1: its whole key spent for 7 days, once; the same request works on
        # K1 afterwards (the upstream reset early).
        model = "gpt-early+fail_cred=%s+quota=key+hint=%s+wait=7d+fail_times=1" % (K1, hint)
        self.served_by(chat, d.port, model, K2)
        st = self.entry(d, K1)
        self.assertEqual(st["state"], "cooldown", st)
        self.assertEqual(st["why"]["scope"], "credential", st)
        self.assertGreater(st["cooldown_remaining_s"], 3000, st)

        # Requests go to K2 until a probe (every 200 ms) sends one to K1.
        self.mock.clear()
        seen = []
        deadline = time.monotonic() + t(30)
        while True:
            r, cred = chat(d.port, model)
            self.assertEqual(r.status, 200, r)
            seen.append(cred)
            if cred == K1:
                break
            self.assertEqual(cred, K2, seen)
            self.assertLess(time.monotonic(), deadline, "no probe reached K1: %r" % seen)
            time.sleep(0.02)  # poll interval, not a wait for an outcome
        # The probe asked K1 alone (no failover: it succeeded).
        self.assertEqual(self.upstream_creds(), seen)

        st = self.entry(d, K1)
        self.assertEqual(st["state"], "ok", st)
        self.assertEqual(st["cooldown_remaining_s"], 0, st)
        self.assertEqual(st["last_status"], 200, st)
        # Back in its place: fill-first serves from K1 again, for any model.
        self.mock.clear()
        for m in (model, "gpt-plain", model):
            self.served_by(chat, d.port, m, K1)
        self.assertEqual(self.upstream_creds(), [K1] * 3)
        d.stop()

    def test_a_models_429_with_rate_limit_headers_rests_that_model_only(self):
        # OpenAI sends x-ratelimit-remaining-requests: 0 on its 429s: the
        # figure is that model's, like the limit.
        d = self.daemon()
        limited = "gpt-x+fail_cred=%s+hint=openai+wait=90s" % K1
        self.served_by(chat, d.port, limited, K2)
        self.mock.clear()
        self.served_by(chat, d.port, "gpt-other", K1)
        self.served_by(chat, d.port, limited, K2)
        self.assertEqual(self.upstream_creds(), [K1, K2])
        self.assertEqual(self.entry(d, K1)["state"], "models_cooling")

    # -- 4. zero remaining: last resort -----------------------------------------------------------

    def test_a_key_reported_at_zero_remaining_is_the_last_resort(self):
        d = self.daemon()
        before = self.listing(d)["now"]
        # fill-first: K1 serves, and says its window for this model is spent
        # for 10 minutes (OpenAI and Anthropic count them per model).
        spent = "gpt-z+remaining=0+reset=10m"
        self.served_by(chat, d.port, spent, K1)
        data = self.listing(d)
        st = [c for c in data["credentials"] if c["fingerprint"] == harness.fingerprint(K1)][0]
        self.assertEqual(st["state"], "soft", st)
        self.assertEqual(st["quota"]["requests"]["remaining"], 0, st)
        self.assertGreater(st["quota"]["requests"]["reset_at"], data["now"], st)
        self.assertLessEqual(st["quota"]["requests"]["reset_at"], data["now"] + 600 * 1000 + 2000, st)
        self.assertGreaterEqual(st["quota"]["requests"]["reset_at"], before + 600 * 1000 - 2000, st)
        self.assertEqual(data["summary"]["soft"], 1, data["summary"])
        self.assertEqual(st["soft_model"], spent, st)

        # K2 is ready: it serves that model; K1 still serves the others.
        # (K2's answer says the same of K2: after it both are last resorts.)
        self.mock.clear()
        self.served_by(chat, d.port, "gpt-plain", K1)
        self.served_by(chat, d.port, spent, K2)
        self.assertEqual(self.upstream_creds(), [K1, K2])

        # K2 disabled: K1 is all there is, and serves rather than the
        # request failing.
        r = d.cli("credentials", "disable", "oa/" + harness.fingerprint(K2))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.mock.clear()
        self.served_by(chat, d.port, spent, K1)
        self.assertEqual(self.upstream_creds(), [K1])

    # -- 5. remaining figures are shown ------------------------------------------------------------

    def test_remaining_figures_of_a_success_are_shown(self):
        d = self.daemon(wires=("openai", "anthropic"))
        for wire in ("openai", "anthropic"):
            with self.subTest(wire=wire):
                ask, provider, base, first, second = WIRES[wire]
                self.served_by(ask, d.port, base + "+remaining=17+reset=5m", first)
                data = self.listing(d)
                st = [c for c in data["credentials"] if c["fingerprint"] == harness.fingerprint(first)][0]
                self.assertEqual(st["state"], "ok", st)  # 17 left: nothing to avoid
                q = st["quota"]
                self.assertEqual(q["requests"]["remaining"], 17, st)
                self.assertEqual(q["tokens"]["remaining"], 17000, st)
                self.assertGreater(q["requests"]["reset_at"], data["now"], st)
                self.assertLessEqual(q["requests"]["reset_at"], data["now"] + 300 * 1000 + 2000, st)

                text = d.cli("credentials")
                self.assertEqual(text.returncode, 0, text.stderr)
                block = entry_text(text.stdout, "%s/%s" % (provider, harness.fingerprint(first)))
                self.assertIn("quota: requests 17 left, reset in ", block, text.stdout)
                self.assertIn("tokens 17000 left", block, text.stdout)
                # Still the first key's: a figure above zero changes nothing.
                self.served_by(ask, d.port, base + "-again", first)

    # -- 6. a model's limit is that model's --------------------------------------------------------

    def test_a_models_429_leaves_the_key_serving_other_models_in_every_wire(self):
        d = self.daemon(wires=("openai", "anthropic", "gemini"))
        for wire in ("openai", "anthropic", "gemini"):
            with self.subTest(wire=wire):
                ask, provider, base, first, second = WIRES[wire]
                limited = "%s-lim+fail_cred=%s+quota=model" % (base, first)
                self.served_by(ask, d.port, limited, second)
                self.mock.clear()
                # The limited model skips the first key; any other is still its.
                self.served_by(ask, d.port, limited, second)
                self.served_by(ask, d.port, base + "-free", first)
                self.served_by(ask, d.port, base + "-lim", first)
                self.assertEqual(self.upstream_creds(), [second, first, first])
                st = self.entry(d, first)
                self.assertEqual(st["state"], "models_cooling", st)
                self.assertEqual([m["model"] for m in st["models_cooling"]], [limited], st)
                self.assertEqual(st["why"]["scope"], "model", st)

    def test_a_gemini_retry_info_cools_only_that_model_and_names_it(self):
        d = self.daemon(wires=("gemini",))
        limited = "gemini-ri+fail_cred=%s+hint=gemini+wait=5m" % G1
        self.served_by(gemini, d.port, limited, G2)
        st = self.entry(d, G1)
        self.assertEqual(st["state"], "models_cooling", st)
        self.assertEqual([m["model"] for m in st["models_cooling"]], [limited], st)
        self.assertGreaterEqual(st["models_cooling"][0]["remaining_s"], 290, st)
        self.assertLessEqual(st["models_cooling"][0]["remaining_s"], 300, st)
        why = st["why"]
        self.assertEqual(why["scope"], "model", st)
        self.assertEqual(why["status"], 429, st)
        self.assertEqual(why["hint_ms"], 300000, st)
        self.assertIn("RESOURCE_EXHAUSTED", why["why"], st)
        # The evidence names the model the upstream's QuotaFailure counted
        # (the mock's per-model quota names "mock-model").
        self.assertEqual(why["model"], "mock-model", st)
        self.assertEqual(self.listing(d)["summary"]["models_cooling"], 1)

        self.mock.clear()
        self.served_by(gemini, d.port, limited, G2)
        self.served_by(gemini, d.port, "gemini-other", G1)
        self.assertEqual(self.upstream_creds(), [G2, G1])


if __name__ == "__main__":
    harness.main()
