#include "config/dump.h"

#include <string_view>

#include "common/fingerprint.h"
#include "common/redact.h"

namespace agd::config {

namespace {

// The largest unit that divides the size exactly: "100M", "64K", "1000".
std::string size_text(uint64_t n) {
    static constexpr std::pair<uint64_t, char> kUnits[] = {{1ull << 30, 'G'}, {1ull << 20, 'M'}, {1ull << 10, 'K'}};
    for (auto [unit, suffix] : kUnits)
        if (n != 0 && n % unit == 0) return std::to_string(n / unit) + suffix;
    return std::to_string(n);
}

// The largest unit that divides the duration exactly: "30d", "5m", "250ms".
std::string duration_text(Millis d) {
    long long ms = d.count();
    static constexpr std::pair<long long, const char*> kUnits[] = {
        {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}};
    for (auto [unit, suffix] : kUnits)
        if (ms != 0 && ms % unit == 0) return std::to_string(ms / unit) + suffix;
    return std::to_string(ms) + "ms";
}

struct Ini {
    std::string out;
    void section(std::string_view name) {
        if (!out.empty()) out += '\n';
        out += '[';
        out += name;
        out += "]\n";
    }
    void kv(std::string_view key, std::string_view value) {
        out += key;
        out += " = ";
        out += value;
        out += '\n';
    }
    void secret(std::string_view key, const std::string& value) { kv(key, "fingerprint:" + fingerprint(value)); }
};

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

}  // namespace

std::string dump(const Config& cfg) {
    Ini ini;
    ini.out = "# antigravityd: the effective configuration of " + cfg.path +
              "\n# (defaults written out; keys as fingerprints)\n";
    const ServerConfig& s = cfg.server;
    ini.section("server");
    for (const auto& l : s.listen) ini.kv("listen", l.text);
    ini.kv("workers", std::to_string(s.workers));
    ini.kv("max_body_size", size_text(s.max_body_size));
    ini.kv("upload_buffer_size", size_text(s.upload_buffer_size));
    ini.kv("max_json_depth", std::to_string(s.max_json_depth));
    ini.kv("upstream_timeout", duration_text(s.upstream_timeout));
    ini.kv("connect_timeout", duration_text(s.connect_timeout));
    ini.kv("shutdown_timeout", duration_text(s.shutdown_timeout));
    ini.kv("client_header_timeout", duration_text(s.client_header_timeout));
    ini.kv("client_body_timeout", duration_text(s.client_body_timeout));
    ini.kv("max_connections_per_ip", std::to_string(s.max_connections_per_ip));
    ini.kv("pid_file", s.pid_file);
    ini.kv("control_socket", s.control_socket);
    ini.kv("state_dir", s.state_dir);
    if (!s.user.empty()) ini.kv("user", s.user);
    if (!s.group.empty()) ini.kv("group", s.group);
    ini.kv("log_level", to_string(s.log_level));

    ini.section("auth");
    ini.kv("mode", to_string(cfg.auth.mode));
    ini.out += "# in effect: " + std::string(to_string(cfg.auth.effective)) + "\n";
    for (const auto& k : cfg.auth.keys) ini.secret("key", k);

    ini.section("access");
    for (const auto& c : cfg.access.allow) ini.kv("allow", c.text);
    for (const auto& c : cfg.access.deny) ini.kv("deny", c.text);
    for (const auto& c : cfg.access.trusted_proxies) ini.kv("trusted_proxy", c.text);
    ini.kv("real_ip_header", to_string(cfg.access.real_ip_header));

    const RoutingConfig& r = cfg.routing;
    ini.section("routing");
    ini.kv("strategy", to_string(r.strategy));
    ini.kv("cooldown", duration_text(r.cooldown));
    ini.kv("max_attempts", std::to_string(r.max_attempts));
    ini.kv("max_cooldown", duration_text(r.max_cooldown));
    ini.kv("probe_interval", duration_text(r.probe_interval));
    ini.kv("breaker_failures", std::to_string(r.breaker_failures));
    ini.kv("breaker_cooldown", duration_text(r.breaker_cooldown));
    ini.kv("first_token_timeout", r.first_token_timeout.count() ? duration_text(r.first_token_timeout) : "0");
    ini.kv("sticky", r.sticky ? "session" : "off");
    ini.kv("sticky_ttl", duration_text(r.sticky_ttl));

    const LogConfig& lg = cfg.log;
    ini.section("log");
    ini.kv("database", lg.database);
    ini.kv("retention", duration_text(lg.retention));
    ini.kv("rollup_retention", duration_text(lg.rollup_retention));
    ini.kv("max_size", size_text(lg.max_size));
    ini.kv("bodies", to_string(lg.bodies));
    ini.kv("body_retention", duration_text(lg.body_retention));
    ini.kv("body_max", size_text(lg.body_max));
    ini.kv("access_log", lg.access_log);

    if (!cfg.metrics.listen.empty()) {
        ini.section("metrics");
        for (const auto& l : cfg.metrics.listen) ini.kv("listen", l.text);
    }

    if (cfg.admin.line != 0) {
        const AdminConfig& a = cfg.admin;
        ini.section("admin");
        for (const auto& l : a.listen) ini.kv("listen", l.text);
        // Hashes are not secrets the way keys are, but say no more than needed.
        if (!a.password_hash.empty()) ini.kv("password_hash", "(set)");
        if (!a.viewer_password_hash.empty()) ini.kv("viewer_password_hash", "(set)");
        if (!a.token_file.empty()) ini.kv("token_file", a.token_file);
        for (const auto& h : a.hosts) ini.kv("host", h);
        ini.kv("session_timeout", duration_text(a.session_timeout));
    }

    // Paths only: the key file's contents never leave it.
    if (cfg.tls.line != 0 || has_tls_listener(cfg)) {
        const TlsConfig& t = cfg.tls;
        ini.section("tls");
        ini.kv("certificate", t.certificate);
        ini.kv("key", t.key);
        if (!t.client_ca.empty()) ini.kv("client_ca", t.client_ca);
        ini.kv("min_version", to_string(t.min_version));
    }

    for (const auto& c : cfg.clients) {
        if (c.line == 0) continue;  // "default": its keys are [auth]'s
        ini.section("client." + c.name);
        for (const auto& k : c.keys) ini.secret("key", k);
        if (!c.models.empty()) ini.kv("models", joined(c.models));
        if (c.rpm) ini.kv("rpm", std::to_string(c.rpm));
        if (c.tpm) ini.kv("tpm", std::to_string(c.tpm));
        if (c.daily_tokens) ini.kv("daily_tokens", std::to_string(c.daily_tokens));
        if (c.monthly_tokens) ini.kv("monthly_tokens", std::to_string(c.monthly_tokens));
        if (c.max_concurrent) ini.kv("max_concurrent", std::to_string(c.max_concurrent));
        if (c.expires) {
            std::string d = std::to_string(c.expires);
            ini.kv("expires", d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2));
        }
    }

