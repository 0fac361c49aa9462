// The server side of the WebSocket opening handshake (RFC 6455 §4.2).
#include <doctest/doctest.h>

#include "server/websocket_handshake.h"

using namespace agd;

TEST_CASE("websocket: the accept key of RFC 6455's example") {
    CHECK(websocket_accept("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("websocket: a valid handshake") {
    auto h = check_websocket_handshake(true, "websocket", "keep-alive, Upgrade", "13", " dGhlIHNhbXBsZSBub25jZQ== ");
    REQUIRE(h.ok);
    CHECK(h.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    std::string head = websocket_101(h.accept);
    CHECK(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
    CHECK(head.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
    CHECK(head.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
    CHECK(head.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n") != std::string::npos);
    CHECK(check_websocket_handshake(true, "WebSocket", "UPGRADE", "13", "dGhlIHNhbXBsZSBub25jZQ==").ok);
}

TEST_CASE("websocket: refused handshakes") {
    const char* key = "dGhlIHNhbXBsZSBub25jZQ==";
    CHECK(check_websocket_handshake(false, "websocket", "upgrade", "13", key).status == 400);
    CHECK(check_websocket_handshake(true, "h2c", "upgrade", "13", key).status == 400);
    CHECK(check_websocket_handshake(true, "websocket", "keep-alive", "13", key).status == 400);
    CHECK(check_websocket_handshake(true, "websocket", "upgrade-ish", "13", key).status == 400);
    auto v = check_websocket_handshake(true, "websocket", "upgrade", "8", key);
    CHECK_FALSE(v.ok);
    CHECK(v.status == 426);
    CHECK(check_websocket_handshake(true, "websocket", "upgrade", "", key).status == 426);
    CHECK(check_websocket_handshake(true, "websocket", "upgrade", "13", "").status == 400);
    CHECK(check_websocket_handshake(true, "websocket", "upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ").status == 400);
    CHECK(check_websocket_handshake(true, "websocket", "upgrade", "13", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA").status == 400);
    CHECK(check_websocket_handshake(true, "websocket", "upgrade", "13", "!!!!!!!!!!!!!!!!!!!!!!==").status == 400);
}

TEST_CASE("websocket: header tokens") {
    CHECK(header_has_token("a, b ,c", "b"));
    CHECK(header_has_token("Upgrade", "upgrade"));
    CHECK_FALSE(header_has_token("", "upgrade"));
    CHECK_FALSE(header_has_token("upgrades", "upgrade"));
    CHECK(header_has_token(",,upgrade,", "upgrade"));
}
