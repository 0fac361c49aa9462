#include "admin/events.h"

#include <cinttypes>
#include <cstdio>

#include "common/json.h"
#include "pipeline/protocol.h"
#include "record/usage.h"

namespace agd::admin {

namespace {

void field(std::string& b, const char* name, std::string_view v) {
    b += ",\"";
    b += name;
    b += "\":" + json_string(v);
}

void number(std::string& b, const char* name, int64_t v) {
    b += ",\"";
    b += name;
    b += "\":" + std::to_string(v);
}

void optional(std::string& b, const char* name, int64_t v) {
    if (v < 0) {
        b += ",\"";
        b += name;
        b += "\":null";
    } else {
        number(b, name, v);
    }
}

void millis(std::string& b, const char* name, int64_t us) {
    b += ",\"";
    b += name;
    b += "\":";
    if (us < 0) {
        b += "null";
        return;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(us) / 1000.0);
    b += buf;
}

}  // namespace

std::string event_json(const record::RequestRecord& rec) {
    char id[17];
    std::snprintf(id, sizeof id, "%016" PRIx64, rec.id);
    std::string b = "{\"id\":\"";
    b += id;
    b += "\"";
    number(b, "ts_ms", rec.unix_ms);
    field(b, "client", rec.client_name);
    field(b, "addr", rec.addr);
    field(b, "method", rec.method);
    field(b, "path", rec.path);
    field(b, "protocol", rec.upstream ? protocol_name(rec.protocol) : "local");
    field(b, "model", rec.model);
    field(b, "model_sent", rec.model_sent);
    field(b, "provider", rec.provider_name);
    field(b, "credential", rec.credential);
    number(b, "attempts", static_cast<int64_t>(rec.attempts.size()));
    number(b, "status", rec.status);
    number(b, "upstream_status", rec.upstream_status);
    field(b, "error", rec.error);
    field(b, "limit", rec.limit);
    b += rec.stream ? ",\"stream\":true" : ",\"stream\":false";
    optional(b, "input", rec.usage.input);
    optional(b, "output", rec.usage.output);
    optional(b, "cache_read", rec.usage.cache_read);
    optional(b, "cache_write", rec.usage.cache_write);
    optional(b, "reasoning", rec.usage.reasoning);
    field(b, "usage", record::usage_state_name(rec.usage_state));
    millis(b, "ttfb_ms", rec.ttfb_us);
    millis(b, "ttft_ms", rec.ttft_us);
    millis(b, "total_ms", rec.total_us);
    number(b, "bytes_in", static_cast<int64_t>(rec.bytes_in));
    number(b, "bytes_out", static_cast<int64_t>(rec.bytes_out));
    return b + "}";
}

void EventFeed::on_complete(const record::RequestRecord& rec) {
    if (subscribers_.load(std::memory_order_acquire) <= 0) return;
    if (!deliver_(event_json(rec))) dropped_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace agd::admin
