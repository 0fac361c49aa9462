#include "translate/web_search.h"

#include <algorithm>

#include "translate/session.h"

namespace agd::translate {

namespace {

// Bounds on what a client's offer may carry across: the lists are copied
// into every attempt's upstream body.
constexpr size_t kMaxDomains = 256;
constexpr size_t kMaxField = 256;

void str(JsonWriter& w, std::string_view key, std::string_view value) {
    write_key(w, key);
    write_string(w, value);
}

void add_domains(const JsonValue* list, std::vector<std::string>& out) {
    if (!is_array(list)) return;
    for (const auto& d : list->GetArray()) {
        std::string_view v = get_string(&d);
        if (v.empty() || v.size() > kMaxField || out.size() >= kMaxDomains) continue;
        if (std::find(out.begin(), out.end(), v) == out.end()) out.emplace_back(v);
    }
}

void field(const JsonValue& obj, std::string_view key, std::string& out) {
    std::string_view v = get_string(member(obj, key));
    if (!v.empty() && v.size() <= kMaxField) out.assign(v);
}

// {city, region, country, timezone}, as all three wires name them.
void read_location(const JsonValue* loc, ir::WebSearchTool& t) {
    if (!is_object(loc)) return;
    field(*loc, "city", t.city);
    field(*loc, "region", t.region);
    field(*loc, "country", t.country);
    field(*loc, "timezone", t.timezone);
}

bool has_location(const ir::WebSearchTool& t) {
    return !t.city.empty() || !t.region.empty() || !t.country.empty() || !t.timezone.empty();
}

void write_location(JsonWriter& w, const ir::WebSearchTool& t) {
    write_key(w, "user_location");
    w.StartObject();
    str(w, "type", "approximate");
    if (!t.city.empty()) str(w, "city", t.city);
    if (!t.region.empty()) str(w, "region", t.region);
    if (!t.country.empty()) str(w, "country", t.country);
    if (!t.timezone.empty()) str(w, "timezone", t.timezone);
    w.EndObject();
}

void write_list(JsonWriter& w, std::string_view key, const std::vector<std::string>& list) {
    write_key(w, key);
    w.StartArray();
    for (const auto& d : list) write_string(w, d);
    w.EndArray();
}

ir::WebSearchTool& offer(ir::Request& r) {
    if (!r.web_search) r.web_search.emplace();
    return *r.web_search;
}

// "web_search_" followed by a date of digits only.
bool dated(std::string_view type, std::string_view prefix) {
    if (type.size() <= prefix.size() || type.substr(0, prefix.size()) != prefix) return false;
    return std::all_of(type.begin() + prefix.size(), type.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool responses_web_search_type(std::string_view type) {
    return type == "web_search" || type == "web_search_preview" || dated(type, "web_search_preview_") ||
           dated(type, "web_search_");
}

void read_responses_web_search(const JsonValue& tool, ir::Request& r) {
    ir::WebSearchTool& t = offer(r);
    if (const JsonValue* f = member(tool, "filters"); is_object(f)) add_domains(member(*f, "allowed_domains"), t.allowed_domains);
    read_location(member(tool, "user_location"), t);
}

bool anthropic_web_search_type(std::string_view type) { return dated(type, "web_search_"); }

void read_anthropic_web_search(const JsonValue& tool, ir::Request& r) {
    ir::WebSearchTool& t = offer(r);
    if (auto n = get_int(member(tool, "max_uses")); n && *n > 0) t.max_uses = std::min<int64_t>(*n, 1000);
    add_domains(member(tool, "allowed_domains"), t.allowed_domains);
    add_domains(member(tool, "blocked_domains"), t.blocked_domains);
    read_location(member(tool, "user_location"), t);
}

void read_chat_web_search(const JsonValue& options, ir::Request& r) {
    ir::WebSearchTool& t = offer(r);
    if (const JsonValue* loc = member(options, "user_location"); is_object(loc))
        read_location(member(*loc, "approximate"), t);
}

void read_gemini_web_search(ir::Request& r) { offer(r); }

void write_responses_web_search_tool(JsonWriter& w, const ir::WebSearchTool& t) {
    w.StartObject();
    str(w, "type", "web_search");
    if (!t.allowed_domains.empty()) {
        write_key(w, "filters");
        w.StartObject();
        write_list(w, "allowed_domains", t.allowed_domains);
        w.EndObject();
    }
    if (has_location(t)) write_location(w, t);
    w.EndObject();
}

void write_anthropic_web_search_tool(JsonWriter& w, const ir::WebSearchTool& t) {
    w.StartObject();
    str(w, "type", "web_search_20250305");
    str(w, "name", "web_search");
    if (t.max_uses > 0) {
        write_key(w, "max_uses");
        w.Int64(t.max_uses);
    }
    // Anthropic takes one list or the other, never both: the allowed list
    // is the narrower promise.
    if (!t.allowed_domains.empty()) write_list(w, "allowed_domains", t.allowed_domains);
    else if (!t.blocked_domains.empty()) write_list(w, "blocked_domains", t.blocked_domains);
    if (has_location(t)) write_location(w, t);
    w.EndObject();
}

ir::Part web_search_part(std::string id, std::string query) {
    ir::Part p;
    p.kind = ir::PartKind::WebSearch;
    p.call_id = std::move(id);
    p.text = std::move(query);
    return p;
}

void read_responses_web_search_call(const JsonValue& item, ir::Part& out) {
    out = web_search_part(std::string(get_string(member(item, "id"))), {});
    const JsonValue* action = member(item, "action");
    if (!is_object(action)) return;
    out.text.assign(get_string(member(*action, "query")));
    if (out.text.empty())
        if (const JsonValue* qs = member(*action, "queries"); is_array(qs) && !qs->Empty())
            out.text.assign(get_string(&(*qs)[0]));
    if (const JsonValue* src = member(*action, "sources"); is_array(src))
        for (const auto& s : src->GetArray())
            if (std::string_view url = get_string(member(s, "url")); !url.empty() && out.sources.size() < kMaxDomains)
                out.sources.push_back({std::string(url), std::string(get_string(member(s, "title")))});
}

void read_anthropic_search_results(const JsonValue& block, std::vector<ir::Source>& out) {
    const JsonValue* content = member(block, "content");
    if (!is_array(content)) return;  // web_search_tool_result_error: searched, nothing found
    for (const auto& r : content->GetArray()) {
        std::string_view url = get_string(member(r, "url"));
        if (url.empty() || out.size() >= kMaxDomains) continue;
        out.push_back({std::string(url), std::string(get_string(member(r, "title")))});
    }
}

bool read_gemini_grounding(const JsonValue& metadata, ir::Part& out, Session& s) {
    if (!metadata.IsObject()) return false;
    const JsonValue* queries = member(metadata, "webSearchQueries", "web_search_queries");
    const JsonValue* chunks = member(metadata, "groundingChunks", "grounding_chunks");
    bool any_query = is_array(queries) && !queries->Empty();
    bool any_chunk = is_array(chunks) && !chunks->Empty();
    if (!any_query && !any_chunk) return false;
    out = web_search_part(s.new_id("ws_"), {});
    if (any_query) {
        for (const auto& q : queries->GetArray()) {
            std::string_view v = get_string(&q);
            if (v.empty()) continue;
            if (!out.text.empty()) out.text += "; ";
            out.text += v;
        }
    }
    if (any_chunk) {
        for (const auto& c : chunks->GetArray()) {
            const JsonValue* web = member(c, "web");
            if (!is_object(web) || out.sources.size() >= kMaxDomains) continue;
            std::string_view uri = get_string(member(*web, "uri"));
            if (!uri.empty()) out.sources.push_back({std::string(uri), std::string(get_string(member(*web, "title")))});
        }
    }
    return true;
}

void write_responses_web_search_call(JsonWriter& w, const ir::Part& p, std::string_view status) {
    str(w, "type", "web_search_call");
    str(w, "id", p.call_id);
    str(w, "status", status);
    if (status != "completed") return;
    write_key(w, "action");
    w.StartObject();
    str(w, "type", "search");
    str(w, "query", p.text);
    if (!p.sources.empty()) {
        write_key(w, "sources");
        w.StartArray();
        for (const auto& src : p.sources) {
            w.StartObject();
            str(w, "type", "url");
            str(w, "url", src.url);
            w.EndObject();
        }
        w.EndArray();
    }
    w.EndObject();
}

void write_anthropic_server_tool_use(JsonWriter& w, const ir::Part& p, bool with_input) {
    str(w, "type", "server_tool_use");
    str(w, "id", p.call_id);
    str(w, "name", "web_search");
    write_key(w, "input");
    w.StartObject();
    if (with_input) str(w, "query", p.text);
    w.EndObject();
}

void write_anthropic_search_result(JsonWriter& w, const ir::Part& p) {
    str(w, "type", "web_search_tool_result");
    str(w, "tool_use_id", p.call_id);
    write_key(w, "content");
    w.StartArray();
    for (const auto& src : p.sources) {
        w.StartObject();
        str(w, "type", "web_search_result");
        str(w, "url", src.url);
        str(w, "title", src.title);
        // Anthropic's own results carry an opaque copy of the page for
        // citations; a search another provider ran has none to give.
        str(w, "encrypted_content", "");
        write_key(w, "page_age");
        w.Null();
        w.EndObject();
    }
    w.EndArray();
}

void write_gemini_grounding(JsonWriter& w, const std::vector<const ir::Part*>& searches) {
    write_key(w, "groundingMetadata");
    w.StartObject();
    write_key(w, "webSearchQueries");
    w.StartArray();
    for (const ir::Part* p : searches)
        if (!p->text.empty()) write_string(w, p->text);
    w.EndArray();
    write_key(w, "groundingChunks");
    w.StartArray();
    for (const ir::Part* p : searches) {
        for (const auto& src : p->sources) {
            w.StartObject();
            write_key(w, "web");
            w.StartObject();
            str(w, "uri", src.url);
            if (!src.title.empty()) str(w, "title", src.title);
            w.EndObject();
            w.EndObject();
        }
    }
    w.EndArray();
    w.EndObject();
}

std::string web_search_id(const ir::Part& p, std::string_view prefix, Session& s) {
    if (p.call_id.size() > prefix.size() && p.call_id.compare(0, prefix.size(), prefix) == 0 &&
        p.call_id.size() <= 128)
        return p.call_id;
    return s.new_id(prefix);
}

}  // namespace agd::translate
