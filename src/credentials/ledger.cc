// Credential states and the registry that keeps them (credentials/ledger.h).
#include "credentials/ledger.h"

#include <time.h>

#include <algorithm>
#include <functional>
#include <unordered_set>

namespace agd::credentials {

namespace {

uint64_t hash_of(std::string_view model) {
    uint64_t h = std::hash<std::string_view>{}(model);
    return h == 0 ? 1 : h;  // 0 marks a free slot
}

// Stores only when the value changes: a success on a busy credential
// must not write the state's lines from every worker.
template <class T>
bool store_if(std::atomic<T>& a, T v) {
    if (a.load(std::memory_order_relaxed) == v) return false;
    a.store(v, std::memory_order_relaxed);
    return true;
}

}  // namespace

int64_t wall_ms() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

int64_t steady_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

int64_t CredentialState::model_until(uint64_t hash) const {
    for (const auto& s : slots_) {
        if (s.hash.load(std::memory_order_acquire) != hash) continue;
        int64_t until = s.until_ms.load(std::memory_order_acquire);
        if (s.hash.load(std::memory_order_acquire) == hash) return until;  // not reused meanwhile
    }
    return 0;
}

void CredentialState::cool_model(std::string_view model, uint64_t hash, int64_t until_ms) {
    std::lock_guard lock(mu_);
    size_t pick = kModelSlots;
    for (size_t i = 0; i < kModelSlots && pick == kModelSlots; ++i)
        if (slots_[i].hash.load(std::memory_order_relaxed) == hash) pick = i;
    if (pick == kModelSlots) {
        // A free slot, else the one that ends first.
        int64_t soonest = INT64_MAX;
        for (size_t i = 0; i < kModelSlots; ++i) {
            int64_t u = slots_[i].hash.load(std::memory_order_relaxed) == 0 ? INT64_MIN
                                                                             : slots_[i].until_ms.load(std::memory_order_relaxed);
            if (u < soonest) {
                soonest = u;
                pick = i;
            }
        }
        slots_[pick].hash.store(0, std::memory_order_release);
    }
    slots_[pick].until_ms.store(until_ms, std::memory_order_release);
    slots_[pick].hash.store(hash, std::memory_order_release);
    slot_names_[pick].assign(model.substr(0, kMaxHintText));
}

bool CredentialState::clear_model(uint64_t hash) {
    bool seen = false;
    for (auto& s : slots_)
        seen |= s.hash.load(std::memory_order_relaxed) == hash && s.until_ms.load(std::memory_order_relaxed) != 0;
    if (!seen) return false;  // the common case: no lock
    // Under the lock that cool_model() takes, so that a slot it is handing
    // to another model is not cleared meanwhile.
    std::lock_guard lock(mu_);
    bool any = false;
    for (auto& s : slots_)
        if (s.hash.load(std::memory_order_relaxed) == hash && s.until_ms.load(std::memory_order_relaxed) != 0) {
            s.until_ms.store(0, std::memory_order_release);
            any = true;
        }
    return any;
}

int64_t CredentialState::capped(int64_t wait_ms, const Policy& p) const {
    if (wait_ms < 0) return p.default_cooldown_ms;
    return std::min(wait_ms, p.max_cooldown_ms);
}

CredentialState::Check CredentialState::gate(std::string_view model, int64_t now, const Policy& p, bool claim) {
    Check c;
    if (admin_disabled_.load(std::memory_order_relaxed)) {
        c.gate = Gate::Out;
        c.reason = "disabled by an administrator";
        return c;
    }
    if (disabled_.load(std::memory_order_relaxed)) {
        c.gate = Gate::Out;
        c.reason = "refused by the upstream (until a reload or `credentials enable`)";
        return c;
    }
    int64_t all = until_ms_.load(std::memory_order_relaxed);
    int64_t one = model_until(hash_of(model));
    int64_t until = std::max(all, one);
    if (until > now) {
        int64_t np = next_probe_ms_.load(std::memory_order_relaxed);
        if (np != 0 && np <= now &&
            (!claim || next_probe_ms_.compare_exchange_strong(np, now + p.probe_interval_ms, std::memory_order_relaxed))) {
            c.gate = Gate::Probe;
            c.reason = "probing a long cooldown";
            return c;
        }
        c.gate = Gate::Out;
        c.until_ms = until;
        c.reason = all > now ? "cooling" : "cooling for the model";
        return c;
    }
    int64_t b = breaker_until_.load(std::memory_order_relaxed);
    if (b != 0) {
        if (b > now) {
            c.gate = Gate::Out;
            c.until_ms = b;
            c.reason = "breaker open";
            return c;
        }
        // Half-open: one request tests it. The claim lapses after a
        // breaker cooldown, should its request never report.
        int64_t taken = half_open_until_.load(std::memory_order_relaxed);
        if (taken <= now &&
            (!claim || half_open_until_.compare_exchange_strong(taken, now + p.breaker_cooldown_ms,
                                                                std::memory_order_relaxed))) {
            c.gate = Gate::Probe;
            c.reason = "breaker half-open";
            return c;
        }
        c.gate = Gate::Out;
        c.until_ms = taken;
        c.reason = "breaker half-open, being tested";
        return c;
    }
    if (exhausted_until_.load(std::memory_order_relaxed) > now &&
        exhausted_model_.load(std::memory_order_relaxed) == hash_of(model)) {
        c.gate = Gate::Soft;
        c.reason = "window spent";
    }
    return c;
}

void CredentialState::record(std::string_view model, const Verdict& v, const Hints& hints, int status, int64_t now,
                             const Policy& p) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (status != 0) store_if(last_status, status);
    int64_t wall = wall_ms();
    last_used_ms_.store(wall, std::memory_order_relaxed);
    note_quota(hints);

