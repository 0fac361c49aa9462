// The server side of a WebSocket opening handshake (RFC 6455 §4.2): whether
// an HTTP request asks for one correctly, and the 101 that accepts it.
// Nothing here does I/O.
#pragma once

#include <string>
#include <string_view>

namespace agd {

// True when a comma-separated header value lists `token` (case-insensitive).
bool header_has_token(std::string_view value, std::string_view token);

struct WebSocketHandshake {
    bool ok = false;
    int status = 400;      // when refused: 400, or 426 for a version other than 13
    std::string error;     // when refused: why, for the client
    std::string accept;    // Sec-WebSocket-Accept when ok
};

// Checks the fields of a GET that asks to upgrade: Upgrade lists websocket,
// Connection lists upgrade, Sec-WebSocket-Version is 13 and
// Sec-WebSocket-Key is the base64 of 16 bytes.
WebSocketHandshake check_websocket_handshake(bool http11, std::string_view upgrade, std::string_view connection,
                                             std::string_view version, std::string_view key);

// base64(SHA-1(key + the RFC's GUID)).
std::string websocket_accept(std::string_view key);

// The 101 response head accepting the handshake (no extension, no subprotocol).
std::string websocket_101(std::string_view accept);

}  // namespace agd
