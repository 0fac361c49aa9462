// OAuth2 access tokens refreshed on the main thread (daemon/token_keeper.h).
#include "daemon/token_keeper.h"

#include <event2/event.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/fingerprint.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "common/redact.h"
#include "credentials/ledger.h"
#include "credentials/oauth_token.h"
#include "daemon/state_file.h"
#include "dispatch/router.h"
#include "server/runtime.h"
#include "upstream/client.h"

namespace agd::daemon {

using credentials::OAuthToken;

// One OAuth2 credential: where its refresh token lives, how to refresh it.
struct TokenKeeper::Entry : upstream::Listener {
    TokenKeeper* keeper = nullptr;
    std::string id, provider, fingerprint, token_file;
    // From its provider's configuration (copied: a reload frees the old one).
    std::string token_url, client_id, client_secret_file, scope, proxy, ca_file;
    config::HttpClient http_client = config::HttpClient::Auto;
    int64_t refresh_lead_ms = 300'000;
    std::chrono::milliseconds connect_timeout{10'000};

    std::shared_ptr<OAuthToken> token;
    int64_t issued_ms = 0;  // when this keeper got the current token (0: from the file)
    std::shared_ptr<credentials::CredentialState> state;
    std::string refresh_token;  // never logged
    event* timer = nullptr;

    bool file_behind = false;  // the last rotated refresh token could not be written: memory is newer than the file
    int failures_in_row = 0;   // early refreshes that failed while the token still worked (backoff)

    // The refresh in flight, and the client_id it holds busy.
    upstream::Transfer* transfer = nullptr;
    std::string busy_client;
    std::string form;  // the request body (outlives the transfer)
    std::string answer;
    int status = 0;

    ~Entry() override {
        if (transfer) transfer->cancel();
        if (timer) event_free(timer);
    }
    void on_headers(long st, upstream::HeaderList&&) override { status = static_cast<int>(st); }
    size_t on_body(const char* data, size_t len) override {
        if (answer.size() + len > credentials::kMaxTokenAnswer) return kAbort;
        answer.append(data, len);
        return len;
    }
    void on_done(upstream::Outcome outcome, std::string_view message) override {
        transfer = nullptr;
        std::string failure;
        if (outcome == upstream::Outcome::Aborted) failure = "token endpoint: the answer is larger than 64 KiB";
        else if (outcome != upstream::Outcome::Ok)
            failure = "token endpoint: " + (message.empty() ? std::string("connection failed") : std::string(message));
        keeper->finished(*this, status, answer, outcome == upstream::Outcome::Ok, failure);
    }
};

TokenKeeper::TokenKeeper(Runtime& runtime) : runtime_(runtime) {}

TokenKeeper::~TokenKeeper() { stop(); }

void TokenKeeper::start(event_base* base, Mailbox* main) {
    base_ = base;
    main_ = main;
    client_ = std::make_unique<upstream::Client>(base);
}

void TokenKeeper::stop() {
    stopped_ = true;
    entries_.clear();  // cancels transfers, frees timers
    waiting_.clear();
    busy_.clear();
    client_.reset();
}

void TokenKeeper::configure(const config::Config& cfg) {
    if (stopped_ || base_ == nullptr) return;
    std::set<std::string> seen;
    for (const auto& pc : cfg.providers) {
        if (pc.auth != config::ProviderAuth::OAuth2) continue;
        for (const auto& file : pc.token_files) {
            std::string fp = fingerprint(file);
            std::string id = credentials::Ledger::id(pc.name, fp);
            seen.insert(id);
            auto& slot = entries_[id];
            bool fresh = slot == nullptr;
            if (fresh) {
                slot = std::make_unique<Entry>();
                slot->keeper = this;
                slot->id = id;
                slot->provider = pc.name;
                slot->fingerprint = fp;
                slot->token_file = file;
                slot->token = runtime_.ledger().oauth(pc.name, fp);
                slot->state = runtime_.ledger().get(pc.name, fp);
                slot->timer = evtimer_new(base_, &TokenKeeper::on_timer, slot.get());
            }
            Entry& e = *slot;
            bool client_changed = !fresh && (e.token_url != pc.token_url || e.client_id != pc.client_id);
            e.token_url = pc.token_url;
            e.client_id = pc.client_id;
            e.client_secret_file = pc.client_secret_file;
            e.scope = pc.scope;
            e.proxy = pc.proxy;
            e.ca_file = pc.ca_file;
            e.http_client = pc.http_client;
            e.refresh_lead_ms = pc.refresh_lead.count();
            e.connect_timeout = cfg.server.connect_timeout;
            if (fresh) {
                TokenKeeper* self = this;
                e.token->set_starter(main_, [self, id](std::shared_ptr<OAuthToken> t) {
                    if (self->stopped_) return t->failed("the daemon is stopping");
                    auto it = self->entries_.find(id);
                    if (it == self->entries_.end()) return t->failed("the credential is no longer configured");
                    self->run(*it->second);
                });
            }
            if (client_changed && e.transfer != nullptr) abandon(e, "its token_url or client_id changed");
            // Read the file: at start, for a new credential, and on every
            // reload (an administrator may have put a new refresh token in).
            if (e.transfer == nullptr) {
                std::string text;
                if (!read_small_file(file, text, credentials::kMaxTokenFile)) {
                    std::string why = "cannot read " + file + ": " + std::strerror(errno);
                    log::warning("credential {}: {}", id, why);
                    if (e.refresh_token.empty()) {
                        fail_credential(e, why, true, 0);
                        continue;
                    }
                } else if (auto t = credentials::parse_token_file(text); !t) {
                    log::warning("credential {}: token file {}: {}", id, file, t.error().message);
                    if (e.refresh_token.empty()) {
                        fail_credential(e, "token file " + file + ": " + t.error().message, true, 0);
                        continue;
                    }
                } else if (e.file_behind) {
                    // Our rotated refresh token never reached the file: the
                    // file's is revoked. Try to write ours again.
                    log::warning("credential {}: {} holds an older refresh token than the daemon; keeping the daemon's",
                                 id, file);
                    keep_file(e, {e.refresh_token, e.token->access(0), e.token->expires_at_ms()});
                } else {
                    bool new_refresh = t->refresh_token != e.refresh_token;
                    e.refresh_token = t->refresh_token;
                    if ((fresh || new_refresh) && !t->access_token.empty() &&
                        (t->expires_at_ms == 0 || t->expires_at_ms > credentials::wall_ms())) {
                        e.token->publish(t->access_token, t->expires_at_ms);
                        e.issued_ms = 0;
                    }
                }
            }
            if (client_changed) e.token->publish("", 1);  // another token endpoint: its tokens only
            schedule(e);
        }
    }
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (seen.count(it->first)) {
            ++it;
            continue;
        }
        for (auto& [client, ids] : waiting_) ids.erase(std::remove(ids.begin(), ids.end(), it->first), ids.end());
        abandon(*it->second, "the credential is no longer configured");
        it = entries_.erase(it);
    }
}

// A refresh is due now (no token, or within refresh_lead of its expiry),
// or at that point.
void TokenKeeper::schedule(Entry& e) {
    if (e.timer == nullptr || stopped_) return;
    evtimer_del(e.timer);
    int64_t exp = e.token->expires_at_ms();
    int64_t now = credentials::wall_ms();
    bool usable = !e.token->access(now).empty();
    // refresh_lead ahead, or halfway through a token that lives shorter than
    // twice that (never a refresh loop on short-lived tokens).
    int64_t lead = e.refresh_lead_ms;
    if (e.issued_ms != 0 && exp > e.issued_ms) lead = std::min(lead, (exp - e.issued_ms) / 2);
    int64_t due = usable && exp != 0 ? exp - lead : usable ? -1 : now;
    if (due < 0) return;  // a token of unknown expiry: refreshed when refused
    // Never two refreshes of one credential within a second (an endpoint
    // handing out tokens that are already due must not make a loop).
    if (e.issued_ms != 0) due = std::max(due, e.issued_ms + kMinRefreshIntervalMs);
    int64_t wait = std::max<int64_t>(due - now, 0);
    timeval tv{static_cast<time_t>(wait / 1000), static_cast<suseconds_t>((wait % 1000) * 1000)};
    evtimer_add(e.timer, &tv);
}

// After a failed early refresh: 10 s, doubling, at most a minute, and
// never past the token's own margin.
void TokenKeeper::retry_later(Entry& e) {
    if (e.timer == nullptr || stopped_) return;
    int64_t wait = std::min<int64_t>(int64_t{10'000} << std::min(e.failures_in_row - 1, 3), 60'000);
    if (int64_t exp = e.token->expires_at_ms(); exp != 0)
        wait = std::min(wait, std::max<int64_t>((exp - credentials::wall_ms()) / 2, 1000));
    timeval tv{static_cast<time_t>(wait / 1000), static_cast<suseconds_t>((wait % 1000) * 1000)};
    evtimer_add(e.timer, &tv);
}

void TokenKeeper::on_timer(int, short, void* arg) {
    auto* e = static_cast<Entry*>(arg);
    if (e->keeper->stopped_) return;
    if (e->token->begin_refresh()) e->keeper->run(*e);
}

// The refresh itself (the OAuthToken's refresh flag is set): now, unless
// another credential of the same client_id is refreshing (then queued).
void TokenKeeper::run(Entry& first) {
    // Iterative: a refresh that cannot start is concluded here, and the next
    // one queued behind the same client_id is started in its place.
    Entry* e = &first;
    while (e != nullptr) {
        std::string failure = start(*e);
        if (failure.empty()) return;
        conclude(*e, 0, {}, false, failure);
        e = pop_next(e->client_id);
    }
}

// "" when the refresh runs (or waits behind its client_id), else why it cannot.
std::string TokenKeeper::start(Entry& e) {
    if (stopped_ || e.transfer != nullptr) return {};
    if (busy_.count(e.client_id)) {
        auto& q = waiting_[e.client_id];
        if (std::find(q.begin(), q.end(), e.id) == q.end()) q.push_back(e.id);
        return {};
    }
    if (e.refresh_token.empty()) return "no refresh token (see its token file " + e.token_file + ")";
    std::vector<std::pair<std::string, std::string>> fields{
        {"grant_type", "refresh_token"}, {"refresh_token", e.refresh_token}, {"client_id", e.client_id}};
    if (!e.client_secret_file.empty()) {
        std::string secret;
        if (!read_small_file(e.client_secret_file, secret, 4096))
            return "cannot read client_secret_file " + e.client_secret_file + ": " + std::strerror(errno);
        while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' '))
            secret.pop_back();
        fields.emplace_back("client_secret", secret);
    }
    if (!e.scope.empty()) fields.emplace_back("scope", e.scope);
    e.form = credentials::form_encode(fields);
    e.answer.clear();
    e.status = 0;
    upstream::Request req;
    req.url = e.token_url;
    req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
    req.body = e.form.data();
    req.body_len = e.form.size();
    req.proxy = e.proxy;
    req.ca_file = e.ca_file;
    req.native_ok = e.http_client == config::HttpClient::Auto;
    req.h2 = e.http_client == config::HttpClient::LibcurlH2;
    req.connect_timeout = e.connect_timeout;
    req.idle_timeout = std::chrono::seconds(kRefreshTimeoutSeconds);
    busy_.insert(e.client_id);
    e.busy_client = e.client_id;
    e.transfer = client_->start(req, &e);
    if (e.transfer == nullptr) {
        busy_.erase(e.client_id);
        e.busy_client.clear();
        e.form.clear();
        return "token endpoint: the request could not be started";
    }
    log::debug("credential {}: refreshing its access token", e.id);
    return {};
}

