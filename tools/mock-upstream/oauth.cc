#include "oauth.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "json.h"
#include "oauth_request.h"
#include "ratelimit.h"

namespace mock {
namespace {

constexpr std::size_t kMaxTokens = 10000;  // live tokens of each kind; the oldest go first
constexpr std::size_t kMaxClients = 10000;  // clients counted one by one in by_client

// Strings with a value, that forget the oldest entries beyond kMaxTokens.
template <typename V>
class Bounded {
public:
    V* find(const std::string& key) {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second.value;
    }
    void put(const std::string& key, V value) {
        erase(key);
        if (index_.size() >= kMaxTokens && !order_.empty()) {
            index_.erase(order_.begin()->second);
            order_.erase(order_.begin());
        }
        uint64_t at = next_++;
        order_.emplace(at, key);
        index_.emplace(key, Entry{std::move(value), at});
    }
    void erase(const std::string& key) {
        auto it = index_.find(key);
        if (it == index_.end()) return;
        order_.erase(it->second.at);
        index_.erase(it);
    }
    void clear() {
        index_.clear();
        order_.clear();
    }
    std::size_t size() const { return index_.size(); }
    // Oldest first.
    template <typename F>
    void each(F f) const {
        for (const auto& [at, key] : order_) f(key, index_.at(key).value);
    }

private:
    struct Entry {
        V value;
        uint64_t at;
    };
    std::unordered_map<std::string, Entry> index_;
    std::map<uint64_t, std::string> order_;
    uint64_t next_ = 0;
};

struct Access {
    int64_t expires_ns = 0;  // CLOCK_REALTIME
    std::string client_id;
};

struct Config {
    int64_t expires_in = 3600;  // seconds
    bool rotate = true;
    int fail_status = 0;        // 0: none
    int64_t fail_left = -1;     // failures still due; -1: every request while fail_status is set
    int64_t delay_ms = 0;
    std::map<std::string, std::string> secrets;  // client_id -> client_secret
};

struct Last {
    std::optional<std::string> grant_type, client_id, scope, refresh_token;
};

struct State {
    Config config;
    Bounded<char> live_refresh;   // refresh tokens that are accepted now
    Bounded<char> seen_refresh;   // every refresh token used or issued (a seed is taken once)
    Bounded<Access> access;
    uint64_t requests = 0;
    uint64_t refreshes = 0;
    std::map<std::string, uint64_t> by_client;
    int64_t in_flight = 0;
    int64_t max_concurrent = 0;
    std::optional<Last> last;
};

std::mutex g_mutex;
State g_state;
std::atomic<uint64_t> g_token_seq{0};  // never reset: a token name is never issued twice

constexpr int64_t kMaxExpiresIn = int64_t{400} * 86400;
constexpr int64_t kMaxDelayMs = int64_t{24} * 3600 * 1000;
constexpr int64_t kMaxFailCount = 1000000000;
constexpr std::size_t kMaxSecrets = 1000;

// One token request from receipt to answer; counted in flight until then.
struct Pending {
    TokenRequest req;
    bool answered = false;

    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    explicit Pending(TokenRequest r) : req(std::move(r)) {}
    ~Pending() {
        if (!answered) {  // its client left during the delay: nothing was decided
            std::lock_guard lock(g_mutex);
            --g_state.in_flight;
        }
    }
};

LateAnswer oauth_error(int status, std::string_view error, std::string_view description) {
    LateAnswer a;
    a.status = status;
    JsonOut j;
    j.obj().ks("error", error).ks("error_description", description).end();
    a.body = j.take();
    if (status == 401) a.headers.emplace_back("WWW-Authenticate", "Basic realm=\"agd-mock\"");
    return a;
}

const char* fail_error(int status) {
    switch (status) {
        case 400: return "invalid_grant";
        case 401: return "invalid_client";
        case 503: return "temporarily_unavailable";
        default: break;
    }
    return "server_error";
}

// The answer, under g_mutex.
LateAnswer decide(State& st, const TokenRequest& r) {
    if (st.config.fail_status != 0 && st.config.fail_left != 0) {
        if (st.config.fail_left > 0) --st.config.fail_left;
        return oauth_error(st.config.fail_status, fail_error(st.config.fail_status),
                           "mock: scripted token endpoint failure");
    }
    if (r.bad_status != 0) return oauth_error(r.bad_status, r.error, r.error_description);
    if (!r.grant_type) return oauth_error(400, "invalid_request", "grant_type is missing");
    if (*r.grant_type != "refresh_token") {
        return oauth_error(400, "unsupported_grant_type", "only refresh_token is supported");
    }
    if (!r.refresh_token || r.refresh_token->empty()) {
        return oauth_error(400, "invalid_request", "refresh_token is missing");
    }
    const std::string client = r.client_id.value_or("");
    auto secret = st.config.secrets.find(client);
    if (secret != st.config.secrets.end() && r.client_secret != secret->second) {
        return oauth_error(401, "invalid_client", "client authentication failed");
    }
    const std::string& used = *r.refresh_token;
    bool live = st.live_refresh.find(used) != nullptr;
    bool seed = !live && used.compare(0, 3, "rt-") == 0 && st.seen_refresh.find(used) == nullptr;
    if (!live && !seed) {
        return oauth_error(400, "invalid_grant", "the refresh token is invalid, used or revoked");
    }
    st.seen_refresh.put(used, 0);
    uint64_t n = ++g_token_seq;
    std::string access = fmt::format("at-mock{}", n);
    st.access.put(access, Access{realtime_ns() + st.config.expires_in * kSecondNs, client});
    std::optional<std::string> fresh;
    if (st.config.rotate) {
        st.live_refresh.erase(used);
        fresh = fmt::format("rt-mock{}", n);
        st.live_refresh.put(*fresh, 0);
        st.seen_refresh.put(*fresh, 0);
    } else if (seed) {
        st.live_refresh.put(used, 0);  // without rotation a seed stays usable
    }
    ++st.refreshes;
    auto counted = st.by_client.find(client);
    if (counted != st.by_client.end()) {
        ++counted->second;
    } else if (st.by_client.size() < kMaxClients) {
        st.by_client.emplace(client, 1);
    }
    LateAnswer a;
    JsonOut j;
    j.obj().ks("access_token", access).ks("token_type", "Bearer").ki("expires_in", st.config.expires_in);
    if (fresh) j.ks("refresh_token", *fresh);
    if (r.scope) j.ks("scope", *r.scope);
    a.body = j.end().take();
    return a;
}

LateAnswer answer(Pending& p) noexcept {
    try {
        std::lock_guard lock(g_mutex);
        p.answered = true;
        --g_state.in_flight;
        LateAnswer a = decide(g_state, p.req);
        a.headers.emplace_back("Cache-Control", "no-store");
        a.headers.emplace_back("Pragma", "no-cache");
        return a;
    } catch (...) {
        LateAnswer a;
        a.status = 500;
        a.body = R"({"error":"server_error","error_description":"mock: internal failure"})";
        return a;
    }
}

void optional_string(JsonOut& j, std::string_view key, const std::optional<std::string>& v) {
    if (v) {
        j.ks(key, *v);
    } else {
        j.kn(key);
    }
}

void config_json(JsonOut& j, const Config& c) {
    j.obj().ki("expires_in", c.expires_in).kb("rotate", c.rotate).ki("fail_status", c.fail_status);
    if (c.fail_left < 0) {
        j.kn("fail_count");
    } else {
        j.ki("fail_count", c.fail_left);
    }
    j.ki("delay_ms", c.delay_ms).key("client_secret_for").arr();
    for (const auto& [id, secret] : c.secrets) j.str(id);
    j.end().end();
}

std::optional<int64_t> int_in(const rapidjson::Value& v, int64_t lo, int64_t hi) {
    if (!v.IsInt64() || v.GetInt64() < lo || v.GetInt64() > hi) return std::nullopt;
    return v.GetInt64();
}

}  // namespace

Plan oauth_token_plan(const RecordedRequest& in) {
    TokenRequest r = read_token_request(in);
    Plan plan;
    {
        std::lock_guard lock(g_mutex);
        ++g_state.requests;
        g_state.max_concurrent = std::max(g_state.max_concurrent, ++g_state.in_flight);
        g_state.last = Last{r.grant_type, r.client_id, r.scope, r.refresh_token};
        plan.script.delay_ns = g_state.config.delay_ms * 1000000;
    }
    auto pending = std::make_shared<Pending>(std::move(r));
    plan.credential = in.credential;
    plan.late = [pending]() { return answer(*pending); };
    return plan;
}

bool oauth_token_live(std::string_view token) {
    if (token.empty() || token.size() > kMaxTokenField) return false;
    int64_t now = realtime_ns();
    std::lock_guard lock(g_mutex);
    const Access* a = g_state.access.find(std::string(token));
    return a != nullptr && now < a->expires_ns;
}

std::pair<int, std::string> oauth_configure(std::string_view body) {
    auto refuse = [](std::string_view why) {
        JsonOut j;
        j.obj().ks("error", why).end();
        return std::pair<int, std::string>{400, j.take()};
    };
    if (body.size() > kMaxTokenBody) return refuse("the body is larger than 65536 bytes");
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) return refuse("the body must be a JSON object");
    std::lock_guard lock(g_mutex);
    Config c = g_state.config;  // applied only when every field is valid
    bool fail_count_given = false;
    for (const auto& m : doc.GetObject()) {
        std::string_view key(m.name.GetString(), m.name.GetStringLength());
        const rapidjson::Value& v = m.value;
        if (key == "expires_in") {
            auto n = int_in(v, 0, kMaxExpiresIn);
            if (!n) return refuse("expires_in must be an integer 0..34560000");
            c.expires_in = *n;
        } else if (key == "rotate") {
            if (!v.IsBool()) return refuse("rotate must be a boolean");
            c.rotate = v.GetBool();
        } else if (key == "fail_status") {
            auto n = int_in(v, 0, 599);
            if (!n || (*n != 0 && *n < 400)) return refuse("fail_status must be 0 or 400..599");
            c.fail_status = static_cast<int>(*n);
            if (!fail_count_given) c.fail_left = -1;
        } else if (key == "fail_count") {
            auto n = v.IsNull() ? std::optional<int64_t>(-1) : int_in(v, 0, kMaxFailCount);
            if (!n) return refuse("fail_count must be null or an integer 0..1000000000");
            c.fail_left = *n;
            fail_count_given = true;
        } else if (key == "delay_ms") {
            auto n = int_in(v, 0, kMaxDelayMs);
            if (!n) return refuse("delay_ms must be an integer 0..86400000");
            c.delay_ms = *n;
        } else if (key == "client_secret") {
            if (!v.IsObject() && !v.IsNull()) return refuse("client_secret must be an object");
            c.secrets.clear();
            if (v.IsObject()) {
                if (v.MemberCount() > kMaxSecrets) return refuse("client_secret: at most 1000 clients");
                for (const auto& s : v.GetObject()) {
                    if (!s.value.IsString() || s.name.GetStringLength() > kMaxTokenField ||
                        s.value.GetStringLength() > kMaxTokenField) {
                        return refuse("client_secret values must be strings of at most 4096 bytes");
                    }
                    c.secrets[std::string(s.name.GetString(), s.name.GetStringLength())] =
                        std::string(s.value.GetString(), s.value.GetStringLength());
                }
            }
        } else {
            return refuse("unknown key (expires_in, rotate, fail_status, fail_count, delay_ms, client_secret)");
        }
    }
    g_state.config = std::move(c);
    JsonOut j;
    config_json(j, g_state.config);
    return {200, j.take()};
}

