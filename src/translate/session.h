// Session: the per-request state a translation carries from the request
// encoder to the answer decoders and encoders: who is on each side, the
// reversible maps of tool names and call ids, and the id generator.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "pipeline/protocol.h"

namespace agd::translate {

class SignatureCache;

struct Session {
    Protocol client = Protocol::OpenAIChat;    // what the client speaks
    Protocol upstream = Protocol::OpenAIChat;  // what the upstream speaks
    std::string client_model;                  // the model name the client asked for (shown in answers)
    std::string upstream_model;                // the provider's model name (sent upstream)
    std::string provider;                      // provider name from the config (signature origin)
    bool stream = false;
    bool include_usage = false;                // client asked for the usage chunk (Chat)
    bool legacy_completion = false;            // client used POST /v1/completions
    bool compaction_item = false;              // answer the Responses client with one compaction item
                                               // holding the text (compaction.h), not a message
    bool gemini_sse = true;                    // Gemini client: ?alt=sse (false: JSON array stream)
    int64_t default_max_tokens = 8192;         // Anthropic's required max_tokens when the client gave none
    int64_t prompt_estimate = 0;               // rough prompt token count (request bytes / 4), for answers that
                                               // must state input tokens before the upstream reported them
    unsigned max_json_depth = kDefaultMaxJsonDepth;  // server.max_json_depth of the request's configuration
    bool body_utf8_checked = false;            // the client body passed the body stage's scan: every string
                                               // in it is valid UTF-8 (not checked again when decoded)
    size_t body_bytes = 0;                     // size of the body being translated (request, then answer):
                                               // what an encoder reserves its output from

    // Tool names: {client name, upstream name}; identity entries are not stored.
    std::vector<std::pair<std::string, std::string>> tool_names;
    // Tool-call ids: {client id, upstream id}; identity entries are not stored.
    std::vector<std::pair<std::string, std::string>> call_ids;

    // A Responses client's tools that are not plain functions: a function in
    // a namespace, or a custom (freeform) tool, travels to a function-only
    // upstream as a function under a flat name (flat_tool_name). What each
    // flat name stands for, to write its calls back in the client's form.
    // A Chat client's custom tools are here too (flat = name, no namespace).
    struct ClientTool {
        std::string flat;
        std::string ns;    // "" = none (or the default namespace "functions")
        std::string name;  // the name inside the namespace
        bool custom = false;
        bool tool_search = false;  // Codex's client-run tool_search: calls go back as tool_search_call
    };
    std::vector<ClientTool> client_tools;
    const ClientTool* client_tool(std::string_view flat) const;
    void add_client_tool(ClientTool t);
    // Hosted tools (web_search, file_search, ...) the client declared that
    // the upstream's wire has no form for: left out, each type once, for the
    // daemon's warning.
    std::vector<std::string> dropped_tools;

    SignatureCache* signatures = nullptr;      // process-wide cache (may be null in tests)

    // Deterministic ids for tests: when seed != 0, ids are prefix + counter.
    uint64_t seed = 0;
    uint64_t counter = 0;
    int64_t now = 0;                           // unix seconds for `created` fields; 0 = the clock

    std::string upstream_tool_name(std::string_view client_name) const;
    std::string client_tool_name(std::string_view upstream_name) const;
    std::string upstream_call_id(std::string_view client_id) const;
    std::string client_call_id(std::string_view upstream_id) const;
    // Records a mapping (no-op when both are equal).
    void map_tool_name(std::string client_name, std::string upstream_name);
    void map_call_id(std::string client_id, std::string upstream_id);

    // The flat function name of `name` in namespace `ns`: `ns__name`; the
    // name alone outside a namespace or in the default one ("functions").
    static std::string flat_tool_name(std::string_view ns, std::string_view name);

    // A fresh unique id: prefix + 24 random [A-Za-z0-9] ("call_", "toolu_", "msg_", "fc_", "rs_", "chatcmpl-").
    std::string new_id(std::string_view prefix);
};

}  // namespace agd::translate
