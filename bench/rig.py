"""Processes of the benchmark rig: the fast nginx mock, the project's stream
mock, antigravityd and nginx as systems under test, CPU pinning and /proc
sampling. Python standard library only.

Placement on a machine with two or more CPUs: the system under test (SUT)
runs on SUT_CPU, everything else (load generator, mocks) on LOAD_CPU.
"""

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class RigError(RuntimeError):
    pass


def log(msg):
    print("bench: " + msg, flush=True)


# --------------------------------------------------------------------------
# Placement


class Placement:
    """Which CPU the SUT gets and which the rest. No pinning on one CPU."""

    def __init__(self, pin=True, nice=0):
        self.nice = nice
        cpus = sorted(os.sched_getaffinity(0))
        self.pinned = pin and len(cpus) >= 2
        if self.pinned:
            self.sut_cpu = cpus[-1] if len(cpus) == 2 else cpus[1]
            self.load_cpu = cpus[0]
        else:
            self.sut_cpu = self.load_cpu = None
        self.cpus = cpus

    def prefix(self, role):
        """Command prefix that pins a process ('sut' or 'load') and applies
        the niceness."""
        out = ["nice", "-n", str(self.nice)] if self.nice else []
        if not self.pinned:
            return out
        cpu = self.sut_cpu if role == "sut" else self.load_cpu
        return out + ["taskset", "-c", str(cpu)]

    def nginx_affinity(self, role):
        """worker_cpu_affinity mask string for nginx, or None."""
        if not self.pinned:
            return None
        cpu = self.sut_cpu if role == "sut" else self.load_cpu
        return "0" * (max(self.cpus) - cpu) + "1" + "0" * cpu

    def pin_self(self):
        if self.pinned:
            os.sched_setaffinity(0, {self.load_cpu})
        if self.nice:
            os.nice(self.nice)

    def describe(self):
        nice = ", every rig process at nice %d" % self.nice if self.nice else ""
        if not self.pinned:
            return "not pinned (%d CPU)%s" % (len(self.cpus), nice)
        return "SUT on CPU %d; load generator and mocks on CPU %d%s" % (self.sut_cpu, self.load_cpu, nice)


def raise_nofile(want=200000):
    """Raises RLIMIT_NOFILE (root may raise the hard limit too); children
    inherit it. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        new_hard = hard if hard == resource.RLIM_INFINITY else max(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, new_hard))
        return want
    except (ValueError, OSError):
        pass
    if hard != resource.RLIM_INFINITY and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


# The key of the accounting workload's client (Antigravityd(accounting=True)).
BENCH_CLIENT_KEY = "gw-bench-client-key-0123456789"


def free_port():
    """A port the kernel just handed out (bind to 0), for programs that need
    the number up front (nginx)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RigError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))
            time.sleep(0.02)


def which_nginx():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


# --------------------------------------------------------------------------
# /proc sampling