std::string oauth_state_json() {
    int64_t now = realtime_ns();
    std::lock_guard lock(g_mutex);
    const State& st = g_state;
    JsonOut j;
    j.obj()
        .ki("requests", static_cast<int64_t>(st.requests))
        .ki("refreshes", static_cast<int64_t>(st.refreshes))
        .ki("in_flight", st.in_flight)
        .ki("max_concurrent", st.max_concurrent)
        .key("by_client").obj();
    for (const auto& [id, n] : st.by_client) j.ki(id, static_cast<int64_t>(n));
    j.end().key("last");
    if (st.last) {
        j.obj();
        optional_string(j, "grant_type", st.last->grant_type);
        optional_string(j, "client_id", st.last->client_id);
        optional_string(j, "scope", st.last->scope);
        optional_string(j, "refresh_token", st.last->refresh_token);
        j.end();
    } else {
        j.null();
    }
    j.key("live_refresh_tokens").arr();
    st.live_refresh.each([&](const std::string& t, char) { j.str(t); });
    int64_t live = 0;
    st.access.each([&](const std::string&, const Access& a) { live += now < a.expires_ns ? 1 : 0; });
    j.end().ki("access_tokens", live).key("config");
    config_json(j, st.config);
    return j.end().take();
}

std::string oauth_revoke_access() {
    int64_t now = realtime_ns();
    std::lock_guard lock(g_mutex);
    int64_t live = 0;
    g_state.access.each([&](const std::string&, const Access& a) { live += now < a.expires_ns ? 1 : 0; });
    g_state.access.clear();
    JsonOut j;
    j.obj().ki("revoked", live).end();
    return j.take();
}

void oauth_reset() {
    std::lock_guard lock(g_mutex);
    int64_t in_flight = g_state.in_flight;  // requests still waiting keep their count
    g_state = State{};
    g_state.in_flight = in_flight;
    g_state.max_concurrent = in_flight;
}

}  // namespace mock
