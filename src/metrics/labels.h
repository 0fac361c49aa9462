// Label values of the metrics, bounded by construction: every value is a
// name the config holds, a fixed word, or a number from a small range.
// Nothing a client sends (a path, a model it made up) becomes a label value.
//
//   model     the entry of a provider's `models` list that the model asked
//             for matched: an exact name, a rename's client-side name, or a
//             glob pattern's own text ("claude-*"); "other" for a name the
//             config does not list, "-" when the request named none
//   client    a configured client's name; "-" when none was identified
//   provider  a configured provider's name; "-" when none was reached
//   protocol  the client's protocol (protocol_name(): openai-chat,
//             openai-responses, anthropic, gemini) for a request relayed
//             upstream; "local" for what the daemon answers itself
//   status    an HTTP status 100-599; "0" for anything else
//   credential  the key's 8-hex fingerprint, lowercase; "other" otherwise
//   limit     a client limit's name ([a-z0-9_], at most 32 bytes); "other"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pipeline/protocol.h"

namespace agd::config {
struct Config;
}

namespace agd::metrics {

inline constexpr std::string_view kNone = "-";
inline constexpr std::string_view kOther = "other";
inline constexpr std::string_view kLocal = "local";

// The model label rules of one config generation (a copy of the names: it
// does not point into the config).
class ModelLabels {
public:
    static constexpr uint32_t kNoneIndex = 0;   // "-"
    static constexpr uint32_t kOtherIndex = 1;  // "other"

    ModelLabels();
    explicit ModelLabels(const config::Config& cfg);

    // The label of `model` served by provider index `provider` (-1: none):
    // the first entry of that provider's list that matches it; else an exact
    // name any provider lists; else the first matching glob of any provider,
    // in config order; else "other". "-" for an empty model.
    uint32_t index(std::string_view model, int provider) const;
    std::string_view label(std::string_view model, int provider) const { return names_[index(model, provider)]; }

    // Every label value, by index (0 "-", 1 "other", then the config's names).
    const std::vector<std::string>& names() const { return names_; }

private:
    struct Entry {
        uint32_t name = 0;
        bool glob = false;
    };
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    uint32_t add_name(const std::string& text);

    std::vector<std::string> names_;
    std::vector<std::vector<Entry>> by_provider_;
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> exact_;
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> all_names_;
    std::vector<uint32_t> globs_;
};

// Protocol label ids: the Protocol values, then "local".
inline constexpr unsigned kProtocolLocal = 4;
inline constexpr unsigned kProtocolIds = 5;
inline unsigned protocol_id(bool upstream, Protocol p) { return upstream ? static_cast<unsigned>(p) : kProtocolLocal; }
std::string_view protocol_label(unsigned id);

// 100-599 as they are, 0 for anything else.
inline int status_label(int status) { return status >= 100 && status <= 599 ? status : 0; }

// A fingerprint's 8 hex digits (either case) as a number; false otherwise.
bool parse_fingerprint(std::string_view text, uint32_t& out);
// The 8 lowercase hex digits of a parsed fingerprint.
std::string format_fingerprint(uint32_t fp);

// The limit name itself when it is [a-z0-9_]{1,32}, else "other".
std::string_view limit_label(std::string_view limit);

// Appends `value` escaped for a label value of the text exposition format:
// backslash, double quote and line feed escaped; bytes that are not UTF-8
// replaced by U+FFFD (the format requires UTF-8).
void append_escaped(std::string& out, std::string_view value);

}  // namespace agd::metrics
