#!/usr/bin/env python3
"""The admin listener ([admin]): locked by default, who gets in (the admin
and viewer passwords, the bearer token), what is refused (wrong password,
the lockout, a viewer's change, a foreign Origin or Host, the client's
keys), and the endpoints served so far (status, reload)."""

import http.client
import json
import os
import socket
import subprocess
import unittest

import harness
from harness import AgdTestCase, build_config, openai_provider, t

ADMIN_PW = "admin password for the tests"
VIEWER_PW = "viewer password for the tests"
CLIENT_KEY = "gw-client-key-0123456789"


def hash_of(password):
    r = subprocess.run([harness.AGD_BIN, "passwd", "--stdin"], input=password + "\n", capture_output=True,
                       text=True, timeout=t(60))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class AdminCase(AgdTestCase):
    hashes = None

    @classmethod
    def setUpClass(cls):
        if AdminCase.hashes is None:
            AdminCase.hashes = (hash_of(ADMIN_PW), hash_of(VIEWER_PW))

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.admin_port = harness.free_port_nobody_listens_on()
        self.token = "t" * 48
        self.token_file = os.path.join(self.tmp, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(self.token + "\n")
        os.chmod(self.token_file, 0o600)

    def config(self, admin=None):
        a = {"listen": "127.0.0.1:%d" % self.admin_port, "password_hash": self.hashes[0],
             "viewer_password_hash": self.hashes[1], "token_file": self.token_file, "host": "gw.test"}
        a.update(admin or {})
        text = build_config(self.tmp, auth={"mode": "strict", "key": CLIENT_KEY},
                            providers=[("oa", openai_provider(self.mock, ["k-admin"], "gpt-*"))])
        return text + "\n[admin]\n" + "".join("%s = %s\n" % (k, v) for k, v in a.items() if v is not None)

    def daemon(self, admin=None):
        self.d = self.start_daemon(self.config(admin))
        self.d.wait_log(r"admin API on 127\.0\.0\.1:%d" % self.admin_port)
        return self.d

    def call(self, method, path, body=None, headers=None, host=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=t(30))
        try:
            hdrs = {"Host": host if host is not None else "127.0.0.1:%d" % self.admin_port}
            if body is not None:
                hdrs["Content-Type"] = "application/json"
                body = json.dumps(body)
            hdrs.update(headers or {})
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None), {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    def login(self, password, origin=True):
        headers = {"Origin": "http://127.0.0.1:%d" % self.admin_port} if origin else {}
        status, body, hdrs = self.call("POST", "/api/login", {"password": password}, headers)
        cookie = None
        if "set-cookie" in hdrs:
            cookie = hdrs["set-cookie"].split(";")[0]
        return status, body, hdrs, cookie

    def send_text(self, method, path, text, headers):
        """A request with a raw text body (a configuration file): (status, JSON)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=t(30))
        try:
            conn.request(method, path, body=text.encode(), headers=dict(headers, Host="127.0.0.1:%d" % self.admin_port))
            r = conn.getresponse()
            return r.status, json.loads(r.read())
        finally:
            conn.close()

    def origin(self):
        return {"Origin": "http://127.0.0.1:%d" % self.admin_port}


class Locked(AdminCase):

    def test_no_hash_no_listener(self):
        path = self.write_config(self.config({"password_hash": None, "viewer_password_hash": None}), "nohash.conf")
        r = subprocess.run([harness.AGD_BIN, "run", "-c", path], capture_output=True, text=True, timeout=t(60))
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("the admin listener needs admin.password_hash", r.stderr)

    def test_a_plain_admin_password_is_refused_with_what_to_do(self):
        text = build_config(self.tmp, auth={"mode": "off", "admin_password": "hunter2hunter2"})
        path = self.write_config(text, "old.conf")
        r = subprocess.run([harness.AGD_BIN, "check-config", "-c", path], capture_output=True, text=True,
                           timeout=t(60))
        self.assertEqual(r.returncode, 1)
        self.assertIn("replaced by [admin] password_hash", r.stderr)
        self.assertNotIn("hunter2hunter2", r.stderr)

    def test_nothing_without_logging_in(self):
        self.daemon()
        for method, path in (("GET", "/api/status"), ("POST", "/api/reload"), ("GET", "/api/requests"),
                             ("GET", "/api/stats"), ("GET", "/api/config")):
            with self.subTest(path=path):
                status, body, hdrs = self.call(method, path)
                self.assertEqual(status, 401, body)
                self.assertEqual(body["error"]["code"], "unauthorized")
                self.assertNotIn("access-control-allow-origin", hdrs)
        # whoami answers who is logged in: nobody.
        self.assertEqual(self.call("GET", "/api/whoami")[:2], (200, {"role": None}))
        # The client key is no admin credential, as a bearer or otherwise.
        status, body, _ = self.call("GET", "/api/status", headers={"Authorization": "Bearer " + CLIENT_KEY})
        self.assertEqual(status, 401)
        self.assertEqual(self.login(CLIENT_KEY)[0], 401)
        # And the admin plane is not on the client port.
        r = harness.get(self.d.port, "/api/status", headers={"Authorization": "Bearer " + CLIENT_KEY})
        self.assertEqual(r.status, 404)


    def test_hostile_bodies_are_bounded(self):
        d = self.daemon()
        status, body, _ = self.call("POST", "/api/login", {"password": "x" * 10000})
        self.assertEqual(status, 400)
        for raw in (b"{", b"[]", b'{"password": 5}', b"\x00" * 100):
            conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=t(30))
            conn.request("POST", "/api/login", body=raw, headers={"Host": "127.0.0.1:%d" % self.admin_port})
            self.assertEqual(conn.getresponse().status, 400)
            conn.close()
        # Over the admin listener's body bound: refused, and nothing else happens.
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=t(30))
        try:
            conn.request("POST", "/api/login", body=b"a" * (1 << 20),
                         headers={"Host": "127.0.0.1:%d" % self.admin_port})
            self.assertNotEqual(conn.getresponse().status, 200)
        except (ConnectionError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        self.assertTrue(d.alive())
        self.assertEqual(self.login(ADMIN_PW)[0], 200)


    def test_connections_are_bounded(self):
        self.daemon()
        held = []
        try:
            for _ in range(128):
                held.append(socket.create_connection(("127.0.0.1", self.admin_port), timeout=t(30)))
            # Each is accepted (a request on the last one is answered) ...
            held[-1].sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % self.admin_port)
            self.assertTrue(held[-1].recv(100).startswith(b"HTTP/1.1 401"))
            # ... and the next is closed at once, unanswered.
            extra = socket.create_connection(("127.0.0.1", self.admin_port), timeout=t(30))
            try:
                extra.sendall(b"GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % self.admin_port)
                self.assertEqual(harness.recv_all(extra), b"")
            except ConnectionResetError:
                pass
            finally:
                extra.close()
        finally:
            for c in held:
                c.close()

        def answers():
            try:
                return self.call("GET", "/api/status")[0] == 401
            except (ConnectionError, http.client.HTTPException):
                return False  # the closed ones not yet seen closed
        harness.wait_until(answers, t(30), "the admin listener answering again")


class Console(AdminCase):

    def raw(self, path, headers=None, method="GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=t(30))
        try:
            conn.request(method, path, headers=dict({"Host": "127.0.0.1:%d" % self.admin_port}, **(headers or {})))
            r = conn.getresponse()
            return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    def test_the_console_files_are_public_and_locked_down(self):
        self.daemon()
        # The page itself needs no login (it shows the login form); the API still does.
        status, page, h = self.raw("/")
        self.assertEqual(status, 200)
        self.assertIn(b"<html", page)
        self.assertTrue(h["content-type"].startswith("text/html"))
        self.assertTrue(h["content-security-policy"].startswith("default-src 'self'"))
        self.assertNotIn("unsafe", h["content-security-policy"])
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertNotIn("access-control-allow-origin", h)
        self.assertNotIn("set-cookie", h)
        self.assertEqual(self.raw("/api/status")[0], 401)
        # Every asset the page names is served, from the binary.
        import re
        names = set(re.findall(rb'(?:src|href)="(/assets/[^"]+)"', page))
        self.assertTrue(names, page[:300])
        total = len(page)
        for name in names:
            status, data, ah = self.raw(name.decode())
            self.assertEqual(status, 200, name)
            total += len(data)
            self.assertIn("etag", ah)
            # Revalidation costs a 304; gzip when the browser takes it.
            self.assertEqual(self.raw(name.decode(), {"If-None-Match": ah["etag"]})[0], 304)
            status, packed, gh = self.raw(name.decode(), {"Accept-Encoding": "gzip"})
            self.assertEqual(status, 200)
            if gh.get("content-encoding") == "gzip":
                import gzip
                self.assertEqual(gzip.decompress(packed), data)
        self.assertLess(total, 300 * 1024)
        # Only GET; a foreign Host is refused here too; unknown files are 404.
        self.assertEqual(self.raw("/", method="POST")[0], 405)
        self.assertEqual(self.raw("/", {"Host": "evil.example"})[0], 403)
        self.assertEqual(self.raw("/assets/nope.js")[0], 404)
        self.assertEqual(self.raw("/index.html")[0], 404)
        self.assertIn(self.raw("/assets/../api/status")[0], (400, 401, 404))


class AdminOverTls(AdminCase):

    def test_the_admin_listener_over_tls(self):
        import ssl
        from tls_support import make_ca, make_leaf
        ca = make_ca(self.tmp)
        cert, key = make_leaf(self.tmp, ca, "admin")
        os.chmod(key, 0o600)
        text = self.config({"listen": "127.0.0.1:%d ssl" % self.admin_port})
        self.d = self.start_daemon(text + "\n[tls]\ncertificate = %s\nkey = %s\n" % (cert, key))
        self.d.wait_log(r"admin API on 127\.0\.0\.1:%d" % self.admin_port)
        ctx = ssl.create_default_context(cafile=ca[0])

        def call(method, path, body=None, headers=None):
            conn = http.client.HTTPSConnection("127.0.0.1", self.admin_port, timeout=t(30), context=ctx)
            try:
                hdrs = {"Host": "127.0.0.1:%d" % self.admin_port}
                hdrs.update(headers or {})
                conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=hdrs)
                r = conn.getresponse()
                return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
            finally:
                conn.close()
        status, page, _ = call("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"<html", page)
        status, body, h = call("POST", "/api/login", {"password": ADMIN_PW},
                               {"Origin": "https://127.0.0.1:%d" % self.admin_port, "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        # The session cookie never goes over plain HTTP.
        self.assertIn("; Secure", h["set-cookie"])
        cookie = h["set-cookie"].split(";")[0]
        self.assertEqual(call("GET", "/api/status", headers={"Cookie": cookie})[0], 200)
        self.assertEqual(call("GET", "/api/status", headers={"Host": "evil.example", "Cookie": cookie})[0], 403)
        # Plain HTTP on the ssl port gets no answer.
        with socket.create_connection(("127.0.0.1", self.admin_port), timeout=t(30)) as sock:
            sock.sendall(b"GET /api/whoami HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % self.admin_port)
            try:
                answer = harness.recv_all(sock)
            except ConnectionResetError:
                answer = b""
            self.assertNotIn(b"HTTP/1.1 200", answer)
        # check-config reads the certificate for the admin listener too.
        r = self.d.cli("check-config")
        self.assertEqual(r.returncode, 0, r.stderr)


class Login(AdminCase):

    def test_admin_and_viewer_roles(self):
        d = self.daemon()
        status, body, hdrs, cookie = self.login(ADMIN_PW)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["role"], "admin")
        set_cookie = hdrs["set-cookie"]
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
            self.assertIn(attr, set_cookie)
        status, who, _ = self.call("GET", "/api/whoami", headers={"Cookie": cookie})
        self.assertEqual((status, who["role"]), (200, "admin"))
        status, st, hdrs = self.call("GET", "/api/status", headers={"Cookie": cookie})
        self.assertEqual(status, 200, st)
        self.assertEqual(st["pid"], d.status_json()["pid"])
        self.assertEqual(hdrs["cache-control"], "no-store")
        self.assertNotIn(CLIENT_KEY, json.dumps(st))
        status, answer, _ = self.call("POST", "/api/reload", headers=dict(self.origin(), Cookie=cookie))
        self.assertEqual(status, 200, answer)
        self.assertTrue(answer["ok"])
        d.wait_log(r"admin: admin from 127\.0\.0\.1: reload")

        status, body, _, vcookie = self.login(VIEWER_PW)
        self.assertEqual((status, body["role"]), (200, "viewer"))
        self.assertEqual(self.call("GET", "/api/status", headers={"Cookie": vcookie})[0], 200)
        status, body, _ = self.call("POST", "/api/reload", headers=dict(self.origin(), Cookie=vcookie))
        self.assertEqual(status, 403)
        self.assertEqual(body["error"]["code"], "forbidden")

        # Logging out ends the session.
        self.assertEqual(self.call("POST", "/api/logout", headers=dict(self.origin(), Cookie=cookie))[0], 200)
        self.assertEqual(self.call("GET", "/api/whoami", headers={"Cookie": cookie})[:2], (200, {"role": None}))
        self.assertEqual(self.call("GET", "/api/status", headers={"Cookie": cookie})[0], 401)

    def test_the_bearer_token_for_scripts(self):
        self.daemon()
        status, who, _ = self.call("GET", "/api/whoami", headers={"Authorization": "Bearer " + self.token})
        self.assertEqual((status, who["role"]), (200, "admin"))
        status, answer, _ = self.call("POST", "/api/reload", headers={"Authorization": "Bearer " + self.token})
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.call("GET", "/api/status", headers={"Authorization": "Bearer " + "x" * 48})[0], 401)

    def test_five_failures_lock_the_address_out(self):
        d = self.daemon()
        for _ in range(5):
            self.assertEqual(self.login("wrong password!")[0], 401)
        status, body, hdrs, _ = self.login(ADMIN_PW)
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "locked_out")
        self.assertGreater(int(hdrs["retry-after"]), 800)
        d.wait_log(r"admin: failed logins from 127\.0\.0\.1: locked out for 15 minutes")
        self.assertNotIn("wrong password!", d.log())


class CrossSite(AdminCase):

    def test_a_change_needs_the_consoles_origin_and_host(self):
        self.daemon()
        _, _, _, cookie = self.login(ADMIN_PW)
        status, body, _ = self.call("POST", "/api/reload",
                                    headers={"Cookie": cookie, "Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        self.assertEqual(body["error"]["code"], "bad_origin")
        # No Origin: the CSRF token the login gave stands for it.
        status, body, _ = self.call("POST", "/api/reload", headers={"Cookie": cookie})
        self.assertEqual(status, 403)
        _, who, _ = self.call("GET", "/api/whoami", headers={"Cookie": cookie})
        status, body, _ = self.call("POST", "/api/reload", headers={"Cookie": cookie, "X-CSRF-Token": who["csrf"]})
        self.assertEqual(status, 200, body)
        # A login from a foreign page is refused too.
        status, body, _ = self.call("POST", "/api/login", {"password": ADMIN_PW},
                                    headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)

    def test_dns_rebinding_a_foreign_host_is_refused(self):
        self.daemon()
        for host in ("evil.example:%d" % self.admin_port, "evil.example", ""):
            with self.subTest(host=host):
                status, body, _ = self.call("GET", "/api/status", host=host,
                                            headers={"Authorization": "Bearer " + self.token})
                self.assertEqual(status, 403)
                self.assertEqual(body["error"]["code"], "bad_host")
        for host in ("localhost:%d" % self.admin_port, "gw.test", "gw.test:%d" % self.admin_port):
            with self.subTest(host=host):
                status, _, _ = self.call("GET", "/api/status", host=host,
                                         headers={"Authorization": "Bearer " + self.token})
                self.assertEqual(status, 200)


class Reload(AdminCase):

    def test_a_new_password_hash_ends_the_sessions(self):
        d = self.daemon()
        _, _, _, cookie = self.login(ADMIN_PW)
        self.assertEqual(self.call("GET", "/api/whoami", headers={"Cookie": cookie})[0], 200)
        with open(d.config_path, "w") as f:
            f.write(self.config({"password_hash": hash_of("another admin password")}))
        self.assertEqual(d.cli("reload").returncode, 0)
        d.wait_log(r"admin: the password hashes changed: every session is closed")
        self.assertEqual(self.call("GET", "/api/status", headers={"Cookie": cookie})[0], 401)
        self.assertEqual(self.login(ADMIN_PW)[0], 401)
        self.assertEqual(self.login("another admin password")[0], 200)


    def test_a_failed_reload_in_the_error_shape(self):
        d = self.daemon()
        with open(d.config_path, "a") as f:
            f.write("\n[routing]\nstrategy = never\n")
        status, body, _ = self.call("POST", "/api/reload", headers={"Authorization": "Bearer " + self.token})
        self.assertEqual(status, 422, body)
        self.assertEqual(body["error"]["code"], "reload_failed")
        self.assertIn("still running the previous configuration", body["error"]["message"])
        self.assertTrue(any("routing.strategy" in e for e in body["errors"]), body)
        self.assertEqual(d.status_json()["generation"], 1)


class Credentials(AdminCase):

    def chat(self):
        r = harness.post(self.d.port, "/v1/chat/completions",
                         {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]},
                         headers={"Authorization": "Bearer " + CLIENT_KEY})
        self.assertEqual(r.status, 200, r)
        return harness.cred_of(r.json()["choices"][0]["message"]["content"])

    def test_list_disable_and_enable_a_credential(self):
        keys = ["k-admin-one-1111", "k-admin-two-2222"]
        text = self.config()
        text = text.replace("key = k-admin\n", "key = %s\nkey = %s\n" % tuple(keys))
        self.d = self.start_daemon(text)
        auth = {"Authorization": "Bearer " + self.token}
        status, listing, _ = self.call("GET", "/api/credentials", headers=auth)
        self.assertEqual(status, 200, listing)
        fps = [c["fingerprint"] for c in listing["credentials"]]
        self.assertEqual(sorted(fps), sorted(harness.fingerprint(k) for k in keys))
        self.assertNotIn(keys[0], json.dumps(listing))

        one = harness.fingerprint(keys[0])
        status, answer, _ = self.call("POST", "/api/credentials/oa/%s/disable" % one, headers=auth)
        self.assertEqual(status, 200, answer)
        self.d.wait_log(r"admin: admin from 127\.0\.0\.1: credentials disable oa/%s" % one)
        # Routing follows at once: every request goes to the other key.
        self.assertEqual({self.chat() for _ in range(6)}, {keys[1]})
        status, answer, _ = self.call("POST", "/api/credentials/oa/%s/enable" % one, headers=auth)
        self.assertEqual(status, 200, answer)
        self.assertEqual({self.chat() for _ in range(6)}, set(keys))

        # A viewer reads, and changes nothing.
        _, _, _, vcookie = self.login(VIEWER_PW)
        self.assertEqual(self.call("GET", "/api/credentials", headers={"Cookie": vcookie})[0], 200)
        status, body, _ = self.call("POST", "/api/credentials/oa/%s/disable" % one,
                                    headers=dict(self.origin(), Cookie=vcookie))
        self.assertEqual((status, body["error"]["code"]), (403, "forbidden"))
        # What does not name one credential: the API's error shape.
        status, body, _ = self.call("POST", "/api/credentials/oa/ffffffff/reset", headers=auth)
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        self.assertIn("no credential with fingerprint", body["error"]["message"])
        self.assertEqual(self.call("POST", "/api/credentials/nope/%s/reset" % one, headers=auth)[0], 404)
        self.assertEqual(self.call("POST", "/api/credentials/oa/%s/explode" % one, headers=auth)[0], 404)
        self.assertEqual(self.call("POST", "/api/credentials/oa/a%20b/reset", headers=auth)[0], 404)
        self.assertEqual(self.call("GET", "/api/credentials/oa/%s/reset" % one, headers=auth)[0], 405)


class Store(AdminCase):

    def test_the_request_log_and_usage(self):
        text = self.config().replace("[log]\n", "[log]\nbodies = all\n")
        self.d = self.start_daemon(text)
        auth = {"Authorization": "Bearer " + self.token}
        for model in ("gpt-a", "gpt-b", "gpt-b"):
            r = harness.post(self.d.port, "/v1/chat/completions",
                             {"model": model, "messages": [{"role": "user", "content": "note " + model}]},
                             headers={"Authorization": "Bearer " + CLIENT_KEY})
            self.assertEqual(r.status, 200)

        def rows():
            status, body, _ = self.call("GET", "/api/requests", headers=auth)
            return body["requests"] if status == 200 and len(body["requests"]) >= 3 else None
        got = harness.wait_until(rows, t(30), "three requests in the store")
        self.assertEqual([x["model"] for x in got], ["gpt-b", "gpt-b", "gpt-a"])  # newest first
        status, body, _ = self.call("GET", "/api/requests?model=gpt-a&limit=5", headers=auth)
        self.assertEqual(status, 200)
        self.assertEqual([x["model"] for x in body["requests"]], ["gpt-a"])
        self.assertEqual(len(self.call("GET", "/api/requests?limit=1", headers=auth)[1]["requests"]), 1)
        self.assertEqual(self.call("GET", "/api/requests?status=5xx", headers=auth)[1]["requests"], [])
        # Page by page with the cursor: the same rows, in the same order.
        paged, cursor = [], None
        for _ in range(5):
            status, body, _ = self.call("GET", "/api/requests?limit=1" + ("&cursor=" + cursor if cursor else ""),
                                        headers=auth)
            self.assertEqual(status, 200, body)
            paged += body["requests"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        self.assertEqual([x["id"] for x in paged], [x["id"] for x in got])
        self.assertEqual(self.call("GET", "/api/requests?until=1h", headers=auth)[1]["requests"], [])
        for bad in ("limit=0", "limit=x", "since=yesterdayish", "status=7xx", "cursor=abc", "cursor=1-2x",
                    "until=soon"):
            self.assertEqual(self.call("GET", "/api/requests?" + bad, headers=auth)[0], 400, bad)

        # One request in full: the bodies for the admin role only.
        rid = got[-1]["id"]
        status, entry, _ = self.call("GET", "/api/requests/" + rid, headers=auth)
        self.assertEqual(status, 200, entry)
        self.assertIn("note gpt-a", entry["request_body"])
        _, _, _, vcookie = self.login(VIEWER_PW)
        status, entry, _ = self.call("GET", "/api/requests/" + rid, headers={"Cookie": vcookie})
        self.assertEqual(status, 200)
        self.assertIsNone(entry["request_body"])
        # ?row= names one run's request (ids start again with each run).
        status, entry, _ = self.call("GET", "/api/requests/%s?row=%d" % (rid, got[-1]["row"]), headers=auth)
        self.assertEqual((status, entry["row"]), (200, got[-1]["row"]))
        self.assertEqual(self.call("GET", "/api/requests/%s?row=%d" % (rid, got[0]["row"]), headers=auth)[0], 404)
        self.assertEqual(self.call("GET", "/api/requests/ffffffffffffffff", headers=auth)[0], 404)
        self.assertEqual(self.call("GET", "/api/requests/zz", headers=auth)[0], 404)

        def by_model():
            status, body, _ = self.call("GET", "/api/usage?by=model&since=1h", headers=auth)
            rows = {r["model"]: r for r in body.get("rows", [])} if status == 200 else {}
            return rows if rows.get("gpt-b", {}).get("requests") == 2 else None
        rows = harness.wait_until(by_model, t(30), "usage by model")
        self.assertEqual(rows["gpt-a"]["requests"], 1)
        self.assertEqual(self.call("GET", "/api/usage?by=planet", headers=auth)[0], 400)

        # The Overview's numbers: a failure joins the three successes.
        r = harness.post(self.d.port, "/v1/chat/completions",
                         {"model": "not-served", "messages": [{"role": "user", "content": "x"}]},
                         headers={"Authorization": "Bearer " + CLIENT_KEY})
        self.assertGreaterEqual(r.status, 400)

        def stats():
            status, body, _ = self.call("GET", "/api/stats?since=1h&buckets=12", headers=auth)
            return body if status == 200 and body["requests"] >= 4 else None
        st = harness.wait_until(stats, t(30), "four requests in the stats")
        self.assertEqual(st["requests"], 4)
        self.assertEqual(st["errors"], 1)
        self.assertAlmostEqual(st["error_rate"], 0.25)
        self.assertEqual(len(st["series"]), 12)
        self.assertEqual(sum(b["requests"] for b in st["series"]), 4)
        self.assertEqual(sum(b["errors"] for b in st["series"]), 1)
        self.assertEqual(st["until_ms"] - st["since_ms"], 3_600_000)
        self.assertEqual(st["latency_ms"]["count"], 3)  # the failure's time is not the upstreams'
        self.assertGreater(st["latency_ms"]["p99"], 0)
        self.assertLessEqual(st["latency_ms"]["p50"], st["latency_ms"]["p99"])
        self.assertGreater(st["tokens"]["input"], 0)
        self.assertFalse(st["truncated"])
        _, _, _, vcookie = self.login(VIEWER_PW)
        self.assertEqual(self.call("GET", "/api/stats", headers={"Cookie": vcookie})[0], 200)
        self.assertEqual(self.call("GET", "/api/stats?since=3h&until=2h", headers=auth)[1]["requests"], 0)
        for bad in ("buckets=0", "buckets=1441", "buckets=x", "since=soon", "since=1h&until=2h"):
            self.assertEqual(self.call("GET", "/api/stats?" + bad, headers=auth)[0], 400, bad)
        self.assertEqual(self.call("POST", "/api/stats", headers=auth)[0], 405)


class Config(AdminCase):

    def test_view_and_check(self):
        text = self.config().replace("[provider.oa]\n", "[provider.oa]\nproxy = http://squid:pr0xy-secret@127.0.0.1:9/\n")
        self.d = d = self.start_daemon(text)
        auth = {"Authorization": "Bearer " + self.token}
        status, body, _ = self.call("GET", "/api/config", headers=auth)
        self.assertEqual(status, 200)
        self.assertEqual(body["path"], d.config_path)
        self.assertIn("[provider.oa]", body["text"])
        self.assertIn("fingerprint:" + harness.fingerprint("k-admin"), body["text"])
        self.assertNotIn("k-admin\n", body["text"])
        self.assertNotIn(CLIENT_KEY, body["text"])
        self.assertNotIn(self.token, body["text"])
        self.assertNotIn("pr0xy-secret", body["text"])  # a URL's userinfo is a secret too
        self.assertIn("proxy = http://***@127.0.0.1:9/", body["text"])
        status, body, _ = self.call("GET", "/api/config?source=file", headers=auth)
        self.assertNotIn("pr0xy-secret", body["text"])
        self.assertIn("proxy = http://kept:%s@127.0.0.1:9/" % harness.fingerprint("squid:pr0xy-secret"), body["text"])
        _, _, _, vcookie = self.login(VIEWER_PW)
        self.assertEqual(self.call("GET", "/api/config", headers={"Cookie": vcookie})[0], 200)

        def check(text, headers=auth):
            return self.send_text("POST", "/api/config/check", text, headers)

        with open(d.config_path) as f:
            live = f.read()
        status, body = check(live)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["ok"])
        status, body = check(live + "\n[server]\nworkers = lots\n")
        self.assertEqual(status, 200)  # a check's result, not a failure of the call
        self.assertFalse(body["ok"])
        self.assertTrue(any(e.startswith(d.config_path + ":") and "server.workers" in e for e in body["errors"]),
                        body["errors"])
        self.assertEqual(check(live, headers=dict(self.origin(), Cookie=vcookie))[0], 403)
        self.assertEqual(d.status_json()["generation"], 1)  # nothing was applied

    def test_write_and_reload(self):
        d = self.daemon()
        auth = {"Authorization": "Bearer " + self.token}
        with open(d.config_path) as f:
            live = f.read()
        os.chmod(d.config_path, 0o640)

        def put(text, headers=auth):
            return self.send_text("PUT", "/api/config", text, headers)

        # Broken: nothing is written, nothing reloaded.
        status, body = put(live + "\n[routing]\nstrategy = sometimes\n")
        self.assertEqual(status, 422, body)
        self.assertEqual(body["error"]["code"], "invalid_config")
        self.assertTrue(any("routing.strategy" in e for e in body["errors"]), body)
        with open(d.config_path) as f:
            self.assertEqual(f.read(), live)
        self.assertFalse(os.path.exists(d.config_path + ".bak"))
        self.assertEqual(d.status_json()["generation"], 1)

        # A viewer changes nothing.
        _, _, _, vcookie = self.login(VIEWER_PW)
        self.assertEqual(put(live, headers=dict(self.origin(), Cookie=vcookie))[0], 403)

        # Good: written, the old file kept, reloaded.
        new = live + "\n[routing]\nstrategy = fill-first\n"
        status, body = put(new)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["ok"])
        with open(d.config_path) as f:
            self.assertEqual(f.read(), new)
        with open(d.config_path + ".bak") as f:
            self.assertEqual(f.read(), live)
        self.assertEqual(os.stat(d.config_path).st_mode & 0o777, 0o640)
        self.assertEqual(d.status_json()["generation"], 2)
        d.wait_log(r"admin: admin from 127\.0\.0\.1: write the configuration file and reload")

        # The console's editor: the file as written, its secrets as kept:FINGERPRINT ...
        status, body, _ = self.call("GET", "/api/config?source=file", headers=auth)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["editable"])
        for secret in ("k-admin", CLIENT_KEY, self.hashes[0], self.hashes[1]):
            self.assertNotIn(secret, body["text"])
        self.assertIn("key = kept:" + harness.fingerprint("k-admin"), body["text"])
        self.assertIn("strategy = fill-first", body["text"])
        self.assertEqual(body["secrets"], 4)
        self.assertEqual(len(body["base"]), 64)
        self.assertNotIn("why", body)
        # ... which a check and a write put back.
        edited = body["text"].replace("strategy = fill-first", "strategy = round-robin")
        status, result = self.send_text("POST", "/api/config/check", edited, auth)
        self.assertTrue(result["ok"], result)
        # Written over a file that changed since it was read: nothing written.
        status, result = self.send_text("PUT", "/api/config?base=" + "0" * 64, edited, auth)
        self.assertEqual((status, result["error"]["code"]), (409, "conflict"), result)
        self.assertEqual(d.status_json()["generation"], 2)
        status, result = self.send_text("PUT", "/api/config?base=" + body["base"], edited, auth)
        self.assertEqual(status, 200, result)
        with open(d.config_path) as f:
            self.assertEqual(f.read(), new.replace("strategy = fill-first", "strategy = round-robin"))
        self.assertEqual(d.status_json()["generation"], 3)
        # A kept: that names no secret of the live file: nothing written.
        status, result = put(edited.replace("kept:" + harness.fingerprint("k-admin"), "kept:00000000"))
        self.assertEqual(status, 422, result)
        self.assertTrue(any("kept:00000000 names no secret" in e for e in result["errors"]), result)
        self.assertEqual(d.status_json()["generation"], 3)


class Clients(AdminCase):

    def test_the_named_clients_with_limits_and_usage(self):
        text = build_config(self.tmp, auth={"mode": "strict"},
                            clients=[("team", {"key": "gw-team-key-0123456789", "rpm": "60"})],
                            providers=[("oa", openai_provider(self.mock, ["k-admin"], "gpt-*"))])
        text += "\n[admin]\nlisten = 127.0.0.1:%d\npassword_hash = %s\ntoken_file = %s\n" % (
            self.admin_port, self.hashes[0], self.token_file)
        d = self.start_daemon(text)
        r = harness.post(d.port, "/v1/chat/completions",
                         {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]},
                         headers={"Authorization": "Bearer gw-team-key-0123456789"})
        self.assertEqual(r.status, 200)
        status, body, _ = self.call("GET", "/api/clients", headers={"Authorization": "Bearer " + self.token})
        self.assertEqual(status, 200, body)
        team = [c for c in body["clients"] if c["name"] == "team"]
        self.assertEqual(len(team), 1, body)
        self.assertEqual(team[0]["limits"], {"rpm": 60})
        self.assertEqual(team[0]["keys"], 1)
        harness.wait_until(lambda: self.call("GET", "/api/clients", headers={"Authorization": "Bearer " + self.token})
                           [1]["clients"][0].get("requests") == 1, t(30), "the team's request counted")
        self.assertNotIn("gw-team-key-0123456789", json.dumps(body))


class Events(AdminCase):

    def open_stream(self, headers):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=t(30))
        conn.request("GET", "/api/events", headers=dict(headers, Host="127.0.0.1:%d" % self.admin_port))
        r = conn.getresponse()
        self.addCleanup(conn.close)
        return conn, r

    def test_each_finished_request_live(self):
        self.daemon()
        conn, r = self.open_stream({"Authorization": "Bearer " + self.token})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("content-type"), "text/event-stream")
        self.assertEqual(r.readline(), b": connected\n")
        for model in ("gpt-live-1", "gpt-live-2"):
            res = harness.post(self.d.port, "/v1/chat/completions",
                               {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                               headers={"Authorization": "Bearer " + CLIENT_KEY})
            self.assertEqual(res.status, 200)
        events = []
        while len(events) < 2:
            line = r.readline()
            self.assertTrue(line, "the stream ended")
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
        self.assertEqual([e["model"] for e in events], ["gpt-live-1", "gpt-live-2"])
        self.assertEqual({e["status"] for e in events}, {200})
        self.assertEqual(events[0]["provider"], "oa")
        self.assertEqual(events[0]["credential"], harness.fingerprint("k-admin"))
        self.assertNotIn(CLIENT_KEY, json.dumps(events))
        self.assertNotIn("k-admin", [e["credential"] for e in events])

        # A viewer may watch too; nobody without logging in.
        _, _, _, vcookie = self.login(VIEWER_PW)
        _, vr = self.open_stream({"Cookie": vcookie})
        self.assertEqual(vr.status, 200)
        _, nr = self.open_stream({})
        self.assertEqual(nr.status, 401)

    def test_a_stream_ends_with_its_login(self):
        self.daemon()
        _, _, _, cookie = self.login(ADMIN_PW)
        _, r = self.open_stream({"Cookie": cookie})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.readline(), b": connected\n")
        _, _, _, other = self.login(ADMIN_PW)
        _, kept = self.open_stream({"Cookie": other})
        self.assertEqual(kept.readline(), b": connected\n")
        # Logging out ends that session's stream at once, not the other's.
        self.assertEqual(self.call("POST", "/api/logout", headers=dict(self.origin(), Cookie=cookie))[0], 200)
        try:
            rest = r.read()
        except (ConnectionError, http.client.IncompleteRead):
            rest = b""
        self.assertNotIn(b"data:", rest)
        self.d.wait_log(r"admin: 1 event stream\(s\) closed: their login ended")
        res = harness.post(self.d.port, "/v1/chat/completions",
                           {"model": "gpt-after", "messages": [{"role": "user", "content": "hi"}]},
                           headers={"Authorization": "Bearer " + CLIENT_KEY})
        self.assertEqual(res.status, 200)
        while True:
            line = kept.readline()
            self.assertTrue(line, "the other session's stream ended")
            if line.startswith(b"data: "):
                self.assertEqual(json.loads(line[6:])["model"], "gpt-after")
                break

    def test_stream_count_is_bounded(self):
        self.daemon()
        auth = {"Authorization": "Bearer " + self.token}
        opened = [self.open_stream(auth)[1] for _ in range(16)]
        self.assertEqual({r.status for r in opened}, {200})
        for r in opened:
            r.readline()
        _, extra = self.open_stream(auth)
        self.assertEqual(extra.status, 503)


class Upgrade(AdminCase):

    def test_the_admin_listener_goes_to_the_successor(self):
        d = self.daemon()
        # The successor is not the harness's child: stopped here, even if the test fails.
        self.addCleanup(d.cli, "stop")
        r = d.cli("upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(d.wait_exit(), 0)
        status, st, _ = self.call("GET", "/api/status", headers={"Authorization": "Bearer " + self.token})
        self.assertEqual(status, 200)
        self.assertEqual(st["pid"], d.status_json()["pid"])
        self.assertEqual(self.login(ADMIN_PW)[0], 200)


if __name__ == "__main__":
    harness.main()
