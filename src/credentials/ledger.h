// The ledger: each credential's state, why it is in that state, and until
// when. Keyed by provider name + key fingerprint, kept across reloads
// (Ledger::get hands the same state to every snapshot's router).
//
// Workers read it on every pick and write it after every attempt, without
// a lock on the read side: each figure is an atomic. The evidence (the
// text of why) and the choice of a model slot take the state's own short
// mutex, only when a failure is recorded or someone asks why; it is a leaf
// lock, never held across I/O. Times are CLOCK_MONOTONIC ms (steady_ms());
// the evidence also carries the wall clock for people.
//
// What a credential can be (Gate):
//   Ready    usable;
//   Soft     usable, but an upstream's success said its window for this
//            model is spent (remaining 0): others are tried first;
//   Probe    cooling or its breaker open, but this request may test it
//            (one at a time: a long cooldown every probe_interval, an open
//            breaker once its cooldown has passed);
//   Out      disabled, cooling (for every model or this one) or breaker open.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "credentials/hints.h"
#include "credentials/oauth_token.h"
#include "credentials/sessions.h"
#include "credentials/verdict.h"

namespace agd::credentials {

int64_t steady_ms();  // CLOCK_MONOTONIC in ms
int64_t wall_ms();    // CLOCK_REALTIME in ms (evidence times, upstream reset times, the state file)

// The [routing] figures the ledger applies (config::RoutingConfig).
struct Policy {
    int64_t default_cooldown_ms = 60'000;  // a cooling failure without a hint
    int64_t max_cooldown_ms = 3'600'000;   // no hint cools longer than this
    int64_t probe_interval_ms = 300'000;   // a cooldown from a longer hint is tested this often
    int breaker_failures = 5;              // consecutive transport failures that open the breaker
    int64_t breaker_cooldown_ms = 30'000;  // how long it stays open before one request may test it
};

struct Evidence {
    Scope scope = Scope::None;
    int status = 0;
    std::string why;    // "429 rate_limit_error: ..." or the transport failure
    std::string model;  // Model scope: which
    int64_t at_unix_ms = 0;
    int64_t wait_ms = -1;  // the upstream's hint, uncapped; -1 none
};

// A credential's state as saved in the state directory (ledger_file.h):
// the deadlines in wall-clock ms (0: none), the evidence.
struct SavedState {
    bool disabled = false;        // refused by the upstream (401/403): not restored
    bool admin_disabled = false;  // an administrator's `credentials disable`: restored
    int64_t until = 0, probe = 0, soft = 0, breaker = 0;
    std::string soft_model;  // the model whose window is spent (soft)
    std::vector<std::pair<std::string, int64_t>> models;  // model, until
    Evidence evidence;
};

class CredentialState {
public:
    static constexpr size_t kModelSlots = 8;  // models cooled apart at once; more: the soonest to end is replaced

    enum class Gate : uint8_t { Ready, Soft, Probe, Out };
    struct Check {
        Gate gate = Gate::Ready;
        int64_t until_ms = 0;  // Out: when it may be usable again (0: not by time: disabled)
        const char* reason = "";  // Out/Soft/Probe: "disabled", "cooling", "cooling for the model", "breaker open", ...
    };

    // Whether a request for `model` (the name sent upstream) may use it now.
    // A Probe answer has claimed the probe: the caller must use it.
    Check check(std::string_view model, int64_t now_ms, const Policy& p) { return gate(model, now_ms, p, true); }
    // The same answer without claiming a probe (to explain, not to use).
    Check peek(std::string_view model, int64_t now_ms, const Policy& p) { return gate(model, now_ms, p, false); }

    // After an attempt: what the answer said (Scope::None: it went well).
    // `hints` are the answer's (the remaining figures of a success too).
    void record(std::string_view model, const Verdict& v, const Hints& hints, int status, int64_t now_ms,
                const Policy& p);

    // Admin (`antigravityd credentials ...`).
    void enable();   // clears an admin's disable and everything reset() clears
    void disable();  // out until enable(), across reloads and restarts
    // Forgets what upstreams said: every cooldown, the breaker, a spent
    // window, a 401/403 refusal, the evidence. An admin's disable stays.
    void reset();
    void reenable() {  // a reload: only the 401/403 verdict goes
        if (disabled_.exchange(false)) changed();
    }

    // Reading (status, CLI, metrics).
    bool disabled() const { return refused() || admin_disabled(); }
    bool refused() const { return disabled_.load(std::memory_order_relaxed); }  // 401/403
    bool admin_disabled() const { return admin_disabled_.load(std::memory_order_relaxed); }
    int64_t cooling_until() const { return until_ms_.load(std::memory_order_relaxed); }
    bool breaker_open(int64_t now_ms) const { return breaker_until_.load(std::memory_order_relaxed) > now_ms; }
    // Its breaker's cooldown passed: the next request tests it.
    bool breaker_half_open(int64_t now_ms) const {
        int64_t b = breaker_until_.load(std::memory_order_relaxed);
        return b != 0 && b <= now_ms;
    }
    int64_t soft_until() const { return exhausted_until_.load(std::memory_order_relaxed); }
    std::string soft_model() const;  // the model soft_until() is about
    // Whether no request for any model could use it now (disabled, cooling
    // for all models, breaker open).
    bool out(int64_t now_ms) const;
    struct ModelCooling {
        std::string model;
        int64_t until_ms = 0;
    };
    std::vector<ModelCooling> models_cooling(int64_t now_ms) const;
    Evidence evidence() const;

