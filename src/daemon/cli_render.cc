// Turning the daemon's JSON answers (and the loader's diagnostics) into text
// for a person.
#include <sysexits.h>

#include <ctime>
#include <limits>
#include <optional>

#include <fmt/core.h>
#include <rapidjson/document.h>

#include "common/redact.h"
#include "config/loader.h"
#include "daemon/cli.h"
#include "daemon/cli_json.h"
#include "daemon/cli_store.h"

namespace agd::daemon {

namespace {

using rapidjson::Value;
using namespace cli_json;

void append_field(std::string& out, std::string_view label, std::string_view value) {
    fmt::format_to(std::back_inserter(out), "{:<15}{}\n", fmt::format("{}:", label), value);
}

void render_provider(std::string& out, const Value& prov, std::int64_t now_wall_ms) {
    std::string head = get_string(prov, "name").value_or("?");
    std::string kind = get_string(prov, "type").value_or("");
    if (auto api = get_string(prov, "api"); api && !api->empty()) kind += kind.empty() ? *api : fmt::format(", {} api", *api);
    if (!kind.empty()) head += fmt::format(" ({})", kind);
    // The daemon already masks credentials in URLs; so does this, whoever answered.
    if (auto url = get_string(prov, "base_url")) head += " " + redact_url(*url);
    fmt::format_to(std::back_inserter(out), "  {}\n", head);
    if (auto proxy = get_string(prov, "proxy"); proxy && !proxy->empty())
        fmt::format_to(std::back_inserter(out), "    proxy: {}\n", redact_url(*proxy));
    if (auto models = get_strings(prov, "models"); !models.empty())
        fmt::format_to(std::back_inserter(out), "    models: {}\n", join(models, ", "));
    const Value* creds = member(prov, "credentials");
    if (creds != nullptr && creds->IsArray()) {
        if (creds->Empty()) out += "    no credentials\n";
        for (const auto& c : creds->GetArray())
            if (c.IsObject())
                render_credential(out, c, "credential " + get_string(c, "fingerprint").value_or("?"), "    ",
                                  now_wall_ms);
    }
}

// "team-a: 2 keys, today 1200 / 5000000 tokens, month 3400 tokens, 1 / 8 in flight, rpm 60, tpm 200000"
void render_client(std::string& out, const Value& c) {
    std::vector<std::string> parts;
    const Value* limits = member(c, "limits");
    auto lim = [&](const char* name) -> std::optional<std::int64_t> {
        return limits && limits->IsObject() ? get_int(*limits, name) : std::nullopt;
    };
    if (auto n = get_int(c, "keys")) parts.push_back(plural(*n, "key"));
    if (auto t = get_int(c, "tokens_today")) {
        auto d = lim("daily_tokens");
        parts.push_back(d ? fmt::format("today {} / {} tokens", *t, *d) : fmt::format("today {} tokens", *t));
    }
    if (auto t = get_int(c, "tokens_month")) {
        auto m = lim("monthly_tokens");
        parts.push_back(m ? fmt::format("month {} / {} tokens", *t, *m) : fmt::format("month {} tokens", *t));
    }
    if (auto f = get_int(c, "in_flight")) {
        auto m = lim("max_concurrent");
        parts.push_back(m ? fmt::format("{} / {} in flight", *f, *m) : fmt::format("{} in flight", *f));
    }
    if (auto r = lim("rpm")) parts.push_back(fmt::format("rpm {}", *r));
    if (auto t = lim("tpm")) parts.push_back(fmt::format("tpm {}", *t));
    if (auto l = get_int(c, "limited"); l && *l > 0) parts.push_back(fmt::format("{} refused by limits", *l));
    if (auto e = get_string(c, "expires")) {
        const Value* expired = member(c, "expired");
        parts.push_back(fmt::format("{} {}", expired && expired->IsTrue() ? "expired" : "expires", *e));
    }
    fmt::format_to(std::back_inserter(out), "  {}: {}\n", get_string(c, "name").value_or("?"), join(parts, ", "));
    if (auto models = get_strings(c, "models"); !models.empty())
        fmt::format_to(std::back_inserter(out), "    models: {}\n", join(models, ", "));
}

}  // namespace

std::string format_duration(std::int64_t seconds) {
    if (seconds < 0) seconds = 0;
    std::int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60, s = seconds % 60;
    if (d > 0) return fmt::format("{}d {}h {}m {}s", d, h, m, s);
    if (h > 0) return fmt::format("{}h {}m {}s", h, m, s);
    if (m > 0) return fmt::format("{}m {}s", m, s);
    return fmt::format("{}s", s);
}

Outcome check_config_outcome(const config::LoadResult& result, const std::string& path) {
    Outcome o;
    for (const auto& e : result.errors) o.err += e.str() + "\n";
    for (const auto& w : result.warnings) o.err += "warning: " + w.str() + "\n";
    if (result.errors.empty() && result.ok()) {
        o.out = fmt::format("{}: configuration is valid\n", path);
        o.exit_code = 0;
    } else {
        // A result that is not ok always has errors; count at least one anyway.
        std::size_t n = result.errors.empty() ? 1 : result.errors.size();
        o.err += fmt::format("{}: configuration has {} error(s)\n", path, n);
        o.exit_code = 1;
    }
    return o;
}

int refusal_exit_code(std::string_view error_code) {
    if (error_code == "busy") return EX_TEMPFAIL;
    if (error_code == "permission") return EX_NOPERM;
    if (error_code == "unknown_command" || error_code == "too_long") return EX_PROTOCOL;
    if (error_code == "usage" || error_code == "not_found" || error_code == "ambiguous") return EX_USAGE;
    return 1;
}

std::optional<Refusal> refusal_of(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
    auto ok = get_bool(doc, "ok");
    if (!ok || *ok) return std::nullopt;
    Refusal r;
    r.exit_code = refusal_exit_code(get_string(doc, "error").value_or(""));
    r.message = get_string(doc, "message").value_or("");
    if (r.message.empty()) r.message = "refused";
    return r;
}

std::optional<Outcome> refused_outcome(std::string_view json, bool as_json, std::string_view command) {
    auto refused = refusal_of(json);
    if (!refused) return std::nullopt;
    Outcome o;
    if (as_json) o.out = std::string(json) + "\n";  // scripts still get the answer
    o.err = fmt::format("antigravityd: {}: {}\n", command, refused->message);
    o.exit_code = refused->exit_code;
    return o;
}

Outcome malformed_outcome(std::string_view json, std::string_view command) {
    Outcome o;
    o.err = fmt::format("antigravityd: {}: malformed answer from antigravityd: {}\n", command, json.substr(0, 512));
    o.exit_code = EX_PROTOCOL;
    return o;
}

Outcome status_outcome(std::string_view json, bool as_json) {
    Outcome o;
    if (auto refused = refused_outcome(json, as_json, "status")) return *refused;
    auto text = render_status(json);  // also checks that the answer is a JSON object
    if (!text) {
        o.err = fmt::format("antigravityd: {}\n", text.error().message);
        o.exit_code = text.error().code;
        return o;
    }
    o.out = as_json ? std::string(json) + "\n" : *text;
    return o;
}

Outcome reload_outcome(std::string_view json) {
    Outcome o;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        o.exit_code = EX_PROTOCOL;
        o.err = fmt::format("reload: malformed answer from antigravityd: {}\n", json);
        return o;
    }
    // Refused by the control socket itself (busy, not allowed): no reload was tried.
    if (auto code = get_string(doc, "error"); code && !get_bool(doc, "ok").value_or(false)) {
        o.exit_code = refusal_exit_code(*code);
        if (o.exit_code != 1) {
            o.err = fmt::format("antigravityd: reload: {}\n", get_string(doc, "message").value_or("refused"));
            return o;
        }
    }
    auto generation = get_int(doc, "generation");
    auto message = get_string(doc, "message");
    for (const auto& w : get_strings(doc, "warnings")) o.err += "warning: " + w + "\n";
    if (get_bool(doc, "ok").value_or(false)) {
        if (generation)
            o.out = fmt::format("reloaded: configuration generation {} is live\n", *generation);
        else
            o.out = "reloaded: the new configuration is live\n";
        o.exit_code = 0;
        return o;
    }
    auto errors = get_strings(doc, "errors");
    for (const auto& e : errors) o.err += e + "\n";
    if (errors.empty() && message && !message->empty()) o.err += *message + "\n";
    if (generation)
        o.err += fmt::format("reload failed: still running the previous configuration (generation {})\n", *generation);
    else
        o.err += "reload failed: still running the previous configuration\n";
    o.exit_code = 1;
    return o;
}

