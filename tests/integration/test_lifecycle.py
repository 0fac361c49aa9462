#!/usr/bin/env python3
"""Daemon lifecycle: check-config, start-up failures, sd_notify (READY,
RELOADING + MONOTONIC_USEC, STOPPING), reload by SIGHUP and by the reload
command (all or nothing; cooldowns survive; in-flight requests keep their
configuration), the PID-file lock, status/stop on the control socket,
--daemon, and graceful stop with a stream in flight."""

import grp
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import (AGD_BIN, AgdTestCase, SSEReader, anthropic_provider, build_config, expected_text,
                     get, openai_provider, post, t, wait_until)

K1, K2 = "lc-key-one-1111", "lc-key-two-2222"
KA = "lc-ant-key-3333"


def chat_body(model, stream=False):
    b = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        b["stream"] = True
    return b


def msgs_body(model):
    return {"model": model, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def running(pid):
    """True if pid is a live process (a zombie left for a non-reaping init
    does not count)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


class LifecycleTests(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()

    def cfg(self, with_anthropic=False, server=None, routing=None, extra=""):
        providers = [("oa", openai_provider(self.mock, [K1, K2], "gpt-*"))]
        if with_anthropic:
            providers.append(("an", anthropic_provider(self.mock, [KA], "claude-*")))
        return build_config(self.tmp, server=server, routing=routing, providers=providers) + extra

    def run_cli(self, *args, timeout=None):
        r = subprocess.run([AGD_BIN] + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=t(60) if timeout is None else timeout, cwd=self.tmp)
        harness.check_no_sanitizer_report(r.stderr, "antigravityd " + " ".join(args))
        return r

    # -- check-config and start-up failures ---------------------------------------------

    def test_check_config_valid(self):
        path = self.write_config(self.cfg(with_anthropic=True))
        r = self.run_cli("check-config", "-c", path)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("configuration is valid", r.stdout + r.stderr)

    def test_check_config_reports_every_error_without_secrets(self):
        secret = "sk-quoted-SECRET-value-4242"
        text = ("[server]\n"
                "listen = 127.0.0.1:0\n"
                "max_body_size = lots\n"          # line 3: bad size
                "no_such_key = 1\n"               # line 4: unknown key
                "[provider.bad]\n"
                "type = openai\n"
                "key = \"%s\"\n"                  # line 7: quoted value
                "models = gpt-*\n" % secret)
        path = self.write_config(text, "broken.conf")
        r = self.run_cli("check-config", "-c", path)
        self.assertEqual(r.returncode, 1, r)
        out = r.stdout + r.stderr
        for line in (3, 4, 7):
            self.assertRegex(out, r"%s:%d: \S+" % (re.escape(path), line))
        m = re.search(r"configuration has (\d+) errors?", out)
        self.assertTrue(m, out)
        self.assertGreaterEqual(int(m.group(1)), 3)
        self.assertNotIn(secret, out)
        self.assertNotIn(secret.strip('"'), out)

    def test_run_with_broken_config_exits_78_without_ready(self):
        path = self.write_config("[server]\nlisten = 127.0.0.1:0\nworkers = many\n", "broken.conf")
        d = self.start_daemon(config_path=path, wait=False)
        self.assertEqual(d.wait_exit(), 78, d.log())
        self.assertRegex(d.log(), r"broken\.conf:3: server\.workers")
        self.assertFalse(any(m.get("READY") == "1" for m in d.notify.messages))

    def test_permanent_start_failures_have_their_own_status(self):
        # The unit's RestartPreventExitStatus lists these: no restart loop.
        # A PID file that cannot be created: 73.
        r = self.run_cli("run", "-c", self.write_config(self.cfg(server={"pid_file": "/proc/1/agd.pid"}),
                                                        "pid.conf"))
        self.assertEqual(r.returncode, 73, r)
        self.assertIn("PID file /proc/1/agd.pid", r.stderr)
        # A port below 1024 the daemon's user may not bind: 77 (as an
        # unprivileged user: root may bind it).
        home = tempfile.mkdtemp(prefix="agd-nobody-")
        self.addCleanup(shutil.rmtree, home, True)
        os.chmod(home, 0o777)
        cfg = build_config(home, listen="127.0.0.1:1", providers=[("oa", openai_provider(self.mock, [K1], "gpt-*"))])
        path = os.path.join(home, "low.conf")
        with open(path, "w") as f:
            f.write(cfg)
        os.chmod(path, 0o644)
        cmd = [AGD_BIN, "run", "-c", path]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + cmd
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=t(60), cwd=home)
        self.assertEqual(r.returncode, 77, r)
        self.assertIn("cannot bind 127.0.0.1:1: Permission denied", r.stderr)

    def test_ready_notification_and_status(self):
        d = self.start_daemon(self.cfg())
        self.assertIn("STATUS", d.ready_message)
        self.assertIn("127.0.0.1:%d" % d.port, d.ready_message["STATUS"])
        st = d.status_json()
        self.assertEqual(st["pid"], d.proc.pid)
        self.assertEqual(st["generation"], 1)
        self.assertEqual(st["workers"], 2)
        self.assertEqual(st["listeners"], ["127.0.0.1:%d" % d.port])
        self.assertEqual(st["auth_mode"], "off")
        creds = st["providers"][0]["credentials"]
        self.assertEqual([c["fingerprint"] for c in creds], [harness.fingerprint(K1), harness.fingerprint(K2)])
        served = st["requests_served"]
        for _ in range(3):
            self.assertEqual(get(d.port, "/health").status, 200)
        wait_until(lambda: d.status_json()["requests_served"] >= served + 3, t(30), "requests_served to count")
        text = d.cli("status")
        self.assertEqual(text.returncode, 0, text)
        self.assertIn(harness.fingerprint(K1), text.stdout)

    # -- reload --------------------------------------------------------------------------

    def test_watchdog_pings_while_every_worker_answers(self):
        d = self.start_daemon(self.cfg(), env={"WATCHDOG_USEC": "200000"})
        n = d.notify.count()
        for k in range(3):
            n, _ = d.notify.wait_for(lambda m: m.get("WATCHDOG") == "1", t(30), start=n, what="WATCHDOG=1 #%d" % k)
            n += 1
        self.assertEqual(post(d.port, "/v1/chat/completions", chat_body("gpt-w")).status, 200)
        self.assertIn("watchdog: WATCHDOG=1 every 50 ms while all 2 worker(s) answer", d.log())

    def test_watchdog_holds_its_pings_while_a_worker_is_stuck(self):
        # AGD_TEST_STALL_WORKER (builds with assertions only): worker 1
        # sleeps 1.5 s in its first ping, a loop that no longer turns.
        d = self.start_daemon(self.cfg(), env={"WATCHDOG_USEC": "400000", "AGD_TEST_STALL_WORKER": "1:1500"})
        stuck, _ = d.notify.wait_for(lambda m: "not answering" in m.get("STATUS", ""), t(30),
                                     what="the stuck worker in STATUS=")
        back, _ = d.notify.wait_for(lambda m: "every worker answers again" in m.get("STATUS", ""), t(30),
                                    start=stuck + 1, what="the worker answering again")
        between = d.notify.messages[stuck + 1:back]
        self.assertFalse([m for m in between if m.get("WATCHDOG") == "1"],
                         "WATCHDOG=1 sent while a worker was stuck: %r" % between)
        d.notify.wait_for(lambda m: m.get("WATCHDOG") == "1", t(30), start=back + 1, what="WATCHDOG=1 again")
        self.assertIn("watchdog: worker(s) 1 did not answer within 100 ms", d.log())
        self.assertEqual(post(d.port, "/v1/chat/completions", chat_body("gpt-w")).status, 200)

    def test_socket_activation_uses_the_sockets_systemd_passes(self):
        # What antigravityd.socket does: the sockets bound and listening
        # before the daemon starts. Bound here and held, so the daemon could
        # not bind the same port itself.
        tcp, port, unx, unix_path = harness.activation_sockets(self.tmp)
        self.addCleanup(tcp.close)
        self.addCleanup(unx.close)
        fds = [tcp.fileno(), unx.fileno()]
        # server.listen names the TCP socket's address: that one is used,
        # not bound again; the unix socket is not named, and served too.
        cfg = build_config(self.tmp, listen="127.0.0.1:%d" % port,
                           providers=[("oa", openai_provider(self.mock, [K1], "gpt-*"))])
        d = self.start_daemon(cfg, listen_fds=fds)
        self.assertEqual(d.port, port)
        r = post(port, "/v1/chat/completions", chat_body("gpt-sock"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], expected_text(K1, "gpt-sock", 3))
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(t(30))
        c.connect(unix_path)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(c.makefile("rb").readline().startswith(b"HTTP/1.1 200"))
        c.close()
        log = d.log()
        self.assertIn("listening on 127.0.0.1:%d: the socket systemd passed" % port, log)
        self.assertIn("listening on unix:%s as systemd passed it, though server.listen does not name it" % unix_path,
                      log)
        self.assertEqual(sorted(d.status_json()["listeners"]), sorted(["127.0.0.1:%d" % port, "unix:" + unix_path]))
        # The socket file is systemd's: the daemon leaves it when it stops.
        self.assertEqual(d.cli("stop").returncode, 0)
        self.assertEqual(d.wait_exit(), 0)
        self.assertTrue(os.path.exists(unix_path))

    def test_socket_activation_a_socket_on_every_address_covers_one_of_them(self):
        # ListenStream=PORT binds all addresses; server.listen names
        # 127.0.0.1:PORT. Binding that too would fail (EADDRINUSE): the
        # passed socket serves it.
        wide = socket.socket()
        wide.bind(("0.0.0.0", 0))
        wide.listen(16)
        self.addCleanup(wide.close)
        port = wide.getsockname()[1]
        cfg = build_config(self.tmp, listen="127.0.0.1:%d" % port,
                           providers=[("oa", openai_provider(self.mock, [K1], "gpt-*"))])
        d = self.start_daemon(cfg, listen_fds=[wide.fileno()], wait=False)
        d.notify.wait_for(lambda m: m.get("READY") == "1", t(30), what="READY=1", alive=d.alive)
        r = post(port, "/v1/chat/completions", chat_body("gpt-wide"))
        self.assertEqual(r.status, 200, r)
        self.assertIn("server.listen 127.0.0.1:%d is served by the socket systemd passed, 0.0.0.0:%d" % (port, port),
                      d.log())

    def test_socket_activation_refuses_what_it_cannot_serve(self):
        dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dgram.bind(("127.0.0.1", 0))
        self.addCleanup(dgram.close)
        d = self.start_daemon(self.cfg(), listen_fds=[dgram.fileno()], wait=False)
        self.assertEqual(d.wait_exit(), 78, d.log())
        self.assertIn("descriptor 3 passed by the service manager is not a listening stream socket", d.log())

    @unittest.skipUnless(os.geteuid() == 0, "started as root only")
    def test_started_as_root_it_binds_then_becomes_its_user(self):
        # A port only root may bind, then [server] user/group: no uid 0 and
        # no capability left. Everything it writes is in a directory the
        # user may write.
        home = tempfile.mkdtemp(prefix="agd-drop-")
        self.addCleanup(shutil.rmtree, home, True)
        os.chmod(home, 0o777)
        low = socket.socket()
        low.bind(("127.0.0.1", 0))
        port = 0
        for candidate in range(900, 1000):  # a free port below 1024
            try:
                probe = socket.socket()
                probe.bind(("127.0.0.1", candidate))
                probe.close()
                port = candidate
                break
            except OSError:
                probe.close()
        low.close()
        self.assertTrue(port, "no free port below 1024")
        cfg = build_config(home, listen="127.0.0.1:%d" % port, server={"user": "nobody", "group": "nogroup"},
                           providers=[("oa", openai_provider(self.mock, [K1], "gpt-*"))])
        path = os.path.join(home, "drop.conf")
        with open(path, "w") as f:
            f.write(cfg)
        os.chmod(path, 0o644)  # a reload reads it as nobody
        os.chmod(self.tmp, 0o711)  # the notify socket in it stays reachable
        d = self.start_daemon(config_path=path)
        self.assertEqual(d.port, port)
        with open("/proc/%d/status" % d.proc.pid) as f:
            status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        self.assertEqual(status["Uid"].split(), ["65534"] * 4)
        self.assertEqual(status["Gid"].split()[:3], [str(grp.getgrnam("nogroup").gr_gid)] * 3)
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(status[cap].strip(), 16), 0, (cap, status[cap]))
        self.assertNotIn("0", status["Groups"].split())  # root's group gone; nobody's own
        self.assertEqual(set(status["Groups"].split()), {str(g.gr_gid) for g in grp.getgrall()
                                                         if "nobody" in g.gr_mem} | {str(grp.getgrnam("nogroup").gr_gid)})
        self.assertIn("running as nobody:nogroup (root dropped once the listeners were bound)", d.log())
        r = post(port, "/v1/chat/completions", chat_body("gpt-drop"))
        self.assertEqual(r.status, 200, r)
        # Its files are the user's: the request store, the ledger's state.
        d.wait_access_lines(1)
        self.assertEqual(d.cli("reload").returncode, 0)
        self.assertEqual(os.stat(os.path.join(home, "agd.db")).st_uid, 65534)

    def test_an_unknown_user_stops_the_start(self):
        if os.geteuid() != 0:
            self.skipTest("started as root only")
        d = self.start_daemon(self.cfg(server={"user": "no-such-user-here"}), wait=False)
        self.assertEqual(d.wait_exit(), 78, d.log())
        self.assertIn("server.user: no user named 'no-such-user-here'", d.log())

    def test_sighup_reload_adds_a_provider(self):
        d = self.start_daemon(self.cfg())
        self.assertAnthropicError(post(d.port, "/v1/messages", msgs_body("claude-x")), 404, "not_found_error")
        self.write_config(self.cfg(with_anthropic=True))
        n = d.notify.count()
        before_us = int(time.monotonic() * 1e6)
        d.send_signal(signal.SIGHUP)
        i, msg = d.notify.wait_for(lambda m: m.get("RELOADING") == "1", t(30), start=n, what="RELOADING=1")
        after_us = int(time.monotonic() * 1e6)
        self.assertRegex(msg.get("MONOTONIC_USEC", ""), r"^\d+$", msg)
        self.assertTrue(before_us <= int(msg["MONOTONIC_USEC"]) <= after_us,
                        "MONOTONIC_USEC is not CLOCK_MONOTONIC: %r" % msg)
        _, ready = d.notify.wait_for(lambda m: m.get("READY") == "1", t(30), start=i + 1, what="READY=1 after reload")
        self.assertIn("generation 2", ready.get("STATUS", ""))
        r = post(d.port, "/v1/messages", msgs_body("claude-x"), {"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["content"][0]["text"], expected_text(KA, "claude-x", 3))
        self.assertEqual(d.status_json()["generation"], 2)

    def test_reload_command_reports_the_new_generation(self):
        d = self.start_daemon(self.cfg())
        self.write_config(self.cfg(with_anthropic=True))
        r = d.cli("reload")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("reloaded: configuration generation 2 is live", r.stdout)
        self.assertEqual(post(d.port, "/v1/messages", msgs_body("claude-y")).status, 200)
        msgs = d.notify.messages
        kinds = [("RELOADING" if m.get("RELOADING") == "1" else "READY" if m.get("READY") == "1" else "?")
                 for m in msgs]
        self.assertEqual(kinds[-2:], ["RELOADING", "READY"], msgs)

    def test_keys_from_the_credentials_directory_and_reload(self):
        # systemd's LoadCredential= puts files in $CREDENTIALS_DIRECTORY: a
        # relative key_file is read there, and again by every reload.
        creds = os.path.join(self.tmp, "credentials")
        os.mkdir(creds, 0o700)
        keyfile = os.path.join(creds, "openai")

        def keys(*ks):
            with open(keyfile, "w") as f:
                f.write("# upstream keys\n" + "".join(k + "\n" for k in ks))
            os.chmod(keyfile, 0o400)

        keys("lc-file-key-5555")
        provider = openai_provider(self.mock, [], "gpt-*")
        del provider["key"]
        provider["key_file"] = "openai"
        cfg = build_config(self.tmp, providers=[("oa", provider)])
        d = self.start_daemon(cfg, env={"CREDENTIALS_DIRECTORY": creds})
        r = post(d.port, "/v1/chat/completions", chat_body("gpt-file"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], expected_text("lc-file-key-5555", "gpt-file", 3))
        os.chmod(keyfile, 0o600)
        keys("lc-file-key-6666")
        r = d.cli("reload")
        self.assertEqual(r.returncode, 0, r)
        r = post(d.port, "/v1/chat/completions", chat_body("gpt-file"))
        self.assertEqual(r.json()["choices"][0]["message"]["content"], expected_text("lc-file-key-6666", "gpt-file", 3))
        # A file others may read is refused; the reload keeps the old keys.
        os.chmod(keyfile, 0o644)
        r = d.cli("reload")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("may be read by other users", r.stdout + r.stderr)
        self.assertNotIn("lc-file-key-6666", r.stdout + r.stderr + d.log())
        r = post(d.port, "/v1/chat/completions", chat_body("gpt-file"))
        self.assertEqual(r.json()["choices"][0]["message"]["content"], expected_text("lc-file-key-6666", "gpt-file", 3))

    def test_reload_changes_client_auth_at_once(self):
        d = self.start_daemon(self.cfg())
        self.assertEqual(post(d.port, "/v1/chat/completions", chat_body("gpt-x")).status, 200)
        self.write_config(self.cfg().replace("mode = off", "mode = strict\nkey = lc-client-key-9999"))
        self.assertEqual(d.cli("reload").returncode, 0)
        self.assertOpenAIError(post(d.port, "/v1/chat/completions", chat_body("gpt-x")), 401)
        r = post(d.port, "/v1/chat/completions", chat_body("gpt-x"), {"Authorization": "Bearer lc-client-key-9999"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(d.status_json()["auth_mode"], "strict")

    def test_broken_reload_keeps_the_previous_configuration(self):
        d = self.start_daemon(self.cfg())
        path = d.config_path
        broken = self.cfg(with_anthropic=True) + "\n[routing]\nstrategy = sideways\n"
        self.write_config(broken)
        r = d.cli("reload")
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("still running the previous configuration", r.stderr + r.stdout)
        self.assertRegex(r.stderr + r.stdout, r"%s:\d+: routing\.strategy" % re.escape(path))
        # The old configuration still serves, the new provider is not there.
        self.assertEqual(post(d.port, "/v1/chat/completions", chat_body("gpt-x")).status, 200)
        self.assertEqual(post(d.port, "/v1/messages", msgs_body("claude-x")).status, 404)
        self.assertEqual(d.status_json()["generation"], 1)
        # Same through SIGHUP: reported to systemd, daemon keeps serving.
        n = d.notify.count()
        d.send_signal(signal.SIGHUP)
        _, ready = d.notify.wait_for(lambda m: m.get("READY") == "1", t(30), start=n, what="READY after failed reload")
        self.assertIn("previous", ready.get("STATUS", ""), ready)
        self.assertTrue(d.alive())
        self.assertEqual(post(d.port, "/v1/chat/completions", chat_body("gpt-x")).status, 200)
        self.assertEqual(d.status_json()["generation"], 1)

    def test_cooldown_survives_reload(self):
        routing = {"strategy": "fill-first", "cooldown": "1s"}
        d = self.start_daemon(self.cfg(routing=routing))
        r = post(d.port, "/v1/chat/completions", chat_body("gpt-x+fail_cred=%s+retry_after=600+quota=key" % K1))
        self.assertEqual(harness.cred_of(r.json()["choices"][0]["message"]["content"]), K2)
        self.assertEqual(d.credential_state(K1)["state"], "cooldown")
        self.write_config(self.cfg(with_anthropic=True, routing=routing))
        self.assertEqual(d.cli("reload").returncode, 0)
        st = d.credential_state(K1)
        self.assertEqual(st["state"], "cooldown", st)
        self.assertGreater(st["cooldown_remaining_s"], 300, st)
        self.mock.clear()
        r = post(d.port, "/v1/chat/completions", chat_body("gpt-x"))
        self.assertEqual(harness.cred_of(r.json()["choices"][0]["message"]["content"]), K2)
        self.assertEqual([x["credential"] for x in self.mock.requests()], [K2])

    def test_request_in_flight_keeps_its_configuration(self):
        d = self.start_daemon(self.cfg())
        model = "gpt-x+chunks=6+pace=300ms"
        reader = SSEReader(d.port, "/v1/chat/completions", chat_body(model, stream=True))
        self.addCleanup(reader.close)
        while "cred=" not in (reader.next_event() or harness.Event(None, "cred=")).data:
            pass
        # New generation: the openai provider is gone.
        self.write_config(build_config(self.tmp, providers=[("an", anthropic_provider(self.mock, [KA], "claude-*"))]))
        self.assertEqual(d.cli("reload").returncode, 0)
        reader.read_all()
        self.assertIsNone(reader.error)
        self.assertEqual(reader.events[-1].data, "[DONE]")
        self.assertEqual(harness.text_of_chat_events(reader.events), expected_text(K1, model, 6))
        self.assertOpenAIError(post(d.port, "/v1/chat/completions", chat_body("gpt-x")), 404)

    def test_reload_with_changed_listeners_keeps_serving_and_warns(self):
        # man antigravityd(8): server.listen changes take effect at the next
        # restart (a warning is logged); the rest of the file applies now.
        d = self.start_daemon(self.cfg())
        sock_path = os.path.join(self.tmp, "api.sock")
        self.write_config(self.cfg(with_anthropic=True).replace(
            "listen = 127.0.0.1:0\n", "listen = 127.0.0.1:0\nlisten = unix:%s\n" % sock_path))
        r = d.cli("reload")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("generation 2", r.stdout)
        d.wait_log(r"warning.*server\.listen")
        self.assertEqual(get(d.port, "/health").status, 200)
        self.assertEqual(post(d.port, "/v1/messages", msgs_body("claude-x")).status, 200)
        self.assertEqual(d.status_json()["listeners"], ["127.0.0.1:%d" % d.port])

    # -- PID file ------------------------------------------------------------------------

    def test_second_instance_is_refused_by_the_pid_file_lock(self):
        d = self.start_daemon(self.cfg())
        pid_path = os.path.join(self.tmp, "agd.pid")
        with open(pid_path) as f:
            self.assertEqual(int(f.read().strip()), d.proc.pid)
        other = self.cfg(server={"control_socket": os.path.join(self.tmp, "ctl2.sock")})
        d2 = self.start_daemon(other, name="second", wait=False)
        rc = d2.wait_exit()
        # man antigravityd(8): status 75 and "antigravityd is already
        # running (PID <pid> holds <path>)".
        self.assertEqual(rc, 75, d2.log())
        self.assertIn("already running (PID %d holds %s)" % (d.proc.pid, pid_path), d2.log())
        self.assertFalse(any(m.get("READY") == "1" for m in d2.notify.messages))
        self.assertTrue(d.alive())
        self.assertEqual(get(d.port, "/health").status, 200)
        with open(pid_path) as f:
            self.assertEqual(int(f.read().strip()), d.proc.pid)

    def test_second_instance_on_the_same_control_socket_is_refused(self):
        d = self.start_daemon(self.cfg())
        other = self.cfg(server={"pid_file": os.path.join(self.tmp, "other.pid")})
        d2 = self.start_daemon(other, name="second", wait=False)
        self.assertEqual(d2.wait_exit(), 69, d2.log())
        self.assertIn("control socket %s is in use" % os.path.join(self.tmp, "ctl.sock"), d2.log())
        # The first daemon is untouched and still reachable on its socket.
        self.assertEqual(d.status_json()["pid"], d.proc.pid)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "other.pid")))

    def test_pid_file_and_control_socket_removed_on_exit(self):
        d = self.start_daemon(self.cfg())
        pid_path = os.path.join(self.tmp, "agd.pid")
        ctl = os.path.join(self.tmp, "ctl.sock")
        self.assertTrue(os.path.exists(pid_path))
        self.assertTrue(os.path.exists(ctl))
        r = d.cli("stop")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("antigravityd stopped", r.stdout)
        self.assertEqual(d.wait_exit(), 0)
        self.assertFalse(os.path.exists(pid_path))
        self.assertFalse(os.path.exists(ctl))

    def test_pid_file_option_overrides_config(self):
        alt = os.path.join(self.tmp, "alt", "other.pid")
        d = self.start_daemon(self.cfg(), extra_args=["--pid-file", alt])
        with open(alt) as f:
            self.assertEqual(int(f.read().strip()), d.proc.pid)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "agd.pid")))

    def test_control_commands_without_a_daemon(self):
        path = self.write_config(self.cfg(), "nodaemon.conf")
        # status: LSB's "not running" (3); the others: unreachable (69).
        for cmd, code in (("status", 3), ("reload", 69), ("stop", 69)):
            with self.subTest(cmd=cmd):
                r = self.run_cli(cmd, "-c", path)
                self.assertEqual(r.returncode, code, r)

    # -- stopping --------------------------------------------------------------------------

    def test_sigterm_lets_a_stream_finish_and_refuses_new_connections(self):
        d = self.start_daemon(self.cfg())
        chunks = 30
        model = "gpt-x+chunks=%d+pace=200ms" % chunks
        reader = SSEReader(d.port, "/v1/chat/completions", chat_body(model, stream=True))
        self.addCleanup(reader.close)
        while True:
            ev = reader.next_event()
            self.assertIsNotNone(ev)
            if "cred=" in ev.data:
                break
        n = d.notify.count()
        d.send_signal(signal.SIGTERM)
        d.notify.wait_for(lambda m: m.get("STOPPING") == "1", t(30), start=n, what="STOPPING=1")

        def refused():
            try:
                harness.connect(d.port, timeout=t(5)).close()
                return False
            except ConnectionRefusedError:
                return True
            except ConnectionResetError:
                # The handshake completed in the listener's queue just as the
                # listener closed: the kernel resets it. Not yet "refused".
                return False
        wait_until(refused, t(30), "new connections to be refused")
        self.assertTrue(d.alive(), "the daemon exited before its stream finished")
        self.assertFalse(reader.eof, "the stream ended before the daemon stopped accepting")
        reader.read_all()
        self.assertIsNone(reader.error, reader.events[-3:])
        self.assertEqual(reader.events[-1].data, "[DONE]")
        self.assertEqual(harness.text_of_chat_events(reader.events), expected_text(K1, model, chunks))
        self.assertEqual(d.wait_exit(), 0, d.log())

    def test_sigint_is_a_graceful_stop(self):
        d = self.start_daemon(self.cfg())
        d.send_signal(signal.SIGINT)
        self.assertEqual(d.wait_exit(), 0, d.log())

    def test_shutdown_timeout_cuts_long_streams(self):
        d = self.start_daemon(self.cfg(server={"shutdown_timeout": "1s"}))
        before = self.mock.stats()["streams_cancelled"]
        reader = SSEReader(d.port, "/v1/chat/completions", chat_body("gpt-x+chunks=3+hold=600s", stream=True))
        self.addCleanup(reader.close)
        while True:
            ev = reader.next_event()
            self.assertIsNotNone(ev, "stream ended before its first piece")
            if "cred=" in ev.data:
                break
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(), 0, d.log())
        reader.read_all()
        self.assertNotIn("[DONE]", [e.data for e in reader.events])
        wait_until(lambda: self.mock.stats()["streams_cancelled"] > before, t(30),
                   "the upstream stream to be cancelled")

    def launch_detached(self, path, env=None):
        """`run --daemon`: returns (exit status of the launcher, its stderr so far)."""
        err_path = os.path.join(self.tmp, "launcher.stderr")
        with open(err_path, "wb") as err, open(os.devnull, "wb") as out:
            p = subprocess.Popen([AGD_BIN, "run", "-c", path, "--daemon"], stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err, cwd=self.tmp, env=env)
            try:
                rc = p.wait(t(60))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail("run --daemon did not return")
        with open(err_path, errors="replace") as f:
            return rc, f.read()

    def test_daemon_mode(self):
        path = self.write_config(self.cfg(), "bg.conf")
        pid_path = os.path.join(self.tmp, "agd.pid")

        def cleanup():
            try:
                with open(pid_path) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.addCleanup(cleanup)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        # The detached daemon keeps logging to the stderr it was given: use
        # a file, not a pipe (nobody would ever see EOF on it).
        rc, err = self.launch_detached(path, env)
        self.assertEqual(rc, 0, err)
        with open(pid_path) as f:
            pid = int(f.read().strip())
        self.assertTrue(running(pid))
        self.assertNotEqual(pid, os.getpid())
        st = subprocess.run([AGD_BIN, "status", "--json", "-c", path], capture_output=True, text=True,
                            timeout=t(60))
        self.assertEqual(st.returncode, 0, st)
        status = json.loads(st.stdout)
        self.assertEqual(status["pid"], pid)
        port = int(status["listeners"][0].rsplit(":", 1)[1])
        self.assertEqual(post(port, "/v1/chat/completions", chat_body("gpt-bg")).status, 200)
        stop = subprocess.run([AGD_BIN, "stop", "-c", path], capture_output=True, text=True, timeout=t(90))
        self.assertEqual(stop.returncode, 0, stop)
        self.assertIn("antigravityd stopped", stop.stdout)
        self.assertFalse(os.path.exists(pid_path))
        self.assertFalse(running(pid), "the detached daemon is still running after stop")
        # The detached daemon logged to the launcher's stderr all along.
        for p in (st, stop):
            harness.check_no_sanitizer_report(p.stderr, " ".join(p.args[1:]))
        with open(os.path.join(self.tmp, "launcher.stderr"), errors="replace") as f:
            harness.check_no_sanitizer_report(f.read(), "the detached daemon")

    def test_daemon_mode_reports_startup_failure(self):
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        self.addCleanup(blocker.close)
        text = self.cfg().replace("listen = 127.0.0.1:0", "listen = 127.0.0.1:%d" % blocker.getsockname()[1])
        path = self.write_config(text, "bgfail.conf")
        rc, err = self.launch_detached(path)
        self.assertNotEqual(rc, 0, err)
        self.assertIn(str(blocker.getsockname()[1]), err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "agd.pid")))


if __name__ == "__main__":
    harness.main()
