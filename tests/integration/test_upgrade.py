#!/usr/bin/env python3
"""Binary upgrade (`antigravityd upgrade`, SIGUSR2): the running daemon
starts the binary at its path, hands it the listening sockets (client,
unix, metrics), the control socket and the PID file, and drains. Under
load no request fails; a successor that cannot start leaves the old daemon
serving with its PID file."""

import http.client
import json
import os
import signal
import socket
import threading
import unittest

import harness
from harness import AgdTestCase, build_config, openai_provider, t, wait_until


def process_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


class Load:
    """Threads sending chat requests until stopped: some on a new connection
    each time, some on kept-alive connections (reconnecting when an answer
    says Connection: close, and retrying a request once when a reused idle
    connection turns out closed before any byte of an answer, as HTTP
    clients do). Every other failure is counted."""

    def __init__(self, port, fresh=2, kept=2):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.failures = []
        self.retried = 0
        self.threads = [threading.Thread(target=self._fresh, args=(i,), daemon=True) for i in range(fresh)]
        self.threads += [threading.Thread(target=self._kept, args=(i,), daemon=True) for i in range(kept)]
        for th in self.threads:
            th.start()

    def body(self, i, n):
        return json.dumps({"model": "gpt-x", "stream": n % 2 == 0,
                           "messages": [{"role": "user", "content": "load %d %d" % (i, n)}]})

    def _check(self, status, data, stream):
        if status != 200:
            return "status %d: %r" % (status, data[:200])
        if stream and not data.rstrip().endswith(b"data: [DONE]"):
            return "stream cut: %r" % data[-200:]
        if not stream and b"chat.completion" not in data:
            return "bad body: %r" % data[:200]
        return None

    def _record(self, problem):
        with self.lock:
            if problem:
                self.failures.append(problem)
            else:
                self.ok += 1

    def _fresh(self, i):
        n = 0
        while not self.stop.is_set():
            n += 1
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=t(30))
            try:
                conn.request("POST", "/v1/chat/completions", body=self.body(i, n),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                self._record(self._check(r.status, r.read(), n % 2 == 0))
            except (OSError, http.client.HTTPException) as e:
                self._record("fresh connection: %r" % e)
            finally:
                conn.close()

    def _kept(self, i):
        n = 0
        conn, used = None, False
        while not self.stop.is_set():
            n += 1
            for attempt in (0, 1):
                if conn is None:
                    conn, used = http.client.HTTPConnection("127.0.0.1", self.port, timeout=t(30)), False
                try:
                    conn.request("POST", "/v1/chat/completions", body=self.body(100 + i, n),
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                    self._record(self._check(r.status, data, n % 2 == 0))
                    used = True
                    if (r.getheader("connection") or "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                    conn.close()
                    conn = None
                    if used and attempt == 0:
                        with self.lock:
                            self.retried += 1
                        continue
                    self._record("kept-alive connection: %r" % e)
                    break
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = None
                    self._record("kept-alive connection: %r" % e)
                    break
        if conn:
            conn.close()

    def count(self):
        with self.lock:
            return self.ok

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(t(60))


class Upgrade(AgdTestCase):

    def setUp(self):
        super().setUp()
        self.mock = self.start_mock()
        self.unix = os.path.join(self.tmp, "api.sock")
        self.metrics_port = harness.free_port_nobody_listens_on()
        self.config = build_config(self.tmp, listen=["127.0.0.1:0", "unix:" + self.unix],
                                   metrics={"listen": "127.0.0.1:%d" % self.metrics_port},
                                   providers=[("oa", openai_provider(self.mock, ["k-upgrade-1"], "gpt-*"))])
        self.d = self.start_daemon(self.config)
        self.pid_file = os.path.join(self.tmp, "agd.pid")
        self.addCleanup(self.stop_successor)

    def stop_successor(self):
        # The processes after the first are not the harness's child: stopped here.
        if self.d.alive():
            return
        r = self.d.cli("stop")
        if r.returncode not in (0, 69, 75):
            print("stop: rc=%d %s %s" % (r.returncode, r.stdout, r.stderr))

    def pid_in_file(self):
        """The PID the file holds; None while a new holder is writing it."""
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def unix_health(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(t(30))
        try:
            s.connect(self.unix)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return harness.recv_all(s)
        finally:
            s.close()

    def test_upgrade_under_load_loses_nothing(self):
        first = self.d.proc.pid
        self.assertEqual(self.pid_in_file(), first)
        load = Load(self.d.port)
        try:
            wait_until(lambda: load.count() >= 50, t(60), "50 requests before the upgrade")
            r = self.d.cli("upgrade")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertRegex(r.stdout, r"^upgraded: PID \d+ serves; PID %d drains" % first)
            second = int(r.stdout.split()[2])
            self.assertNotEqual(second, first)
            # The service manager is told to follow the new process.
            self.d.notify.wait_for(lambda m: m.get("MAINPID") == str(second), t(30), what="MAINPID=%d" % second)
            self.assertEqual(self.d.wait_exit(), 0)  # the old one drained and exited cleanly
            self.assertEqual(self.pid_in_file(), second)
            status = self.d.status_json()
            self.assertEqual(status["pid"], second)
            served = load.count()
            wait_until(lambda: load.count() >= served + 50, t(60), "50 requests after the upgrade")

            # Again, from the successor, by signal this time.
            os.kill(second, signal.SIGUSR2)
            wait_until(lambda: self.pid_in_file() not in (None, second), t(60), "the third process in the PID file")
            third = self.pid_in_file()
            wait_until(lambda: not process_alive(second), t(60), "the second process to exit")
            served = load.count()
            wait_until(lambda: load.count() >= served + 50, t(60), "50 requests after the second upgrade")
        finally:
            load.finish()
        self.assertEqual(load.failures, [], "%d ok, %d retried" % (load.ok, load.retried))
        self.assertEqual(self.d.status_json()["pid"], third)
        # The other sockets moved too: the unix listener, the metrics port.
        self.assertTrue(self.unix_health().startswith(b"HTTP/1.1 200 "))
        m = harness.get(self.metrics_port, "/metrics")
        self.assertEqual(m.status, 200)
        self.assertIn(b"antigravityd_requests_total", m.body)
        # Each answer came from one upstream request: none lost, none sent twice.
        self.assertEqual(self.mock.stats()["requests"], load.ok)

        # The last one stops as usual, and cleans up what it took over.
        r = self.d.cli("stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.pid_file))
        self.assertFalse(os.path.exists(self.unix))

    def test_a_successor_that_cannot_start_leaves_the_old_one_serving(self):
        first = self.d.proc.pid
        # The successor reads the file again: broken, it exits 78 before serving.
        with open(self.d.config_path, "a") as f:
            f.write("\n[bogus]\n")
        r = self.d.cli("upgrade")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("upgrade failed", r.stderr)
        self.assertIn("exited with status 78", r.stderr)
        self.assertTrue(self.d.alive())
        self.assertEqual(self.d.status_json()["pid"], first)
        self.assertEqual(self.pid_in_file(), first)  # taken back
        self.assertEqual(harness.get(self.d.port, "/healthz").status, 200)
        self.assertTrue(self.unix_health().startswith(b"HTTP/1.1 200 "))
        self.assertEqual(harness.get(self.metrics_port, "/metrics").status, 200)
        # Repaired, the next upgrade goes through.
        with open(self.d.config_path, "w") as f:
            f.write(self.config)
        r = self.d.cli("upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.d.wait_exit(), 0)
        self.assertEqual(harness.get(self.d.port, "/healthz").status, 200)


class UpgradeActivated(AgdTestCase):

    def test_sockets_systemd_passed_go_to_the_successor(self):
        mock = self.start_mock()
        tcp, port, unx, unix_path = harness.activation_sockets(self.tmp)
        self.addCleanup(tcp.close)
        self.addCleanup(unx.close)
        cfg = build_config(self.tmp, listen="127.0.0.1:%d" % port,
                           providers=[("oa", openai_provider(mock, ["k-act"], "gpt-*"))])
        d = self.start_daemon(cfg, listen_fds=[tcp.fileno(), unx.fileno()])
        # The successor is not the harness's child: stopped here, even if the test fails.
        self.addCleanup(d.cli, "stop")
        r = d.cli("upgrade")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(d.wait_exit(), 0)
        self.assertEqual(sorted(d.status_json()["listeners"]), sorted(["127.0.0.1:%d" % port, "unix:" + unix_path]))
        self.assertEqual(harness.get(port, "/healthz").status, 200)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(t(30))
        c.connect(unix_path)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertTrue(harness.recv_all(c).startswith(b"HTTP/1.1 200"))
        c.close()
        # Still systemd's socket file: the successor leaves it when it stops.
        self.assertEqual(d.cli("stop").returncode, 0)
        self.assertTrue(os.path.exists(unix_path))


if __name__ == "__main__":
    harness.main()
