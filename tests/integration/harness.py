"""Integration-test harness for antigravityd.

Starts agd-mock-upstream and antigravityd in a private temporary directory,
waits for readiness (the mock's port file / "LISTENING" line, the daemon's
sd_notify READY=1 on a NOTIFY_SOCKET owned by the test), and offers request
helpers: plain HTTP, an SSE reader, raw sockets for chunked uploads and
aborted connections, and the mock's introspection endpoints.

Only the Python standard library is used.

Environment:
  AGD_BIN            the antigravityd executable (default: build/src/antigravityd)
  AGD_MOCK           the mock upstream (default: build/tools/mock-upstream/agd-mock-upstream)
  AGD_SCALE=small    smaller scale tests (for sanitizer builds)
  AGD_TIMEOUT_SCALE  multiplies every wait (default 1; e.g. 3 under ASan)
"""

import hashlib
import http.client
import http.server
import json
import os
import re
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

AGD_BIN = os.environ.get("AGD_BIN") or os.path.join(ROOT, "build", "src", "antigravityd")
AGD_MOCK = os.environ.get("AGD_MOCK") or os.path.join(
    ROOT, "build", "tools", "mock-upstream", "agd-mock-upstream")
SCALE_SMALL = os.environ.get("AGD_SCALE", "") == "small"
TIMEOUT_SCALE = float(os.environ.get("AGD_TIMEOUT_SCALE", "1") or "1")
# AGD_UPSTREAM_TLS=1 puts a TLS terminator (tls_support.py) in front of every
# mock: the suites then run against https upstreams, trusted through ca_file.
UPSTREAM_TLS = os.environ.get("AGD_UPSTREAM_TLS", "") == "1"
_upstream_pki = {}


def upstream_pki():
    """The CA and leaf the AGD_UPSTREAM_TLS terminators use, made once."""
    if not _upstream_pki:
        import tls_support
        d = tempfile.mkdtemp(prefix="agd-pki-")
        ca, cert, key = tls_support.make_pki(d)
        _upstream_pki.update(ca=ca, cert=cert, key=key)
    return _upstream_pki


def t(seconds):
    """A generous timeout, scaled for slow (sanitizer) builds."""
    return seconds * TIMEOUT_SCALE


class HarnessError(AssertionError):
    pass


def read_text(path):
    """A process's log so far ("" when it has none yet)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def wait_until(predicate, timeout, what, interval=0.02):
    """Waits for a condition that another process makes true (no fixed sleeps:
    returns as soon as the predicate holds). Raises HarnessError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def fingerprint(key):
    """What the daemon logs instead of a key: 8 hex digits of SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def activation_sockets(tmpdir, name="activated.sock"):
    """What a socket unit hands over: a TCP socket on 127.0.0.1 and a unix
    socket, both bound and listening. Returns (tcp, port, unix, unix_path);
    the caller closes them."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    unix_path = os.path.join(tmpdir, name)
    unx = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unx.bind(unix_path)
    unx.listen(16)
    return tcp, tcp.getsockname()[1], unx, unix_path


def free_port_nobody_listens_on():
    """A port the kernel just handed out and nobody listens on any more
    (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sanitizer_runtime(pid):
    """"thread" or "address" when the process runs with ThreadSanitizer's or
    AddressSanitizer's runtime (seen in its memory map), else None: memory
    figures of a sanitized process include the sanitizer's own."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    if "libtsan" in maps:
        return "thread"
    if "libasan" in maps:
        return "address"
    return None


def rss_bytes(pid):
    """Resident set size of a process."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise HarnessError("no VmRSS for %d" % pid)


def max_rx_queue_towards(port):
    """Largest receive queue (unread bytes) of the established IPv4 TCP
    sockets connected to 127.0.0.1:port: how much a client of that port
    (e.g. the daemon, towards the mock) has left unread."""
    best = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            rem_port = int(cols[2].split(":")[1], 16)
            if rem_port != port or cols[3] != "01":
                continue
            best = max(best, int(cols[4].split(":")[1], 16))
    return best


class SilentUpstream:
    """A TCP listener that completes handshakes (kernel backlog) but never
    answers: an upstream that times out before the first byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