def cpu_ticks(pid):
    """utime + stime of a whole process (all threads, live and exited), in ticks."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def cpu_seconds(pids):
    return sum(cpu_ticks(p) for p in pids) / CLK_TCK


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------
# Fixed bodies (about 1.4 KB each) for the fast mock


def _text(tag, size):
    words = ("%s answer: the gateway relays this fixed text so that every run "
             "measures the same bytes. " % tag)
    out = ""
    i = 0
    while len(out) < size:
        out += "Sentence %d of the %s" % (i, words)
        i += 1
    return out[:size].rstrip() + "."


OPENAI_TEXT = _text("OpenAI", 1040)
ANTHROPIC_TEXT = _text("Anthropic", 1150)


def openai_body():
    return json.dumps({
        "id": "chatcmpl-bench0001", "object": "chat.completion", "created": 1700000000,
        "model": "gpt-bench", "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": OPENAI_TEXT,
                                             "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 48, "completion_tokens": 230, "total_tokens": 278,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}}},
        separators=(",", ":"))


def anthropic_body():
    return json.dumps({
        "id": "msg_bench0001", "type": "message", "role": "assistant", "model": "claude-bench",
        "content": [{"type": "text", "text": ANTHROPIC_TEXT}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 48, "output_tokens": 230}},
        separators=(",", ":"))


def chat_request(model):
    """The ~200-byte OpenAI chat request of workloads 1 and 2."""
    return json.dumps({
        "model": model,
        "messages": [{"role": "system", "content": "You are a terse assistant."},
                     {"role": "user", "content": "Summarise the benchmark rig in one short paragraph."}],
        "max_tokens": 256, "temperature": 0.2}, separators=(",", ":")).encode()


def messages_request(model):
    """The Anthropic Messages request of workload 8, the same conversation
    as chat_request (about 200 bytes)."""
    return json.dumps({
        "model": model, "max_tokens": 256, "system": "You are a terse assistant.",
        "messages": [{"role": "user", "content": "Summarise the benchmark rig in one short paragraph."}],
        "temperature": 0.2}, separators=(",", ":")).encode()


# --------------------------------------------------------------------------
# TLS (workload 7): a throwaway CA and a certificate for 127.0.0.1


SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = antigravityd bench
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class Pki:
    """A CA made for this run and a leaf certificate for 127.0.0.1 and
    localhost signed by it (ECDSA P-256, valid two days), made with the
    openssl command in workdir/tls/. Nothing outside workdir changes.

    ca: the CA certificate (PEM); cert, key: the leaf's, for the https mock;
    bundle: the system's CA bundle followed by the CA, for SSL_CERT_FILE.
    tls_port: the https mock's port, set by whoever starts it."""

    def __init__(self, workdir):
        openssl = shutil.which("openssl")
        if not openssl:
            raise RigError("the openssl command is not installed")
        d = os.path.join(workdir, "tls")
        os.makedirs(d, exist_ok=True)
        cnf = os.path.join(d, "openssl.cnf")
        with open(cnf, "w") as f:
            f.write(_OPENSSL_CNF)
        self.ca, ca_key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
        self.cert, self.key = os.path.join(d, "leaf.pem"), os.path.join(d, "leaf.key")
        csr = os.path.join(d, "leaf.csr")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for cmd in (
                [openssl, "req", "-x509", "-config", cnf, "-extensions", "ca", "-days", "2",
                 "-subj", "/CN=antigravityd bench CA"] + ec + ["-keyout", ca_key, "-out", self.ca],
                [openssl, "req", "-new", "-config", cnf, "-subj", "/CN=localhost"] + ec +
                ["-keyout", self.key, "-out", csr],
                [openssl, "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key,
                 "-set_serial", "0x%x" % int.from_bytes(os.urandom(8), "big"), "-days", "2",
                 "-extfile", cnf, "-extensions", "leaf", "-out", self.cert]):
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if r.returncode != 0:
                raise RigError("%s failed: %s" % (" ".join(cmd[:3]), r.stdout.decode(errors="replace")[-600:]))
        self.bundle = os.path.join(d, "bundle.pem")
        with open(self.bundle, "wb") as out:
            try:
                with open(SYSTEM_CA_BUNDLE, "rb") as f:
                    out.write(f.read().rstrip(b"\n") + b"\n")
            except OSError:
                pass  # no system bundle: the test CA alone
            with open(self.ca, "rb") as f:
                out.write(f.read())
        self.tls_port = None

    def client_context(self):
        """An ssl.SSLContext that trusts the CA only (for the Python clients;
        they connect to 127.0.0.1 and check the certificate for it)."""
        import ssl
        return ssl.create_default_context(cafile=self.ca)


