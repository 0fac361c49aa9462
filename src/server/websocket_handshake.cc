#include "server/websocket_handshake.h"

#include <openssl/evp.h>

#include <cctype>

#include "common/base64.h"
#include "common/ascii.h"

namespace agd {

namespace {

WebSocketHandshake refuse(int status, std::string why) {
    WebSocketHandshake h;
    h.status = status;
    h.error = std::move(why);
    return h;
}

}  // namespace

bool header_has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view item = trim_ows(value.substr(0, comma));
        if (iequals(item, token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

WebSocketHandshake check_websocket_handshake(bool http11, std::string_view upgrade, std::string_view connection,
                                             std::string_view version, std::string_view key) {
    if (!http11) return refuse(400, "a WebSocket handshake needs HTTP/1.1");
    if (!header_has_token(upgrade, "websocket")) return refuse(400, "Upgrade must name websocket");
    if (!header_has_token(connection, "upgrade")) return refuse(400, "Connection must list upgrade");
    if (trim_ows(version) != "13") return refuse(426, "Sec-WebSocket-Version 13 is the version served");
    std::string raw;
    std::string_view k = trim_ows(key);
    if (k.size() != 24 || !base64_decode(k, raw) || raw.size() != 16)
        return refuse(400, "Sec-WebSocket-Key must be the base64 of 16 bytes");
    WebSocketHandshake h;
    h.ok = true;
    h.status = 101;
    h.accept = websocket_accept(k);
    return h;
}

std::string websocket_accept(std::string_view key) {
    std::string text(key);
    text += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha1(), nullptr) != 1) return {};
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string websocket_101(std::string_view accept) {
    std::string head =
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    head += accept;
    head += "\r\n\r\n";
    return head;
}

}  // namespace agd
