// The control socket's `credentials` commands (daemon/credentials_control.h).
#include "daemon/credentials_control.h"

#include <vector>

#include "common/json.h"
#include "common/log.h"
#include "credentials/ledger.h"
#include "credentials/status.h"
#include "dispatch/router.h"

namespace agd::daemon {

namespace {

std::string refusal(std::string_view code, const std::string& message) {
    return "{\"ok\":false,\"error\":" + json_string(code) + ",\"message\":" + json_string(message) + "}";
}

struct Target {
    const dispatch::Provider* provider;
    const dispatch::Credential* cred;
};

// An OAuth2 credential's token: when it expires, whether it is being
// refreshed, how its refreshes went (never the token).
std::string oauth_json(const credentials::OAuthToken& t) {
    std::string b = ",\"auth\":\"oauth2\",\"token\":{\"expires_at\":" + std::to_string(t.expires_at_ms());
    b += ",\"refreshing\":";
    b += t.refreshing() ? "true" : "false";
    b += ",\"refreshes\":" + std::to_string(t.refreshes.load(std::memory_order_relaxed));
    b += ",\"refresh_failures\":" + std::to_string(t.refresh_failures.load(std::memory_order_relaxed));
    b += ",\"last_refresh_at\":" + std::to_string(t.last_refresh_unix_ms.load(std::memory_order_relaxed));
    if (std::string e = t.last_error(); !e.empty()) b += ",\"last_error\":" + json_string(e);
    return b + "}";
}

}  // namespace

std::string credentials_json(const dispatch::Router& router, int64_t now, int64_t wall) {
    credentials::Tally tally;
    std::string list;
    for (const auto& p : router.providers()) {
        for (const auto& c : p.creds) {
            tally.add(*c.state, now);
            if (!list.empty()) list += ',';
            list += "{\"provider\":" + json_string(p.cfg->name) + ",\"fingerprint\":" + json_string(c.fingerprint);
            list += ",\"id\":" + json_string(credentials::Ledger::id(p.cfg->name, c.fingerprint));
            std::string state = credentials::state_json(*c.state, now, wall);
            // A credential otherwise ready whose access token is being
            // refreshed: requests for it wait for the new token.
            if (c.oauth && c.oauth->refreshing() && state.starts_with(",\"state\":\"ok\""))
                state.replace(0, 13, ",\"state\":\"refreshing\"");
            list += state;
            if (c.oauth) list += oauth_json(*c.oauth);
            list += '}';
        }
    }
    return "{\"ok\":true,\"now\":" + std::to_string(wall) + ",\"summary\":" + credentials::tally_json(tally) +
           ",\"credentials\":[" + list + "]}";
}

std::string credentials_command(const dispatch::Router& router, std::string_view args, int64_t now, int64_t wall) {
    while (!args.empty() && args.front() == ' ') args.remove_prefix(1);
    if (args.empty()) return credentials_json(router, now, wall);
    auto sp = args.find(' ');
    std::string_view action = args.substr(0, sp);
    std::string_view target = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
    while (!target.empty() && target.front() == ' ') target.remove_prefix(1);
    if (action != "reset" && action != "disable" && action != "enable")
        return refusal("usage", "credentials: unknown action '" + std::string(action.substr(0, 64)) +
                                    "' (reset, disable, enable)");
    if (target.empty() || target.find(' ') != std::string_view::npos)
        return refusal("usage", "credentials " + std::string(action) + ": name one PROVIDER or PROVIDER/FINGERPRINT");

    auto slash = target.find('/');
    std::string_view pname = target.substr(0, slash);
    std::string_view fp = slash == std::string_view::npos ? std::string_view() : target.substr(slash + 1);
    if (slash != std::string_view::npos && fp.empty())
        return refusal("usage", "credentials " + std::string(action) + ": a fingerprint must follow '/'");

    const dispatch::Provider* provider = nullptr;
    std::string names;
    for (const auto& p : router.providers()) {
        if (p.cfg->name == pname) provider = &p;
        if (!names.empty()) names += ", ";
        names += p.cfg->name;
    }
    if (provider == nullptr)
        return refusal("not_found", "no provider '" + std::string(pname.substr(0, 128)) + "' (providers: " +
                                        (names.empty() ? std::string("none") : names) + ")");
    std::vector<const dispatch::Credential*> picked;
    for (const auto& c : provider->creds)
        if (fp.empty() || std::string_view(c.fingerprint).starts_with(fp)) picked.push_back(&c);
    if (picked.empty())
        return refusal("not_found", "provider '" + provider->cfg->name + "' has no credential with fingerprint '" +
                                        std::string(fp.substr(0, 64)) + "' (see `antigravityd credentials`)");
    if (!fp.empty() && picked.size() > 1)
        return refusal("ambiguous", "fingerprint '" + std::string(fp) + "' matches " + std::to_string(picked.size()) +
                                        " credentials of provider '" + provider->cfg->name + "'; give more of it");

    std::string ids;
    for (const auto* c : picked) {
        if (action == "reset")
            c->state->reset();
        else if (action == "disable")
            c->state->disable();
        else
            c->state->enable();
        std::string id = credentials::Ledger::id(provider->cfg->name, c->fingerprint);
        log::notice("credential {}: {} on the control socket", id,
                    action == "reset" ? "reset" : action == "disable" ? "disabled" : "enabled");
        if (!ids.empty()) ids += ',';
        ids += json_string(id);
    }
    std::string what = action == "reset" ? "reset" : action == "disable" ? "disabled" : "enabled";
    std::string message = what + " " + std::to_string(picked.size()) + " credential(s) of provider " + provider->cfg->name;
    return "{\"ok\":true,\"action\":" + json_string(action) + ",\"credentials\":[" + ids +
           "],\"message\":" + json_string(message) + "}";
}

std::string pool_summary(const dispatch::Router& router, int64_t now) {
    credentials::Tally tally;
    for (const auto& p : router.providers())
        for (const auto& c : p.creds) tally.add(*c.state, now);
    return credentials::tally_text(tally);
}

}  // namespace agd::daemon