    uint64_t h = hash_of(model);
    // A success's remaining figures (OpenAI and Anthropic count them per
    // model): a window at zero is avoided for this model until its reset;
    // the model's next success that does not say so ends it. (An error's
    // figures are its verdict's business: its scope decides what rests.)
    if (v.scope == Scope::None) {
        int64_t spent = 0;
        for (const Window* w : {&hints.requests, &hints.tokens, &hints.input_tokens, &hints.output_tokens})
            if (w->remaining == 0 && w->reset_unix_ms > wall)
                spent = std::max(spent, now + std::min(w->reset_unix_ms - wall, p.max_cooldown_ms));
        if (spent > 0) {
            if (exhausted_model_.load(std::memory_order_relaxed) != h) {
                std::lock_guard lock(mu_);
                soft_model_name_.assign(model.substr(0, kMaxHintText));
                exhausted_model_.store(h, std::memory_order_relaxed);
            }
            if (store_if(exhausted_until_, spent)) changed();
        } else if (exhausted_until_.load(std::memory_order_relaxed) != 0 &&
                   exhausted_model_.load(std::memory_order_relaxed) == h) {
            if (store_if<int64_t>(exhausted_until_, 0)) changed();
        }
    }

    switch (v.scope) {
        case Scope::None:
        case Scope::Request:
            // It answered: nothing it was cooling for holds any more.
        {
            // It answered: the breaker closes. A success also ends what it
            // rested for; the request's own error (a 400) says nothing of
            // the rate limits, which stay.
            bool was = false;
            if (v.scope == Scope::None) {
                was |= store_if<int64_t>(until_ms_, 0);
                was |= store_if<int64_t>(next_probe_ms_, 0);
                was |= clear_model(h);
            }
            store_if(consecutive_, 0);
            was |= store_if<int64_t>(breaker_until_, 0);
            store_if<int64_t>(half_open_until_, 0);
            if (was) changed();
            return;
        }
        case Scope::Model:
        case Scope::Credential:
        case Scope::Transport: break;
    }