void TokenKeeper::finished(Entry& e, int status, const std::string& body, bool transport_ok, const std::string& failure) {
    std::string client = std::move(e.busy_client);
    e.busy_client.clear();
    bool was_busy = busy_.erase(client) > 0;
    e.form.clear();
    conclude(e, status, body, transport_ok, failure);
    if (was_busy) next_for(client);
}

// A refresh's end: the new token published, or the failure recorded.
void TokenKeeper::conclude(Entry& e, int status, const std::string& body, bool transport_ok, const std::string& failure) {
    credentials::TokenGrant g;
    if (transport_ok) g = credentials::parse_token_answer(status, body);
    else g.message = failure;
    int64_t now_wall = credentials::wall_ms();
    if (g.ok) {
        // A lifetime that makes no sense is not believed (refreshed when refused).
        int64_t life_s = g.expires_in_s > 0 && g.expires_in_s <= kMaxTokenLifeSeconds ? g.expires_in_s : 0;
        int64_t exp = life_s > 0 ? now_wall + life_s * 1000 : 0;
        if (!g.refresh_token.empty() && g.refresh_token != e.refresh_token) {
            // Rotated: the old one is revoked. Kept on disk before use.
            e.refresh_token = g.refresh_token;
            keep_file(e, {g.refresh_token, g.access_token, exp});
        }
        e.failures_in_row = 0;
        e.token->refreshes.fetch_add(1, std::memory_order_relaxed);
        e.token->last_refresh_unix_ms.store(now_wall, std::memory_order_relaxed);
        e.issued_ms = now_wall;
        e.token->publish(g.access_token, exp, now_wall);
        log::info("credential {}: access token refreshed{}", e.id,
                  exp ? ", valid for " + std::to_string(life_s) + " s" : "");
    } else {
        std::string why = g.message.empty() ? std::string("token endpoint: the refresh failed") : g.message;
        redact_secret(why, e.refresh_token, false);
        why = redact_urls(why);
        e.token->refresh_failures.fetch_add(1, std::memory_order_relaxed);
        e.token->last_refresh_unix_ms.store(now_wall, std::memory_order_relaxed);
        if (!g.refused && !e.token->access(now_wall).empty()) {
            // An early refresh failed while the token still works: nothing
            // rests; tried again after a backoff, before it expires.
            ++e.failures_in_row;
            log::warning("credential {}: {}; the current token still works, trying again later", e.id, why);
            e.token->failed(why);
            retry_later(e);
            return;
        }
        fail_credential(e, why, g.refused, status);
        log::warning("credential {}: {}{}", e.id, why,
                     g.refused ? "; out until its token file is fixed and the daemon reloaded" : "");
        // No timer: the credential rests or is out (the ledger says which);
        // the next request it serves, a reload or an enable asks again.
        if (e.timer) evtimer_del(e.timer);
    }
    if (g.ok) schedule(e);
}

