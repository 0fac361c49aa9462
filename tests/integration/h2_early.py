"""A small HTTP/2 upstream over TLS (ALPN "h2"), standard library only, that
answers every request as soon as its header block is in, before it has read
the request body, then resets the stream with RST_STREAM(NO_ERROR), as RFC
9113 section 8.1 allows.

It never decodes HPACK: every stream gets the same answer. The request body
is read off the socket (to find the frames) but its stream is never granted
flow-control window, so a body larger than 65,535 bytes is never sent whole.
The reset is written on its own, rst_delay seconds after the answer.

Modes:
  early      HEADERS (with content-length) + DATA(END_STREAM), then RST(NO_ERROR)
  truncated  HEADERS (content-length N) + DATA with N // 2 bytes and no
             END_STREAM, then RST(NO_ERROR): an answer cut short
  cut        HEADERS (content-length N) + DATA with N // 2 bytes, then the
             connection is closed
"""

import select
import socket
import ssl
import struct
import threading
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
NO_ERROR = 0
MAX_FRAME = 16384  # the client's SETTINGS_MAX_FRAME_SIZE is never below this


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, stream_id & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman coding:
    it leaves the client's dynamic table alone."""
    name, value = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def header_block(fields):
    return b"".join(hpack_literal(n, v) for n, v in fields)


class H2EarlyServer:
    """Serves every accepted connection on its own thread. Counters are read
    by the test: alpn (the protocol of each connection), streams answered,
    and the most request-body bytes any stream sent."""

    def __init__(self, cert, key, body, content_type="application/json", mode="early", rst_delay=0.0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.ctx.set_alpn_protocols(["h2"])
        self.body = body
        self.content_type = content_type
        self.mode = mode
        self.rst_delay = rst_delay
        self.lock = threading.Lock()
        self.alpn = []
        self.answered = 0
        self.max_body_seen = 0  # the most request-body bytes received on one stream
        self.errors = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        with self.lock:
            self.alpn.append(tls.selected_alpn_protocol())
        try:
            if tls.selected_alpn_protocol() == "h2":
                Connection(self, tls).run()
        except (ssl.SSLError, OSError, ValueError) as e:
            if not isinstance(e, (ConnectionError, ssl.SSLEOFError)):
                with self.lock:
                    self.errors.append(repr(e))
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def response_frames(self, stream_id):
        """The frames of one answer, written at once."""
        cut = self.mode in ("truncated", "cut")
        fields = [(":status", "200"), ("content-type", self.content_type), ("content-length", str(len(self.body)))]
        out = [frame(HEADERS, END_HEADERS, stream_id, header_block(fields))]
        body = self.body[:len(self.body) // 2] if cut else self.body
        for i in range(0, len(body), MAX_FRAME):
            last = i + MAX_FRAME >= len(body)
            out.append(frame(DATA, END_STREAM if last and not cut else 0, stream_id, body[i:i + MAX_FRAME]))
        return b"".join(out)

    def close(self):
        self.closed = True
        self.sock.close()


class Connection:
    def __init__(self, server, tls):
        self.server = server
        self.tls = tls
        self.buf = b""
        self.received = {}  # stream id -> request-body bytes received
        self.due = []  # (when, frame): resets waiting for their time, oldest first

    def send_due(self):
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            self.tls.sendall(self.due.pop(0)[1])

    def recv_exact(self, n):
        while len(self.buf) < n:
            self.send_due()
            if not self.tls.pending():
                wait = max(0.0, self.due[0][0] - time.monotonic()) if self.due else None
                if not select.select([self.tls], [], [], wait)[0]:
                    continue
            data = self.tls.recv(65536)
            if not data:
                raise ConnectionError("client closed")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        head = self.recv_exact(9)
        length = int.from_bytes(head[:3], "big")
        ftype, flags, sid = head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
        return ftype, flags, sid, self.recv_exact(length)

    def run(self):
        if self.recv_exact(len(PREFACE)) != PREFACE:
            raise ValueError("no HTTP/2 client preface")
        # SETTINGS_MAX_CONCURRENT_STREAMS = 100
        self.tls.sendall(frame(SETTINGS, 0, 0, struct.pack(">HI", 3, 100)))
        while True:
            ftype, flags, sid, payload = self.read_frame()
            if ftype == SETTINGS and not flags & ACK:
                self.tls.sendall(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                self.tls.sendall(frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                return
            elif ftype == DATA:
                # Give back connection-level window only: each stream keeps
                # its initial 65,535 bytes, so a larger body cannot be sent
                # whole before the answer.
                self.received[sid] = self.received.get(sid, 0) + len(payload)
                with self.server.lock:
                    self.server.max_body_seen = max(self.server.max_body_seen, self.received[sid])
                if payload:
                    self.tls.sendall(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(payload))))
            elif ftype in (HEADERS, CONTINUATION) and flags & END_HEADERS:
                self.answer(sid)  # the request's header block is complete
            # PRIORITY, RST_STREAM, WINDOW_UPDATE, a header block's first
            # frames, SETTINGS and PING ACKs: nothing to do

    def answer(self, sid):
        server = self.server
        with server.lock:
            server.answered += 1
        self.tls.sendall(server.response_frames(sid))
        if server.mode == "cut":
            self.tls.shutdown(socket.SHUT_RDWR)
            raise ConnectionError("cut on purpose")
        self.due.append((time.monotonic() + server.rst_delay,
                         frame(RST_STREAM, 0, sid, struct.pack(">I", NO_ERROR))))
        self.send_due()
