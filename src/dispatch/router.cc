#include "dispatch/router.h"

#include <algorithm>

#include "common/fingerprint.h"
#include "common/glob.h"

namespace agd::dispatch {

Protocol provider_wire(const config::ProviderConfig& p) {
    switch (p.type) {
        case config::ProviderType::OpenAI: return p.api == config::OpenAIApi::Responses ? Protocol::OpenAIResponses : Protocol::OpenAIChat;
        case config::ProviderType::Anthropic: return Protocol::Anthropic;
        case config::ProviderType::Gemini: return Protocol::Gemini;
    }
    return Protocol::OpenAIChat;
}

Router::Router(const config::Config& cfg, credentials::Ledger& ledger) : strategy_(cfg.routing.strategy) {
    sticky_ = cfg.routing.sticky;
    sticky_ttl_ms_ = cfg.routing.sticky_ttl.count();
    sessions_ = &ledger.sessions();
    policy_.default_cooldown_ms = cfg.routing.cooldown.count();
    policy_.max_cooldown_ms = cfg.routing.max_cooldown.count();
    policy_.probe_interval_ms = cfg.routing.probe_interval.count();
    policy_.breaker_failures = static_cast<int>(cfg.routing.breaker_failures);
    policy_.breaker_cooldown_ms = cfg.routing.breaker_cooldown.count();
    providers_.reserve(cfg.providers.size());
    for (const auto& pc : cfg.providers) {
        Provider p;
        p.cfg = &pc;
        p.wire = provider_wire(pc);
        for (size_t k = 0; k < pc.keys.size(); ++k) {
            const std::string& key = pc.keys[k];
            Credential c;
            c.key = key;
            c.fingerprint = fingerprint(key);
            c.weight = k < pc.key_weights.size() ? std::max(1u, pc.key_weights[k]) : std::max(1u, pc.weight);
            c.id_key = credentials::credential_key(pc.name, c.fingerprint);
            c.state = ledger.get(pc.name, c.fingerprint);
            p.creds.push_back(std::move(c));
        }
        // auth = oauth2: one credential per token file, known by its path.
        for (const auto& file : pc.token_files) {
            Credential c;
            c.fingerprint = fingerprint(file);
            c.weight = std::max(1u, pc.weight);
            c.id_key = credentials::credential_key(pc.name, c.fingerprint);
            c.state = ledger.get(pc.name, c.fingerprint);
            c.oauth = ledger.oauth(pc.name, c.fingerprint);
            c.token_file = file;
            p.creds.push_back(std::move(c));
        }
        for (unsigned client = 0; client <= static_cast<unsigned>(Protocol::Gemini); ++client)
            if (static_cast<unsigned>(p.wire) != client) other_wires_ |= 1u << client;
        providers_.push_back(std::move(p));
    }
    rr_ = std::make_unique<std::atomic<uint64_t>[]>(providers_.size() + 1);
    for (size_t i = 0; i <= providers_.size(); ++i) rr_[i].store(0, std::memory_order_relaxed);
}

std::vector<Match> Router::match(std::string_view model) const {
    std::vector<Match> out;
    for (size_t i = 0; i < providers_.size(); ++i) {
        for (const auto& m : providers_[i].cfg->models) {
            bool hit = m.is_glob ? glob_match(m.pattern, model) : m.pattern == model;
            if (!hit) continue;
            out.push_back({i, m.upstream_name.empty() ? std::string(model) : m.upstream_name});
            break;
        }
    }
    return out;
}

std::vector<std::pair<std::string, const Provider*>> Router::listed_models() const {
    std::vector<std::pair<std::string, const Provider*>> out;
    for (const auto& p : providers_) {
        for (const auto& m : p.cfg->models) {
            if (m.is_glob) continue;
            bool dup = std::any_of(out.begin(), out.end(), [&](const auto& e) { return e.first == m.pattern; });
            if (!dup) out.emplace_back(m.pattern, &p);
        }
    }
    return out;
}

std::vector<Router::Cand> Router::candidates(const std::vector<Match>& among) const {
    std::vector<Cand> cands;
    for (const auto& m : among) {
        const Provider& p = providers_[m.provider];
        for (const auto& c : p.creds) cands.push_back({&p, &c, &m.upstream_model, p.cfg->priority, m.translated});
    }
    // Tiers first, then the client's own protocol before a translation;
    // config order within.
    auto before = [](const Cand& a, const Cand& b) {
        return a.tier != b.tier ? a.tier < b.tier : a.translated < b.translated;
    };
    // Usually in order already (one tier, one kind): no sort, no buffer.
    if (!std::is_sorted(cands.begin(), cands.end(), before)) std::stable_sort(cands.begin(), cands.end(), before);
    return cands;
}

namespace {

// The walk pick() and explain() share. `gate` answers a candidate's Check
// (claiming a probe or not); `start` where a group's walk begins.
template <class Cand, class Gate, class Start>
Router::Pick choose(const std::vector<Cand>& cands, const std::vector<const Credential*>& tried, int64_t now_ms,
                    const Cand* sticky, Gate&& gate, Start&& start) {
    Router::Pick out;
    auto take = [&](const Cand& c, bool probe) {
        out.status = Router::PickStatus::Ok;
        out.provider = c.p;
        out.cred = c.c;
        out.upstream_model = *c.model;
        out.probe = probe;
    };
    auto untried = [&](const Cand& c) { return std::find(tried.begin(), tried.end(), c.c) == tried.end(); };
    // The session's credential first, while it can serve; what it answered
    // counts below like any other's (used last when soft, its rest in the
    // retry time), so stickiness never turns a 429 into a 502.
    credentials::CredentialState::Check sticky_check;
    if (sticky && untried(*sticky)) {
        sticky_check = gate(*sticky);
        if (sticky_check.gate == credentials::CredentialState::Gate::Ready ||
            sticky_check.gate == credentials::CredentialState::Gate::Probe) {
            take(*sticky, sticky_check.gate == credentials::CredentialState::Gate::Probe);
            return out;
        }
    }
    int64_t soonest = INT64_MAX;
    bool any_timed = false;
    const Cand* soft = nullptr;
    for (size_t g = 0; g < cands.size();) {
        size_t end = g + 1;
        while (end < cands.size() && cands[end].tier == cands[g].tier && cands[end].translated == cands[g].translated)
            ++end;
        size_t n = end - g;
        size_t first = start(&cands[g], n);
        for (size_t i = 0; i < n; ++i) {
            const Cand& c = cands[g + (first + i) % n];
            if (!untried(c)) continue;
            auto check = &c == sticky ? sticky_check : gate(c);
            switch (check.gate) {
                case credentials::CredentialState::Gate::Ready: take(c, false); return out;
                case credentials::CredentialState::Gate::Probe: take(c, true); return out;
                case credentials::CredentialState::Gate::Soft:
                    if (!soft) soft = &c;
                    break;
                case credentials::CredentialState::Gate::Out:
                    // Disabled (no time given) is out for good: not "cooling".
                    if (check.until_ms > 0) {
                        any_timed = true;
                        soonest = std::min(soonest, check.until_ms);
                    }
                    break;
            }
        }
        g = end;
    }
    if (soft) {
        take(*soft, false);
        return out;
    }
    if (any_timed) {
        out.status = Router::PickStatus::AllCooling;
        out.retry_after_ms = std::max<int64_t>(soonest - now_ms, 0);
    }
    return out;
}

}  // namespace

size_t Router::start_of(const Cand* group, size_t n, bool advance) const {
    if (strategy_ == config::Strategy::FillFirst || n <= 1) return 0;
    std::atomic<uint64_t>& counter = rr_[static_cast<size_t>(group->p - providers_.data())];
    uint64_t turn = advance ? counter.fetch_add(1, std::memory_order_relaxed) : counter.load(std::memory_order_relaxed);
    if (strategy_ == config::Strategy::RoundRobin) return static_cast<size_t>(turn % n);
    // Weighted: the rotation is as long as the weights' sum; each credential
    // owns as many of its turns as its weight.
    uint64_t total = 0;
    for (size_t i = 0; i < n; ++i) total += group[i].c->weight;
    turn %= total;
    for (size_t i = 0; i < n; ++i) {
        if (turn < group[i].c->weight) return i;
        turn -= group[i].c->weight;
    }
    return 0;
}

// A session that moved to a lower tier while the higher were out goes back
// once a credential of a higher tier is ready again (asked without
// claiming anything).
bool Router::better_tier_ready(const std::vector<Cand>& cands, const Cand* sticky,
                               const std::vector<const Credential*>& tried, int64_t now_ms) const {
    if (sticky == nullptr) return false;
    for (const auto& c : cands) {
        if (c.tier >= sticky->tier) break;  // sorted by tier
        if (std::find(tried.begin(), tried.end(), c.c) != tried.end()) continue;
        if (c.c->state->peek(*c.model, now_ms, policy_).gate == credentials::CredentialState::Gate::Ready) return true;
    }
    return false;
}

Router::Pick Router::pick(const std::vector<Match>& among, const std::vector<const Credential*>& tried, int64_t now_ms,
                          uint64_t session) const {
    std::vector<Cand> cands = candidates(among);
    if (!sticky_ || sessions_ == nullptr) session = 0;
    const Cand* sticky = nullptr;
    if (session != 0) {
        if (uint64_t id = sessions_->find(session, now_ms, sticky_ttl_ms_))
            for (const auto& c : cands)
                if (c.c->id_key == id) sticky = &c;
        if (better_tier_ready(cands, sticky, tried, now_ms)) sticky = nullptr;
    }
    Pick out = choose(
        cands, tried, now_ms, sticky, [&](const Cand& c) { return c.c->state->check(*c.model, now_ms, policy_); },
        [&](const Cand* group, size_t n) { return start_of(group, n, true); });
    if (session != 0 && out.status == PickStatus::Ok) sessions_->remember(session, out.cred->id_key, now_ms, sticky_ttl_ms_);
    return out;
}

Router::Explanation Router::explain(const std::vector<Match>& among, int64_t now_ms, uint64_t session) const {
    Explanation ex;
    std::vector<Cand> cands = candidates(among);
    for (const auto& c : cands)
        ex.candidates.push_back({c.p, c.c, *c.model, c.tier, c.translated, c.c->state->peek(*c.model, now_ms, policy_)});
    const Cand* sticky = nullptr;
    if (sticky_ && sessions_ != nullptr && session != 0) {
        if (uint64_t id = sessions_->find(session, now_ms, sticky_ttl_ms_))
            for (size_t i = 0; i < cands.size(); ++i)
                if (cands[i].c->id_key == id) {
                    sticky = &cands[i];
                    ex.sticky = &ex.candidates[i];
                }
        if (better_tier_ready(cands, sticky, {}, now_ms)) {
            sticky = nullptr;
            ex.sticky = nullptr;
        }
    }
    ex.pick = choose(
        cands, {}, now_ms, sticky,
        [&](const Cand& c) { return ex.candidates[static_cast<size_t>(&c - cands.data())].check; },
        // The rotation as it stands: where the next request's walk would begin.
        [&](const Cand* group, size_t n) { return start_of(group, n, false); });
    return ex;
}

void Router::report(const Credential& cred, std::string_view model, const credentials::Verdict& v,
                    const credentials::Hints& hints, int status, int64_t now_ms) const {
    cred.state->record(model, v, hints, status, now_ms, policy_);
}

}  // namespace agd::dispatch
