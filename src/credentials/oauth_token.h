// OAuth2 refresh-token credentials (RFC 6749 section 6): the access token a
// credential sends, shared by every worker, and the pieces the main
// thread's TokenKeeper (daemon/token_keeper.h) refreshes it with.
//
// Workers call access() for the token to send (empty: none usable now) and
// want() to be called back once a refresh has ended; want() starts the
// refresh when none is running (single-flight per credential). The keeper,
// on the main thread, publishes a new token (publish()) or a failure
// (failed()), which wakes every waiter through its own loop's mailbox.
// One short leaf mutex guards the token and the waiters; no I/O under it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace agd {
class Mailbox;
}

namespace agd::credentials {

inline constexpr size_t kMaxTokenFile = 64 * 1024;       // bytes of a token file read
inline constexpr size_t kMaxTokenText = 16 * 1024;       // an access or refresh token
inline constexpr size_t kMaxTokenAnswer = 64 * 1024;     // bytes of a token endpoint's answer read
inline constexpr int64_t kTokenMarginMs = 10'000;        // a token this close to expiry is not sent
                                                         // (a quarter of its life, if that is less)

// What a token file holds. Read: {"refresh_token","access_token",
// "expires_at" (unix s) | "expiry_date" (unix ms) | "expiry" (RFC 3339)},
// the same in camelCase ("refreshToken","accessToken","expiresAt" in ms),
// at the top level or in one object member (as other tools write them).
// Written: the snake_case form, expires_at in seconds.
struct TokenFile {
    std::string refresh_token;
    std::string access_token;
    int64_t expires_at_ms = 0;  // 0: unknown (the access token is refreshed before use)
};
Result<TokenFile> parse_token_file(std::string_view text);
std::string token_file_json(const TokenFile& t);

// A token endpoint's answer. Success (2xx with access_token): the grant.
// Otherwise the error: `error` (RFC 6749 5.2 code, "" when the answer had
// none) and a one-line `message` for the evidence; `refused` is true when
// the refresh token itself was refused (invalid_grant, invalid_client,
// unauthorized_client: retrying will not help).
struct TokenGrant {
    bool ok = false;
    std::string access_token;
    std::string refresh_token;  // "" = not rotated
    int64_t expires_in_s = -1;  // -1: not said
    std::string error;
    std::string message;
    bool refused = false;
};
TokenGrant parse_token_answer(int status, std::string_view body);

// application/x-www-form-urlencoded (RFC 6749 4.1.3 / appendix B).
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

class OAuthToken : public std::enable_shared_from_this<OAuthToken> {
public:
    // The access token, when one is known that expires more than the
    // margin after `now_wall_ms` (or whose expiry is unknown); "".
    std::string access(int64_t now_wall_ms) const;
    // The generation of the token access() returns: a 401 on generation g
    // asks for a new token only if g is still the current one.
    uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
    int64_t expires_at_ms() const { return expires_at_ms_.load(std::memory_order_relaxed); }
    bool refreshing() const { return refreshing_.load(std::memory_order_relaxed); }

    // Any thread: `done` runs on `loop`'s thread once a refresh has ended
    // (its outcome: access() again). Starts one unless one runs. When
    // `stale` is the current generation, the current token is dropped
    // first (the upstream refused it).
    void want(Mailbox& loop, std::function<void()> done, uint64_t stale = 0);

    // Main thread (the keeper).
    void set_starter(Mailbox* main, std::function<void(std::shared_ptr<OAuthToken>)> start) {
        main_ = main;
        start_ = std::move(start);
    }
    // `issued_at_ms`: when it was issued (0: unknown), for the margin.
    void publish(std::string access_token, int64_t expires_at_ms, int64_t issued_at_ms = 0);
    void failed(std::string why);
    // Starts a refresh from the main thread (ahead of expiry); false if one runs.
    bool begin_refresh();

    // For `credentials`: counters and the last refresh's trouble.
    std::atomic<uint64_t> refreshes{0};
    std::atomic<uint64_t> refresh_failures{0};
    std::atomic<int64_t> last_refresh_unix_ms{0};
    std::string last_error() const;

private:
    void wake(std::vector<std::pair<Mailbox*, std::function<void()>>>& waiters);

    mutable std::mutex mu_;  // leaf: access_, waiters_, last_error_
    std::string access_;
    std::vector<std::pair<Mailbox*, std::function<void()>>> waiters_;
    std::string last_error_;
    std::atomic<int64_t> expires_at_ms_{0};
    std::atomic<int64_t> margin_ms_{kTokenMarginMs};
    std::atomic<uint64_t> generation_{0};
    std::atomic<bool> refreshing_{false};
    Mailbox* main_ = nullptr;
    std::function<void(std::shared_ptr<OAuthToken>)> start_;
};

}  // namespace agd::credentials
