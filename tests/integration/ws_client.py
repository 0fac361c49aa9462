"""A small WebSocket client (RFC 6455) for the integration tests, standard
library only: the handshake, masked frames of any shape (fragments, control
frames, bad ones on purpose), and reading the server's frames one at a time."""

import base64
import hashlib
import json
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class HandshakeRefused(Exception):
    def __init__(self, status, head, body):
        super().__init__("handshake refused: %d" % status)
        self.status = status
        self.head = head
        self.body = body


class Closed(Exception):
    pass


class WsClient:
    def __init__(self, port, path="/v1/responses", headers=None, timeout=30, host="127.0.0.1", version="13",
                 key=None, tls=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:  # an ssl.SSLContext: the connection speaks TLS
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: " + version]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        self.head = head.decode(errors="replace")
        self.headers = {}
        for line in self.head.split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        if status != 101:
            n = int(self.headers.get("content-length", "0"))
            body = self._read_exact(n) if n else b""
            self.sock.close()
            raise HandshakeRefused(status, self.head, body)
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != want:
            raise AssertionError("bad Sec-WebSocket-Accept in " + self.head)

    # --- bytes
    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed("connection closed")
        self.buf += data

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    # --- frames
    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        if isinstance(payload, str):
            payload = payload.encode()
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            m = os.urandom(4)
            payload = bytes(c ^ m[i % 4] for i, c in enumerate(payload)) if n < 4096 else _mask(payload, m)
            head += m
        self.sock.sendall(head + payload)

    def send_text(self, text):
        self.send_frame(TEXT, text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def recv_frame(self):
        """(fin, opcode, payload) of the server's next frame."""
        b0, b1 = self._read_exact(2)
        if b1 & 0x80:
            raise AssertionError("the server masked a frame")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read_exact(8))[0]
        return bool(b0 & 0x80), b0 & 0x0F, self._read_exact(n)

    def recv(self):
        """The next message: (opcode, payload); pings are answered, control
        frames other than close skipped unless keep_control."""
        parts, op = [], None
        while True:
            fin, opcode, payload = self.recv_frame()
            if opcode == PING:
                self.send_frame(PONG, payload)
                continue
            if opcode == PONG:
                continue
            if opcode == CLOSE:
                return CLOSE, payload
            if opcode != CONT:
                op = opcode
            parts.append(payload)
            if fin:
                return op, b"".join(parts)

    def recv_json(self):
        op, payload = self.recv()
        if op == CLOSE:
            raise Closed("close frame: %r" % (close_code(payload),))
        if op != TEXT:
            raise AssertionError("expected a text frame, got opcode %d" % op)
        return json.loads(payload)

    def events_until_done(self, limit=10000):
        """Events up to and including a terminal one (response.completed,
        failed, incomplete, or an error)."""
        out = []
        for _ in range(limit):
            ev = self.recv_json()
            out.append(ev)
            if ev.get("type") in ("response.completed", "response.failed", "response.incomplete", "error"):
                return out
        raise AssertionError("no terminal event in %d events" % limit)

    def close(self, code=1000, reason=b""):
        try:
            self.send_frame(CLOSE, struct.pack("!H", code) + reason)
        except OSError:
            pass

    def wait_closed(self):
        """Reads until the server's close frame; its (code, reason)."""
        while True:
            op, payload = self.recv()
            if op == CLOSE:
                return close_code(payload)

    def shutdown(self):
        try:
            self.sock.close()
        except OSError:
            pass


def close_code(payload):
    if len(payload) < 2:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


def _mask(payload, m):
    n = len(payload)
    key = (m * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
