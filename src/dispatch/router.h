// Router: model -> providers whose `models` globs match, and the credential
// pool over them (round-robin or fill-first, skipping credentials already
// tried by this request and those the ledger has out: disabled, cooling for
// every model or the one asked, breaker open; credentials whose window an
// upstream reported spent are taken only when nothing else is ready). Built once per config snapshot;
// const and shared by all workers (the round-robin counters are atomics).
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

namespace agd::dispatch {

struct Credential {
    std::string key;          // never logged
    std::string fingerprint;  // first 8 hex of SHA-256
    std::shared_ptr<credentials::CredentialState> state;  // the ledger's, kept across reloads
};

struct Provider {
    const config::ProviderConfig* cfg = nullptr;  // points into the snapshot's Config
    Protocol wire = Protocol::OpenAIChat;         // what the upstream speaks
    std::vector<Credential> creds;
};

struct Match {
    size_t provider = 0;
    std::string upstream_model;  // the name to send (a rename, or the model asked)
};

// What happened to one attempt, reported back to the pool.
enum class Outcome { Ok, RateLimited, AuthFailed, UpstreamError, Timeout, ClientError };

class Router {
public:
    Router(const config::Config& cfg, credentials::Ledger& ledger);

    std::vector<Match> match(std::string_view model) const;
    const std::vector<Provider>& providers() const { return providers_; }
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
    // `among` must be non-empty; `tried` are credentials this request used already.
    Pick pick(const std::vector<Match>& among, const std::vector<const Credential*>& tried, int64_t now_ms) const;

    // After an attempt with `cred` for `model` (the name sent upstream).
    void report(const Credential& cred, std::string_view model, const credentials::Verdict& v,
                const credentials::Hints& hints, int status, int64_t now_ms) const;
    const credentials::Policy& policy() const { return policy_; }

private:
    config::Strategy strategy_;
    credentials::Policy policy_;
    std::vector<Provider> providers_;
    std::unique_ptr<std::atomic<uint64_t>[]> rr_;  // one counter per first-matching provider
};

Protocol provider_wire(const config::ProviderConfig& p);

}  // namespace agd::dispatch
