// `antigravityd route`: how the daemon would route a request, as text.
#include <sysexits.h>

#include <ctime>

#include <fmt/core.h>
#include <rapidjson/document.h>

#include "common/json.h"
#include "daemon/cli.h"
#include "daemon/cli_json.h"
#include "daemon/cli_store.h"

namespace agd::daemon {

using namespace cli_json;

std::string route_request(const CliOptions& opts) {
    std::string b = "route {\"model\":" + json_string(opts.model.value_or(""));
    if (opts.client) b += ",\"client\":" + json_string(*opts.client);
    if (!opts.protocol.empty()) b += ",\"protocol\":" + json_string(opts.protocol);
    if (!opts.session.empty()) b += ",\"session\":" + json_string(opts.session);
    return b + "}";
}

Outcome route_outcome(std::string_view json, bool as_json) {
    if (auto refused = refused_outcome(json, as_json, "route")) return *refused;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    const Value* cands = doc.HasParseError() ? nullptr : member(doc, "candidates");
    const Value* pick = doc.HasParseError() ? nullptr : member(doc, "pick");
    if (cands == nullptr || !cands->IsArray() || pick == nullptr || !pick->IsObject())
        return malformed_outcome(json, "route");
    Outcome o;
    if (as_json) {
        o.out = std::string(json) + "\n";
        return o;
    }
    std::int64_t now = static_cast<std::int64_t>(std::time(nullptr)) * 1000;
    std::string head = "model " + clean(get_string(doc, "model").value_or("?"));
    std::vector<std::string> how;
    if (auto c = get_string(doc, "client")) how.push_back("client " + clean(*c));
    if (auto p = get_string(doc, "protocol")) how.push_back("protocol " + *p);
    if (get_bool(doc, "session").value_or(false)) {
        auto sticky = get_string(doc, "sticky");
        how.push_back(sticky ? "session sticks to " + clean(*sticky) : std::string("session new (no credential yet)"));
    } else if (get_bool(doc, "sticky_sessions").value_or(false)) {
        how.push_back("no session");
    }
    if (!how.empty()) head += " (" + join(how, ", ") + ")";
    o.out = head + "\ncandidates, in the order they are asked:\n";
    for (const auto& c : cands->GetArray()) {
        if (!c.IsObject()) continue;
        std::string line = fmt::format("  tier {:<3} {:<24} {}", get_int(c, "tier").value_or(0),
                                       clean(get_string(c, "id").value_or("?")),
                                       clean(get_string(c, "upstream_model").value_or("?")));
        if (get_bool(c, "translated").value_or(false))
            line += fmt::format(" (translated to {})", get_string(c, "wire").value_or("?"));
        std::string gate = get_string(c, "gate").value_or("?");
        std::string reason = clean(get_string(c, "reason").value_or(""));
        if (gate == "ready")
            line += ": ready";
        else if (gate == "soft")
            line += ": used last (" + reason + ")";
        else if (gate == "probe")
            line += ": ready to be tested (" + reason + ")";
        else
            line += ": out, " + reason;
        if (auto until = get_int(c, "until"); until && *until > now)
            line += fmt::format(" for {}", format_duration((*until - now + 999) / 1000));
        if (auto rules = get_strings(c, "rules"); !rules.empty()) {
            for (auto& r : rules) r = clean(r);
            line += "; rules " + join(rules, ", ");
        }
        o.out += line + "\n";
    }
    std::string status = get_string(*pick, "status").value_or("?");
    if (status == "ok") {
        o.out += "pick: " + clean(get_string(*pick, "id").value_or("?")) + " with model " +
                 clean(get_string(*pick, "upstream_model").value_or("?"));
        if (get_bool(*pick, "probe").value_or(false)) o.out += " (a test of a resting credential)";
        o.out += "\n";
    } else if (status == "all_cooling") {
        o.out += fmt::format("pick: none: every credential is resting; the request would get a 429 "
                             "(retry in {} s)\n", get_int(*pick, "retry_after_s").value_or(0));
    } else {
        o.out += "pick: none: every credential is out; the request would fail\n";
    }
    if (auto fb = get_strings(doc, "fallback"); !fb.empty()) {
        for (auto& m : fb) m = clean(m);
        o.out += "fallback, when every credential of the model fails: " + join(fb, ", ") + "\n";
    }
    return o;
}

}  // namespace agd::daemon
