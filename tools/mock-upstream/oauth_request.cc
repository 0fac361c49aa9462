#include "oauth_request.h"

#include <strings.h>

#include <string_view>

#include <rapidjson/document.h>

#include "incoming.h"

namespace mock {
namespace {

struct Field {
    std::string_view name;
    std::optional<std::string> TokenRequest::*slot;
};

constexpr Field kFields[] = {
    {"grant_type", &TokenRequest::grant_type},
    {"refresh_token", &TokenRequest::refresh_token},
    {"client_id", &TokenRequest::client_id},
    {"client_secret", &TokenRequest::client_secret},
    {"scope", &TokenRequest::scope},
};

void bad(TokenRequest& r, int status, const char* error, std::string description) {
    if (r.bad_status == 0) {
        r.bad_status = status;
        r.error = error;
        r.error_description = std::move(description);
    }
}

// Stores a field's value; false (and r marked bad) when it is repeated or too long.
bool store(TokenRequest& r, std::string_view name, std::string value) {
    for (const Field& f : kFields) {
        if (f.name != name) continue;
        if (value.size() > kMaxTokenField) {
            bad(r, 400, "invalid_request", std::string(name) + " is longer than 4096 bytes");
            return false;
        }
        if (r.*f.slot) {  // RFC 6749 section 3.2: parameters must not repeat
            bad(r, 400, "invalid_request", std::string(name) + " is given more than once");
            return false;
        }
        r.*f.slot = std::move(value);
        return true;
    }
    return true;  // an unknown parameter is ignored
}

void read_form(std::string_view body, TokenRequest& r) {
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t amp = body.find('&', start);
        if (amp == std::string_view::npos) amp = body.size();
        std::string_view pair = body.substr(start, amp - start);
        start = amp + 1;
        if (pair.empty()) continue;
        std::size_t eq = pair.find('=');
        std::string name = percent_decode(pair.substr(0, eq), true);
        std::string value =
            eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
        if (!store(r, name, std::move(value))) return;
    }
}

void read_json(std::string_view body, TokenRequest& r) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        bad(r, 400, "invalid_request", "the body is not a JSON object");
        return;
    }
    for (const Field& f : kFields) {
        auto it = doc.FindMember(rapidjson::StringRef(f.name.data(), f.name.size()));
        if (it == doc.MemberEnd() || it->value.IsNull()) continue;
        if (!it->value.IsString()) {
            bad(r, 400, "invalid_request", std::string(f.name) + " must be a string");
            return;
        }
        if (!store(r, f.name, std::string(it->value.GetString(), it->value.GetStringLength()))) return;
    }
}

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

std::optional<std::string> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    std::string out;
    uint32_t bits = 0;
    int have = 0;
    for (char c : text) {
        int v = base64_value(c);
        if (v < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<uint32_t>(v);
        have += 6;
        if (have >= 8) {
            have -= 8;
            out.push_back(static_cast<char>((bits >> have) & 0xff));
        }
    }
    return out;
}

// Authorization: Basic base64(urlencode(id) ":" urlencode(secret)) (RFC 6749 section 2.3.1).
void read_basic(const RecordedRequest& in, TokenRequest& r) {
    const std::string* auth = find_header(in, "authorization");
    if (auth == nullptr || auth->size() < 6 || strncasecmp(auth->c_str(), "basic ", 6) != 0) return;
    std::string_view value = std::string_view(*auth).substr(6);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    std::optional<std::string> pair =
        value.size() <= 4 * kMaxTokenField ? base64_decode(value) : std::nullopt;
    std::size_t colon = pair ? pair->find(':') : std::string::npos;
    if (colon == std::string::npos) {
        bad(r, 401, "invalid_client", "malformed Basic client credentials");
        return;
    }
    std::string id = percent_decode(std::string_view(*pair).substr(0, colon), true);
    std::string secret = percent_decode(std::string_view(*pair).substr(colon + 1), true);
    if (r.client_secret) {
        bad(r, 400, "invalid_request", "more than one client authentication method");
        return;
    }
    if (r.client_id && *r.client_id != id) {
        bad(r, 400, "invalid_request", "client_id differs from the Basic client credentials");
        return;
    }
    if (id.size() > kMaxTokenField || secret.size() > kMaxTokenField) {
        bad(r, 400, "invalid_request", "client credentials longer than 4096 bytes");
        return;
    }
    r.client_id = std::move(id);
    r.client_secret = std::move(secret);
}

}  // namespace

TokenRequest read_token_request(const RecordedRequest& in) {
    TokenRequest r;
    if (in.body.size() > kMaxTokenBody) {
        bad(r, 413, "invalid_request", "the request body is larger than 65536 bytes");
        return r;
    }
    const std::string* type = find_header(in, "content-type");
    std::size_t first = in.body.find_first_not_of(" \t\r\n");
    bool json = (type != nullptr && type->find("json") != std::string::npos) ||
                (first != std::string::npos && in.body[first] == '{');
    if (json) {
        read_json(in.body, r);
    } else {
        read_form(in.body, r);
    }
    if (r.bad_status == 0) read_basic(in, r);
    return r;
}

}  // namespace mock
