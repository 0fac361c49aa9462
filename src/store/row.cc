// Building the store's row from a finished request (store/row.h).
#include "store/row.h"

#include <fmt/core.h>

#include "record/record.h"
#include "store/schema.h"

namespace agd::store {

namespace {

void assign_cut(std::string& out, std::string_view s, size_t max) {
    std::string_view cut = cut_utf8(s, max);
    out.assign(cut.data(), cut.size());
}

// The path without its query string: a Gemini client may send its key as
// ?key=..., and keys are never stored.
std::string_view without_query(std::string_view path) {
    auto q = path.find_first_of("?#");
    return q == std::string_view::npos ? path : path.substr(0, q);
}

}  // namespace

std::string_view cut_utf8(std::string_view s, size_t max) {
    if (s.size() <= max) return s;
    size_t n = max;
    // Back over continuation bytes to the start of the sequence that was cut
    // (at most 3), and drop that start too.
    size_t back = 0;
    while (n > 0 && back < 3 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) {
        --n;
        ++back;
    }
    return s.substr(0, n);
}

bool keeps_bodies(const record::RequestRecord& rec, config::LogBodies mode) {
    return record::keeps_bodies(mode, rec.status, !rec.error.empty());
}

std::string attempt_detail(const record::RequestRecord& rec) {
    std::string out;
    attempt_detail(out, rec);
    return out;
}

void attempt_detail(std::string& out, const record::RequestRecord& rec) {
    out.clear();
    for (const auto& a : rec.attempts) {
        if (out.size() >= kMaxAttemptDetailBytes) break;
        std::string_view provider = "?";
        if (rec.config != nullptr && a.provider >= 0 &&
            static_cast<size_t>(a.provider) < rec.config->providers.size())
            provider = rec.config->providers[static_cast<size_t>(a.provider)].name;
        else if (a.provider == rec.provider && !rec.provider_name.empty())
            provider = rec.provider_name;
        if (!out.empty()) out += ',';
        fmt::format_to(std::back_inserter(out), "{}/{}:{}:{}", cut_utf8(provider, kMaxNameBytes),
                       cut_utf8(a.credential, kMaxNameBytes), a.status, record::attempt_outcome_name(a.outcome));
    }
    if (out.size() > kMaxAttemptDetailBytes) out.resize(cut_utf8(out, kMaxAttemptDetailBytes).size());
}

void Row::recycle() {
    constexpr size_t kKeep = 4096;  // a body's memory worth keeping
    has_bodies = request_truncated = response_truncated = false;
    request_body.clear();
    response_body.clear();
    if (request_body.capacity() > kKeep) std::string().swap(request_body);
    if (response_body.capacity() > kKeep) std::string().swap(response_body);
}

void fill_row(Row& row, const record::RequestRecord& rec) {
    row.request_id = static_cast<int64_t>(rec.id);
    row.ts_ms = rec.unix_ms;
    assign_cut(row.client, rec.client_name, kMaxNameBytes);
    assign_cut(row.addr, rec.addr, kMaxNameBytes);
    assign_cut(row.method, rec.method, kMaxNameBytes);
    assign_cut(row.path, without_query(rec.path), kMaxPathBytes);
    row.op = operation_name(rec.op);
    row.protocol = rec.upstream ? protocol_name(rec.protocol) : nullptr;
    assign_cut(row.model, rec.model, kMaxModelBytes);
    assign_cut(row.model_sent, rec.model_sent, kMaxModelBytes);
    assign_cut(row.provider, rec.provider_name, kMaxNameBytes);
    assign_cut(row.credential, rec.credential, kMaxNameBytes);
    row.attempts = static_cast<int>(rec.attempts.size());
    attempt_detail(row.attempt_detail, rec);
    row.status = rec.status;
    row.upstream_status = rec.upstream_status;
    assign_cut(row.error, rec.error, kMaxErrorBytes);
    assign_cut(row.limit, rec.limit, kMaxNameBytes);
    row.stream = rec.stream;
    row.upstream = rec.upstream;
    row.routed = rec.provider >= 0;
    row.input = rec.usage.input;
    row.output = rec.usage.output;
    row.cache_read = rec.usage.cache_read;
    row.cache_write = rec.usage.cache_write;
    row.reasoning = rec.usage.reasoning;
    row.usage_state = record::usage_state_name(rec.usage_state);
    row.ttfb_us = rec.ttfb_us;
    row.ttft_us = rec.ttft_us;
    row.total_us = rec.total_us;
    row.bytes_in = rec.bytes_in;
    row.bytes_out = rec.bytes_out;
}

void add_bodies(Row& row, const record::RequestRecord& rec, uint64_t body_max) {
    size_t max = static_cast<size_t>(body_max);
    assign_cut(row.request_body, rec.request_body, max);
    assign_cut(row.response_body, rec.response_body, max);
    row.request_truncated = rec.request_truncated || row.request_body.size() < rec.request_body.size();
    row.response_truncated = rec.response_truncated || row.response_body.size() < rec.response_body.size();
    row.has_bodies = !rec.request_body.empty() || !rec.response_body.empty();
}

}  // namespace agd::store
