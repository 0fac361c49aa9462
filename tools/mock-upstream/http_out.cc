#include "http_out.h"

#include <fmt/format.h>

namespace mock {
namespace {

bool is_chunked(evhtp_request_t* req) { return req->proto == EVHTP_PROTO_11; }

bool keep_alive(evhtp_request_t* req) { return (req->flags & EVHTP_REQ_FLAG_KEEPALIVE) != 0; }

// evhtp_request_set_keepalive(req, 0) is a no-op in libevhtp 1.2.18,
// so clear the flag directly.
void drop_keep_alive(evhtp_request_t* req) {
    req->flags = static_cast<uint16_t>(req->flags & ~EVHTP_REQ_FLAG_KEEPALIVE);
}

void put(evhtp_request_t* req, std::string_view data) {
    if (!data.empty()) {
        bufferevent_write(evhtp_request_get_bev(req), data.data(), data.size());
    }
}

// Header values must not break the response framing.
std::string clean_value(std::string_view value) {
    std::string out(value);
    for (char& c : out) {
        if (c == '\r' || c == '\n' || c == '\0') c = ' ';
    }
    return out;
}

}  // namespace

const char* reason_phrase(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 413: return "Payload Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Entity";
        case 429: return "Too Many Requests";
        case 499: return "Client Closed Request";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 529: return "Site Overloaded";
        default: break;
    }
    return status >= 500 ? "Server Error" : "Client Error";
}

void send_head(evhtp_request_t* req, int status, const Headers& headers,
               std::optional<std::size_t> content_length) {
    const bool http11 = req->proto == EVHTP_PROTO_11;
    if (!content_length && !http11) {
        drop_keep_alive(req);  // an HTTP/1.0 stream ends by closing the connection
    }
    std::string head = fmt::format("HTTP/1.{} {} {}\r\n", http11 ? 1 : 0, status,
                                   reason_phrase(status));
    for (const auto& [name, value] : headers) {
        head += fmt::format("{}: {}\r\n", name, clean_value(value));
    }
    if (content_length) {
        head += fmt::format("Content-Length: {}\r\n", *content_length);
    } else if (http11) {
        head += "Transfer-Encoding: chunked\r\n";
    }
    if (!keep_alive(req)) {
        head += "Connection: close\r\n";
    } else if (!http11) {
        head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    put(req, head);
}

void close_after_reply(evhtp_request_t* req) { drop_keep_alive(req); }

void send_bytes(evhtp_request_t* req, std::string_view data) { put(req, data); }

void send_chunk(evhtp_request_t* req, std::string_view data) {
    if (data.empty()) {
        return;  // an empty chunk would end the body
    }
    if (is_chunked(req)) {
        put(req, fmt::format("{:x}\r\n{}\r\n", data.size(), data));
    } else {
        put(req, data);
    }
}

void send_stream_end(evhtp_request_t* req) {
    if (is_chunked(req)) {
        put(req, "0\r\n\r\n");
    }
    evhtp_send_reply_end(req);
}

void send_full(evhtp_request_t* req, int status, const Headers& headers,
               std::string_view content_type, std::string_view body) {
    Headers all = headers;
    all.emplace_back("Content-Type", std::string(content_type));
    send_head(req, status, all, body.size());
    if (req->method != htp_method_HEAD) {
        put(req, body);
    }
    evhtp_send_reply_end(req);
}

}  // namespace mock
