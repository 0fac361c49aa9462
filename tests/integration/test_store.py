#!/usr/bin/env python3
"""The request store, end to end: the CLI's log and usage for a known set of
requests (text and JSON), bodies kept for errors, daily counters that survive
a restart, and a store that cannot be written leaving the daemon serving."""

import json
import os
import re
import signal

import harness
from harness import (AgdTestCase, anthropic_provider, build_config, gemini_provider, openai_provider,
                     parse_access, post, stream, t, wait_until)

PK = "sk-proj-PROVIDER-7c1e9f2a44d0b3"
PK2 = "sk-ant-PROVIDER-second-9d8c7b6a"
CK_A = "gw-team-a-CLIENT-7f3c9a0011"
CK_B = "gw-team-b-CLIENT-2b81de2233"

CHAT = "/v1/chat/completions"
MSGS = "/v1/messages"


def bearer(key):
    return {"Authorization": "Bearer " + key}


def chat(model, stream_=False):
    return {"model": model, "messages": [{"role": "user", "content": "tell me about the store"}], "stream": stream_}


def msgs(model):
    return {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": "and rollups"}]}


class StoreCase(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def config(self, clients=None, log=None, auth=None):
        au = {"mode": "strict"}
        au.update(auth or {})
        return build_config(self.tmp, auth=au, clients=clients, log=log, providers=[
            ("oa", openai_provider(self.mock, [PK], "gpt-*")),
            ("an", anthropic_provider(self.mock, [PK2], "claude-*")),
            ("ge", gemini_provider(self.mock, [PK], "gemini-*")),
        ])

    def log_json(self, d, *args):
        r = d.cli("log", "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def wait_rows(self, d, n):
        wait_until(lambda: len(self.log_json(d, "--limit", "1000")) >= n, t(30), "%d rows in the store" % n)
        return self.log_json(d, "--limit", "1000")


class LogAndUsageTests(StoreCase):

    def test_cli_log_and_usage_for_known_requests(self):
        d = self.start_daemon(self.config(clients=[("team-a", {"key": CK_A}), ("team-b", {"key": CK_B})],
                                          log={"bodies": "errors"}))
        statuses = []
        for key, path, body in [(CK_A, CHAT, chat("gpt-a+chunks=2")), (CK_A, CHAT, chat("gpt-a+chunks=3", True)),
                                (CK_B, MSGS, msgs("claude-b+chunks=4")), (CK_B, CHAT, chat("gpt-x+status=429")),
                                (CK_A, CHAT, chat("nobody-serves-this"))]:
            r = (stream if body.get("stream") else post)(d.port, path, body, bearer(key))
            statuses.append(r.status)
        self.assertEqual(statuses, [200, 200, 200, 429, 404])
        access = [parse_access(l) for l in d.wait_access_lines(5)]
        rows = self.wait_rows(d, 5)
        self.assertEqual(len(rows), 5)
        # Newest start first (by the millisecond: two requests that started
        # in the same one, on two workers, may come either way); each row
        # carries what its access line says.
        times = [row["time"] for row in rows]
        self.assertEqual(times, sorted(times, reverse=True))  # ISO 8601 UTC, ms: sorts as text
        rows.reverse()
        by_id = {row["id"]: row for row in rows}
        self.assertEqual(sorted(by_id), sorted(a["id"] for a in access))
        rows = [by_id[a["id"]] for a in access]  # in the order they were sent
        for a, row in zip(access, rows):
            self.assertEqual(row["id"], a["id"])
            self.assertEqual(row["client"], a["client"])
            self.assertEqual(row["status"], int(a["status"]))
            self.assertEqual(row["model"], a["model"])
            self.assertEqual(row["addr"], "127.0.0.1")
            if a.get("usage") == "reported":
                self.assertEqual(row["usage"]["input"], int(a["in"]))
                self.assertEqual(row["usage"]["output"], int(a["out"]))
                self.assertEqual(row["usage_state"], "reported")
        self.assertEqual([r["client"] for r in rows], ["team-a", "team-a", "team-b", "team-b", "team-a"])
        self.assertEqual(rows[2]["provider"], "an")
        self.assertEqual(rows[2]["usage"]["output"], 4)
        self.assertEqual(rows[1]["stream"], True)

        # Filters.
        self.assertEqual(len(self.log_json(d, "--client", "team-b")), 2)
        self.assertEqual([r["status"] for r in self.log_json(d, "--status", "429")], [429])
        self.assertEqual(len(self.log_json(d, "--status", "4xx")), 2)
        self.assertEqual(len(self.log_json(d, "--model", "gpt-a*")), 2)
        self.assertEqual(len(self.log_json(d, "--provider", "an")), 1)
        self.assertEqual(len(self.log_json(d, "--limit", "2")), 2)
        self.assertEqual(len(self.log_json(d, "--since", "1h")), 5)

        # Text: one line per request under a header.
        text = d.cli("log").stdout.splitlines()
        self.assertTrue(text[0].startswith("TIME"), text)
        self.assertEqual(len(text), 6)
        # The 429 (team-b) and the 404 (team-a) are the two newest, in either
        # order when they started in the same millisecond on two workers.
        self.assertEqual(sorted("team-b" in line for line in text[1:3]), [False, True], text)
        self.assertIn("team-b", next(line for line in text[1:] if " 429 " in line), text)

        # One request in full; the error kept its bodies, the success did not.
        err = rows[3]
        full = d.cli("log", "--id", err["id"])
        self.assertEqual(full.returncode, 0, full.stderr)
        self.assertIn("gpt-x+status=429", full.stdout)
        self.assertIn("response body", full.stdout)
        one = json.loads(d.cli("log", "--id", err["id"], "--json").stdout)
        one = one[0] if isinstance(one, list) else one
        self.assertIn("gpt-x+status=429", one["request_body"])
        self.assertIn("error", one["response_body"])
        ok = json.loads(d.cli("log", "--id", rows[0]["id"], "--json").stdout)
        ok = ok[0] if isinstance(ok, list) else ok
        self.assertIsNone(ok["request_body"])
        for key in (PK, PK2, CK_A, CK_B):
            self.assertNotIn(key, full.stdout)
            self.assertNotIn(key, one["request_body"] + one["response_body"])

        # Usage by client: the sums of the rows (the 404 and the 429 are errors).
        wait_until(lambda: json.loads(d.cli("usage", "--json", "--by", "client").stdout)["total"]["requests"] >= 5,
                   t(30), "rollups")
        u = json.loads(d.cli("usage", "--json", "--by", "client").stdout)
        by = {r["client"]: r for r in u["rows"]}
        want_in = {c: sum((r["usage"].get("input") or 0) for r in rows if r["client"] == c) for c in by}
        want_out = {c: sum((r["usage"].get("output") or 0) for r in rows if r["client"] == c) for c in by}
        for c in ("team-a", "team-b"):
            self.assertEqual(by[c]["input"], want_in[c], u)
            self.assertEqual(by[c]["output"], want_out[c], u)
        self.assertEqual(by["team-a"]["requests"], 3)
        self.assertEqual(by["team-a"]["errors"], 1)
        self.assertEqual(by["team-b"]["errors"], 1)
        text = d.cli("usage", "--by", "model").stdout
        self.assertIn("CACHE_HIT", text)
        self.assertIn("claude-b+chunks=4", text)
        st = d.status_json()["store"]
        self.assertTrue(st["ok"])
        self.assertGreaterEqual(st["written"], 5)

    def test_log_works_with_the_daemon_stopped(self):
        d = self.start_daemon(self.config(clients=[("team-a", {"key": CK_A})]))
        self.assertEqual(post(d.port, CHAT, chat("gpt-a"), bearer(CK_A)).status, 200)
        self.wait_rows(d, 1)
        self.stop_daemon(d)
        r = d.cli("log", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 1)


class AccessLogTests(StoreCase):

    def test_access_log_file_reopened_on_sigusr1_and_off(self):
        path = os.path.join(self.tmp, "access.log")
        d = self.start_daemon(self.config(clients=[("team-a", {"key": CK_A})], log={"access_log": path}))
        self.assertEqual(post(d.port, CHAT, chat("gpt-a"), bearer(CK_A)).status, 200)
        wait_until(lambda: os.path.exists(path) and "client=team-a" in open(path).read(), t(30), "the access file")
        first = open(path).read()
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT[0-9:.]+Z access id=")
        self.assertNotIn(" info ", first)
        self.assertEqual(d.access_lines(), [])  # not in the daemon's log
        # logrotate: rename, then SIGUSR1; the next line goes to a new file.
        os.rename(path, path + ".1")
        d.send_signal(signal.SIGUSR1)
        d.wait_log(r"SIGUSR1 received: reopened " + re.escape(path))
        self.assertEqual(post(d.port, CHAT, chat("gpt-a"), bearer(CK_A)).status, 200)
        wait_until(lambda: os.path.exists(path) and "access id=" in open(path).read(), t(30), "the reopened file")
        self.assertEqual(open(path + ".1").read(), first)
        # Reload to off: no more lines anywhere.
        with open(d.config_path, "w") as f:
            f.write(self.config(clients=[("team-a", {"key": CK_A})], log={"access_log": "off"}))
        self.assertEqual(d.cli("reload").returncode, 0)
        before = open(path).read()
        self.assertEqual(post(d.port, CHAT, chat("gpt-a"), bearer(CK_A)).status, 200)
        self.wait_rows(d, 3)  # the request is complete: the store has it
        self.assertEqual(open(path).read(), before)
        self.assertEqual(d.access_lines(), [])


class PersistenceTests(StoreCase):

    def test_daily_tokens_survive_a_restart(self):
        body = chat("gpt-a+chunks=3")
        u = max(1, len(json.dumps(body)) // 4) + 3
        conf = self.config(clients=[("team-a", {"key": CK_A, "daily_tokens": str(2 * u)})])
        d = self.start_daemon(conf)
        self.assertEqual(post(d.port, CHAT, body, bearer(CK_A)).status, 200)
        self.wait_rows(d, 1)
        self.stop_daemon(d)
        d2 = self.start_daemon(conf, name="agd2")
        st = {c["name"]: c for c in d2.status_json()["clients"]}
        self.assertEqual(st["team-a"]["tokens_today"], u)
        self.assertEqual(st["team-a"]["tokens_month"], u)
        self.assertEqual(post(d2.port, CHAT, body, bearer(CK_A)).status, 200)
        r = post(d2.port, CHAT, body, bearer(CK_A))
        self.assertEqual(r.status, 429, r)
        self.assertIn("daily token limit", r.json()["error"]["message"])


class BrokenStoreTests(StoreCase):

    def check_serving_without_store(self, database, why):
        d = self.start_daemon(self.config(clients=[("team-a", {"key": CK_A})], log={"database": database}))
        for _ in range(3):
            self.assertEqual(post(d.port, CHAT, chat("gpt-a"), bearer(CK_A)).status, 200)
        d.wait_access_lines(3)
        wait_until(lambda: d.status_json()["store"]["errors"] > 0, t(30), "the store to report its failure")
        st = d.status_json()["store"]
        self.assertFalse(st["ok"], st)
        self.assertIn("NOT WRITING", d.cli("status").stdout)
        self.assertTrue(d.alive())
        # Logged, once per kind of failure.
        self.assertGreaterEqual(d.log().count(why), 1)
        self.assertEqual(post(d.port, CHAT, chat("gpt-a"), bearer(CK_A)).status, 200)
        return d

    def test_garbage_file_in_place_of_the_database(self):
        path = os.path.join(self.tmp, "garbage.db")
        with open(path, "wb") as f:
            f.write(b"this is not a database, just bytes\n" * 200)
        self.check_serving_without_store(path, "garbage.db")
        with open(path, "rb") as f:
            self.assertTrue(f.read().startswith(b"this is not a database"))  # never overwritten

    def test_database_under_a_file(self):
        # Missing directories are made; a file in the way cannot be.
        blocker = os.path.join(self.tmp, "blocker")
        with open(blocker, "w") as f:
            f.write("a file where a directory should be\n")
        self.check_serving_without_store(os.path.join(blocker, "sub", "agd.db"), "agd.db")

    def test_database_path_is_a_directory(self):
        path = os.path.join(self.tmp, "adir.db")
        os.mkdir(path)
        self.check_serving_without_store(path, "adir.db")


if __name__ == "__main__":
    harness.main()
