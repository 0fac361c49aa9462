#include "admin/guard.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "common/ascii.h"

namespace agd::admin {

namespace {

std::string random_hex(size_t bytes) {
    unsigned char raw[64];
    if (bytes > sizeof raw || RAND_bytes(raw, static_cast<int>(bytes)) != 1) return {};
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < bytes; ++i) {
        out += hex[raw[i] >> 4];
        out += hex[raw[i] & 15];
    }
    OPENSSL_cleanse(raw, sizeof raw);
    return out;
}

}  // namespace

const char* to_string(Role r) { return r == Role::Admin ? "admin" : "viewer"; }

std::string Sessions::open(Role role, int64_t now_ms, int64_t ttl_ms) {
    std::string token = random_hex(32);
    std::string csrf = random_hex(16);
    if (token.empty() || csrf.empty()) return {};
    for (auto it = sessions_.begin(); it != sessions_.end();)
        it = it->second.expires_ms <= now_ms ? sessions_.erase(it) : std::next(it);
    if (sessions_.size() >= kMax) {
        auto first = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
            return a.second.expires_ms < b.second.expires_ms;
        });
        sessions_.erase(first);
    }
    sessions_.emplace(token, Session{role, now_ms + ttl_ms, std::move(csrf)});
    return token;
}

const Sessions::Session* Sessions::find(std::string_view token, int64_t now_ms) {
    if (token.size() != 64) return nullptr;
    auto it = sessions_.find(token);
    if (it == sessions_.end()) return nullptr;
    if (it->second.expires_ms <= now_ms) {
        sessions_.erase(it);
        return nullptr;
    }
    return &it->second;
}

void Sessions::close(std::string_view token) {
    auto it = sessions_.find(token);
    if (it != sessions_.end()) sessions_.erase(it);
}

int64_t LoginGuard::locked_for(const std::string& addr, int64_t now_ms) {
    auto it = records_.find(addr);
    if (it == records_.end() || it->second.locked_until_ms <= now_ms) return 0;
    return it->second.locked_until_ms - now_ms;
}

bool LoginGuard::failed(const std::string& addr, int64_t now_ms) {
    auto it = records_.find(addr);
    if (it == records_.end()) {
        if (records_.size() >= kMaxAddresses) {
            // The record whose window started first goes (a locked one only
            // once nothing else is left).
            auto oldest = std::min_element(records_.begin(), records_.end(), [now_ms](const auto& a, const auto& b) {
                bool la = a.second.locked_until_ms > now_ms, lb = b.second.locked_until_ms > now_ms;
                if (la != lb) return !la;
                return a.second.first_ms < b.second.first_ms;
            });
            records_.erase(oldest);
        }
        it = records_.emplace(addr, Record{}).first;
    }
    Record& r = it->second;
    // Failures count within the lockout window; an old streak starts over.
    if (r.failures == 0 || now_ms - r.first_ms > kLockoutMs) {
        r.failures = 0;
        r.first_ms = now_ms;
    }
    if (++r.failures < kMaxFailures) return false;
    r.failures = 0;
    r.locked_until_ms = now_ms + kLockoutMs;
    ++lockouts_;
    return true;
}

bool host_allowed(std::string_view host, const std::vector<std::string>& listeners, uint16_t port,
                  const std::vector<std::string>& names) {
    if (host.empty()) return false;
    for (const auto& l : listeners)
        if (iequals(host, l)) return true;
    std::string with_port = ":" + std::to_string(port);
    bool loopback = std::any_of(listeners.begin(), listeners.end(), [](const std::string& l) {
        return l.rfind("127.", 0) == 0 || l.rfind("[::1]:", 0) == 0;
    });
    if (loopback && iequals(host, "localhost" + with_port)) return true;
    for (const auto& n : names)
        if (iequals(host, n) || iequals(host, n + with_port)) return true;
    return false;
}

bool origin_allowed(std::string_view origin, std::string_view host) {
    if (origin.empty() || host.empty()) return false;
    for (std::string_view scheme : {"http://", "https://"})
        if (origin.size() == scheme.size() + host.size() && origin.substr(0, scheme.size()) == scheme &&
            iequals(origin.substr(scheme.size()), host))
            return true;
    return false;
}

std::string_view cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        size_t semi = header.find(';');
        std::string_view pair = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
        while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
        size_t eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
    return {};
}

}  // namespace agd::admin
