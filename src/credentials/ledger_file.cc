// The ledger's state file (credentials/ledger_file.h).
#include "credentials/ledger_file.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "common/json.h"
#include "credentials/ledger.h"

namespace agd::credentials {

namespace {

constexpr int64_t kMaxAheadMs = 400LL * 86'400'000;  // a deadline further away is not believed

void append_number(std::string& out, const char* key, int64_t v) {
    out += ",\"";
    out += key;
    out += "\":" + std::to_string(v);
}

Scope scope_of(std::string_view s) {
    for (Scope sc : {Scope::Request, Scope::Model, Scope::Credential, Scope::Transport})
        if (s == scope_name(sc)) return sc;
    return Scope::None;
}

int64_t deadline(const rapidjson::Value& obj, const char* key, int64_t wall) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsInt64()) return 0;
    int64_t t = it->value.GetInt64();
    return t > wall && t - wall <= kMaxAheadMs ? t : 0;
}

std::string text(const rapidjson::Value& obj, const char* key) {
    auto it = obj.FindMember(key);
    if (it == obj.MemberEnd() || !it->value.IsString()) return {};
    return std::string(it->value.GetString(), std::min<size_t>(it->value.GetStringLength(), kMaxHintText + 64));
}

}  // namespace

std::string ledger_json(Ledger& ledger, int64_t now, int64_t wall) {
    std::string out = "{\"version\":1,\"saved_at\":" + std::to_string(wall) + ",\"credentials\":{";
    bool first = true;
    for (const auto& [id, state] : ledger.entries()) {
        SavedState s = state->save(now, wall);
        bool worth = s.disabled || s.admin_disabled || s.until || s.soft || s.breaker || !s.models.empty();
        if (!worth) continue;
        if (!first) out += ',';
        first = false;
        append_json_string(out, id);
        out += ":{\"disabled\":";
        out += s.disabled ? "true" : "false";
        out += ",\"admin_disabled\":";
        out += s.admin_disabled ? "true" : "false";
        append_number(out, "until", s.until);
        append_number(out, "probe", s.probe);
        append_number(out, "soft", s.soft);
        if (s.soft != 0) {
            out += ",\"soft_model\":";
            append_json_string(out, s.soft_model);
        }
        append_number(out, "breaker", s.breaker);
        out += ",\"models\":[";
        for (size_t i = 0; i < s.models.size(); ++i) {
            if (i) out += ',';
            out += "{\"model\":";
            append_json_string(out, s.models[i].first);
            append_number(out, "until", s.models[i].second);
            out += '}';
        }
        out += ']';
        if (s.evidence.scope != Scope::None) {
            out += ",\"why\":{\"scope\":\"";
            out += scope_name(s.evidence.scope);
            out += '"';
            append_number(out, "status", s.evidence.status);
            out += ",\"why\":";
            append_json_string(out, s.evidence.why);
            out += ",\"model\":";
            append_json_string(out, s.evidence.model);
            append_number(out, "at", s.evidence.at_unix_ms);
            append_number(out, "hint_ms", s.evidence.wait_ms);
            out += '}';
        }
        out += '}';
    }
    out += "}}\n";
    return out;
}

Result<size_t> load_ledger_json(Ledger& ledger, std::string_view body, int64_t now, int64_t wall,
                                const std::unordered_set<std::string>* configured) {
    if (body.size() > kMaxLedgerFile) return Result<size_t>::fail(1, "the file is larger than 16 MiB");
    rapidjson::Document doc;
    std::string copy(body);
    doc.Parse<rapidjson::kParseIterativeFlag>(copy.c_str(), copy.size());
    if (doc.HasParseError())
        return Result<size_t>::fail(1, std::string("not JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                                           " at byte " + std::to_string(doc.GetErrorOffset()));
    if (!doc.IsObject()) return Result<size_t>::fail(1, "not a JSON object");
    auto version = doc.FindMember("version");
    if (version == doc.MemberEnd() || !version->value.IsInt() || version->value.GetInt() != 1)
        return Result<size_t>::fail(1, "an unknown version (this antigravityd reads version 1)");
    auto creds = doc.FindMember("credentials");
    if (creds == doc.MemberEnd() || !creds->value.IsObject()) return Result<size_t>::fail(1, "no credentials object");
    size_t restored = 0;
    for (const auto& m : creds->value.GetObject()) {
        if (!m.value.IsObject()) continue;
        std::string id(m.name.GetString(), m.name.GetStringLength());
        auto slash = id.rfind('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == id.size()) continue;
        if (configured && configured->count(id) == 0) continue;
        const auto& o = m.value;
        SavedState s;
        auto dis = o.FindMember("disabled");
        s.disabled = dis != o.MemberEnd() && dis->value.IsBool() && dis->value.GetBool();
        auto admin = o.FindMember("admin_disabled");
        s.admin_disabled = admin != o.MemberEnd() && admin->value.IsBool() && admin->value.GetBool();
        s.until = deadline(o, "until", wall);
        s.probe = deadline(o, "probe", wall);
        s.soft = deadline(o, "soft", wall);
        s.soft_model = text(o, "soft_model");
        s.breaker = deadline(o, "breaker", wall);
        auto models = o.FindMember("models");
        if (models != o.MemberEnd() && models->value.IsArray()) {
            for (const auto& e : models->value.GetArray()) {
                if (!e.IsObject() || s.models.size() >= CredentialState::kModelSlots) continue;
                std::string model = text(e, "model");
                int64_t until = deadline(e, "until", wall);
                if (!model.empty() && until != 0) s.models.emplace_back(std::move(model), until);
            }
        }
        auto why = o.FindMember("why");
        if (why != o.MemberEnd() && why->value.IsObject()) {
            const auto& w = why->value;
            s.evidence.scope = scope_of(text(w, "scope"));
            auto st = w.FindMember("status");
            if (st != w.MemberEnd() && st->value.IsInt()) s.evidence.status = st->value.GetInt();
            s.evidence.why = text(w, "why");
            s.evidence.model = text(w, "model");
            auto at = w.FindMember("at");
            if (at != w.MemberEnd() && at->value.IsInt64()) s.evidence.at_unix_ms = at->value.GetInt64();
            auto hint = w.FindMember("hint_ms");
            if (hint != w.MemberEnd() && hint->value.IsInt64()) s.evidence.wait_ms = hint->value.GetInt64();
        }
        ledger.get(id.substr(0, slash), id.substr(slash + 1))->restore(s, now, wall);
        ++restored;
    }
    return restored;
}

}  // namespace agd::credentials