    // The last limit figures an upstream reported for it (-1: never), and
    // when it was last used (wall ms, 0: not since start).
    struct Quota {
        Window requests, tokens;
        Hints::Unified unified_5h, unified_7d;
    };
    Quota quota() const;
    int64_t last_used_unix_ms() const { return last_used_ms_.load(std::memory_order_relaxed); }

    // For the state file: what is worth keeping (deadlines still ahead,
    // disabled, evidence), deadlines turned to the wall clock and back.
    SavedState save(int64_t now_ms, int64_t now_wall_ms) const;
    void restore(const SavedState& s, int64_t now_ms, int64_t now_wall_ms);

    std::atomic<uint64_t>* changes = nullptr;  // the ledger's change count, bumped when this state changes

    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> failures{0};
    std::atomic<int> last_status{0};

private:
    struct ModelSlot {
        std::atomic<uint64_t> hash{0};  // 0: free
        std::atomic<int64_t> until_ms{0};
    };
    Check gate(std::string_view model, int64_t now_ms, const Policy& p, bool claim);
    int64_t model_until(uint64_t hash) const;
    void cool_model(std::string_view model, uint64_t hash, int64_t until_ms);
    bool clear_model(uint64_t hash);
    void changed() {
        if (changes) changes->fetch_add(1, std::memory_order_relaxed);
    }
    int64_t capped(int64_t wait_ms, const Policy& p) const;
    void note_quota(const Hints& hints);

    std::atomic<bool> disabled_{false};         // refused by the upstream
    std::atomic<bool> admin_disabled_{false};
    std::atomic<int64_t> until_ms_{0};          // cooling for every model
    std::atomic<int64_t> next_probe_ms_{0};     // a long cooldown may be tested from then (0: no probing)
    std::atomic<int64_t> exhausted_until_{0};   // a window reported spent (soft), for one model:
    std::atomic<uint64_t> exhausted_model_{0};  // its hash
    std::atomic<int> consecutive_{0};           // transport failures in a row
    std::atomic<int64_t> breaker_until_{0};     // open until; 0 closed
    std::atomic<int64_t> half_open_until_{0};   // the breaker's one test request is out until then
    std::array<ModelSlot, kModelSlots> slots_;
    struct SeenWindow {
        std::atomic<int64_t> remaining{-1}, reset_unix_ms{-1};
    };
    SeenWindow seen_requests_, seen_tokens_;
    struct SeenUnified {
        std::atomic<int32_t> permille{-1};  // utilization
        std::atomic<int64_t> reset_unix_ms{-1};
    };
    SeenUnified seen_5h_, seen_7d_;
    std::atomic<int64_t> last_used_ms_{0};

    mutable std::mutex mu_;  // leaf: evidence_, slot_names_, the choice of a slot
    Evidence evidence_;
    std::array<std::string, kModelSlots> slot_names_;
    std::string soft_model_name_;
};

class Ledger {
public:
    std::shared_ptr<CredentialState> get(const std::string& provider, const std::string& fingerprint);
    // Forget credentials that are no longer configured.
    void retain_only(const std::vector<std::string>& ids);
    // A reload: keys taken out by a 401/403 are tried again (the
    // administrator may have fixed them); cooldowns and breakers stay.
    void reloaded();
    static std::string id(const std::string& provider, const std::string& fingerprint) {
        return provider + "/" + fingerprint;
    }
    // Every state with its id (for the state file).
    std::vector<std::pair<std::string, std::shared_ptr<CredentialState>>> entries();
    // Bumped whenever a state changes (a failure recorded, a cooldown
    // cleared, an admin's enable or disable): the state file is written
    // when it moved.
    uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }
    // Which credential served which conversation (sticky sessions).
    Sessions& sessions() { return sessions_; }
    // The access token of an OAuth2 credential, kept across reloads like
    // its state (created on first ask; dropped by retain_only).
    std::shared_ptr<OAuthToken> oauth(const std::string& provider, const std::string& fingerprint);

private:
    Sessions sessions_;
    std::unordered_map<std::string, std::shared_ptr<OAuthToken>> tokens_;  // under mu_
    std::mutex mu_;  // leaf; main thread (snapshot build, reload)
    std::unordered_map<std::string, std::shared_ptr<CredentialState>> map_;
    std::atomic<uint64_t> changes_{0};
};

}  // namespace agd::credentials