// The credential's failure in the ledger (refused: out until a reload or
// an enable; else it rests), and its waiters told.
void TokenKeeper::fail_credential(Entry& e, const std::string& why, bool refused, int status) {
    credentials::Verdict v;
    v.scope = credentials::Scope::Credential;
    v.disable = refused;
    v.why = why;
    e.state->record("", v, {}, status, credentials::steady_ms(), runtime_.snapshot()->router->policy());
    e.token->failed(why);
}

// A refresh in flight is dropped (its credential removed, or its client
// changed): its waiters are told, its client_id freed for the next.
void TokenKeeper::abandon(Entry& e, const std::string& why) {
    if (e.transfer == nullptr) return;
    e.transfer->cancel();
    e.transfer = nullptr;
    e.form.clear();
    std::string client = std::move(e.busy_client);
    e.busy_client.clear();
    e.token->failed(why);
    if (busy_.erase(client) > 0) next_for(client);
}

// Writes the credential's token file; false (said in the log) when it cannot.
bool TokenKeeper::keep_file(Entry& e, const credentials::TokenFile& f) {
    if (Status st = write_file_atomic(e.token_file, credentials::token_file_json(f), 0600); !st) {
        // The new refresh token lives in memory only (a restart would find
        // the revoked one): used, and said loudly.
        log::error("credential {}: cannot keep its rotated refresh token: {}", e.id, st.error().message);
        e.file_behind = true;
        return false;
    }
    e.file_behind = false;
    return true;
}

TokenKeeper::Entry* TokenKeeper::pop_next(const std::string& client_id) {
    auto it = waiting_.find(client_id);
    Entry* next = nullptr;
    while (next == nullptr && it != waiting_.end() && !it->second.empty() && !busy_.count(client_id)) {
        if (auto e = entries_.find(it->second.front()); e != entries_.end()) next = e->second.get();
        it->second.pop_front();
    }
    if (it != waiting_.end() && it->second.empty()) waiting_.erase(it);
    return next;
}

void TokenKeeper::next_for(const std::string& client_id) {
    if (Entry* next = pop_next(client_id)) run(*next);
}

}  // namespace agd::daemon
