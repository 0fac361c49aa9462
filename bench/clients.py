"""Small HTTP/1.1 clients for the benchmark (Python standard library only):

- StreamSet: many concurrent SSE streams on one epoll loop, recording the
  receive time (CLOCK_MONOTONIC, the clock of the mock's stamps) of every
  piece, for one-way delay, lost and merged chunks, and for holding
  thousands of streams open.
- closed_loop: a fallback saturation load generator (when wrk is absent),
  also for a fixed number of requests (callgrind.py).
- sequential_latency: a fallback one-request-at-a-time client (when h2load
  is absent).
- fetch: one request, for correctness checks.
"""

import errno
import json
import re
import selectors
import socket
import ssl
import time

PIECE_RE = re.compile(rb"#(\d+)(?:@(\d+))?;")


class ResponseParser:
    """Incremental HTTP/1.1 response parser (Content-Length, chunked or
    until close). on_body(data, t_ns) gets the decoded body bytes."""

    def __init__(self, on_body=None):
        self.buf = b""
        self.head_done = False
        self.status = None
        self.headers = {}
        self.done = False
        self.body_len = 0
        self.on_body = on_body
        self._mode = None        # 'length' | 'chunked' | 'close'
        self._left = 0           # bytes left in content-length or current chunk
        self._chunk_state = "size"  # size | data | crlf | trailer

    def feed(self, data, t_ns):
        self.buf += data
        if not self.head_done:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = self.buf[:i].decode("latin-1").split("\r\n")
            self.buf = self.buf[i + 4:]
            parts = head[0].split(" ", 2)
            self.status = int(parts[1])
            for line in head[1:]:
                k, _, v = line.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.head_done = True
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                self._mode = "chunked"
            elif "content-length" in self.headers:
                self._mode = "length"
                self._left = int(self.headers["content-length"])
                if self._left == 0:
                    self.done = True
            else:
                self._mode = "close"
        self._body(t_ns)

    def _emit(self, data, t_ns):
        self.body_len += len(data)
        if self.on_body:
            self.on_body(data, t_ns)

    def _body(self, t_ns):
        if self._mode == "length":
            if self.buf:
                take = self.buf[:self._left]
                self.buf = self.buf[len(take):]
                self._left -= len(take)
                self._emit(take, t_ns)
                if self._left == 0:
                    self.done = True
            return
        if self._mode == "close":
            if self.buf:
                self._emit(self.buf, t_ns)
                self.buf = b""
            return
        while True:
            if self._chunk_state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    return
                size = int(self.buf[:i].split(b";")[0], 16)
                self.buf = self.buf[i + 2:]
                if size == 0:
                    self._chunk_state = "trailer"
                else:
                    self._left = size
                    self._chunk_state = "data"
            elif self._chunk_state == "data":
                if not self.buf:
                    return
                take = self.buf[:self._left]
                self.buf = self.buf[len(take):]
                self._left -= len(take)
                self._emit(take, t_ns)
                if self._left == 0:
                    self._chunk_state = "crlf"
            elif self._chunk_state == "crlf":
                if len(self.buf) < 2:
                    return
                self.buf = self.buf[2:]
                self._chunk_state = "size"
            else:  # trailer: lines until an empty one
                i = self.buf.find(b"\r\n")
                if i < 0:
                    return
                line = self.buf[:i]
                self.buf = self.buf[i + 2:]
                if not line:
                    self.done = True
                    return

    def eof(self):
        if self._mode == "close" and self.head_done:
            self.done = True


def request_bytes(port, path, body, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (path, port, len(body), extra)).encode() + body


