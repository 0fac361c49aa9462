// TokenKeeper: refreshes the access tokens of OAuth2 credentials
// ([provider.NAME] auth = oauth2), on the main thread, with an upstream
// client of its own on the main loop (never on a worker).
//
//  - At start and on reload, each token file is read; a token that is
//    missing, expired or due within refresh_lead is refreshed at once, the
//    others refresh_lead before they expire (a timer per credential).
//  - A worker whose credential has no usable token asks through
//    OAuthToken::want(): the request reaches this keeper by the main
//    mailbox; one refresh per credential at a time (single-flight), and
//    refreshes of credentials sharing a client_id one after another (a
//    rotating refresh token revokes the one before).
//  - A rotated refresh token is written to its file (a temporary file,
//    fsync, rename; 0600) before the new access token is published.
//  - A failed refresh is the credential's failure in the ledger, with the
//    token endpoint's answer as evidence: refused (invalid_grant and the
//    like) takes it out until a reload or `credentials enable`; other
//    failures rest it for [routing] cooldown.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "config/config.h"

struct event_base;
struct event;

namespace agd {
class Runtime;
class Mailbox;
namespace upstream {
class Client;
}
}  // namespace agd

namespace agd::credentials {
struct TokenFile;
}

namespace agd::daemon {

class TokenKeeper {
public:
    static constexpr int kRefreshTimeoutSeconds = 30;  // a token endpoint's answer, whole
    static constexpr int64_t kMaxTokenLifeSeconds = 400LL * 86400;  // a longer expires_in is not believed
    static constexpr int64_t kMinRefreshIntervalMs = 1000;          // between two refreshes of one credential

    explicit TokenKeeper(Runtime& runtime);
    ~TokenKeeper();
    TokenKeeper(const TokenKeeper&) = delete;
    TokenKeeper& operator=(const TokenKeeper&) = delete;

    // Main thread, once, before configure(): the loop and mailbox it runs on.
    void start(event_base* base, Mailbox* main);
    // Main thread, at start and after each reload is published: follows the
    // configuration's OAuth2 credentials (new files read, removed ones
    // dropped, changed settings taken).
    void configure(const config::Config& cfg);
    // Stops every refresh and timer (before the loop is freed).
    void stop();

    struct Entry;

private:
    void run(Entry& e);         // now, or queued behind its client_id
    std::string start(Entry& e);
    void finished(Entry& e, int status, const std::string& body, bool transport_ok, const std::string& failure);
    void conclude(Entry& e, int status, const std::string& body, bool transport_ok, const std::string& failure);
    Entry* pop_next(const std::string& client_id);
    void abandon(Entry& e, const std::string& why);
    void fail_credential(Entry& e, const std::string& why, bool refused, int status);
    bool keep_file(Entry& e, const credentials::TokenFile& f);
    void retry_later(Entry& e);  // the next refresh queued behind client_id, if it may run
    void schedule(Entry& e);    // the timer for refresh_lead before expiry
    void next_for(const std::string& client_id);
    static void on_timer(int, short, void* arg);

    Runtime& runtime_;
    event_base* base_ = nullptr;
    Mailbox* main_ = nullptr;
    std::unique_ptr<upstream::Client> client_;
    std::map<std::string, std::unique_ptr<Entry>> entries_;  // by ledger id
    std::map<std::string, std::deque<std::string>> waiting_;  // client_id -> ids queued behind a running refresh
    std::set<std::string> busy_;                              // client_ids with a refresh running
    bool stopped_ = false;
};

}  // namespace agd::daemon
