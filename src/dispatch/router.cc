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
        for (const auto& key : pc.keys) {
            Credential c;
            c.key = key;
            c.fingerprint = fingerprint(key);
            c.state = ledger.get(pc.name, c.fingerprint);
            p.creds.push_back(std::move(c));
        }
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

Router::Pick Router::pick(const std::vector<Match>& among, const std::vector<const Credential*>& tried, int64_t now_ms) const {
    struct Cand {
        const Provider* p;
        const Credential* c;
        const std::string* model;
    };
    std::vector<Cand> cands;
    for (const auto& m : among)
        for (const auto& c : providers_[m.provider].creds) cands.push_back({&providers_[m.provider], &c, &m.upstream_model});
    Pick out;
    if (cands.empty()) return out;
    size_t start = 0;
    if (strategy_ == config::Strategy::RoundRobin)
        start = static_cast<size_t>(rr_[among.front().provider].fetch_add(1, std::memory_order_relaxed) % cands.size());
    int64_t soonest = INT64_MAX;
    bool any_untried = false;
    const Cand* soft = nullptr;
    auto take = [&](const Cand& c, bool probe) {
        out.status = PickStatus::Ok;
        out.provider = c.p;
        out.cred = c.c;
        out.upstream_model = *c.model;
        out.probe = probe;
    };
    for (size_t i = 0; i < cands.size(); ++i) {
        const Cand& c = cands[(start + i) % cands.size()];
        if (std::find(tried.begin(), tried.end(), c.c) != tried.end()) continue;
        auto check = c.c->state->check(*c.model, now_ms, policy_);
        switch (check.gate) {
            case credentials::CredentialState::Gate::Ready: take(c, false); return out;
            case credentials::CredentialState::Gate::Probe: take(c, true); return out;
            case credentials::CredentialState::Gate::Soft:
                if (!soft) soft = &c;
                break;
            case credentials::CredentialState::Gate::Out:
                // Disabled (no time given) is out for good: not "cooling".
                if (check.until_ms > 0) {
                    any_untried = true;
                    soonest = std::min(soonest, check.until_ms);
                }
                break;
        }
    }
    if (soft) {
        take(*soft, false);
        return out;
    }
    if (any_untried) {
        out.status = PickStatus::AllCooling;
        out.retry_after_ms = std::max<int64_t>(soonest - now_ms, 0);
    }
    return out;
}

void Router::report(const Credential& cred, std::string_view model, const credentials::Verdict& v,
                    const credentials::Hints& hints, int status, int64_t now_ms) const {
    cred.state->record(model, v, hints, status, now_ms, policy_);
}

}  // namespace agd::dispatch