def connect(port, ssl_context=None, timeout=None):
    """A TCP connection to 127.0.0.1:port with TCP_NODELAY, over TLS when
    ssl_context is given (the certificate checked for 127.0.0.1)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ssl_context is not None:
        try:
            s = ssl_context.wrap_socket(s, server_hostname="127.0.0.1")
        except OSError:
            s.close()
            raise
    return s


def fetch(port, path, body, timeout=30, ssl_context=None, extra=""):
    """One POST; returns (status, headers, body bytes). extra: more header
    lines, each ending in CRLF."""
    s = connect(port, ssl_context, timeout)
    try:
        s.sendall(request_bytes(port, path, body, extra + "Connection: close\r\n"))
        chunks = []
        p = ResponseParser(lambda d, t: chunks.append(d))
        while not p.done:
            data = s.recv(65536)
            if not data:
                p.eof()
                break
            p.feed(data, 0)
        return p.status, p.headers, b"".join(chunks)
    finally:
        s.close()


# --------------------------------------------------------------------------
# SSE streams


class Stream:
    __slots__ = ("idx", "sock", "state", "parser", "t_connect", "t_sent", "t_first", "sse_buf",
                 "pieces", "recv_ns", "stamps", "events", "merged", "done_marker", "error",
                 "complete", "finished", "req", "expect", "dup", "out_of_order", "last_piece",
                 "keepalives", "ev_data")

    def __init__(self, idx, req, expect):
        self.idx = idx
        self.req = req
        self.expect = expect
        self.sock = None
        self.state = "new"
        self.parser = None
        self.t_connect = self.t_sent = self.t_first = None
        self.sse_buf = b""
        self.pieces = 0
        self.recv_ns = []
        self.stamps = []
        self.events = 0
        self.merged = 0
        self.dup = 0
        self.out_of_order = 0
        self.last_piece = -1
        self.done_marker = False
        self.error = None
        self.complete = False
        self.finished = False
        self.keepalives = 0


class StreamSet:
    """Concurrent SSE streams (POST /v1/chat/completions, stream: true) to
    one port. Records, per stream, the receive time and the mock's send
    stamp of every piece. keep_samples=False keeps only counters (for
    thousands of streams)."""

    def __init__(self, port, model, chunks, keep_samples=True, path="/v1/chat/completions"):
        self.port = port
        self.chunks = chunks
        self.keep_samples = keep_samples
        body = json.dumps({"model": model, "stream": True,
                           "messages": [{"role": "user", "content": "stream please"}]},
                          separators=(",", ":")).encode()
        self.req = request_bytes(port, path, body)
        self.sel = selectors.DefaultSelector()
        self.streams = []
        self.connecting = 0
        self.first_seen = 0
        self.finished = 0
        self.dead_before_first = 0  # finished without any piece
        self.errors = {}

    # -- lifecycle

    def open(self, n=1):
        for _ in range(n):
            st = Stream(len(self.streams), self.req, self.chunks)
            self.streams.append(st)
            self._connect(st)

    def _connect(self, st):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        st.sock = s
        st.t_connect = time.monotonic_ns()
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, errno.EINPROGRESS):
            self._fail(st, "connect: " + errno.errorcode.get(err, str(err)))
            return
        st.state = "connecting"
        self.connecting += 1
        self.sel.register(s, selectors.EVENT_WRITE, st)

    def _fail(self, st, why):
        if st.finished:
            return
        key = why.split(":")[0] if ":" in why else why
        self.errors[key] = self.errors.get(key, 0) + 1
        st.error = why
        self._close(st)

    def _close(self, st):
        if st.finished:
            return
        st.finished = True
        self.finished += 1
        if st.t_first is None:
            self.dead_before_first += 1
        if st.state == "connecting":
            self.connecting -= 1
        if st.sock is not None:
            try:
                self.sel.unregister(st.sock)
            except (KeyError, ValueError):
                pass
            st.sock.close()
            st.sock = None
        st.state = "closed"

    # -- event loop

    def run(self, until, timeout, poll=0.2):
        """Runs the loop until until(self) is true or timeout seconds pass.
        Returns True if the condition was met."""
        deadline = time.monotonic() + timeout
        while not until(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not self.sel.get_map():
                time.sleep(min(left, 0.01))
                continue
            for key, mask in self.sel.select(min(left, poll)):
                st = key.data
                if st.state == "connecting":
                    self._on_connected(st)
                else:
                    self._on_readable(st)
        return True

    def pending(self):
        """Streams opened that have neither a first piece nor an end."""
        return len(self.streams) - self.first_seen - self.dead_before_first

    def run_for(self, seconds):
        self.run(lambda s: False, seconds)

    def _on_connected(self, st):
        err = st.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(st, "connect: " + errno.errorcode.get(err, str(err)))
            return
        self.connecting -= 1
        st.state = "reading"
        try:
            st.sock.send(st.req)  # small: always fits the fresh socket buffer
        except OSError as e:
            self._fail(st, "send: " + errno.errorcode.get(e.errno, str(e)))
            return
        st.t_sent = time.monotonic_ns()
        st.parser = ResponseParser(lambda d, t, st=st: self._on_body(st, d, t))
        self.sel.modify(st.sock, selectors.EVENT_READ, st)

    def _on_readable(self, st):
        try:
            data = st.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as e:
            self._fail(st, "recv: " + errno.errorcode.get(e.errno, str(e)))
            return
        t = time.monotonic_ns()
        if not data:
            st.parser.eof()
            if st.parser.done and st.parser.status == 200:
                self._finish(st)
            else:
                self._fail(st, "closed early")
            return
        try:
            st.parser.feed(data, t)
        except (ValueError, IndexError) as e:
            self._fail(st, "bad response: %s" % e)
            return
        if st.parser.head_done and st.parser.status != 200:
            if st.parser.done:
                self._fail(st, "status %d" % st.parser.status)
            return
        if st.parser.done:
            self._finish(st)

    def _finish(self, st):
        st.complete = (st.error is None and st.done_marker
                       and st.pieces == st.expect and st.last_piece == st.expect - 1)
        if not st.complete:
            why = "incomplete"
            if not st.done_marker:
                why = "no [DONE]"
            self.errors[why] = self.errors.get(why, 0) + 1
            st.error = why
        self._close(st)

    def _on_body(self, st, data, t):
        st.sse_buf += data
        if b"\r" in st.sse_buf:
            st.sse_buf = st.sse_buf.replace(b"\r\n", b"\n")
        while True:
            i = st.sse_buf.find(b"\n\n")
            if i < 0:
                break
            ev = st.sse_buf[:i]
            st.sse_buf = st.sse_buf[i + 2:]
            self._on_event(st, ev, t)

    def _on_event(self, st, ev, t):
        data = b"\n".join(line[5:].lstrip(b" ") for line in ev.split(b"\n") if line.startswith(b"data:"))
        if not data:
            if ev.startswith(b":"):
                st.keepalives += 1
            return
        st.events += 1
        if data == b"[DONE]":
            st.done_marker = True
            return
        found = PIECE_RE.findall(data)
        if not found:
            return
        if len(found) > 1:
            st.merged += 1
        for num, stamp in found:
            n = int(num)
            if n <= st.last_piece:
                st.dup += 1
                continue
            if n != st.last_piece + 1:
                st.out_of_order += 1
            st.last_piece = n
            st.pieces += 1
            if st.t_first is None:
                st.t_first = t
                self.first_seen += 1
            if self.keep_samples:
                st.recv_ns.append(t)
                st.stamps.append(int(stamp) if stamp else None)

    def close_all(self):
        for st in self.streams:
            self._close(st)
        self.sel.close()

    # -- results

    def summary(self):
        n = len(self.streams)
        complete = sum(1 for s in self.streams if s.complete)
        lost = sum(max(0, s.expect - s.pieces) for s in self.streams)
        return {"streams": n, "complete": complete, "errors": dict(self.errors),
                "lost_chunks": lost, "merged_events": sum(s.merged for s in self.streams),
                "duplicate_chunks": sum(s.dup for s in self.streams),
                "out_of_order": sum(s.out_of_order for s in self.streams)}


# --------------------------------------------------------------------------
# Fallback load generators


def closed_loop(port, path, body, connections, seconds, ssl_context=None, requests=None, extra=""):
    """Closed-loop keep-alive load: each connection sends the next request
    when the previous answer is complete. Returns a dict like wrk's.
    requests: stop after this many answers instead (seconds is then only a
    time limit)."""
    req = request_bytes(port, path, body, extra)
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(connections):
        s = connect(port, ssl_context)
        s.setblocking(False)
        c = {"sock": s, "parser": ResponseParser(), "t0": 0}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    done = errors = non2xx = sent = 0
    lat = []
    t_start = time.monotonic()
    end = t_start + seconds

    def send(c):
        nonlocal sent, errors
        if requests is not None and sent >= requests:
            sel.unregister(c["sock"])
            return
        c["t0"] = time.monotonic_ns()
        sent += 1
        try:
            c["sock"].sendall(req)  # small: always fits the socket buffer
        except OSError:
            errors += 1
            sel.unregister(c["sock"])

    for c in conns:
        send(c)
    while time.monotonic() < end and sel.get_map() and (requests is None or done < requests):
        for key, _ in sel.select(0.1):
            c = key.data
            p = c["parser"]
            while True:  # a TLS socket may hold decrypted bytes no select() reports
                try:
                    data = c["sock"].recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    break
                except OSError:
                    data = b""
                if not data:
                    errors += 1
                    sel.unregister(c["sock"])
                    break
                p.feed(data, 0)
                if p.done or not (ssl_context and c["sock"].pending()):
                    break
            if p.done:
                now = time.monotonic_ns()
                lat.append((now - c["t0"]) / 1000.0)
                done += 1
                if p.status < 200 or p.status > 399:
                    non2xx += 1
                c["parser"] = ResponseParser()
                send(c)
    elapsed = time.monotonic() - t_start
    for c in conns:
        try:
            c["sock"].close()
        except OSError:
            pass
    sel.close()
    lat.sort()
    return {"requests": done, "duration_s": elapsed, "rps": done / elapsed if elapsed else 0,
            "errors": errors, "non2xx": non2xx,
            "lat_p50_us": lat[len(lat) // 2] if lat else None,
            "lat_p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "tool": "python closed loop"}


def sequential_latency(port, path, body, seconds, warmup, ssl_context=None):
    """One request at a time on one keep-alive connection; latencies in µs."""
    req = request_bytes(port, path, body)
    s = connect(port, ssl_context)
    out = []
    bad = 0
    t_end_warm = time.monotonic() + warmup
    t_end = t_end_warm + seconds
    try:
        while True:
            now = time.monotonic()
            if now >= t_end:
                break
            p = ResponseParser()
            t0 = time.monotonic_ns()
            s.sendall(req)
            while not p.done:
                data = s.recv(65536)
                if not data:
                    raise OSError("connection closed")
                p.feed(data, 0)
            t1 = time.monotonic_ns()
            if p.status != 200:
                bad += 1
            if now >= t_end_warm:
                out.append((t1 - t0) / 1000.0)
    finally:
        s.close()
    return out, bad