# --------------------------------------------------------------------------
# Processes


class Mock:
    """agd-mock-upstream on 127.0.0.1:<kernel-picked port>."""

    def __init__(self, tmpdir, threads=None):
        self.tmpdir = tmpdir
        self.port_file = os.path.join(tmpdir, "mock.port")
        self.log_path = os.path.join(tmpdir, "mock.stderr")
        args = [AGD_MOCK, "--listen", "127.0.0.1:0", "--port-file", self.port_file]
        if threads:
            args += ["--threads", str(threads)]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log)
        try:
            line = self._read_line(t(30))
            m = re.match(rb"LISTENING (\d+)", line)
            if not m:
                raise HarnessError("mock did not start: %r\n%s" % (line, self.log()))
            with open(self.port_file) as f:
                self.port = int(f.read().strip())
            if self.port != int(m.group(1)):
                raise HarnessError("mock port file %d != LISTENING %s" % (self.port, m.group(1)))
        except BaseException:
            self.stop()
            raise
        self.base = "http://127.0.0.1:%d" % self.port
        self.terminator = None
        if UPSTREAM_TLS:
            import tls_support
            pki = upstream_pki()
            self.terminator = tls_support.TlsTerminator(pki["cert"], pki["key"], self.port)
            self.base = "https://127.0.0.1:%d" % self.terminator.port

    def _read_line(self, timeout):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError("mock: no LISTENING line within %.0f s\n%s" % (timeout, self.log()))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 256)
                if not chunk:
                    raise HarnessError("mock exited before listening (rc=%s)\n%s"
                                       % (self.proc.poll(), self.log()))
                buf += chunk
        return buf

    def log(self):
        return read_text(self.log_path)

    def _call(self, method, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=t(60))
        try:
            conn.request(method, path)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                raise HarnessError("mock %s %s -> %d %r" % (method, path, r.status, body[:200]))
            return json.loads(body)
        finally:
            conn.close()

    def requests(self):
        """The recorded requests (last 200), oldest first."""
        return self._call("GET", "/__mock/requests")

    def clear(self):
        self._call("DELETE", "/__mock/requests")

    def stats(self):
        return self._call("GET", "/__mock/stats")

    def reset_stats(self):
        return self._call("DELETE", "/__mock/stats")

    def stop(self):
        if self.terminator:
            self.terminator.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(t(10))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notify socket."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)  # as systemd's: a daemon that dropped root still reaches it
        self.sock.settimeout(0.2)
        self.messages = []  # list of dicts, in arrival order
        self.raw = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            fields = {}
            for line in data.decode(errors="replace").split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    fields[k] = v
            with self.cond:
                self.messages.append(fields)
                self.raw.append(data)
                self.cond.notify_all()

    def wait_for(self, predicate, timeout, start=0, what="notification", alive=None):
        """Waits for a message (at index >= start) satisfying predicate;
        returns (index, message). `alive` is polled: when it returns False the
        wait fails at once."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    if predicate(self.messages[i]):
                        return i, self.messages[i]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError("timed out waiting for %s; got %r" % (what, self.messages))
                if alive is not None and not alive():
                    raise HarnessError("process exited while waiting for %s; got %r"
                                       % (what, self.messages))
                self.cond.wait(min(left, 0.2))

    def count(self):
        with self.cond:
            return len(self.messages)

    def close(self):
        self.closed = True
        self.thread.join(2)
        self.sock.close()


ACCESS_RE = re.compile(r"\baccess id=\S+.*")


class Daemon:
    """antigravityd run -c CONFIG, with NOTIFY_SOCKET in the test's temp dir."""

    def __init__(self, tmpdir, config_path, name="agd", extra_args=(), env=None, listen_fds=()):
        self.tmpdir = tmpdir
        self.config_path = config_path
        self.log_path = os.path.join(tmpdir, name + ".stderr")
        self.out_path = os.path.join(tmpdir, name + ".stdout")
        self.notify = NotifySocket(os.path.join(tmpdir, name + ".notify"))
        environ = dict(os.environ)
        environ.pop("JOURNAL_STREAM", None)
        environ["NOTIFY_SOCKET"] = self.notify.path
        if env:
            environ.update(env)
        self._err = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        argv = [AGD_BIN, "run", "-c", config_path] + list(extra_args)
        if listen_fds:
            # Socket activation as systemd does it: the sockets as descriptors
            # 3, 4, ..., LISTEN_FDS their count, LISTEN_PID the daemon's own
            # (the shell's, which exec keeps).
            # (Through high numbers first, so that any order is fine.)
            moves = "".join("exec %d<&%d %d<&-; " % (200 + i, fd, fd) for i, fd in enumerate(listen_fds))
            moves += "".join("exec %d<&%d %d<&-; " % (3 + i, 200 + i, 200 + i) for i in range(len(listen_fds)))
            argv = ["bash", "-c", moves + 'LISTEN_FDS=%d LISTEN_PID=$$ exec "$@"' % len(listen_fds), "bash"] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                     env=environ, cwd=tmpdir, pass_fds=tuple(listen_fds))
        self.port = None
        self.returncode = None

    # -- readiness ---------------------------------------------------------

    def alive(self):
        return self.proc.poll() is None

    def wait_ready(self, timeout=None):
        timeout = t(30) if timeout is None else timeout
        try:
            _, msg = self.notify.wait_for(lambda m: m.get("READY") == "1", timeout,
                                          what="READY=1", alive=self.alive)
        except HarnessError as e:
            raise HarnessError("%s\n--- daemon stderr ---\n%s" % (e, self.log())) from None
        self.ready_message = msg
        status = self.status_json()
        listeners = status.get("listeners") or []
        for l in listeners:
            m = re.match(r"^127\.0\.0\.1:(\d+)$", l)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise HarnessError("no 127.0.0.1 listener in status: %r" % status)
        return msg

    # -- control -------------------------------------------------------------

    def cli(self, *args, timeout=None):
        """Runs `antigravityd ARGS -c CONFIG`; returns CompletedProcess (text).
        A sanitizer report in its stderr fails the test."""
        r = subprocess.run([AGD_BIN] + list(args) + ["-c", self.config_path],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=t(60) if timeout is None else timeout, cwd=self.tmpdir)
        check_no_sanitizer_report(r.stderr, "antigravityd " + " ".join(args))
        return r

    def status_json(self):
        r = self.cli("status", "--json")
        if r.returncode != 0:
            raise HarnessError("status --json failed rc=%d\nstdout=%s\nstderr=%s\n--- daemon ---\n%s"
                               % (r.returncode, r.stdout, r.stderr, self.log()))
        return json.loads(r.stdout)

    def credential_state(self, key):
        """The status entry of the credential whose key is `key`."""
        fp = fingerprint(key)
        for p in self.status_json()["providers"]:
            for c in p["credentials"]:
                if c["fingerprint"] == fp:
                    return c
        raise HarnessError("credential %s not in status" % fp)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=None):
        try:
            self.returncode = self.proc.wait(t(60) if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("daemon did not exit in time\n%s" % self.log()) from None
        return self.returncode

    def stop(self):
        """Cleanup: SIGTERM, then SIGKILL if it lingers. Never raises.
        Returns a problem description, or None: the exit status when this
        call had to stop the daemon and it did not exit 0 (e.g. killed after
        hanging, or LeakSanitizer's exit status)."""
        problem = None
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(t(40))
                    if rc != 0:
                        problem = "daemon exited with status %d on SIGTERM" % rc
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
                    problem = "daemon did not exit within %.0f s of SIGTERM (killed)" % t(40)
        finally:
            self.notify.close()
            self._err.close()
            self._out.close()
        return problem

    def sanitizer_reports(self):
        return sanitizer_reports(self.log())

    # -- log -------------------------------------------------------------------

    def log(self):
        return read_text(self.log_path)

    def access_lines(self):
        return [m.group(0) for m in ACCESS_RE.finditer(self.log())]

    def wait_access_lines(self, n, timeout=None):
        """The log is written by a logger thread: wait for n access lines."""
        wait_until(lambda: len(self.access_lines()) >= n, t(30) if timeout is None else timeout,
                   "%d access log lines" % n)
        return self.access_lines()

    def wait_log(self, pattern, timeout=None):
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.log()), t(30) if timeout is None else timeout,
                          "log line matching %r" % pattern)


SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: "
                          r"|WARNING: ThreadSanitizer")


def sanitizer_reports(text):
    """Sanitizer reports in a log (a sanitizer build writes them to stderr)."""
    m = SANITIZER_RE.search(text)
    return text[max(0, m.start() - 200):m.start() + 4000] if m else None


def check_no_sanitizer_report(text, what):
    """Raises HarnessError when `text` (the stderr of `what`) holds a
    sanitizer report: for processes other than the Daemon and Mock objects,
    whose logs the test case checks when it stops them."""
    report = sanitizer_reports(text)
    if report:
        raise HarnessError("sanitizer report in the stderr of %s:\n%s" % (what, report))


def parse_access(line):
    """`access k=v k="quoted v" ...` -> dict."""
    out = {}
    for m in re.finditer(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[m.group(1)] = v
    return out


def parse_client_setup(text):
    """What `antigravityd client-setup` printed, as (env, files): the
    exported variables, and each file block's body by path. Fails on any
    line that is neither a comment, blank, an export nor inside a block."""
    env, files = {}, {}
    block = None
    for line in text.split("\n"):
        if block is not None:
            if line == "# ---- end ----":
                files[block[0]] = "\n".join(block[1])
                block = None
            else:
                block[1].append(line)
        elif line.startswith("# ---- ") and line.endswith(" ----"):
            block = (line[len("# ---- "):-len(" ----")], [])
        elif line.startswith("export "):
            words = shlex.split(line)
            assert len(words) == 2 and "=" in words[1], "not export NAME=value: %r" % line
            name, value = words[1].split("=", 1)
            env[name] = value
        else:
            assert line == "" or line.startswith("#"), "unexpected line %r" % line
    assert block is None, "a file block is not closed:\n" + text
    return env, files


# --------------------------------------------------------------------------
# Configuration


def ini(sections):
    """sections: list of (section name, list of (key, value)) -> INI text."""
    lines = []
    for name, items in sections:
        lines.append("[%s]" % name)
        for k, v in items:
            lines.append("%s = %s" % (k, v))
        lines.append("")
    return "\n".join(lines)


def _items(d):
    out = []
    for k, v in (d or {}).items():
        if isinstance(v, (list, tuple)):
            out.extend((k, x) for x in v)
        else:
            out.append((k, v))
    return out


def build_config(tmpdir, server=None, auth=None, access=None, routing=None, providers=None,
                 listen="127.0.0.1:0", clients=None, log=None, metrics=None):
    """INI text. server/auth/access/routing/log/metrics: dict key -> value or
    list (repeatable). providers, clients: list of (name, dict). The request
    store and the state directory (the credential ledger) are in the test's
    temp dir unless log or server say otherwise."""
    srv = {"listen": listen, "workers": "2", "log_level": "info",
           "pid_file": os.path.join(tmpdir, "agd.pid"),
           "control_socket": os.path.join(tmpdir, "ctl.sock"),
           "state_dir": os.path.join(tmpdir, "state")}
    srv.update(server or {})
    au = {"mode": "off"}
    au.update(auth or {})
    sections = [("server", _items(srv)), ("auth", _items(au))]
    if access:
        sections.append(("access", _items(access)))
    if routing:
        sections.append(("routing", _items(routing)))
    lg = {"database": os.path.join(tmpdir, "agd.db")}
    lg.update(log or {})
    sections.append(("log", _items(lg)))
    if metrics:
        sections.append(("metrics", _items(metrics)))
    for name, c in clients or []:
        sections.append(("client." + name, _items(c)))
    # AGD_HTTP_CLIENT=libcurl runs a suite with every provider on libcurl
    # (http_client = libcurl) instead of the native HTTP/1.1 client.
    forced = os.environ.get("AGD_HTTP_CLIENT")
    for name, p in providers or []:
        if forced and "http_client" not in p:
            p = dict(p, http_client=forced)
        if UPSTREAM_TLS and str(p.get("base_url", "")).startswith("https://") and "ca_file" not in p:
            p = dict(p, ca_file=upstream_pki()["ca"])
        sections.append(("provider." + name, _items(p)))
    return ini(sections)


def openai_provider(mock_or_url, keys, models, api=None):
    base = mock_or_url if isinstance(mock_or_url, str) else mock_or_url.base
    p = {"type": "openai", "base_url": base + "/v1", "key": list(keys), "models": models}
    if api:
        p["api"] = api
    return p


def anthropic_provider(mock_or_url, keys, models):
    base = mock_or_url if isinstance(mock_or_url, str) else mock_or_url.base
    return {"type": "anthropic", "base_url": base, "key": list(keys), "models": models}


def gemini_provider(mock_or_url, keys, models):
    base = mock_or_url if isinstance(mock_or_url, str) else mock_or_url.base
    return {"type": "gemini", "base_url": base, "key": list(keys), "models": models}


# --------------------------------------------------------------------------
# HTTP helpers


class Response:
    def __init__(self, status, headers, body, error=None):
        self.status = status
        self.headers = headers  # dict: lowercased name -> value (last wins)
        self.header_list = []
        self.body = body
        self.error = error  # exception if the body was cut short

    def json(self):
        return json.loads(self.body)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return "<Response %s %r%s>" % (self.status, self.body[:300],
                                        " error=%r" % self.error if self.error else "")


def request(port, method, path, body=None, headers=None, timeout=None, source=None):
    """One HTTP/1.1 request. body: bytes, str or a JSON-able object.
    source: local address to connect from (e.g. "127.0.0.2")."""
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    hdrs = {}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=t(60) if timeout is None else timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        error = None
        try:
            data = r.read()
        except http.client.IncompleteRead as e:
            data, error = e.partial, e
        except (ConnectionError, OSError) as e:
            data, error = b"", e
        resp = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data, error)
        resp.header_list = [(k.lower(), v) for k, v in r.getheaders()]
        return resp
    finally:
        conn.close()


