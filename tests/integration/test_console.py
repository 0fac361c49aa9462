#!/usr/bin/env python3
"""The web console in a real browser (headless Chromium, browser.py): log
in, the Overview with the numbers of known traffic, a request's detail with
its bodies, a cooldown reset that routing follows, every other page, the
viewer's read-only view and a phone-sized screen, with no JavaScript error,
no Content-Security-Policy violation and no failed load anywhere.

AGD_SCREENSHOTS=DIR keeps a screenshot of each page there (docs/console/ is
made this way); otherwise they go to the test's temp dir and are checked."""

import json
import os
import re
import unittest

import browser
import harness
from harness import t
from test_admin import ADMIN_PW, CLIENT_KEY, VIEWER_PW, AdminCase

K1 = "k-console-one-1111"
K2 = "k-console-two-2222"
TEAM_KEY = "gw-team-key-0123456789"


def chat(port, model, content="hello", stream=False, key=CLIENT_KEY):
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
        return harness.stream(port, "/v1/chat/completions", body, headers={"Authorization": "Bearer " + key})
    return harness.post(port, "/v1/chat/completions", body, headers={"Authorization": "Bearer " + key})


class Console(AdminCase):

    def setUp(self):
        super().setUp()
        self.shots = os.environ.get("AGD_SCREENSHOTS") or os.path.join(self.tmp, "shots")
        os.makedirs(self.shots, exist_ok=True)

    def start(self):
        text = self.config()
        text = text.replace("key = k-admin\n", "key = %s\nkey = %s\n" % (K1, K2))
        text = text.replace("[log]\n", "[log]\nbodies = all\n")
        text += "\n[routing]\nstrategy = fill-first\ncooldown = 10m\n"
        text += "\n[client.team]\nkey = %s\nrpm = 600\ndaily_tokens = 2000\nmonthly_tokens = 50000\n" % TEAM_KEY
        self.d = self.start_daemon(text)
        self.d.wait_log(r"admin API on 127\.0\.0\.1:%d" % self.admin_port)
        self.base = "http://127.0.0.1:%d" % self.admin_port
        self.auth = {"Authorization": "Bearer " + self.token}

    def traffic(self):
        """Known traffic: five answers (one streamed), a failure, and K1
        put in cooldown by a 429 (its request answered by K2)."""
        for i in range(4):
            r = chat(self.d.port, "gpt-console", "question number %d" % i, key=TEAM_KEY if i % 2 else CLIENT_KEY)
            self.assertEqual(r.status, 200, r)
        chat(self.d.port, "gpt-console", "a streamed one", stream=True)
        self.assertGreaterEqual(chat(self.d.port, "not-served-anywhere").status, 400)
        r = chat(self.d.port, "gpt-x+fail_cred=%s+status=429+quota=key" % K1)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(harness.cred_of(r.json()["choices"][0]["message"]["content"]), K2)

        def stored():
            status, body, _ = self.call("GET", "/api/stats?since=1h", headers=self.auth)
            return body if status == 200 and body["requests"] >= 7 else None
        return harness.wait_until(stored, t(30), "seven requests in the store")

    def shot(self, b, name, full_page=False):
        path = os.path.join(self.shots, name + ".png")
        b.screenshot(path, full_page=full_page)
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def go(self, b, page):
        """Another page of the console (its hash route: no page load)."""
        b.eval("location.hash = %s" % json.dumps("#/" + page))

    def loaded(self, b, page):
        b.wait_for("document.querySelector('#page-%s[data-loaded=\"1\"]')" % page, timeout=t(20))
        err = b.eval("(document.querySelector('#page-%s .error') || {}).textContent || ''" % page)
        self.assertEqual(err, "", "the %s page shows an error" % page)

    def text(self, b, selector):
        return b.eval("(document.querySelector(%s) || {}).innerText || ''" % json.dumps(selector))

    def login(self, b, password):
        b.goto(self.base + "/")
        b.wait_for("document.querySelector('#login-form') && !document.querySelector('#login-form').hidden",
                   timeout=t(20))
        b.type("#login-password", password)
        b.click("#login-submit")

    def test_a_team_lead_finds_what_failed_and_resets_a_cooldown(self):
        self.start()
        self.traffic()
        with browser.Browser() as b:
            b.set_viewport(1200, 780)
            self.login(b, ADMIN_PW)
            self.loaded(b, "overview")
            self.assertEqual(b.eval("document.body.dataset.role"), "admin")
            # The Overview counts the known traffic: 7 requests, 1 error.
            b.wait_for("/\\b7 requests\\b/.test(document.querySelector('[data-tile=rate]').innerText)",
                       timeout=t(20))
            self.assertIn("1 error", self.text(b, "[data-tile=error-rate]"))
            self.assertRegex(self.text(b, "[data-tile=latency-p50]"), r"\d")
            self.assertIn("not-served-anywhere", self.text(b, "#overview-failures"))
            b.wait_for("document.querySelector('#chart-requests svg, #chart-requests canvas')", timeout=t(10))
            self.shot(b, "overview")

            # The request log, and one request in full: timings, route, bodies.
            self.go(b, "requests")
            self.loaded(b, "requests")
            self.assertGreaterEqual(b.eval("document.querySelectorAll('#page-requests tr[data-id]').length"), 7)
            self.shot(b, "requests")
            b.eval("[...document.querySelectorAll('#page-requests tr[data-id]')]"
                   ".find(r => r.innerText.includes('gpt-console')).querySelector('a').click()")
            self.loaded(b, "request")
            summary = self.text(b, "#page-request")
            self.assertIn("gpt-console", summary)
            self.assertIn("oa", summary)
            b.wait_for("document.querySelector('#request-body') && "
                       "/question number|a streamed one/.test(document.querySelector('#request-body').innerText)",
                       timeout=t(10))
            self.shot(b, "request")

            # Credentials: K1 is cooling down; Reset ends it, and routing follows.
            self.go(b, "credentials")
            self.loaded(b, "credentials")
            row = "tr[data-credential=\"oa/%s\"]" % harness.fingerprint(K1)
            self.assertEqual(b.eval("document.querySelector(%s).dataset.state" % json.dumps(row)), "cooldown")
            self.assertIn("429", self.text(b, row))
            self.shot(b, "credentials")
            b.click(row + " [data-action=reset]")
            b.wait_for("document.querySelector(%s) && document.querySelector(%s).dataset.state === 'ok'"
                       % (json.dumps(row), json.dumps(row)), timeout=t(20))
            self.d.wait_log(r"admin: admin from 127\.0\.0\.1: credentials reset oa/%s" % harness.fingerprint(K1))
            r = chat(self.d.port, "gpt-console")  # fill-first: K1 again
            self.assertEqual(harness.cred_of(r.json()["choices"][0]["message"]["content"]), K1)

            # Live: a request that finishes now shows up.
            self.go(b, "live")
            self.loaded(b, "live")
            b.wait_for("/connected|live/i.test(document.querySelector('#live-state').innerText)", timeout=t(10))
            chat(self.d.port, "gpt-live-one", "seen live")
            b.wait_for("[...document.querySelectorAll('#live-rows tr[data-id]')]"
                       ".some(r => r.innerText.includes('gpt-live-one'))", timeout=t(20))
            self.shot(b, "live")

            # The other pages, each with its data.
            for route, page, expect in (("usage?since=24h&by=model", "usage", "gpt-console"),
                                        ("clients", "clients", "team"), ("config", "config", "[provider.oa]")):
                self.go(b, route)
                self.loaded(b, page)
                if expect:
                    b.wait_for("document.querySelector('#page-%s').innerText.includes(%s)"
                               % (page, json.dumps(expect)), timeout=t(10))
                self.shot(b, page)
            # The configuration as written, secrets as fingerprints only.
            config_text = self.text(b, "#page-config")
            for secret in (K1, K2, CLIENT_KEY, self.hashes[0]):
                self.assertNotIn(secret, config_text)
            self.assertIn("kept:" + harness.fingerprint(K1), config_text)

            # Edit: a broken value fails the check with its line; a good one is
            # checked, its diff shown, then applied (written and reloaded).
            b.click("#config-edit")
            b.wait_for("document.querySelector('#config-textarea')", timeout=t(10))
            edit = ("(v => { const ta = document.querySelector('#config-textarea');"
                    " ta.value = ta.value.replace('cooldown = 10m', v);"
                    " ta.dispatchEvent(new Event('input')); })(%s)")
            b.eval(edit % json.dumps("cooldown = soon"))
            b.click("#config-check")
            b.wait_for("/routing\.cooldown/.test(document.querySelector('#config-check-result').innerText)",
                       timeout=t(10))
            b.eval("document.querySelector('#config-textarea').value = "
                   "document.querySelector('#config-textarea').value.replace('cooldown = soon', 'cooldown = 10m')")
            b.eval(edit % json.dumps("cooldown = 7m"))
            b.click("#config-check")
            b.wait_for("/checks out/.test(document.querySelector('#config-check-result').innerText)", timeout=t(10))
            self.assertTrue(b.eval("document.querySelector('#config-apply').disabled"))  # the diff comes first
            b.click("#config-diff-button")
            b.wait_for("/cooldown = 7m/.test(document.querySelector('#config-diff').innerText)", timeout=t(10))
            self.assertIn("cooldown = 10m", self.text(b, "#config-diff"))
            self.shot(b, "config-diff")
            b.click("#config-apply")
            b.wait_for("document.querySelector('#config-text') && "
                       "/cooldown = 7m/.test(document.querySelector('#config-text').innerText)", timeout=t(20))
            with open(self.d.config_path) as f:
                written = f.read()
            self.assertIn("cooldown = 7m", written)
            self.assertIn("key = %s" % K1, written)  # the secrets are back in the file
            self.assertIn("password_hash = %s" % self.hashes[0], written)
            self.assertEqual(self.d.status_json()["generation"], 2)

            # A phone: the Overview fits the screen's width.
            b.set_viewport(390, 844, mobile=True, scale=1)
            self.go(b, "overview")
            self.loaded(b, "overview")
            self.assertLessEqual(b.eval("document.documentElement.scrollWidth"), 390 + 1)
            self.shot(b, "phone-overview")

            self.assertEqual(b.take_errors(), [])

    def test_the_viewer_reads_and_changes_nothing(self):
        self.start()
        self.traffic()
        with browser.Browser() as b:
            b.set_viewport(1200, 780)
            self.login(b, VIEWER_PW)
            self.loaded(b, "overview")
            self.assertEqual(b.eval("document.body.dataset.role"), "viewer")
            self.go(b, "credentials")
            self.loaded(b, "credentials")
            self.assertEqual(b.eval("document.querySelectorAll('#page-credentials [data-action]').length"), 0)
            self.go(b, "config")
            self.loaded(b, "config")
            self.assertIsNone(b.eval("document.querySelector('#config-edit')"))
            # Logging out shows the login form again.
            b.click("#logout")
            b.wait_for("document.querySelector('#login-form') && !document.querySelector('#login-form').hidden",
                       timeout=t(10))
            self.assertEqual(b.take_errors(), [])
        self.assertEqual(self.call("GET", "/api/status")[0], 401)


if __name__ == "__main__":
    unittest.main(verbosity=2)
