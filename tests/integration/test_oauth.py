#!/usr/bin/env python3
"""OAuth2 refresh-token credentials against the mock's token endpoint:
tokens refreshed at start and ahead of expiry, a rotated refresh token
written back (0600) before use, refreshes of one client_id one at a time,
a 401 answered by a refresh and one more try, a refresh per credential at
a time, and failed refreshes shown by `antigravityd credentials`."""

import json
import os
import stat
import threading
import time

import harness
from harness import AgdTestCase, build_config, cred_of, openai_provider, post, t


def chat(port, model="gpt-x+auth=oauth"):
    return post(port, "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]})


class OAuthTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def mock_call(self, method, path, body=None):
        return harness.request(self.mock.port, method, path, body)

    def oauth_state(self):
        r = self.mock_call("GET", "/__mock/oauth")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def configure_mock(self, **settings):
        r = self.mock_call("POST", "/__mock/oauth", settings)
        self.assertEqual(r.status, 200, r)

    def token_files(self, n, seeds=None):
        paths = []
        for i in range(n):
            p = os.path.join(self.tmp, "oauth", "cred%d.json" % i)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                json.dump({"refresh_token": (seeds or {}).get(i, "rt-seed-%d-%s" % (i, os.path.basename(self.tmp)))}, f)
            paths.append(p)
        return paths

    def test_the_token_goes_in_the_header_asked_with_the_extra_headers(self):
        files = self.token_files(1)
        d = self.daemon(files, extra={"type": "anthropic", "base_url": "http://127.0.0.1:%d" % self.mock.port,
                                      "models": "claude-*", "auth_header": "authorization-bearer",
                                      "extra_header": ["anthropic-beta: oauth-2025-04-20", "X-Team: blue"]})
        self.wait_refreshes(d, 1)
        r = post(d.port, "/v1/messages", {"model": "claude-x+auth=oauth", "max_tokens": 8,
                                          "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        rec = [q for q in self.mock.requests() if q["path"] == "/v1/messages"][-1]
        self.assertEqual(rec["auth_header"], "authorization", rec)
        self.assertTrue(rec["credential"].startswith("at-mock"), rec)
        self.assertEqual(rec["headers"].get("anthropic-beta"), "oauth-2025-04-20", rec)
        self.assertEqual(rec["headers"].get("x-team"), "blue", rec)
        self.assertNotIn("x-api-key", rec["headers"])

    def daemon(self, files, extra=None, routing=None):
        p = openai_provider(self.mock, [], "gpt-*")
        del p["key"]
        p.update({"auth": "oauth2", "token_url": "http://127.0.0.1:%d/oauth/token" % self.mock.port,
                  "client_id": "cli", "token_file": files})
        p.update(extra or {})
        r = {"strategy": "fill-first"}
        r.update(routing or {})
        return self.start_daemon(build_config(self.tmp, routing=r, providers=[("oa", p)]))

    def listing(self, d):
        r = d.cli("credentials", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)["credentials"]

    def wait_refreshes(self, d, at_least, each=True):
        deadline = time.monotonic() + t(30)
        while True:
            creds = self.listing(d)
            counts = [c["token"]["refreshes"] for c in creds]
            if (min(counts) if each else sum(counts)) >= at_least:
                return creds
            self.assertLess(time.monotonic(), deadline, "refreshes: %r" % creds)
            time.sleep(0.05)  # poll interval

    def test_tokens_are_refreshed_at_start_and_rotation_is_written_back(self):
        files = self.token_files(2)
        d = self.daemon(files)
        creds = self.wait_refreshes(d, 1)
        live = set(self.oauth_state()["live_refresh_tokens"])
        for path in files:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
            with open(path) as f:
                saved = json.load(f)
            self.assertTrue(saved["refresh_token"].startswith("rt-mock"), saved)
            self.assertIn(saved["refresh_token"], live)
            self.assertTrue(saved["access_token"].startswith("at-mock"), saved)
            self.assertGreater(saved["expires_at"], time.time() + 3000)
        for c in creds:
            self.assertEqual(c["auth"], "oauth2")
            self.assertEqual(c["state"], "ok", c)
            self.assertFalse(c["token"]["refreshing"])
        # Requests carry the access token (the mock takes only live ones).
        r = chat(d.port)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(cred_of(r.json()["choices"][0]["message"]["content"]).startswith("at-mock"))
        text = d.cli("credentials").stdout
        self.assertIn("oauth2 token: expires in ", text)
        self.assertNotIn("at-mock", text)
        self.assertNotIn("rt-mock", text)

    def test_refreshes_of_one_client_id_run_one_at_a_time(self):
        self.configure_mock(delay_ms=200)
        d = self.daemon(self.token_files(3))
        self.wait_refreshes(d, 1)
        st = self.oauth_state()
        self.assertEqual(st["refreshes"], 3, st)
        self.assertEqual(st["max_concurrent"], 1, st)

    def test_a_credential_whose_token_is_being_refreshed_says_so(self):
        self.configure_mock(delay_ms=600000)  # the refresh never ends while we look
        d = self.daemon(self.token_files(2))
        creds = self.listing(d)
        self.assertEqual([c["state"] for c in creds], ["refreshing", "refreshing"], creds)
        self.assertTrue(all(c["token"]["refreshing"] for c in creds), creds)
        self.assertIn("refreshing now", d.cli("credentials").stdout)

    def test_a_short_lived_token_is_refreshed_before_it_expires(self):
        # Tokens live 2 s, refresh_lead is 5 m: each is refreshed halfway.
        self.configure_mock(expires_in=2)
        d = self.daemon(self.token_files(1))
        self.wait_refreshes(d, 3)
        r = chat(d.port)
        self.assertEqual(r.status, 200, r)

    def test_an_early_refresh_that_fails_rests_nothing_while_the_token_works(self):
        # Tokens live 6 s (refreshed at 3 s); the first early refresh gets a 503.
        self.configure_mock(expires_in=6)
        d = self.daemon(self.token_files(1))
        self.wait_refreshes(d, 1)
        self.configure_mock(fail_status=503, fail_count=1)
        deadline = time.monotonic() + t(30)
        while True:
            c = self.listing(d)[0]
            self.assertNotIn(c["state"], ("cooldown", "refused"), c)  # the token still worked
            if c["token"]["refresh_failures"] >= 1 and c["token"]["refreshes"] >= 2:
                break
            self.assertLess(time.monotonic(), deadline, c)
            time.sleep(0.05)  # poll interval
        self.assertNotIn("why", c)
        r = chat(d.port)
        self.assertEqual(r.status, 200, r)

    def test_a_credential_removed_while_refreshing_frees_its_client_id(self):
        # Two credentials of one client_id; the first's refresh hangs; a
        # reload removes it: the second must still be refreshed.
        self.configure_mock(delay_ms=600000)
        files = self.token_files(2)
        d = self.daemon(files)
        self.assertEqual([c["state"] for c in self.listing(d)], ["refreshing", "refreshing"])
        self.configure_mock(delay_ms=0)
        p = openai_provider(self.mock, [], "gpt-*")
        del p["key"]
        p.update({"auth": "oauth2", "token_url": "http://127.0.0.1:%d/oauth/token" % self.mock.port,
                  "client_id": "cli", "token_file": files[1:]})
        with open(d.config_path, "w") as f:
            f.write(build_config(self.tmp, routing={"strategy": "fill-first"}, providers=[("oa", p)]))
        self.assertEqual(d.cli("reload").returncode, 0)
        creds = self.wait_refreshes(d, 1)
        self.assertEqual(len(creds), 1)
        self.assertEqual(chat(d.port).status, 200)

    def test_a_401_is_answered_by_one_refresh_and_one_more_try(self):
        d = self.daemon(self.token_files(1))
        self.wait_refreshes(d, 1)
        before = self.oauth_state()["refreshes"]
        self.mock_call("POST", "/__mock/oauth/revoke")
        results = []
        # Two requests meet the revoked token at once: one refresh serves both.
        self.configure_mock(delay_ms=200)
        threads = [threading.Thread(target=lambda: results.append(chat(d.port))) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for r in results:
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.oauth_state()["refreshes"], before + 1)
        c = self.listing(d)[0]
        self.assertEqual(c["state"], "ok", c)

    def test_a_refused_refresh_takes_the_credential_out_and_says_why(self):
        d = self.daemon(self.token_files(2))
        self.wait_refreshes(d, 1)
        # The first credential's next refresh is refused; the second serves.
        self.configure_mock(fail_status=400, fail_count=1)
        self.mock_call("POST", "/__mock/oauth/revoke")
        r = chat(d.port)
        self.assertEqual(r.status, 200, r)
        creds = self.listing(d)
        first = creds[0]
        self.assertEqual(first["state"], "refused", first)
        self.assertIn("invalid_grant", first["why"]["why"], first)
        self.assertEqual(first["token"]["refresh_failures"], 1, first)
        self.assertIn("invalid_grant", first["token"]["last_error"], first)
        self.assertEqual(creds[1]["state"], "ok", creds[1])
        text = d.cli("credentials").stdout
        self.assertIn("refused by the upstream", text)
        self.assertIn("token endpoint: 400 invalid_grant", text)

    def test_an_unreadable_token_file_is_a_clear_failure(self):
        files = self.token_files(1)
        with open(files[0], "w") as f:
            f.write("{not json")
        d = self.daemon(files)
        c = self.listing(d)[0]
        self.assertEqual(c["state"], "refused", c)
        self.assertIn("token file", c["why"]["why"], c)
        r = chat(d.port)
        self.assertEqual(r.status, 502, r)


if __name__ == "__main__":
    harness.main()
