// The hosted web search, in each wire's form (docs/TRANSLATION.md, "Hosted
// web search"). A client offers it as a tool (Responses `web_search`,
// Anthropic `web_search_20250305`, Gemini `googleSearch`, Chat
// `web_search_options`); the upstream runs it and reports what it searched
// and found (a Responses `web_search_call` item, Anthropic `server_tool_use`
// + `web_search_tool_result` blocks, Gemini `groundingMetadata`). Both sides
// meet in ir::WebSearchTool and ir::PartKind::WebSearch.
#pragma once

#include <string_view>
#include <vector>

#include "translate/ir.h"
#include "translate/json_util.h"

namespace agd::translate {

struct Session;

// Reading a client's offer into r.web_search (a second offer adds its
// domains to the first's).
bool responses_web_search_type(std::string_view type);  // web_search, web_search_preview, ...
void read_responses_web_search(const JsonValue& tool, ir::Request& r);
bool anthropic_web_search_type(std::string_view type);  // web_search_YYYYMMDD
void read_anthropic_web_search(const JsonValue& tool, ir::Request& r);
void read_chat_web_search(const JsonValue& options, ir::Request& r);  // web_search_options
void read_gemini_web_search(ir::Request& r);                          // googleSearch: no settings we carry

// Declaring it to an upstream, as one entry of its `tools` array.
void write_responses_web_search_tool(JsonWriter& w, const ir::WebSearchTool& t);
void write_anthropic_web_search_tool(JsonWriter& w, const ir::WebSearchTool& t);

// An upstream's report, decoded into a WebSearch part. Anthropic's comes in
// two blocks: the call (id, query), then its result (the pages), joined by
// id (add_anthropic_results; false when no such call is pending).
ir::Part web_search_part(std::string id, std::string query);
void read_responses_web_search_call(const JsonValue& item, ir::Part& out);
void read_anthropic_search_results(const JsonValue& block, std::vector<ir::Source>& out);
// Gemini: candidates[].groundingMetadata (webSearchQueries, groundingChunks);
// false when it holds neither.
bool read_gemini_grounding(const JsonValue& metadata, ir::Part& out, Session& s);

// Writing a WebSearch part in a client's answer.
void write_responses_web_search_call(JsonWriter& w, const ir::Part& p, std::string_view status);
void write_anthropic_server_tool_use(JsonWriter& w, const ir::Part& p, bool with_input);
void write_anthropic_search_result(JsonWriter& w, const ir::Part& p);
void write_gemini_grounding(JsonWriter& w, const std::vector<const ir::Part*>& searches);

// The id a WebSearch part is told under in a client's protocol: Anthropic's
// srvtoolu_ ids and Responses' ws_ ids are kept where they fit, else minted.
std::string web_search_id(const ir::Part& p, std::string_view prefix, Session& s);

}  // namespace agd::translate