def nginx_has_ssl(binary):
    """Whether this nginx was built with the http ssl module."""
    try:
        r = subprocess.run([binary, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--with-http_ssl_module" in r.stdout


# --------------------------------------------------------------------------
# Processes


class Proc:
    """A child process with its stderr (and stdout) in a log file."""

    def __init__(self, name, args, workdir, env=None, stdout_pipe=False):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        self._log = open(self.log_path, "ab")
        self.log_offset = self._log.tell()  # where this run's output starts
        self.args = args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if stdout_pipe else self._log,
                                     stderr=self._log, env=env, start_new_session=True)
        self.pid = self.proc.pid

    def log_text(self, tail=4000):
        """This process's output (not an earlier run's in the same file)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


class StreamMock:
    """agd-mock-upstream (paced SSE streams; also the non-stream fallback)."""

    def __init__(self, binary, workdir, placement, name="stream-mock"):
        port_file = os.path.join(workdir, name + ".port")
        self.p = Proc(name, placement.prefix("load") + [binary, "--listen", "127.0.0.1:0",
                                                         "--port-file", port_file], workdir)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if not self.p.alive() or time.monotonic() > deadline:
                raise RigError("mock did not start:\n" + self.p.log_text())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.pids = [self.p.pid]

    def stop(self):
        self.p.stop()


def _nginx_common(workdir, tag, affinity, user_root):
    tmp = os.path.join(workdir, tag + "-tmp")
    os.makedirs(tmp, exist_ok=True)
    lines = []
    if user_root:
        lines.append("user root root;")
    lines += ["worker_processes 1;"]
    if affinity:
        lines.append("worker_cpu_affinity %s;" % affinity)
    lines += ["pid %s;" % os.path.join(workdir, tag + ".pid"),
              "error_log %s warn;" % os.path.join(workdir, tag + "-error.log"),
              "worker_rlimit_nofile %d;" % resource.getrlimit(resource.RLIMIT_NOFILE)[0],
              "events { worker_connections 40000; }",
              "http {",
              "  access_log off;",
              "  keepalive_requests 1000000;",
              "  keepalive_timeout 300s;"]
    for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        lines.append("  %s_temp_path %s;" % (t, os.path.join(tmp, t)))
    return lines


class Nginx:
    """nginx in the foreground with its own prefix and config in workdir."""

    def __init__(self, binary, workdir, tag, conf_lines, placement, role):
        self.conf = os.path.join(workdir, tag + ".conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf_lines) + "\n")
        args = placement.prefix(role) + [binary, "-p", workdir, "-c", self.conf,
                                         "-e", os.path.join(workdir, tag + "-error.log"),
                                         "-g", "daemon off;"]
        self.p = Proc(tag, args, workdir)
        self.tag = tag

    def wait(self, ports):
        for port in ports:
            try:
                wait_port(port)
            except RigError:
                raise RigError("nginx %s did not start:\n%s" % (self.tag, self.p.log_text()))
        deadline = time.monotonic() + 10
        while True:
            kids = children(self.p.pid)
            if kids:
                self.worker = kids[0]
                break
            if time.monotonic() > deadline:
                raise RigError("nginx %s has no worker process" % self.tag)
            time.sleep(0.02)
        self.master = self.p.pid
        # The worker does all the work; the master only waits for signals.
        self.pids = [self.worker]
        self.pid = self.worker

    def stop(self):
        self.p.stop(signal.SIGTERM)


def start_fast_mock_nginx(binary, workdir, placement, tls=None, tag="fast-mock"):
    """The fast mock: nginx answering the two chat paths with a fixed body.
    tls: a Pki, to listen with TLS (workload 7's https upstream) instead."""
    port = free_port()
    lines = _nginx_common(workdir, tag, placement.nginx_affinity("load"), os.geteuid() == 0)
    ob, ab = openai_body(), anthropic_body()
    for b in (ob, ab):
        if "'" in b or "$" in b or "\\" in b:
            raise RigError("fixed body not safe for an nginx return string")
    lines += ["  server {",
              "    listen 127.0.0.1:%d%s backlog=4096;" % (port, " ssl" if tls else "")]
    if tls:
        # What a provider's front end offers: TLS 1.3 (1.2 allowed), session
        # resumption by tickets and by cache; keep-alive as in _nginx_common.
        lines += ["    ssl_certificate %s;" % tls.cert,
                  "    ssl_certificate_key %s;" % tls.key,
                  "    ssl_protocols TLSv1.3 TLSv1.2;",
                  "    ssl_session_tickets on;",
                  "    ssl_session_cache shared:%s:4m;" % tag.replace("-", "_"),
                  "    ssl_session_timeout 1h;"]
    lines += ["    location = /v1/chat/completions { default_type application/json; return 200 '%s'; }" % ob,
              "    location = /v1/messages { default_type application/json; return 200 '%s'; }" % ab,
              "    location / { return 404; }",
              "  }",
              "}"]
    n = Nginx(binary, workdir, tag, lines, placement, "load")
    n.wait([port])
    n.port = port
    return n


def start_nginx_proxy(binary, workdir, placement, fast_port, stream_port, tls=None):
    """nginx as the system under test: port_fast relays to the fast mock,
    port_stream to the stream mock (the design's proxy config). tls: a Pki
    whose tls_port is an https mock: port_tls relays to it over https,
    verifying its certificate against the Pki's CA as antigravityd does."""
    pf, ps = free_port(), free_port()
    pt = free_port() if tls else None
    lines = _nginx_common(workdir, "nginx-sut", placement.nginx_affinity("sut"), os.geteuid() == 0)
    for name, up in (("fast", fast_port), ("stream", stream_port)):
        lines += ["  upstream %s { server 127.0.0.1:%d; keepalive 256;" % (name, up),
                  "    keepalive_requests 1000000; keepalive_timeout 300s; }"]
    if tls:
        lines += ["  upstream tls { server 127.0.0.1:%d; keepalive 64;" % tls.tls_port,
                  "    keepalive_requests 1000000; keepalive_timeout 300s; }"]
    for port, name in ((pf, "fast"), (ps, "stream")) + (((pt, "tls"),) if tls else ()):
        lines += ["  server {",
                  "    listen 127.0.0.1:%d backlog=4096;" % port,
                  "    location / {",
                  "      proxy_pass %s://%s;" % ("https" if name == "tls" else "http", name),
                  "      proxy_http_version 1.1;",
                  "      proxy_set_header Connection \"\";",
                  "      proxy_buffering off;",
                  "      proxy_read_timeout 300s;"]
        if name == "tls":
            # Verify the upstream's certificate like antigravityd does, and
            # resume sessions. The certificate is checked for the name
            # "localhost" (nginx matches names, not IP addresses); no SNI,
            # as antigravityd sends none to an IP address.
            lines += ["      proxy_ssl_protocols TLSv1.3 TLSv1.2;",
                      "      proxy_ssl_session_reuse on;",
                      "      proxy_ssl_verify on;",
                      "      proxy_ssl_verify_depth 2;",
                      "      proxy_ssl_trusted_certificate %s;" % tls.ca,
                      "      proxy_ssl_name localhost;",
                      "      proxy_ssl_server_name off;"]
        lines += ["    }",
                  "  }"]
    lines.append("}")
    n = Nginx(binary, workdir, "nginx-sut", lines, placement, "sut")
    n.wait([pf, ps] + ([pt] if pt else []))
    n.port_fast, n.port_stream, n.port_tls = pf, ps, pt
    return n


class Antigravityd:
    """antigravityd run -c FILE with one worker, pinned to the SUT CPU."""

    def __init__(self, binary, workdir, placement, fast_port, stream_port, log_level="notice",
                 name="agd", accounting=False, client=False, tls=None, tls_ca_file=True, wrapper=(),
                 ready_timeout=30):
        """accounting: the request store (in the work directory) and a metrics
        listener on; client: the requests counted for a named client with rpm
        and tpm limits (its key sent as a bearer token); neither: no store, no
        metrics, no client (what workload 1 measures).
        tls: a Pki whose tls_port is an https mock: models tls-* go there, the
        test CA trusted by the provider's ca_file (tls_ca_file) and by
        SSL_CERT_FILE = the system bundle + the CA in the environment.
        wrapper: a command the daemon runs under (valgrind)."""
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        self.conf = os.path.join(d, "antigravityd.conf")
        fast = "http://127.0.0.1:%d" % fast_port
        stream = "http://127.0.0.1:%d" % stream_port
        self.metrics_port = None
        if accounting:
            self.metrics_port = free_port()
            acct = ["[log]", "database = %s" % os.path.join(d, "agd.db"),
                    "[metrics]", "listen = 127.0.0.1:%d" % self.metrics_port]
        else:
            acct = ["[log]", "database ="]
        if client:
            acct += ["[client.bench]", "key = %s" % BENCH_CLIENT_KEY, "tpm = 1G", "rpm = 1G"]
        with open(self.conf, "w") as f:
            f.write("\n".join(acct + [
                "[server]",
                "listen = 127.0.0.1:0",
                "workers = 1",
                "log_level = %s" % log_level,
                "pid_file = %s" % os.path.join(d, "agd.pid"),
                "control_socket = %s" % os.path.join(d, "ctl.sock"),
                "[auth]",
                "mode = off",
                "[provider.fast-openai]",
                "type = openai",
                "base_url = %s/v1" % fast,
                "key = bench-openai-key-1",
                "models = gpt-*",
                "[provider.fast-anthropic]",
                "type = anthropic",
                "base_url = %s" % fast,
                "key = bench-anthropic-key-1",
                "models = claude-*",
                "[provider.stream-openai]",
                "type = openai",
                "base_url = %s/v1" % stream,
                "key = bench-stream-key-1",
                "models = sse*, hold*",
                ""] + tls_provider(tls, tls_ca_file) + extra_config_lines()))
        env = dict(os.environ, SSL_CERT_FILE=tls.bundle) if tls else None
        self.p = Proc(name, placement.prefix("sut") + list(wrapper) + [binary, "run", "-c", self.conf],
                      workdir, env=env)
        deadline = time.monotonic() + ready_timeout
        while True:
            m = re.search(r"ready: .*listening on 127\.0\.0\.1:(\d+)", self.p.log_text(20000))
            if m:
                self.port = int(m.group(1))
                break
            if not self.p.alive() or time.monotonic() > deadline:
                raise RigError("antigravityd did not become ready:\n" + self.p.log_text())
            time.sleep(0.02)
        self.pid = self.p.pid
        self.pids = [self.pid]
        self.port_fast = self.port_stream = self.port

    def stop(self):
        self.p.stop(signal.SIGTERM, timeout=40)


def extra_config_lines():
    """Sections appended to the daemon's config from AGD_BENCH_EXTRA_CONF
    (a file), to measure a feature's cost on the same rig: payload rules,
    say."""
    path = os.environ.get("AGD_BENCH_EXTRA_CONF")
    if not path:
        return []
    with open(path) as f:
        return [""] + f.read().splitlines() + [""]


def tls_provider(tls, ca_file=True):
    """The config lines of the https provider (workload 7), or none."""
    if not tls:
        return []
    return ["[provider.tls-openai]",
            "type = openai",
            "base_url = https://127.0.0.1:%d/v1" % tls.tls_port,
            "key = bench-tls-key-1",
            "models = tls-*"] + (["ca_file = %s" % tls.ca] if ca_file else []) + [""]


def version_of(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return r.stdout.decode(errors="replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None