    failures.fetch_add(1, std::memory_order_relaxed);
    Evidence e;
    e.scope = v.scope;
    e.status = status;
    e.why = v.why;
    e.model = v.scope == Scope::Model ? (v.model.empty() ? std::string(model) : v.model) : std::string();
    e.at_unix_ms = wall;
    e.wait_ms = v.wait_ms;

    if (v.scope == Scope::Model || (v.scope == Scope::Credential && !v.disable)) {
        int64_t until = now + capped(v.wait_ms, p);
        if (v.scope == Scope::Model)
            cool_model(model, h, until);
        else
            until_ms_.store(until, std::memory_order_relaxed);
        // A hint past the cap: tested every probe_interval, so an early
        // reset is noticed.
        if (v.wait_ms > p.max_cooldown_ms)
            next_probe_ms_.store(now + p.probe_interval_ms, std::memory_order_relaxed);
    } else if (v.scope == Scope::Credential) {
        disabled_.store(true, std::memory_order_relaxed);
    } else {  // Transport
        int n = consecutive_.fetch_add(1, std::memory_order_relaxed) + 1;
        bool testing = breaker_until_.load(std::memory_order_relaxed) != 0;  // a half-open test failed
        if (n >= p.breaker_failures || testing) {
            breaker_until_.store(now + p.breaker_cooldown_ms, std::memory_order_relaxed);
            half_open_until_.store(0, std::memory_order_relaxed);
        }
    }
    {
        std::lock_guard lock(mu_);
        evidence_ = std::move(e);
    }
    changed();
}

void CredentialState::note_quota(const Hints& hints) {
    auto keep = [](SeenWindow& seen, const Window& w) {
        if (w.remaining < 0 && w.reset_unix_ms < 0) return;
        store_if(seen.remaining, w.remaining);
        store_if(seen.reset_unix_ms, w.reset_unix_ms);
    };
    keep(seen_requests_, hints.requests);
    // Tokens: the combined window, else the input window (Anthropic reports
    // input and output apart; input is the one prompts exhaust).
    keep(seen_tokens_, hints.tokens.remaining >= 0 || hints.tokens.reset_unix_ms >= 0 ? hints.tokens : hints.input_tokens);
    auto keep_unified = [](SeenUnified& seen, const Hints::Unified& u) {
        if (u.utilization >= 0) store_if<int32_t>(seen.permille, static_cast<int32_t>(std::min(u.utilization, 100.0) * 1000 + 0.5));
        if (u.reset_unix_ms >= 0) store_if(seen.reset_unix_ms, u.reset_unix_ms);
    };
    keep_unified(seen_5h_, hints.unified_5h);
    keep_unified(seen_7d_, hints.unified_7d);
}

CredentialState::Quota CredentialState::quota() const {
    Quota q;
    auto read = [](const SeenWindow& s, Window& w) {
        w.remaining = s.remaining.load(std::memory_order_relaxed);
        w.reset_unix_ms = s.reset_unix_ms.load(std::memory_order_relaxed);
    };
    read(seen_requests_, q.requests);
    read(seen_tokens_, q.tokens);
    auto read_unified = [](const SeenUnified& s, Hints::Unified& u) {
        int32_t pm = s.permille.load(std::memory_order_relaxed);
        u.utilization = pm < 0 ? -1 : pm / 1000.0;
        u.reset_unix_ms = s.reset_unix_ms.load(std::memory_order_relaxed);
    };
    read_unified(seen_5h_, q.unified_5h);
    read_unified(seen_7d_, q.unified_7d);
    return q;
}

void CredentialState::reset() {
    changed();
    disabled_.store(false);
    until_ms_.store(0);
    next_probe_ms_.store(0);
    exhausted_until_.store(0);
    consecutive_.store(0);
    breaker_until_.store(0);
    half_open_until_.store(0);
    std::lock_guard lock(mu_);
    for (auto& s : slots_) s.until_ms.store(0);
    evidence_ = Evidence{};
}

void CredentialState::enable() {
    admin_disabled_.store(false);
    reset();
}

void CredentialState::disable() {
    admin_disabled_.store(true);
    changed();
}

