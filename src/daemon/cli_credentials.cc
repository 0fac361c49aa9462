// `antigravityd credentials`: the credential pool as the daemon sees it,
// and the administrator's reset, disable and enable.
#include <sysexits.h>

#include <ctime>

#include <fmt/core.h>
#include <rapidjson/document.h>

#include "daemon/cli.h"
#include "daemon/cli_json.h"
#include "daemon/cli_store.h"

namespace agd::daemon {

namespace cli_json {

namespace {

std::string ago(std::int64_t at_ms, std::int64_t now_ms) {
    return at_ms >= now_ms ? std::string("just now") : format_duration((now_ms - at_ms) / 1000) + " ago";
}

std::string in(std::int64_t at_ms, std::int64_t now_ms) {
    return at_ms <= now_ms ? std::string("now") : "in " + format_duration((at_ms - now_ms + 999) / 1000);
}

const char* state_text(std::string_view s) {
    if (s == "ok") return "ready";
    if (s == "soft") return "ready, but an upstream reported a window spent (used last)";
    if (s == "cooldown") return "cooling for every model";
    if (s == "models_cooling") return "ready, cooling for some models";
    if (s == "breaker_open") return "failing: breaker open";
    if (s == "breaker_half_open") return "failing: breaker half-open, the next request tests it";
    if (s == "refused") return "refused by the upstream (out until a reload or `credentials enable`)";
    if (s == "disabled") return "disabled by an administrator";
    if (s == "refreshing") return "ready once its OAuth2 access token is refreshed (refreshing now)";
    return nullptr;
}

}  // namespace

void render_credential(std::string& out, const Value& cred, std::string_view label, std::string_view indent,
                       std::int64_t now) {
    std::vector<std::string> parts;
    std::string raw = get_string(cred, "state").value_or("?");
    const char* known = state_text(raw);
    std::string state = known ? known : clean(raw);
    if (auto m = get_string(cred, "soft_model"); m && raw == "soft") state += " for model " + clean(*m);
    if (auto until = get_int(cred, "until"); until && *until > 0)
        state += fmt::format(" (until {})", in(*until, now));
    else if (auto left = get_int(cred, "cooldown_remaining_s"); left && *left > 0)
        state += fmt::format(" ({} left)", format_duration(*left));
    parts.push_back(state);
    if (auto n = get_int(cred, "requests")) parts.push_back(plural(*n, "request"));
    if (auto n = get_int(cred, "failures")) parts.push_back(plural(*n, "failure"));
    if (auto s = get_int(cred, "last_status"); s && *s > 0) parts.push_back(fmt::format("last status {}", *s));
    if (auto t = get_int(cred, "last_used_at"); t && *t > 0) parts.push_back("last used " + ago(*t, now));
    fmt::format_to(std::back_inserter(out), "{}{}: {}\n", indent, clean(label), join(parts, ", "));

    std::string more = std::string(indent) + "  ";
    if (const Value* models = member(cred, "models_cooling"); models && models->IsArray()) {
        for (const auto& m : models->GetArray()) {
            if (!m.IsObject()) continue;
            fmt::format_to(std::back_inserter(out), "{}cooling for model {} ({} left)\n", more,
                           clean(get_string(m, "model").value_or("?")),
                           format_duration(get_int(m, "remaining_s").value_or(0)));
        }
    }
    if (const Value* q = member(cred, "quota"); q && q->IsObject() && q->MemberCount() > 0) {
        std::vector<std::string> figures;
        for (const char* w : {"requests", "tokens"}) {
            const Value* win = member(*q, w);
            if (!win || !win->IsObject()) continue;
            std::string f = w;
            if (auto r = get_int(*win, "remaining"); r && *r >= 0) f += fmt::format(" {} left", *r);
            if (auto t = get_int(*win, "reset_at"); t && *t > 0) f += ", reset " + in(*t, now);
            figures.push_back(f);
        }
        for (auto [key, name] : {std::pair{"unified_5h", "5-hour window"}, std::pair{"unified_7d", "7-day window"}}) {
            const Value* u = member(*q, key);
            if (!u || !u->IsObject()) continue;
            std::string f = name;
            if (auto used = get_double(*u, "utilization"); used && *used >= 0)
                f += fmt::format(" {:.0f}% used", *used * 100);
            if (auto t = get_int(*u, "reset_at"); t && *t > 0) f += ", reset " + in(*t, now);
            figures.push_back(f);
        }
        if (!figures.empty()) fmt::format_to(std::back_inserter(out), "{}quota: {}\n", more, join(figures, "; "));
    }
    if (const Value* tok = member(cred, "token"); tok && tok->IsObject()) {
        std::vector<std::string> t;
        if (get_bool(*tok, "refreshing").value_or(false)) t.push_back("refreshing now");
        if (auto exp = get_int(*tok, "expires_at"); exp && *exp > 1)
            t.push_back(*exp > now ? "expires " + in(*exp, now) : std::string("expired"));
        else
            t.push_back("no access token yet");
        if (auto n = get_int(*tok, "refreshes")) t.push_back(fmt::format("{} refresh{}", *n, *n == 1 ? "" : "es"));
        if (auto n = get_int(*tok, "refresh_failures"); n && *n > 0) t.push_back(fmt::format("{} failed", *n));
        if (auto e = get_string(*tok, "last_error"); e && !e->empty()) t.push_back("last error: " + clean(*e));
        fmt::format_to(std::back_inserter(out), "{}oauth2 token: {}\n", more, join(t, ", "));
    }
    if (const Value* why = member(cred, "why"); why && why->IsObject()) {
        std::string line = get_string(*why, "scope").value_or("?");
        if (auto w = get_string(*why, "why"); w && !w->empty()) line += ": " + clean(*w);
        if (auto h = get_int(*why, "hint_ms"); h && *h >= 0)
            line += fmt::format(" (upstream said wait {})", format_duration((*h + 999) / 1000));
        if (auto at = get_int(*why, "at"); at && *at > 0) line += ", " + ago(*at, now);
        fmt::format_to(std::back_inserter(out), "{}last failure: {}\n", more, line);
    }
}

}  // namespace cli_json

using namespace cli_json;

Outcome credentials_outcome(std::string_view json, bool as_json) {
    if (auto refused = refused_outcome(json, as_json, "credentials")) return *refused;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    const Value* list = doc.HasParseError() ? nullptr : member(doc, "credentials");
    if (list == nullptr || !list->IsArray()) return malformed_outcome(json, "credentials");
    Outcome o;
    if (as_json) {
        o.out = std::string(json) + "\n";
        return o;
    }
    std::int64_t now = get_int(doc, "now").value_or(static_cast<std::int64_t>(std::time(nullptr)) * 1000);
    if (const Value* s = member(doc, "summary"); s && s->IsObject()) {
        auto n = [&](const char* k) { return get_int(*s, k).value_or(0); };
        std::vector<std::string> parts{fmt::format("{}/{} ready", n("ready"), n("total"))};
        for (auto [k, what] : {std::pair{"soft", "window spent"}, std::pair{"models_cooling", "cooling for some models"},
                               std::pair{"cooling", "cooling"}, std::pair{"breaker", "failing"},
                               std::pair{"disabled", "disabled"}})
            if (n(k) > 0) parts.push_back(fmt::format("{} {}", n(k), what));
        o.out += "credentials: " + join(parts, ", ") + "\n";
    }
    if (list->Empty()) o.out += "no credentials configured\n";
    for (const auto& c : list->GetArray())
        if (c.IsObject()) render_credential(o.out, c, get_string(c, "id").value_or("?"), "  ", now);
    return o;
}

Outcome credentials_action_outcome(std::string_view json) {
    if (auto refused = refused_outcome(json, false, "credentials")) return *refused;
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !get_bool(doc, "ok").value_or(false)) return malformed_outcome(json, "credentials");
    Outcome o;
    o.out = clean(get_string(doc, "message").value_or("done"));
    auto ids = get_strings(doc, "credentials");
    if (!ids.empty()) o.out += ": " + clean(join(ids, ", "));
    o.out += "\n";
    return o;
}

}  // namespace agd::daemon
