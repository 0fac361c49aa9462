#include "metrics/labels.h"

#include "common/glob.h"
#include "config/config.h"

namespace agd::metrics {

ModelLabels::ModelLabels() : names_{std::string(kNone), std::string(kOther)} {}

uint32_t ModelLabels::add_name(const std::string& text) {
    auto [it, added] = all_names_.try_emplace(text, static_cast<uint32_t>(names_.size()));
    if (added) names_.push_back(text);
    return it->second;
}

ModelLabels::ModelLabels(const config::Config& cfg) : ModelLabels() {
    by_provider_.reserve(cfg.providers.size());
    for (const auto& p : cfg.providers) {
        auto& entries = by_provider_.emplace_back();
        for (const auto& m : p.models) {
            uint32_t name = add_name(m.pattern);
            entries.push_back({name, m.is_glob});
            if (m.is_glob) globs_.push_back(name);
            else exact_.try_emplace(m.pattern, name);
        }
    }
}

uint32_t ModelLabels::index(std::string_view model, int provider) const {
    if (model.empty()) return kNoneIndex;
    if (provider >= 0 && static_cast<size_t>(provider) < by_provider_.size()) {
        for (const Entry& e : by_provider_[static_cast<size_t>(provider)]) {
            const std::string& text = names_[e.name];
            if (e.glob ? glob_match(text, model) : text == model) return e.name;
        }
    }
    if (auto it = exact_.find(model); it != exact_.end()) return it->second;
    for (uint32_t g : globs_)
        if (glob_match(names_[g], model)) return g;
    return kOtherIndex;
}

std::string_view protocol_label(unsigned id) {
    if (id == kProtocolLocal || id >= kProtocolIds) return kLocal;
    return protocol_name(static_cast<Protocol>(id));
}

bool parse_fingerprint(std::string_view text, uint32_t& out) {
    if (text.size() != 8) return false;
    uint32_t v = 0;
    for (char c : text) {
        uint32_t d;
        if (c >= '0' && c <= '9') d = static_cast<uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f') d = static_cast<uint32_t>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = static_cast<uint32_t>(c - 'A' + 10);
        else return false;
        v = (v << 4) | d;
    }
    out = v;
    return true;
}

std::string format_fingerprint(uint32_t fp) {
    static const char hex[] = "0123456789abcdef";
    std::string s(8, '0');
    for (int i = 7; i >= 0; --i) {
        s[static_cast<size_t>(i)] = hex[fp & 15];
        fp >>= 4;
    }
    return s;
}

std::string_view limit_label(std::string_view limit) {
    if (limit.empty() || limit.size() > 32) return kOther;
    for (char c : limit)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return kOther;
    return limit;
}

namespace {

// Length of the well-formed UTF-8 sequence at s[i], 0 when it is not one.
size_t utf8_length(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    size_t left = s.size() - i;
    auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
        if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
        if (c == 0xED && b(i + 1) > 0x9F) return 0;   // surrogates
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
        if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
        if (c == 0xF4 && b(i + 1) > 0x8F) return 0;   // above U+10FFFF
        return 4;
    }
    return 0;
}

}  // namespace

void append_escaped(std::string& out, std::string_view value) {
    size_t i = 0;
    while (i < value.size()) {
        char c = value[i];
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else if (static_cast<unsigned char>(c) < 0x80) out += c;
        else {
            size_t n = utf8_length(value, i);
            if (n == 0) {
                out += "\xEF\xBF\xBD";
                ++i;
                continue;
            }
            out.append(value.substr(i, n));
            i += n;
            continue;
        }
        ++i;
    }
}

}  // namespace agd::metrics
