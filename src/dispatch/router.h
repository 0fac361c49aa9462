// Router: model -> providers whose `models` globs match, and the credential
// pool over them. A pick goes tier by tier (provider `priority`, lower
// first; within a tier, providers speaking the client's protocol before
// those that need a translation), each group in strategy order
// (round-robin, fill-first, or weighted: each credential's share of a
// rotation is its weight), skipping credentials already tried by this
// request and those the ledger has out (disabled, cooling for every model
// or the one asked, breaker open). Credentials whose window an upstream
// reported spent are taken only when nothing else in any tier is ready.
// With sticky sessions, a conversation's credential is asked first.
// Built once per config snapshot; const and shared by all workers (the
// rotation counters are atomics, the sessions map has its own locks).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "credentials/ledger.h"
#include "pipeline/protocol.h"
#include "upstream/tls_context.h"

namespace agd::dispatch {

struct Credential {
    std::string key;          // never logged; "" for an OAuth2 credential (its token: oauth)
    std::string fingerprint;  // first 8 hex of SHA-256
    unsigned weight = 1;      // its share under strategy = weighted
    uint64_t id_key = 0;      // credentials::credential_key(provider, fingerprint): what sessions remember
    std::shared_ptr<credentials::CredentialState> state;  // the ledger's, kept across reloads
    std::shared_ptr<credentials::OAuthToken> oauth;        // auth = oauth2: its access token (the ledger's)
    std::string token_file;   // auth = oauth2: where its refresh token lives
};

struct Provider {
    const config::ProviderConfig* cfg = nullptr;  // points into the snapshot's Config
    Protocol wire = Protocol::OpenAIChat;         // what the upstream speaks
    std::vector<Credential> creds;
    // https through the native engine: the certificates it trusts (null:
    // plain http, a proxy, http_client = libcurl*, or no usable context).
    std::shared_ptr<const upstream::TlsContext> tls;
};

struct Match {
    size_t provider = 0;
    std::string upstream_model;  // the name to send (a rename, or the model asked)
    bool translated = false;     // the provider does not speak the client's protocol (set by the caller)
};

// What happened to one attempt, reported back to the pool.
enum class Outcome { Ok, RateLimited, AuthFailed, UpstreamError, Timeout, ClientError };

class Router {
public:
    Router(const config::Config& cfg, credentials::Ledger& ledger);

    std::vector<Match> match(std::string_view model) const;
    // A request of this protocol may reach a provider of another wire: its
    // body scan builds the DOM the codecs decode (one parse, not two).
    bool may_translate(Protocol client) const { return other_wires_ & (1u << static_cast<unsigned>(client)); }
    const std::vector<Provider>& providers() const { return providers_; }
    void set_tls(size_t provider, std::shared_ptr<const upstream::TlsContext> tls) { providers_[provider].tls = std::move(tls); }
    // Every exact (non-glob) model name clients can ask for, in config order, deduplicated.
    std::vector<std::pair<std::string, const Provider*>> listed_models() const;

    enum class PickStatus { Ok, Exhausted, AllCooling };
    struct Pick {
        PickStatus status = PickStatus::Exhausted;
        const Provider* provider = nullptr;
        const Credential* cred = nullptr;
        std::string upstream_model;
        int64_t retry_after_ms = 0;  // AllCooling: until the first credential is usable again
        bool probe = false;          // Ok: the pick tests a cooling credential or a half-open breaker
    };
    // `tried` are credentials this request used already; `session` is a
    // credentials::session_key (0: none, or sticky is off).
    Pick pick(const std::vector<Match>& among, const std::vector<const Credential*>& tried, int64_t now_ms,
              uint64_t session = 0) const;

    // What pick() would do, told without using anything (no probe claimed,
    // no rotation advanced): for `antigravityd route`.
    struct Candidate {
        const Provider* provider = nullptr;
        const Credential* cred = nullptr;
        std::string upstream_model;
        unsigned tier = 0;
        bool translated = false;
        credentials::CredentialState::Check check;
    };
    struct Explanation {
        std::vector<Candidate> candidates;  // in the order pick() asks them (rotation aside)
        const Candidate* sticky = nullptr;  // the session's remembered credential, when it is a candidate
        Pick pick;                          // status, provider, cred, upstream_model, retry_after_ms, probe
    };
    Explanation explain(const std::vector<Match>& among, int64_t now_ms, uint64_t session = 0) const;
    bool sticky() const { return sticky_; }

    // After an attempt with `cred` for `model` (the name sent upstream).
    void report(const Credential& cred, std::string_view model, const credentials::Verdict& v,
                const credentials::Hints& hints, int status, int64_t now_ms) const;
    const credentials::Policy& policy() const { return policy_; }

private:
    struct Cand {
        const Provider* p;
        const Credential* c;
        const std::string* model;
        unsigned tier;
        bool translated;
    };
    std::vector<Cand> candidates(const std::vector<Match>& among) const;
    bool better_tier_ready(const std::vector<Cand>& cands, const Cand* sticky,
                           const std::vector<const Credential*>& tried, int64_t now_ms) const;
    // The index in [0, n) a group's walk starts at; `advance`: the rotation moves on.
    size_t start_of(const Cand* group, size_t n, bool advance) const;

    config::Strategy strategy_;
    credentials::Policy policy_;
    bool sticky_ = false;
    int64_t sticky_ttl_ms_ = 0;
    credentials::Sessions* sessions_ = nullptr;
    std::vector<Provider> providers_;
    unsigned other_wires_ = 0;  // bit p: some provider speaks a wire other than Protocol p
    std::unique_ptr<std::atomic<uint64_t>[]> rr_;  // one rotation counter per provider (a group's first)
};

Protocol provider_wire(const config::ProviderConfig& p);

}  // namespace agd::dispatch
