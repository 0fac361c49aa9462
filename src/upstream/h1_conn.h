// H1Conn: one connection of the native HTTP/1.1 engine (h1_engine.h), plain
// or TLS. Private to the engine's files.
#pragma once

#include <sys/time.h>

#include <string>

#include "upstream/tls_context.h"

struct event;

namespace agd::upstream {

class H1Engine;
class H1Transfer;

struct H1Conn final : TlsSessionSink {
    H1Engine* engine = nullptr;
    int fd = -1;
    event* rev = nullptr;  // EV_READ | EV_PERSIST: registered while the connection lives
    event* wev = nullptr;  // EV_WRITE: connecting, or a write that would block
    H1Transfer* t = nullptr;
    std::string key;
    timeval idle_since{};
    bool reading = false;
    bool connecting = false;
    bool reused = false;  // carried a request before (pooled)
    // TLS
    SSL* ssl = nullptr;
    bool handshaking = false;
    bool write_wants_read = false;  // SSL_write waits for the peer (a post-handshake message)
    bool read_wants_write = false;  // SSL_read waits for the socket to take bytes
    bool clean = true;              // false: closed after an error; its session is not reused

    bool keep_session(SSL_SESSION* s) override;
};

}  // namespace agd::upstream