def post(port, path, body, headers=None, timeout=None, source=None):
    return request(port, "POST", path, body, headers, timeout, source)


def get(port, path, headers=None, timeout=None, source=None):
    return request(port, "GET", path, None, headers, timeout, source)


class Event:
    def __init__(self, name, data):
        self.name = name
        self.data = data

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return "<Event %s %r>" % (self.name, self.data[:200])


def parse_sse(raw):
    """Splits an SSE body into events (accepts \\n, \\r\\n and \\r line ends).
    Returns (events, leftover) where leftover is an unterminated tail."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    events = []
    blocks = text.split("\n\n")
    leftover = blocks.pop()  # after the last blank line
    for block in blocks:
        name, data = None, []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if name is None and not data:
            continue  # comment-only block (keep-alive)
        events.append(Event(name, "\n".join(data)))
    return events, leftover


def stream(port, path, body, headers=None, timeout=None):
    """POSTs and reads the whole (SSE) answer. Returns the Response with
    .events and .leftover added (parsed from whatever arrived, even if the
    connection was cut)."""
    r = post(port, path, body, headers, timeout)
    r.events, r.leftover = parse_sse(r.body)
    return r


class SSEReader:
    """Incremental reader of a streamed answer on its own connection."""

    def __init__(self, port, path, body, headers=None, timeout=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        self.conn = http.client.HTTPConnection("127.0.0.1", port,
                                               timeout=t(60) if timeout is None else timeout)
        self.conn.request("POST", path, body=body, headers=hdrs)
        self.sock = self.conn.sock  # http.client may detach it from conn
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self._buf = b""
        self.events = []
        self.eof = False
        self.error = None

    def next_event(self):
        """Blocks until one more complete event arrived; None at the end."""
        while True:
            text = self._buf.replace(b"\r\n", b"\n")
            idx = text.find(b"\n\n")
            if idx >= 0:
                # Consume in terms of the original buffer: find the boundary
                # again allowing either line ending.
                m = re.search(rb"(\r\n|\n|\r)(\r\n|\n|\r)", self._buf)
                block = self._buf[:m.end()]
                self._buf = self._buf[m.end():]
                evs, _ = parse_sse(block)
                if not evs:
                    continue
                self.events.extend(evs)
                return evs[0]
            if self.eof:
                return None
            try:
                chunk = self.resp.read1(65536)
            except http.client.IncompleteRead as e:
                chunk, self.error = e.partial, e
                self.eof = True
            except (ConnectionError, OSError) as e:
                chunk, self.error = b"", e
                self.eof = True
            if not chunk:
                self.eof = True
            self._buf += chunk

    def read_all(self):
        while self.next_event() is not None:
            pass
        return self.events

    def close(self):
        """Abrupt close: the client goes away."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.resp.close()
        self.conn.close()


