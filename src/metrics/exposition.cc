#include "metrics/exposition.h"

#include <fmt/format.h>

#include <string_view>

#include "metrics/labels.h"
#include "record/record.h"

namespace agd::metrics {

namespace {

// `name="value"` (escaped), with a comma before it unless first.
void pair(std::string& out, std::string_view name, std::string_view value) {
    if (!out.empty()) out += ',';
    out += name;
    out += "=\"";
    append_escaped(out, value);
    out += '"';
}

const std::string& name_of(const std::vector<std::string>& names, uint16_t id) {
    static const std::string other(kOther);
    return id < names.size() ? names[id] : other;
}

void head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void sample(std::string& out, std::string_view name, const std::string& labels, std::string_view value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}

std::string seconds(uint64_t us) { return fmt::format("{}", static_cast<double>(us) / 1e6); }

template <size_t N>
void histogram(std::string& out, std::string_view name, std::string_view help,
               const std::map<std::string, Histogram<N>>& series, const std::array<int64_t, N>& bounds) {
    head(out, name, "histogram", help);
    std::string bucket = std::string(name) + "_bucket";
    std::string sum = std::string(name) + "_sum";
    std::string count = std::string(name) + "_count";
    for (const auto& [labels, h] : series) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= N; ++i) {
            cumulative += h.counts[i];
            std::string l = labels;
            pair(l, "le", i < N ? seconds(static_cast<uint64_t>(bounds[i])) : "+Inf");
            sample(out, bucket, l, std::to_string(cumulative));
        }
        sample(out, sum, labels, seconds(h.sum_us));
        sample(out, count, labels, std::to_string(cumulative));
    }
}

void counters(std::string& out, std::string_view name, std::string_view help,
              const std::map<std::string, uint64_t>& series) {
    head(out, name, "counter", help);
    for (const auto& [labels, v] : series) sample(out, name, labels, std::to_string(v));
}

void single(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::string_view value) {
    head(out, name, type, help);
    sample(out, name, {}, value);
}

}  // namespace

void Merged::add(const ShardData& s) {
    for (const auto& [key, v] : s.requests) {
        RequestKey k = RequestKey::unpack(key);
        std::string l;
        pair(l, "client", name_of(s.clients, k.client));
        pair(l, "protocol", protocol_label(k.protocol));
        pair(l, "model", name_of(s.models, k.model));
        pair(l, "provider", name_of(s.providers, k.provider));
        pair(l, "status", std::to_string(k.status));
        requests[l] += v;
    }
    auto latency_labels = [&](uint64_t key) {
        LatencyKey k = LatencyKey::unpack(key);
        std::string l;
        pair(l, "protocol", protocol_label(k.protocol));
        pair(l, "model", name_of(s.models, k.model));
        pair(l, "provider", name_of(s.providers, k.provider));
        return l;
    };
    for (const auto& [key, h] : s.duration) duration[latency_labels(key)].add(h);
    for (const auto& [key, h] : s.ttft) ttft[latency_labels(key)].add(h);
    for (const auto& [key, t] : s.tokens) {
        TokenKey k = TokenKey::unpack(key);
        std::string l;
        pair(l, "client", name_of(s.clients, k.client));
        pair(l, "model", name_of(s.models, k.model));
        pair(l, "provider", name_of(s.providers, k.provider));
        TokenCounts& sum = tokens[l];
        for (unsigned i = 0; i < kTokenTypes; ++i) sum[i] += t[i];
    }
    for (const auto& [key, v] : s.attempts) {
        AttemptKey k = AttemptKey::unpack(key);
        std::string l;
        pair(l, "provider", name_of(s.providers, k.provider));
        pair(l, "credential", k.valid ? format_fingerprint(k.credential) : std::string(kOther));
        pair(l, "outcome", record::attempt_outcome_name(static_cast<record::AttemptOutcome>(k.outcome)));
        attempts[l] += v;
    }
    for (const auto& [key, v] : s.limited) {
        LimitKey k = LimitKey::unpack(key);
        std::string l;
        pair(l, "client", name_of(s.clients, k.client));
        pair(l, "limit", name_of(s.limits, k.limit));
        limited[l] += v;
    }
}

std::string render(const Merged& m, const Gauges& g) {
    std::string out;
    out.reserve(4096 + 160 * (m.requests.size() + m.attempts.size()) +
                2600 * (m.duration.size() + m.ttft.size()) + 600 * m.tokens.size());

    counters(out, "antigravityd_requests_total",
             "Requests answered, by client, client protocol (local: answered by the daemon itself), model, "
             "provider and HTTP status.",
             m.requests);
    histogram(out, "antigravityd_request_duration_seconds",
              "Time from the request's start to the end of its answer.", m.duration, kDurationBoundsUs);
    histogram(out, "antigravityd_time_to_first_token_seconds",
              "Time from the request's start to the first token of its answer.", m.ttft, kTtftBoundsUs);

    head(out, "antigravityd_tokens_total", "counter",
         "Tokens the upstreams reported, by client, model, provider and type (input counts cache reads and "
         "writes, output counts reasoning).");
    for (const auto& [labels, t] : m.tokens) {
        for (unsigned i = 0; i < kTokenTypes; ++i) {
            std::string l = labels;
            pair(l, "type", token_type_label(i));
            sample(out, "antigravityd_tokens_total", l, std::to_string(t[i]));
        }
    }
    counters(out, "antigravityd_upstream_attempts_total",
             "Upstream attempts, by provider, credential fingerprint and outcome.", m.attempts);
    counters(out, "antigravityd_client_limited_total", "Requests a client limit refused, by client and limit.",
             m.limited);

    // Gauges read on the main thread at this scrape.
    head(out, "antigravityd_credential_up", "gauge",
         "1 when the credential is usable, 0 while it cools down after a rate limit or an auth failure.");
    std::map<std::string, bool> creds;  // a key listed twice by one provider is one series
    for (const CredentialGauge& c : g.credentials) {
        std::string l;
        pair(l, "provider", c.provider);
        uint32_t fp = 0;
        pair(l, "credential", parse_fingerprint(c.credential, fp) ? format_fingerprint(fp) : std::string(kOther));
        auto [it, added] = creds.try_emplace(l, c.up);
        if (!added) it->second = it->second && c.up;
    }
    for (const auto& [labels, up] : creds) sample(out, "antigravityd_credential_up", labels, up ? "1" : "0");

    single(out, "antigravityd_in_flight_requests", "gauge", "Requests being served now.",
           std::to_string(g.in_flight));
    single(out, "antigravityd_log_dropped_total", "counter",
           "Request records the request log could not keep (its queue was full).", std::to_string(g.log_dropped));
    single(out, "antigravityd_config_generation", "gauge",
           "Generation of the live configuration (1 at start, one more per successful reload).",
           std::to_string(g.config_generation));
    head(out, "antigravityd_build_info", "gauge", "Always 1; the version is a label.");
    std::string version;
    pair(version, "version", AGD_VERSION);
    sample(out, "antigravityd_build_info", version, "1");

    if (g.have_process) {
        const ProcessStats& p = g.process;
        single(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
               fmt::format("{}", p.cpu_seconds));
        single(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               std::to_string(p.resident_bytes));
        single(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
               std::to_string(p.virtual_bytes));
        single(out, "process_open_fds", "gauge", "Number of open file descriptors.", std::to_string(p.open_fds));
        single(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               std::to_string(p.max_fds));
        single(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
               fmt::format("{}", p.start_time_seconds));
    }
    return out;
}

}  // namespace agd::metrics