    for (const auto& p : cfg.providers) {
        ini.section("provider." + p.name);
        ini.kv("type", to_string(p.type));
        if (p.type == ProviderType::OpenAI) ini.kv("api", to_string(p.api));
        ini.kv("base_url", redact_url(p.base_url));  // a URL's userinfo is a secret
        ini.kv("auth", to_string(p.auth));
        for (size_t i = 0; i < p.keys.size(); ++i) {
            std::string v = "fingerprint:" + fingerprint(p.keys[i]);
            if (i < p.key_weights.size() && p.key_weights[i]) v += " weight=" + std::to_string(p.key_weights[i]);
            ini.kv("key", v);
        }
        for (const auto& t : p.token_files) ini.kv("token_file", t);
        if (p.auth == ProviderAuth::OAuth2) {
            ini.kv("token_url", redact_url(p.token_url));
            ini.kv("client_id", p.client_id);
            if (!p.client_secret_file.empty()) ini.kv("client_secret_file", p.client_secret_file);
            if (!p.scope.empty()) ini.kv("scope", p.scope);
            ini.kv("refresh_lead", duration_text(p.refresh_lead));
        }
        std::string models;
        for (const auto& m : p.models)
            models += (models.empty() ? "" : ", ") + m.pattern + (m.upstream_name.empty() ? "" : "=" + m.upstream_name);
        ini.kv("models", models);
        if (!p.proxy.empty()) ini.kv("proxy", redact_url(p.proxy));
        if (!p.ca_file.empty()) ini.kv("ca_file", p.ca_file);
        ini.kv("http_client", to_string(p.http_client));
        ini.kv("weight", std::to_string(p.weight));
        ini.kv("priority", std::to_string(p.priority));
        if (p.auth_header != AuthHeader::Default) ini.kv("auth_header", to_string(p.auth_header));
        for (const auto& h : p.extra_headers) {
            // A header may carry a secret (an organisation id, a token): its value is fingerprinted.
            auto colon = h.find(':');
            ini.kv("extra_header", colon == std::string::npos
                                       ? h
                                       : h.substr(0, colon) + ": fingerprint:" + fingerprint(h.substr(colon + 1)));
        }
    }

    for (const auto& m : cfg.models) {
        ini.section("model." + m.pattern);
        if (!m.fallback.empty()) ini.kv("fallback", joined(m.fallback));
        if (m.first_token_timeout.count() >= 0)
            ini.kv("first_token_timeout",
                   m.first_token_timeout.count() ? duration_text(m.first_token_timeout) : "0");
    }

    for (const auto& rule : cfg.rules) {
        ini.section("rule." + rule.name);
        if (!rule.models.empty()) ini.kv("models", joined(rule.models));
        if (rule.wire != RuleWire::Any) ini.kv("wire", to_string(rule.wire));
        if (!rule.client.empty()) ini.kv("client", rule.client);
        for (const auto& e : rule.edits)
            ini.kv(e.kind == RuleEdit::Kind::Default ? "default" : e.kind == RuleEdit::Kind::Set ? "set" : "remove",
                   e.text);
        for (const auto& h : rule.headers) ini.kv("header", h);
    }
    return ini.out;
}

}  // namespace agd::config