Outcome upgrade_outcome(std::string_view json) {
    Outcome o;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) {
        o.exit_code = EX_PROTOCOL;
        o.err = fmt::format("upgrade: malformed answer from antigravityd: {}\n", json);
        return o;
    }
    std::string message = get_string(doc, "message").value_or("");
    if (get_bool(doc, "ok").value_or(false)) {
        o.out = message + "\n";
        o.exit_code = 0;
        return o;
    }
    if (auto code = get_string(doc, "error")) {
        o.exit_code = refusal_exit_code(*code);
        if (o.exit_code == 1) o.exit_code = EX_UNAVAILABLE;
    } else {
        o.exit_code = 1;
    }
    o.err = "antigravityd: " + (message.empty() ? std::string("upgrade failed") : message) + "\n";
    return o;
}

Result<std::string> render_status(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject())
        return Result<std::string>::fail(EX_PROTOCOL, fmt::format("malformed status from antigravityd: {}", json));

    // Times in the answer are the daemon's; "now" is its clock when it answered.
    std::int64_t now_wall_ms = get_int(doc, "now").value_or(static_cast<std::int64_t>(std::time(nullptr)) * 1000);
    std::string out = "antigravityd";
    if (auto v = get_string(doc, "version")) out += " " + *v;
    if (auto pid = get_int(doc, "pid")) out += fmt::format(", PID {}", *pid);
    out += "\n";

    if (auto up = get_int(doc, "uptime_s")) {
        std::string text = format_duration(*up);
        if (auto since = get_string(doc, "started_at")) text += fmt::format(" (since {})", *since);
        append_field(out, "uptime", text);
    } else if (auto since = get_string(doc, "started_at")) {
        append_field(out, "started", *since);
    }

    {
        std::vector<std::string> parts;
        if (auto g = get_int(doc, "generation")) parts.push_back(fmt::format("generation {}", *g));
        if (auto p = get_string(doc, "config_path")) parts.push_back(*p);
        if (auto t = get_string(doc, "config_loaded_at")) parts.push_back(fmt::format("loaded {}", *t));
        if (!parts.empty()) append_field(out, "configuration", join(parts, ", "));
    }
    if (const Value* l = member(doc, "listeners"); l != nullptr && l->IsArray()) {
        auto listeners = get_strings(doc, "listeners");
        append_field(out, "listeners", listeners.empty() ? std::string("none") : join(listeners, ", "));
    }
    if (auto w = get_int(doc, "workers")) append_field(out, "workers", std::to_string(*w));
    if (auto a = get_string(doc, "auth_mode")) append_field(out, "auth mode", *a);
    if (auto c = get_string(doc, "credentials")) append_field(out, "credentials", *c);
    {
        auto served = get_int(doc, "requests_served");
        auto in_flight = get_int(doc, "in_flight");
        if (served || in_flight)
            append_field(out, "requests", fmt::format("{} served, {} in flight",
                                                      served ? std::to_string(*served) : std::string("?"),
                                                      in_flight ? std::to_string(*in_flight) : std::string("?")));
    }
    if (const Value* provs = member(doc, "providers"); provs != nullptr && provs->IsArray()) {
        if (provs->Empty()) {
            append_field(out, "providers", "none");
        } else {
            out += "providers:\n";
            for (const auto& p : provs->GetArray())
                if (p.IsObject()) render_provider(out, p, now_wall_ms);
        }
    }
    if (const Value* st = member(doc, "store"); st != nullptr && st->IsObject()) {
        std::vector<std::string> parts;
        const Value* ok = member(*st, "ok");
        parts.push_back(ok && ok->IsTrue() ? "ok" : "NOT WRITING");
        if (auto n = get_int(*st, "written")) parts.push_back(fmt::format("{} written", *n));
        if (auto n = get_int(*st, "queue"); n && *n > 0) parts.push_back(fmt::format("{} queued", *n));
        if (auto n = get_int(*st, "dropped"); n && *n > 0) parts.push_back(fmt::format("{} dropped (queue full)", *n));
        if (auto n = get_int(*st, "lost"); n && *n > 0) parts.push_back(fmt::format("{} lost", *n));
        if (auto n = get_int(*st, "errors"); n && *n > 0) parts.push_back(plural(*n, "error"));
        if (auto n = get_int(*st, "bytes"); n && *n > 0) parts.push_back(fmt::format("{} KiB", (*n + 1023) / 1024));
        append_field(out, "request store",
                     fmt::format("{} ({})", get_string(*st, "database").value_or("?"), join(parts, ", ")));
    }
    if (const Value* cls = member(doc, "clients"); cls != nullptr && cls->IsArray() && !cls->Empty()) {
        out += "clients:\n";
        for (const auto& c : cls->GetArray())
            if (c.IsObject()) render_client(out, c);
    }
    return out;
}

}  // namespace agd::daemon
