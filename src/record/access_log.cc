#include "record/access_log.h"

#include <cstdio>
#include <string_view>

#include "common/log.h"
#include "config/config.h"

namespace agd::record {
namespace {

// Values: bare when safe, quoted otherwise.
void kv(std::string& out, const char* key, std::string_view value) {
    out += ' ';
    out += key;
    out += '=';
    if (value.empty()) {
        out += '-';
        return;
    }
    bool plain = true;
    for (char c : value)
        if (c == ' ' || c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f) plain = false;
    if (plain) {
        out += value;
        return;
    }
    out += '"';
    for (char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
    }
    out += '"';
}

void num(std::string& out, const char* key, int64_t v) {
    out += ' ';
    out += key;
    out += '=';
    if (v < 0)
        out += '-';
    else
        out += std::to_string(v);
}

void ms(std::string& out, const char* key, int64_t us) {
    char buf[48];
    if (us < 0)
        snprintf(buf, sizeof buf, " %s=-1", key);
    else
        snprintf(buf, sizeof buf, " %s=%.1f", key, static_cast<double>(us) / 1000.0);
    out += buf;
}

}  // namespace

std::string access_line(const RequestRecord& rec) {
    std::string line;
    line.reserve(400);
    char buf[64];
    snprintf(buf, sizeof buf, "access id=%016llx", static_cast<unsigned long long>(rec.id));
    line += buf;
    kv(line, "addr", rec.addr);
    kv(line, "client", rec.client_name);
    kv(line, "method", rec.method);
    kv(line, "path", rec.path);
    line += " status=" + std::to_string(rec.status);
    kv(line, "proto", rec.upstream ? protocol_name(rec.protocol) : "");
    kv(line, "model", rec.model);
    kv(line, "model_sent", rec.model_sent);
    kv(line, "provider", rec.provider_name);
    kv(line, "cred", rec.credential);
    line += " attempts=" + std::to_string(rec.attempts.size());
    line += " upstream_status=" + std::to_string(rec.upstream_status);
    line += " bytes_in=" + std::to_string(rec.bytes_in);
    line += " bytes_out=" + std::to_string(rec.bytes_out);
    ms(line, "ttfb_ms", rec.ttfb_us);
    ms(line, "ttft_ms", rec.ttft_us);
    ms(line, "total_ms", rec.total_us);
    if (rec.usage_state != UsageState::None) {
        num(line, "in", rec.usage.input);
        num(line, "out", rec.usage.output);
        num(line, "cache_read", rec.usage.cache_read);
        num(line, "cache_write", rec.usage.cache_write);
        num(line, "reasoning", rec.usage.reasoning);
        kv(line, "usage", usage_state_name(rec.usage_state));
    }
    if (!rec.limit.empty()) kv(line, "limit", rec.limit);
    if (!rec.error.empty()) kv(line, "error", rec.error);
    return line;
}

bool AccessLog::wants(const config::Config& cfg) const {
    const std::string& where = cfg.log.access_log;
    if (where == "off") return false;
    return where != "stderr" || log::enabled(log::Level::Info);
}

void AccessLog::on_complete(const RequestRecord& rec) { log::access(access_line(rec)); }

}  // namespace agd::record
