#!/usr/bin/env python3
"""`antigravityd credentials`: the pool as the daemon sees it (state, why,
quota, last use), the administrator's reset, disable and enable over the
control socket, and the pool's summary in sd_notify's STATUS=."""

import json
import os
import signal

import harness
from harness import AgdTestCase, build_config, cred_of, openai_provider, post

K1, K2 = "cr-cred-one-1111", "cr-cred-two-2222"


def chat(port, model):
    return post(port, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]})


def answer_cred(r):
    assert r.status == 200, r
    return cred_of(r.json()["choices"][0]["message"]["content"])


class CredentialsTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.state = os.path.join(self.tmp, "state")
        self.cfg = build_config(self.tmp, routing={"strategy": "fill-first", "cooldown": "10m"},
                                server={"state_dir": self.state},
                                providers=[("oa", openai_provider(self.mock, [K1, K2], "gpt-*"))])

    def ids(self):
        return ["oa/" + harness.fingerprint(k) for k in (K1, K2)]

    def listing(self, d):
        r = d.cli("credentials", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def entry(self, d, key):
        for c in self.listing(d)["credentials"]:
            if c["fingerprint"] == harness.fingerprint(key):
                return c
        self.fail("no credential for %s" % key)

    def test_the_list_says_what_each_credential_is_and_why(self):
        d = self.start_daemon(self.cfg)
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+status=429+quota=key" % K1)), K2)
        data = self.listing(d)
        self.assertEqual([c["id"] for c in data["credentials"]], self.ids())
        self.assertEqual(data["summary"]["total"], 2)
        self.assertEqual(data["summary"]["ready"], 1)
        self.assertEqual(data["summary"]["cooling"], 1)
        one = data["credentials"][0]
        self.assertEqual(one["state"], "cooldown", one)
        self.assertGreater(one["until"], data["now"])
        self.assertEqual(one["why"]["status"], 429)
        self.assertGreater(one["last_used_at"], 0)
        for c in data["credentials"]:
            self.assertNotIn(K1, json.dumps(c))

        text = d.cli("credentials")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("credentials: 1/2 ready, 1 cooling", text.stdout)
        self.assertIn("%s: cooling for every model (until in " % self.ids()[0], text.stdout)
        self.assertIn("last failure: credential: 429", text.stdout)
        self.assertIn("%s: ready, 1 request" % self.ids()[1], text.stdout)
        for k in (K1, K2):
            self.assertNotIn(k, text.stdout)
        # `status` carries the summary too.
        self.assertEqual(d.status_json()["credentials"], "1/2 credentials ready, 1 cooling")

    def test_reset_ends_a_cooldown_and_forgets_a_refusal(self):
        d = self.start_daemon(self.cfg)
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+status=429+quota=key" % K1)), K2)
        r = d.cli("credentials", "reset", "oa/" + harness.fingerprint(K1))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reset 1 credential(s) of provider oa: " + self.ids()[0], r.stdout)
        self.assertEqual(self.entry(d, K1)["state"], "ok")
        self.assertNotIn("why", self.entry(d, K1))
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K1)

        # A 401 takes K1 out ("refused"); reset gives it back without a reload.
        self.assertEqual(answer_cred(chat(d.port, "gpt-x+fail_cred=%s+status=401" % K1)), K2)
        self.assertEqual(self.entry(d, K1)["state"], "refused")
        self.assertEqual(d.cli("credentials", "reset", "oa").returncode, 0)
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K1)

    def test_disable_holds_across_reload_and_restart_until_enable(self):
        d = self.start_daemon(self.cfg, name="first")
        fp = harness.fingerprint(K1)
        r = d.cli("credentials", "disable", "oa/" + fp[:5])  # a unique prefix will do
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("disabled 1 credential(s)", r.stdout)
        self.mock.clear()
        for _ in range(3):
            self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K2)
        self.assertEqual(d.cli("reload").returncode, 0)
        self.assertEqual(self.entry(d, K1)["state"], "disabled")
        self.assertEqual(answer_cred(chat(d.port, "gpt-x")), K2)
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0)

        d2 = self.start_daemon(self.cfg, name="second")
        self.assertEqual(self.entry(d2, K1)["state"], "disabled")
        self.assertEqual(answer_cred(chat(d2.port, "gpt-x")), K2)
        r = d2.cli("credentials", "enable", "oa/" + fp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(answer_cred(chat(d2.port, "gpt-x")), K1)
        self.assertEqual(self.upstream_creds()[-1], K1)

    def upstream_creds(self):
        return [r["credential"] for r in self.mock.requests()]

    def test_a_target_that_names_nothing_fails_clearly(self):
        d = self.start_daemon(self.cfg)
        r = d.cli("credentials", "disable", "nosuch")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("no provider 'nosuch' (providers: oa)", r.stderr)
        r = d.cli("credentials", "disable", "oa/ffffffff")
        self.assertEqual(r.returncode, 64, r)
        self.assertIn("has no credential with fingerprint 'ffffffff'", r.stderr)
        r = d.cli("credentials", "frobnicate", "oa")
        self.assertEqual(r.returncode, 64, r)
        self.assertEqual(self.listing(d)["summary"]["ready"], 2)

    def test_the_service_manager_hears_the_pools_summary(self):
        d = self.start_daemon(self.cfg)
        d.notify.wait_for(lambda m: m.get("STATUS", "").endswith("2/2 credentials ready"), harness.t(30),
                          what="STATUS with the pool's summary", alive=d.alive)
        self.assertEqual(d.cli("credentials", "disable", "oa").returncode, 0)
        d.notify.wait_for(lambda m: m.get("STATUS", "").endswith("0/2 credentials ready, 2 disabled"),
                          harness.t(30), what="STATUS after disable", alive=d.alive)


if __name__ == "__main__":
    harness.main()
