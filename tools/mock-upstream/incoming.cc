#include "incoming.h"

#include <strings.h>

#include <cctype>

#include "worker.h"

namespace mock {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// Authorization: Bearer X > x-api-key > x-goog-api-key > ?key=
void find_credential(RecordedRequest& in) {
    if (const std::string* auth = find_header(in, "authorization")) {
        std::string_view value = trim(*auth);
        if (value.size() >= 7 && strncasecmp(value.data(), "bearer ", 7) == 0) {
            value = trim(value.substr(7));
        }
        in.credential = std::string(value);
        in.auth_header = "authorization";
        return;
    }
    for (const char* name : {"x-api-key", "x-goog-api-key"}) {
        if (const std::string* v = find_header(in, name)) {
            in.credential = std::string(trim(*v));
            in.auth_header = name;
            return;
        }
    }
    if (auto key = query_param(in.query, "key")) {
        in.credential = *key;
        in.auth_header = "query";
        return;
    }
    in.credential.clear();
    in.auth_header = "none";
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%' && i + 2 < text.size()) {
            int hi = hex_value(text[i + 1]);
            int lo = hex_value(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(plus_is_space && c == '+' ? ' ' : c);
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t amp = query.find('&', start);
        if (amp == std::string_view::npos) amp = query.size();
        std::string_view pair = query.substr(start, amp - start);
        std::size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        if (percent_decode(key, true) == name) {
            return eq == std::string_view::npos ? std::string()
                                                : percent_decode(pair.substr(eq + 1), true);
        }
        start = amp + 1;
    }
    return std::nullopt;
}

const std::string* find_header(const RecordedRequest& in, std::string_view name) {
    for (const auto& [key, value] : in.headers) {
        if (key == name) return &value;
    }
    return nullptr;
}

namespace {

// Counts body bytes as they arrive; libevhtp keeps them in buffer_in.
evhtp_res on_body_read(evhtp_request_t*, evbuffer* buf, void*) {
    stats().body_bytes.fetch_add(evbuffer_get_length(buf));
    return EVHTP_RES_OK;
}

}  // namespace

evhtp_res on_request_headers(evhtp_request_t* req, evhtp_headers_t*, void*) {
    if (req->uri != nullptr && req->uri->query == nullptr) {
        req->uri->query = evhtp_kvs_new();
    }
    evhtp_request_set_hook(req, evhtp_hook_on_read, as_hook(&on_body_read), nullptr);
    return EVHTP_RES_OK;
}

RecordedRequest read_incoming(evhtp_request_t* req) {
    RecordedRequest in;
    const char* method = htparser_get_methodstr_m(req->method);
    in.method = method != nullptr ? method : "UNKNOWN";
    if (req->uri != nullptr && req->uri->path != nullptr && req->uri->path->full != nullptr) {
        in.path = req->uri->path->full;
    } else {
        in.path = "/";
    }
    if (req->uri != nullptr && req->uri->query_raw != nullptr) {
        in.query = reinterpret_cast<const char*>(req->uri->query_raw);
    }
    for (evhtp_kv_t* kv = TAILQ_FIRST(req->headers_in); kv != nullptr; kv = TAILQ_NEXT(kv, next)) {
        in.headers.emplace_back(lower(std::string_view(kv->key, kv->klen)),
                                std::string(kv->val, kv->vlen));
    }
    std::size_t len = evbuffer_get_length(req->buffer_in);
    if (len > 0) {
        const unsigned char* data = evbuffer_pullup(req->buffer_in, -1);
        in.body.assign(reinterpret_cast<const char*>(data), len);
    }
    find_credential(in);
    return in;
}

}  // namespace mock