def connect(port, timeout=None):
    return socket.create_connection(("127.0.0.1", port), timeout=t(60) if timeout is None else timeout)


def raw_exchange(port, head, chunks=(), timeout=None):
    """Sends `head` (bytes, through the blank line) and then each element of
    `chunks` as it is; reads until the server closes. Returns the parsed
    Response. The request should carry `Connection: close`."""
    sock = connect(port, timeout)
    try:
        sock.sendall(head)
        for c in chunks:
            try:
                sock.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered early and closed
        return parse_http_response(recv_all(sock))
    finally:
        sock.close()


def chunked(data, piece=100):
    """data -> list of HTTP/1.1 chunks, ending with the last-chunk."""
    out = [b"%x\r\n%s\r\n" % (len(data[i:i + piece]), data[i:i + piece]) for i in range(0, len(data), piece)]
    out.append(b"0\r\n\r\n")
    return out


def recv_all(sock):
    out = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        out.append(data)
    return b"".join(out)


def parse_http_response(raw):
    """Parses one raw HTTP/1.x response (Content-Length, chunked or
    close-delimited). Returns Response; .error is set when the body is
    incomplete."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        raise HarnessError("no complete response head in %r" % raw[:300])
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise HarnessError("bad status line %r" % lines[0])
    status = int(m.group(1))
    if status == 100:
        return parse_http_response(rest)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    error = None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body, pos = b"", 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                error = "truncated chunk size"
                break
            size = int(rest[pos:eol].split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                break
            if pos + size > len(rest):
                body += rest[pos:]
                error = "truncated chunk"
                break
            body += rest[pos:pos + size]
            pos += size + 2
    elif "content-length" in headers:
        n = int(headers["content-length"])
        body = rest[:n]
        if len(body) < n:
            error = "short body %d < %d" % (len(body), n)
    else:
        body = rest
    return Response(status, headers, body, error)


def text_of_chat_events(events):
    """Concatenated delta content of Chat Completions chunks."""
    out = []
    for e in events:
        if e.data == "[DONE]":
            continue
        obj = json.loads(e.data)
        for ch in obj.get("choices") or []:
            c = (ch.get("delta") or {}).get("content")
            if c:
                out.append(c)
    return "".join(out)


def expected_text(cred, model, chunks):
    return "cred=%s;model=%s;" % (cred, model) + "".join("#%d;" % i for i in range(chunks))


CRED_RE = re.compile(r"cred=([^;]*);")


def cred_of(text):
    m = CRED_RE.search(text if isinstance(text, str) else text.decode(errors="replace"))
    return m.group(1) if m else None


# --------------------------------------------------------------------------
# Test base class


class AgdTestCase(unittest.TestCase):
    """Gives each test a temp dir; every process started through it is torn
    down after the test, whatever happened."""

    maxDiff = 4000

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="agd-it-")
        self.tmp = self._tmp.name
        self.addCleanup(self._tmp.cleanup)
        self.addCleanup(self._dump_logs_on_failure)
        self._daemons = []
        self._mocks = []

    def serve_http(self, handler):
        """A throw-away upstream or web server on a free loopback port, for
        shapes the mock does not make: `handler` is a BaseHTTPRequestHandler
        subclass (its request logging is silenced). Stopped at cleanup;
        returns its base URL."""
        class Quiet(handler):
            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return "http://127.0.0.1:%d" % srv.server_address[1]

    def start_mock(self, threads=None):
        m = Mock(self.tmp, threads)
        self.addCleanup(self._stop_mock_and_check, m)
        self._mocks.append(m)
        return m

    def write_config(self, text, name="agd.conf"):
        path = os.path.join(self.tmp, name)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        return path

    def start_daemon(self, config_text=None, config_path=None, name="agd", extra_args=(), env=None,
                     wait=True, listen_fds=()):
        if config_path is None:
            config_path = self.write_config(config_text, name + ".conf")
        d = Daemon(self.tmp, config_path, name, extra_args, env, listen_fds)
        self.addCleanup(self._stop_and_check, d)
        self._daemons.append(d)
        if wait:
            d.wait_ready()
        return d

    # -- error shapes of the three API families ---------------------------------

    def _error_json(self, r, status):
        self.assertEqual(r.status, status, "want HTTP %d, got %r" % (status, r))
        ct = r.header("content-type", "")
        self.assertTrue(ct.startswith("application/json"), "content-type %r for %r" % (ct, r))
        try:
            return r.json()
        except ValueError:
            self.fail("error body is not JSON: %r" % r)

    def assertOpenAIError(self, r, status, code=None, etype=None):
        obj = self._error_json(r, status)
        self.assertEqual(list(obj), ["error"], obj)
        err = obj["error"]
        for k in ("message", "type", "param", "code"):
            self.assertIn(k, err, obj)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"], obj)
        self.assertIsInstance(err["type"], str)
        if code is not None:
            self.assertEqual(err["code"], code, obj)
        if etype is not None:
            self.assertEqual(err["type"], etype, obj)
        return err

    def assertAnthropicError(self, r, status, etype=None):
        obj = self._error_json(r, status)
        self.assertEqual(obj.get("type"), "error", obj)
        err = obj.get("error")
        self.assertIsInstance(err, dict, obj)
        self.assertIsInstance(err.get("type"), str, obj)
        self.assertIsInstance(err.get("message"), str, obj)
        self.assertTrue(err["message"], obj)
        if etype is not None:
            self.assertEqual(err["type"], etype, obj)
        return err

    def assertGeminiError(self, r, status, status_name=None):
        obj = self._error_json(r, status)
        err = obj.get("error")
        self.assertIsInstance(err, dict, obj)
        self.assertEqual(err.get("code"), status, obj)
        self.assertIsInstance(err.get("message"), str, obj)
        self.assertTrue(err["message"], obj)
        self.assertIsInstance(err.get("status"), str, obj)
        if status_name is not None:
            self.assertEqual(err["status"], status_name, obj)
        return err

    def stop_daemon(self, d):
        """Stops a daemon in the middle of a test (it must stop cleanly)."""
        self._stop_and_check(d)

    def _stop_mock_and_check(self, m):
        m.stop()
        report = sanitizer_reports(m.log())
        if report:
            raise AssertionError("sanitizer report in the mock's stderr:\n%s" % report)

    def _stop_and_check(self, d):
        """Cleanup of a daemon: stop it, then fail the test if it did not
        stop cleanly or its log holds a sanitizer report."""
        problem = d.stop()
        report = d.sanitizer_reports()
        if report:
            raise AssertionError("sanitizer report in %s:\n%s" % (os.path.basename(d.log_path), report))
        if problem:
            raise AssertionError("%s\n--- %s ---\n%s" % (problem, os.path.basename(d.log_path), d.log()[-4000:]))

    def _dump_logs_on_failure(self):
        # Runs after the processes were stopped, before the temp dir goes.
        # (outcome.success is reset while a cleanup runs: look at the result.)
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return
        bad = list(getattr(result, "failures", [])) + list(getattr(result, "errors", []))
        if not any(t is self or getattr(t, "test_case", None) is self for t, _ in bad):
            return
        for d in self._daemons:
            sys.stderr.write("\n--- %s (%s), last 8000 bytes ---\n%s\n"
                             % (os.path.basename(d.log_path), self.id(), d.log()[-8000:]))
        for m in self._mocks:
            text = m.log()
            if text:
                sys.stderr.write("\n--- mock stderr (%s) ---\n%s\n" % (self.id(), text[-3000:]))


def main():
    if not os.path.exists(AGD_BIN) or not os.path.exists(AGD_MOCK):
        sys.stderr.write("missing binaries: AGD_BIN=%s AGD_MOCK=%s\n" % (AGD_BIN, AGD_MOCK))
        sys.exit(1)
    unittest.main(verbosity=2)