SavedState CredentialState::save(int64_t now, int64_t wall) const {
    auto to_wall = [&](int64_t t) { return t > now ? wall + (t - now) : 0; };
    SavedState s;
    s.disabled = refused();
    s.admin_disabled = admin_disabled();
    s.until = to_wall(until_ms_.load(std::memory_order_relaxed));
    s.probe = s.until != 0 ? to_wall(next_probe_ms_.load(std::memory_order_relaxed)) : 0;
    s.soft = to_wall(exhausted_until_.load(std::memory_order_relaxed));
    if (s.soft != 0) s.soft_model = soft_model();
    s.breaker = to_wall(breaker_until_.load(std::memory_order_relaxed));
    for (const auto& m : models_cooling(now)) s.models.emplace_back(m.model, to_wall(m.until_ms));
    s.evidence = evidence();
    return s;
}

void CredentialState::restore(const SavedState& s, int64_t now, int64_t wall) {
    auto to_steady = [&](int64_t t) { return t > wall ? now + (t - wall) : 0; };
    // Not `disabled`: a start reads the configuration again, and a reload
    // gives a refused key its chance again too; its evidence stays. An
    // administrator's disable holds until they enable it.
    admin_disabled_.store(s.admin_disabled);
    until_ms_.store(to_steady(s.until));
    next_probe_ms_.store(to_steady(s.probe) != 0 ? std::max(to_steady(s.probe), now) : 0);
    exhausted_until_.store(s.soft_model.empty() ? 0 : to_steady(s.soft));
    exhausted_model_.store(hash_of(s.soft_model));
    breaker_until_.store(to_steady(s.breaker));
    for (const auto& [model, until] : s.models)
        if (int64_t u = to_steady(until); u > now) cool_model(model, hash_of(model), u);
    std::lock_guard lock(mu_);
    evidence_ = s.evidence;
    soft_model_name_ = s.soft_model;
}

bool CredentialState::out(int64_t now) const {
    return disabled() || until_ms_.load(std::memory_order_relaxed) > now || breaker_open(now);
}

std::vector<CredentialState::ModelCooling> CredentialState::models_cooling(int64_t now) const {
    std::vector<ModelCooling> out;
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < kModelSlots; ++i) {
        int64_t until = slots_[i].until_ms.load(std::memory_order_relaxed);
        if (slots_[i].hash.load(std::memory_order_relaxed) != 0 && until > now)
            out.push_back({slot_names_[i], until});
    }
    return out;
}

std::string CredentialState::soft_model() const {
    std::lock_guard lock(mu_);
    return soft_model_name_;
}

Evidence CredentialState::evidence() const {
    std::lock_guard lock(mu_);
    return evidence_;
}

std::shared_ptr<CredentialState> Ledger::get(const std::string& provider, const std::string& fingerprint) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = map_[id(provider, fingerprint)];
    if (!slot) {
        slot = std::make_shared<CredentialState>();
        slot->changes = &changes_;
    }
    return slot;
}

std::shared_ptr<OAuthToken> Ledger::oauth(const std::string& provider, const std::string& fingerprint) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = tokens_[id(provider, fingerprint)];
    if (!slot) slot = std::make_shared<OAuthToken>();
    return slot;
}

std::vector<std::pair<std::string, std::shared_ptr<CredentialState>>> Ledger::entries() {
    std::lock_guard<std::mutex> lock(mu_);
    return {map_.begin(), map_.end()};
}

void Ledger::reloaded() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, state] : map_) state->reenable();
}

void Ledger::retain_only(const std::vector<std::string>& ids) {
    std::unordered_set<std::string> keep(ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = map_.begin(); it != map_.end();) {
        if (keep.count(it->first))
            ++it;
        else
            it = map_.erase(it);
    }
    for (auto it = tokens_.begin(); it != tokens_.end();) {
        if (keep.count(it->first))
            ++it;
        else
            it = tokens_.erase(it);
    }
}

}  // namespace agd::credentials
