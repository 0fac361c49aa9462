// OAuth2 access tokens shared by the workers (credentials/oauth_token.h).
#include "credentials/oauth_token.h"

#include <algorithm>
#include <utility>

#include "common/json.h"
#include "common/mailbox.h"
#include "credentials/hints.h"
#include "translate/json_util.h"

namespace agd::credentials {

namespace {

using translate::JsonValue;

std::string str(const JsonValue& obj, const char* key) {
    const JsonValue* v = translate::member(obj, key);
    if (v == nullptr || !v->IsString() || v->GetStringLength() > kMaxTokenText) return {};
    return std::string(v->GetString(), v->GetStringLength());
}

// A token goes into an HTTP header and a form: printable ASCII only
// (RFC 6749 appendix A: VSCHAR), else it is not taken.
std::string token(const JsonValue& obj, const char* key) {
    std::string t = str(obj, key);
    for (char c : t)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return {};
    return t;
}

constexpr int64_t kMaxUnixMs = 253402300799999;  // 9999-12-31: a later time is not believed

int64_t num(const JsonValue& obj, const char* key) {
    const JsonValue* v = translate::member(obj, key);
    if (v == nullptr) return -1;
    if (v->IsInt64()) return v->GetInt64();
    if (v->IsDouble() && v->GetDouble() >= 0 && v->GetDouble() < 9.0e15) return static_cast<int64_t>(v->GetDouble());
    return -1;
}

// The fields of one object, in either spelling; false when it has no refresh token.
bool read_fields(const JsonValue& o, TokenFile& t) {
    if (!o.IsObject()) return false;
    t.refresh_token = token(o, "refresh_token");
    if (t.refresh_token.empty()) t.refresh_token = token(o, "refreshToken");
    if (t.refresh_token.empty()) return false;
    t.access_token = token(o, "access_token");
    if (t.access_token.empty()) t.access_token = token(o, "accessToken");
    t.expires_at_ms = 0;
    if (int64_t s = num(o, "expires_at"); s > 0 && s <= kMaxUnixMs / 1000) t.expires_at_ms = s * 1000;
    else if (int64_t ms = num(o, "expiry_date"); ms > 0 && ms <= kMaxUnixMs) t.expires_at_ms = ms;
    else if (int64_t ms2 = num(o, "expiresAt"); ms2 > 0 && ms2 <= kMaxUnixMs) t.expires_at_ms = ms2;
    else if (std::string e = str(o, "expiry"); !e.empty()) t.expires_at_ms = std::max<int64_t>(parse_rfc3339_ms(e), 0);
    return true;
}

// Text from the token endpoint, for a log line and the evidence: control
// characters become spaces.
std::string one_line(std::string_view s, size_t max) {
    std::string out;
    for (char c : s.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    return out;
}

}  // namespace

Result<TokenFile> parse_token_file(std::string_view text) {
    using R = Result<TokenFile>;
    if (text.size() > kMaxTokenFile) return R::fail(1, "larger than 64 KiB");
    translate::JsonDoc doc;
    std::string error;
    if (!translate::parse_json(text, doc, &error)) return R::fail(1, "not JSON: " + error);
    if (!doc.IsObject()) return R::fail(1, "not a JSON object");
    TokenFile t;
    if (read_fields(doc, t)) return t;
    for (const auto& m : doc.GetObject())
        if (read_fields(m.value, t)) return t;
    return R::fail(1, "no refresh_token in it");
}

std::string token_file_json(const TokenFile& t) {
    std::string out = "{\"refresh_token\":" + json_string(t.refresh_token);
    if (!t.access_token.empty()) out += ",\"access_token\":" + json_string(t.access_token);
    if (t.expires_at_ms > 0) out += ",\"expires_at\":" + std::to_string(t.expires_at_ms / 1000);
    out += "}\n";
    return out;
}

TokenGrant parse_token_answer(int status, std::string_view body) {
    TokenGrant g;
    translate::JsonDoc doc;
    bool json = body.size() <= kMaxTokenAnswer && translate::parse_json(body, doc) && doc.IsObject();
    if (json) {
        g.error = one_line(str(doc, "error"), 64);
        std::string desc = str(doc, "error_description");
        g.message = "token endpoint: " + std::to_string(status) + (g.error.empty() ? "" : " " + g.error) +
                    (desc.empty() ? "" : ": " + one_line(desc, kMaxHintText));
        if (status >= 200 && status < 300) {
            g.access_token = token(doc, "access_token");
            g.refresh_token = token(doc, "refresh_token");
            int64_t in = num(doc, "expires_in");
            if (in < 0) {  // some servers send it as a string
                std::string s = str(doc, "expires_in");
                if (!s.empty() && s.size() < 12 && s.find_first_not_of("0123456789") == std::string::npos)
                    in = std::stoll(s);
            }
            g.expires_in_s = in;
            g.ok = !g.access_token.empty();
            if (!g.ok) g.message = "token endpoint: " + std::to_string(status) + " without a usable access_token";
        }
    } else {
        g.message = "token endpoint: " + std::to_string(status) + (status >= 200 && status < 300 ? " with an answer that is not a JSON object" : "");
    }
    g.refused = !g.ok && (g.error == "invalid_grant" || g.error == "invalid_client" || g.error == "unauthorized_client");
    return g;
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    auto enc = [&](const std::string& s) {
        for (unsigned char c : s) {
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                c == '_' || c == '~') {
                out += static_cast<char>(c);
            } else if (c == ' ') {
                out += '+';
            } else {
                out += '%';
                out += hex[c >> 4];
                out += hex[c & 15];
            }
        }
    };
    for (const auto& [k, v] : fields) {
        if (!out.empty()) out += '&';
        enc(k);
        out += '=';
        enc(v);
    }
    return out;
}

std::string OAuthToken::access(int64_t now) const {
    int64_t exp = expires_at_ms_.load(std::memory_order_relaxed);
    if (exp != 0 && exp - margin_ms_.load(std::memory_order_relaxed) <= now) return {};
    std::lock_guard lock(mu_);
    return access_;
}

void OAuthToken::want(Mailbox& loop, std::function<void()> done, uint64_t stale) {
    bool start = false, newer = false;
    {
        std::lock_guard lock(mu_);
        // A 401 on a token already replaced: the newer one is there to use.
        newer = stale != 0 && stale != generation_.load(std::memory_order_relaxed) && !access_.empty();
        if (stale != 0 && stale == generation_.load(std::memory_order_relaxed)) {
            access_.clear();
            expires_at_ms_.store(1, std::memory_order_relaxed);  // expired: access() gives none
        }
        if (!newer) {
            waiters_.emplace_back(&loop, std::move(done));
            start = !refreshing_.exchange(true, std::memory_order_acq_rel);
        }
    }
    if (newer) {
        loop.post(std::move(done));
        return;
    }
    if (!start) return;
    auto self = shared_from_this();
    if (main_ == nullptr || !main_->post([self] { self->start_(self); })) {
        failed("the token refresh could not be started (the daemon is busy or stopping)");
    }
}

bool OAuthToken::begin_refresh() { return !refreshing_.exchange(true, std::memory_order_acq_rel); }

void OAuthToken::publish(std::string token, int64_t expires_at_ms, int64_t issued_at_ms) {
    std::vector<std::pair<Mailbox*, std::function<void()>>> waiters;
    {
        std::lock_guard lock(mu_);
        access_ = std::move(token);
        int64_t margin = kTokenMarginMs;
        if (issued_at_ms > 0 && expires_at_ms > issued_at_ms) margin = std::min(margin, (expires_at_ms - issued_at_ms) / 4);
        margin_ms_.store(margin, std::memory_order_relaxed);
        expires_at_ms_.store(expires_at_ms, std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_acq_rel);
        last_error_.clear();
        waiters.swap(waiters_);
        refreshing_.store(false, std::memory_order_release);
    }
    wake(waiters);
}

void OAuthToken::failed(std::string why) {
    std::vector<std::pair<Mailbox*, std::function<void()>>> waiters;
    {
        std::lock_guard lock(mu_);
        last_error_ = std::move(why);
        waiters.swap(waiters_);
        refreshing_.store(false, std::memory_order_release);
    }
    wake(waiters);
}

void OAuthToken::wake(std::vector<std::pair<Mailbox*, std::function<void()>>>& waiters) {
    for (auto& [loop, fn] : waiters) loop->post(std::move(fn));  // a full mailbox drops it: see Exchange's guard
}

std::string OAuthToken::last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
}

}  // namespace agd::credentials
