#include "metrics/shard.h"

#include <utility>

#include "config/config.h"
#include "metrics/labels.h"
#include "record/record.h"

namespace agd::metrics {

std::string_view token_type_label(unsigned type) {
    switch (type) {
        case kInput: return "input";
        case kOutput: return "output";
        case kCacheRead: return "cache_read";
        case kCacheWrite: return "cache_write";
        case kReasoning: return "reasoning";
        default: return "other";
    }
}

ShardData::ShardData()
    : models{std::string(kNone), std::string(kOther)},
      clients{std::string(kNone), std::string(kOther)},
      providers{std::string(kNone), std::string(kOther)},
      limits{std::string(kOther)} {}

// The label rules of one config generation, mapped to this shard's ids.
struct Shard::Generation {
    const config::Config* config = nullptr;
    uint64_t generation = 0;
    ModelLabels models;
    std::vector<uint16_t> model_ids;  // by ModelLabels index
    std::vector<uint16_t> clients;    // by config client index
    std::vector<uint16_t> providers;  // by config provider index
};

namespace {
constexpr uint16_t kNoneId = 0;
constexpr uint16_t kOtherId = 1;
constexpr size_t kMaxIds = 65535;
}  // namespace

Shard::Shard() {
    for (uint16_t i = 0; i < 2; ++i) {
        model_ids_.emplace(data_.models[i], i);
        client_ids_.emplace(data_.clients[i], i);
        provider_ids_.emplace(data_.providers[i], i);
    }
    limit_ids_.emplace(data_.limits[0], 0);
}

Shard::~Shard() = default;

uint16_t Shard::intern(std::vector<std::string>& names, Index& index, std::string_view value, uint16_t overflow) {
    if (auto it = index.find(value); it != index.end()) return it->second;
    if (names.size() >= kMaxIds) return overflow;
    auto id = static_cast<uint16_t>(names.size());
    names.emplace_back(value);
    index.emplace(names.back(), id);
    return id;
}

Shard::Generation& Shard::generation_of(const record::RequestRecord& rec) {
    auto same = [&](const std::unique_ptr<Generation>& g) {
        return g && g->config == rec.config && g->generation == rec.generation;
    };
    if (same(gens_[0])) return *gens_[0];
    std::swap(gens_[0], gens_[1]);
    if (same(gens_[0])) return *gens_[0];
    // A generation this worker has not counted yet (or one it forgot):
    // built once, from the record's config.
    auto g = std::make_unique<Generation>();
    g->config = rec.config;
    g->generation = rec.generation;
    if (rec.config) {
        const config::Config& cfg = *rec.config;
        g->models = ModelLabels(cfg);
        for (const auto& c : cfg.clients) g->clients.push_back(intern(data_.clients, client_ids_, c.name, kOtherId));
        for (const auto& p : cfg.providers)
            g->providers.push_back(intern(data_.providers, provider_ids_, p.name, kOtherId));
    }
    for (const std::string& name : g->models.names())
        g->model_ids.push_back(intern(data_.models, model_ids_, name, kOtherId));
    gens_[0] = std::move(g);
    return *gens_[0];
}

void Shard::add(const record::RequestRecord& rec) {
    Generation& g = generation_of(rec);
    auto client_of = [&](int i) {
        return i >= 0 && static_cast<size_t>(i) < g.clients.size() ? g.clients[static_cast<size_t>(i)] : kNoneId;
    };
    auto provider_of = [&](int i) {
        return i >= 0 && static_cast<size_t>(i) < g.providers.size() ? g.providers[static_cast<size_t>(i)] : kNoneId;
    };
    uint16_t client = client_of(rec.client);
    uint16_t provider = provider_of(rec.provider);
    uint16_t model = g.model_ids[g.models.index(rec.model, rec.provider)];
    auto protocol = static_cast<uint16_t>(protocol_id(rec.upstream, rec.protocol));

    ++data_.requests[RequestKey{client, model, provider, protocol, static_cast<uint16_t>(status_label(rec.status))}
                         .pack()];
    uint64_t latency = LatencyKey{model, provider, protocol}.pack();
    data_.duration[latency].observe(rec.total_us, kDurationBoundsUs);
    if (rec.ttft_us >= 0) data_.ttft[latency].observe(rec.ttft_us, kTtftBoundsUs);

    const record::Usage& u = rec.usage;
    const int64_t used[kTokenTypes] = {u.input, u.output, u.cache_read, u.cache_write, u.reasoning};
    if (used[0] >= 0 || used[1] >= 0 || used[2] >= 0 || used[3] >= 0 || used[4] >= 0) {
        TokenCounts& t = data_.tokens[TokenKey{client, model, provider}.pack()];
        for (unsigned i = 0; i < kTokenTypes; ++i)
            if (used[i] > 0) t[i] += static_cast<uint64_t>(used[i]);
    }

    for (const record::Attempt& a : rec.attempts) {
        AttemptKey k;
        k.provider = provider_of(a.provider);
        k.outcome = static_cast<uint8_t>(a.outcome);
        k.valid = parse_fingerprint(a.credential, k.credential);
        ++data_.attempts[k.pack()];
    }

    if (!rec.limit.empty()) {
        uint16_t limit = intern(data_.limits, limit_ids_, limit_label(rec.limit), 0);
        ++data_.limited[LimitKey{client, limit}.pack()];
    }
}

}  // namespace agd::metrics
