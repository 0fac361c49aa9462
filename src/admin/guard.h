// The admin plane's gatekeeping, without I/O (the admin server applies it):
// login sessions, the lockout of addresses that keep failing, and the
// checks against cross-site requests and DNS rebinding.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agd::admin {

enum class Role { Viewer, Admin };
const char* to_string(Role r);

// Browser sessions: a random token (the cookie) -> role, expiry, and a
// CSRF token the console sends back on changes. Bounded: beyond kMax the
// session that expires first goes.
class Sessions {
public:
    static constexpr size_t kMax = 1024;
    struct Session {
        Role role;
        int64_t expires_ms;
        std::string csrf;
    };
    // A new session; its token ("" if the system has no randomness).
    std::string open(Role role, int64_t now_ms, int64_t ttl_ms);
    // The live session of `token`, nullptr when none (or expired: then gone).
    const Session* find(std::string_view token, int64_t now_ms);
    void close(std::string_view token);
    size_t size() const { return sessions_.size(); }

private:
    std::map<std::string, Session, std::less<>> sessions_;
};

// Five failed logins from one address lock it out for fifteen minutes.
// Bounded: beyond kMaxAddresses the oldest record goes.
class LoginGuard {
public:
    static constexpr int kMaxFailures = 5;
    static constexpr int64_t kLockoutMs = 15 * 60 * 1000;
    static constexpr size_t kMaxAddresses = 4096;
    // Milliseconds the address stays locked out, 0 when it may try.
    int64_t locked_for(const std::string& addr, int64_t now_ms);
    // A failed login; true when this one locks the address out.
    bool failed(const std::string& addr, int64_t now_ms);
    void succeeded(const std::string& addr) { records_.erase(addr); }
    uint64_t lockouts() const { return lockouts_; }

private:
    struct Record {
        int failures = 0;
        int64_t first_ms = 0;
        int64_t locked_until_ms = 0;
    };
    std::map<std::string, Record> records_;
    uint64_t lockouts_ = 0;
};

// DNS rebinding: the Host header must name the listener itself (its
// address and port, "localhost:PORT" for a loopback one) or one of the
// configured names (with or without the port).
bool host_allowed(std::string_view host, const std::vector<std::string>& listeners, uint16_t port,
                  const std::vector<std::string>& names);

// A browser's change (POST and the like, with the session cookie) must
// come from the console's own page: Origin "http://HOST" or "https://HOST"
// for the request's own Host.
bool origin_allowed(std::string_view origin, std::string_view host);

// The value of cookie `name` in a Cookie header, "" when absent.
std::string_view cookie_value(std::string_view header, std::string_view name);

}  // namespace agd::admin
