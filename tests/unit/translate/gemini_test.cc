#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "translate/codecs.h"
#include "translate/gemini_schema.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/util.h"
#include "support.h"

using namespace agd;
using namespace agd::translate;

namespace {

using test::call;
using test::ev;
using test::feed;
using test::msg;
using test::parse;
using test::Rec;
using test::result;
using test::str;
using test::text;

// The §5.1 example (snake_case spellings are tested separately).
const char* kExample = R"({"systemInstruction":{"parts":[{"text":"Be brief."}]},
 "contents":[
  {"role":"user","parts":[{"text":"Weather here?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KG"}}]},
  {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CiQB"}]},
  {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp_c":21}}}]}],
 "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather.",
   "parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required":["city"]}}]}],
 "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},
 "generationConfig":{"temperature":0.7,"topP":0.95,"topK":40,"maxOutputTokens":2048,"stopSequences":["END"],
   "thinkingConfig":{"includeThoughts":true,"thinkingBudget":4096}},
 "safetySettings":[{"category":"HARM_CATEGORY_DANGEROUS_CONTENT","threshold":"BLOCK_NONE"}]})";

Session gemini_session(const char* upstream_model = "gemini-2.5-flash") {
    Session s;
    s.client = Protocol::Gemini;
    s.upstream = Protocol::Gemini;
    s.client_model = "gemini-2.5-flash";
    s.upstream_model = upstream_model;
    s.seed = 1;
    s.now = 1735689600;
    return s;
}

// A Chat client in front of a Gemini upstream.
Session cross_session(const char* upstream_model = "gemini-2.5-flash") {
    Session s = gemini_session(upstream_model);
    s.client = Protocol::OpenAIChat;
    s.client_model = "my-model";
    return s;
}

std::string json(const rapidjson::Value* v) { return v ? to_json(*v) : std::string("<none>"); }

rapidjson::Document schema(const char* in) { return parse(gemini_schema(in)); }

ir::Request weather_turn() {
    ir::Request r;
    r.messages.push_back(msg(ir::Role::User, {text("Weather in Paris and Rome?")}));
    return r;
}

std::string encode_ok(const ir::Request& r, Session& s) {
    auto out = encode_gemini_request(r, s);
    INFO((out ? std::string() : out.error().message));
    REQUIRE(out.ok());
    return *out;
}

// Records IR stream events as `ev` (test::RecSink names them `evs`).
struct Collect : EventSink {
    std::vector<Rec> ev;
    void on(const ir::StreamEvent& e) override { ev.push_back(test::record(e)); }
    std::vector<ir::StreamEvent::Type> types() const {
        std::vector<ir::StreamEvent::Type> t;
        for (const auto& e : ev) t.push_back(e.type);
        return t;
    }
};

// "data: X\r\n\r\n" blocks -> X texts; fails on any other framing.
std::vector<std::string> sse_datas(const std::string& out) {
    std::vector<std::string> v;
    size_t pos = 0;
    while (pos < out.size()) {
        REQUIRE(out.compare(pos, 6, "data: ") == 0);
        size_t end = out.find("\r\n\r\n", pos);
        REQUIRE(end != std::string::npos);
        v.push_back(out.substr(pos + 6, end - pos - 6));
        CHECK(v.back().find('\n') == std::string::npos);
        pos = end + 4;
    }
    return v;
}

const JsonValue& parts_of(const JsonValue& content) { return *member(content, "parts"); }

}  // namespace

// ------------------------------------------------------------------ schema (§6.7, §7.5)

TEST_CASE("gemini: schema drops the keywords Gemini rejects, keeps the subset") {
    auto d = schema(R"({"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","$comment":"c",
      "type":"object","additionalProperties":false,"x-google-extra":1,"patternProperties":{"^a":{}},
      "propertyNames":{"pattern":"a"},"unevaluatedProperties":false,"dependentRequired":{"a":["b"]},
      "if":{"required":["a"]},"then":{},"else":{},"not":{},"minProperties":1,"title":"T","description":"D",
      "properties":{"a":{"type":"array","items":{"type":"integer"},"contains":{},"uniqueItems":true,"minItems":1,
        "maxItems":3,"examples":[[1]],"deprecated":true,"readOnly":true},
        "n":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":9,"minimum":1,"maximum":5,"writeOnly":true},
        "s":{"type":"string","pattern":"^x","minLength":1,"maxLength":4}}})");
    for (const char* k : {"$schema", "$id", "$comment", "additionalProperties", "x-google-extra", "patternProperties",
                          "propertyNames", "unevaluatedProperties", "dependentRequired", "if", "then", "else", "not"})
        CHECK_MESSAGE(member(d, k) == nullptr, k);
    CHECK(str(d, "type") == "object");
    CHECK(str(d, "title") == "T");
    CHECK(str(d, "description") == "D");
    CHECK(get_int(member(d, "minProperties")) == 1);
    const auto& a = *member(*member(d, "properties"), "a");
    CHECK(json(&a) == R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})");
    const auto& n = *member(*member(d, "properties"), "n");
    CHECK(json(&n) == R"({"type":"number","minimum":1,"maximum":5})");
    const auto& s = *member(*member(d, "properties"), "s");
    CHECK(json(&s) == R"({"type":"string","pattern":"^x","minLength":1,"maxLength":4})");
}

TEST_CASE("gemini: schema keeps properties named like keywords") {
    auto d = schema(R"({"type":"object","properties":{
      "format":{"type":"string","format":"email"},"default":{"type":"string"},
      "additionalProperties":{"type":"boolean"},"$ref":{"type":"string"}},
      "required":["format","default","additionalProperties","$ref","missing"]})");
    const auto& props = *member(d, "properties");
    REQUIRE(props.IsObject());
    CHECK(props.MemberCount() == 4);
    CHECK(json(member(props, "format")) == R"({"type":"string"})");  // the keyword format:email is dropped
    CHECK(json(member(props, "default")) == R"({"type":"string"})");
    CHECK(json(member(props, "additionalProperties")) == R"({"type":"boolean"})");
    CHECK(json(member(props, "$ref")) == R"({"type":"string"})");
    CHECK(json(member(d, "required")) == R"(["format","default","additionalProperties","$ref"])");
}

TEST_CASE("gemini: schema inlines local $ref and drops $defs/definitions") {
    auto d = schema(R"({"type":"object","$defs":{"City":{"type":"string","description":"A city"}},
      "definitions":{"Unit":{"type":"string","enum":["c","f"]}},
      "properties":{"city":{"$ref":"#/$defs/City","description":"Where"},"unit":{"$ref":"#/definitions/Unit"},
        "list":{"type":"array","items":{"$ref":"#/$defs/City"}}}})");
    CHECK(member(d, "$defs") == nullptr);
    CHECK(member(d, "definitions") == nullptr);
    const auto& props = *member(d, "properties");
    CHECK(str(*member(props, "city"), "type") == "string");
    CHECK(str(*member(props, "city"), "description") == "Where");  // the sibling wins over the target's
    CHECK(member(*member(props, "city"), "$ref") == nullptr);
    CHECK(json(member(props, "unit")) == R"({"type":"string","enum":["c","f"]})");
    CHECK(json(member(*member(props, "list"), "items")) == R"({"type":"string","description":"A city"})");
    CHECK(gemini_schema(R"({"type":"object"})").find('$') == std::string::npos);
}

TEST_CASE("gemini: recursive $ref is expanded to a bounded depth") {
    std::string out = gemini_schema(R"({"$defs":{"Node":{"type":"object","properties":{
      "name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}}}},
      "$ref":"#/$defs/Node"})");
    CHECK(out.find("$ref") == std::string::npos);
    CHECK(out.find("$defs") == std::string::npos);
    CHECK(out.size() < 20000);
    auto d = parse(out);
    CHECK(str(d, "type") == "object");
    CHECK(str(*member(*member(d, "properties"), "name"), "type") == "string");
}

TEST_CASE("gemini: schema const and enum become string enums") {
    auto d = schema(R"({"type":"object","properties":{
      "kind":{"const":"circle"},
      "size":{"type":"string","enum":["s",1,true]},
      "level":{"type":"integer","enum":[1,2,3],"description":"Level."},
      "opt":{"type":"string","enum":["a","b",null]}}})");
    const auto& p = *member(d, "properties");
    CHECK(json(member(p, "kind")) == R"({"type":"string","enum":["circle"]})");
    CHECK(json(member(*member(p, "size"), "enum")) == R"(["s","1","true"])");
    CHECK(member(*member(p, "level"), "enum") == nullptr);
    CHECK(str(*member(p, "level"), "type") == "integer");
    CHECK(str(*member(p, "level"), "description") == "Level. Allowed values: 1, 2, 3.");
    CHECK(json(member(*member(p, "opt"), "enum")) == R"(["a","b"])");
    CHECK(get_bool(member(*member(p, "opt"), "nullable")) == true);
}

TEST_CASE("gemini: schema type arrays and null unions become nullable") {
    auto d = schema(R"({"type":"object","properties":{
      "a":{"type":["string","null"],"description":"A"},
      "b":{"anyOf":[{"type":"integer","minimum":0},{"type":"null"}]},
      "c":{"oneOf":[{"type":"null"},{"$ref":"#/$defs/X"}]},
      "d":{"oneOf":[{"type":"string"},{"type":"integer"}]},
      "e":{"type":["string","number"]}},
      "$defs":{"X":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}})");
    const auto& p = *member(d, "properties");
    CHECK(json(member(p, "a")) == R"({"type":"string","description":"A","nullable":true})");
    CHECK(json(member(p, "b")) == R"({"type":"integer","minimum":0,"nullable":true})");
    const auto& c = *member(p, "c");
    CHECK(str(c, "type") == "object");
    CHECK(get_bool(member(c, "nullable")) == true);
    CHECK(json(member(c, "required")) == R"(["q"])");
    CHECK(member(c, "oneOf") == nullptr);
    CHECK(json(member(p, "d")) == R"({"anyOf":[{"type":"string"},{"type":"integer"}]})");
    CHECK(json(member(p, "e")) == R"({"anyOf":[{"type":"string"},{"type":"number"}]})");
}

TEST_CASE("gemini: schema allOf merges, required pruned, format filtered, data untouched") {
    auto d = schema(R"({"allOf":[
        {"type":"object","properties":{"a":{"type":"string","format":"date-time"}},"required":["a"]},
        {"properties":{"b":{"type":"integer","format":"int64"},"c":{"type":"string","format":"uri"}},
         "required":["b","zzz"]}],
      "default":{"$ref":"#/x","additionalProperties":true,"const":1},
      "example":{"x-y":1}})");
    CHECK(member(d, "allOf") == nullptr);
    CHECK(str(d, "type") == "object");
    const auto& p = *member(d, "properties");
    CHECK(json(member(p, "a")) == R"({"type":"string","format":"date-time"})");
    CHECK(json(member(p, "b")) == R"({"type":"integer","format":"int64"})");
    CHECK(json(member(p, "c")) == R"({"type":"string"})");
    CHECK(json(member(d, "required")) == R"(["a","b"])");
    CHECK(json(member(d, "default")) == R"({"$ref":"#/x","additionalProperties":true,"const":1})");
    CHECK(json(member(d, "example")) == R"({"x-y":1})");
}

TEST_CASE("gemini: schema of invalid input is the empty object schema") {
    CHECK(gemini_schema("") == R"({"type":"object","properties":{}})");
    CHECK(gemini_schema("[1]") == R"({"type":"object","properties":{}})");
    CHECK(gemini_schema("{bad") == R"({"type":"object","properties":{}})");
    // An array without items gets one (Gemini requires items for ARRAY).
    CHECK(gemini_schema(R"({"type":"array"})") == R"({"type":"array","items":{"type":"string"}})");
}

// ------------------------------------------------------------------ request decode

TEST_CASE("gemini: decode the §5.1 example") {
    Session s = gemini_session();
    s.client_model = "gemini-2.5-flash";
    s.stream = true;
    auto r = decode_request(Protocol::Gemini, kExample, s);
    REQUIRE(r.ok());
    CHECK(r->model == "gemini-2.5-flash");
    CHECK(r->stream);
    REQUIRE(r->system.size() == 1);
    CHECK(r->system[0].text == "Be brief.");
    REQUIRE(r->messages.size() == 3);
    const auto& u = r->messages[0];
    CHECK(u.role == ir::Role::User);
    REQUIRE(u.parts.size() == 2);
    CHECK(u.parts[1].kind == ir::PartKind::Image);
    CHECK(u.parts[1].media.mime == "image/png");
    CHECK(u.parts[1].media.data == "iVBORw0KG");
    const auto& m = r->messages[1];
    CHECK(m.role == ir::Role::Assistant);
    REQUIRE(m.parts.size() == 1);
    CHECK(m.parts[0].kind == ir::PartKind::ToolCall);
    CHECK(m.parts[0].name == "get_weather");
    CHECK(m.parts[0].args_json == R"({"city":"Paris"})");
    CHECK(m.parts[0].signature == "CiQB");
    CHECK(m.parts[0].origin.protocol == Protocol::Gemini);
    CHECK(m.parts[0].call_id == "call_1");  // minted
    const auto& t = r->messages[2].parts.at(0);
    CHECK(t.kind == ir::PartKind::ToolResult);
    CHECK(t.call_id == "call_1");
    CHECK(t.name == "get_weather");
    REQUIRE(t.content.size() == 1);
    CHECK(t.content[0].text == R"({"temp_c":21})");
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].description == "Weather.");
    CHECK(r->tools[0].parameters_json ==
          R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})");
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Auto);
    CHECK(r->temperature == doctest::Approx(0.7));
    CHECK(r->top_p == doctest::Approx(0.95));
    CHECK(r->top_k == 40);
    CHECK(r->max_tokens == 2048);
    CHECK(r->stop == std::vector<std::string>{"END"});
    CHECK(r->reasoning.mode == ir::ReasoningMode::Budget);
    CHECK(r->reasoning.budget == 4096);
    CHECK(r->reasoning.include_thoughts == true);
}

TEST_CASE("gemini: decode accepts snake_case keys everywhere") {
    Session s = gemini_session();
    const char* body = R"({"system_instruction":{"parts":[{"text":"S1"},{"text":"S2"}]},
     "contents":[{"parts":[{"text":"hi"},{"inline_data":{"mime_type":"audio/wav","data":"UklG"}},
                            {"file_data":{"mime_type":"application/pdf","file_uri":"gs://b/doc.pdf"}}]},
      {"role":"model","parts":[{"text":"mull","thought":true,"thought_signature":"SIG1"},
                               {"function_call":{"name":"f","args":{"x":1}},"thought_signature":"SIG2"}]},
      {"role":"user","parts":[{"function_response":{"name":"f","response":{"output":"done"}}}]}],
     "tools":[{"function_declarations":[{"name":"f","parameters_json_schema":{"type":"object",
        "properties":{"x":{"type":"INTEGER"}}}}]},{"google_search":{}}],
     "tool_config":{"function_calling_config":{"mode":"ANY","allowed_function_names":["f"]}},
     "generation_config":{"max_output_tokens":100,"top_p":0.5,"top_k":3,"candidate_count":2,"stop_sequences":["x"],
       "presence_penalty":0.1,"frequency_penalty":0.2,"seed":7,
       "response_mime_type":"application/json","response_schema":{"type":"OBJECT"},
       "thinking_config":{"thinking_level":"HIGH","include_thoughts":false}}})";
    auto r = decode_request(Protocol::Gemini, body, s);
    REQUIRE(r.ok());
    REQUIRE(r->system.size() == 2);
    CHECK(r->system[1].text == "S2");
    REQUIRE(r->messages.size() == 3);
    const auto& u = r->messages[0].parts;
    REQUIRE(u.size() == 3);
    CHECK(u[1].kind == ir::PartKind::Audio);
    CHECK(u[1].media.data == "UklG");
    CHECK(u[2].kind == ir::PartKind::File);
    CHECK(u[2].media.url == "gs://b/doc.pdf");
    CHECK(u[2].media.mime == "application/pdf");
    const auto& m = r->messages[1].parts;
    REQUIRE(m.size() == 2);
    CHECK(m[0].kind == ir::PartKind::Thinking);
    CHECK(m[0].signature == "SIG1");
    CHECK(m[1].kind == ir::PartKind::ToolCall);
    CHECK(m[1].signature == "SIG2");
    const auto& res = r->messages[2].parts.at(0);
    CHECK(res.call_id == m[1].call_id);
    CHECK(res.content.at(0).text == "done");
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].parameters_json == R"({"type":"object","properties":{"x":{"type":"integer"}}})");
    CHECK(r->tool_choice.mode == ir::ToolChoiceMode::Named);
    CHECK(r->tool_choice.name == "f");
    CHECK(r->max_tokens == 100);
    CHECK(r->top_k == 3);
    CHECK(r->n == 2);
    CHECK(r->seed == 7);
    CHECK(r->presence_penalty == doctest::Approx(0.1));
    CHECK(r->frequency_penalty == doctest::Approx(0.2));
    CHECK(r->format.kind == ir::FormatKind::JsonSchema);
    CHECK(r->format.schema_json == R"({"type":"object"})");
    CHECK(r->reasoning.mode == ir::ReasoningMode::Effort);
    CHECK(r->reasoning.effort == "high");
    CHECK(r->reasoning.include_thoughts == false);
}

TEST_CASE("gemini: decode pairs functionResponses with calls by name and order") {
    Session s = gemini_session();
    const char* body = R"({"contents":[{"role":"user","parts":[{"text":"go"}]},
      {"role":"model","parts":[{"functionCall":{"name":"a","args":{"n":1}}},{"functionCall":{"name":"b","args":{}}},
                               {"functionCall":{"name":"a","args":{"n":2}}},{"functionCall":{"name":"c","id":"given"}}]},
      {"role":"user","parts":[{"functionResponse":{"name":"b","response":{"error":"nope"}}},
                              {"functionResponse":{"name":"a","response":{"result":"one"}}},
                              {"functionResponse":{"name":"a","response":{"v":[1,2]}}},
                              {"functionResponse":{"name":"c","id":"given","response":{}}}]}]})";
    auto r = decode_request(Protocol::Gemini, body, s);
    REQUIRE(r.ok());
    const auto& calls = r->messages[1].parts;
    const auto& res = r->messages[2].parts;
    REQUIRE(calls.size() == 4);
    REQUIRE(res.size() == 4);
    CHECK(calls[3].call_id == "given");
    CHECK(calls[3].args_json == "{}");
    CHECK(res[0].call_id == calls[1].call_id);
    CHECK(res[0].is_error);
    CHECK(res[0].content[0].text == "nope");
    CHECK(res[1].call_id == calls[0].call_id);
    CHECK(res[1].content[0].text == "one");
    CHECK(res[2].call_id == calls[2].call_id);
    CHECK(res[2].content[0].text == R"({"v":[1,2]})");
    CHECK(res[3].call_id == "given");
    CHECK(calls[0].call_id != calls[2].call_id);
}

TEST_CASE("gemini: decode rejects bad input with 400") {
    Session s = gemini_session();
    for (const char* body : {"[]", "{", R"({"x":1})", R"({"contents":"hi"})", R"({"contents":[{"role":"bot","parts":[]}]})",
                             R"({"contents":[{"role":"user","parts":{"text":"x"}}]})",
                             R"({"contents":[{"role":"user","parts":[7]}]})"}) {
        auto r = decode_request(Protocol::Gemini, body, s);
        INFO(body);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code == 400);
    }
    // A string systemInstruction and a missing role are accepted.
    auto r = decode_request(Protocol::Gemini, R"({"systemInstruction":"Be kind.","contents":[{"parts":[{"text":"x"}]}]})", s);
    REQUIRE(r.ok());
    CHECK(r->system.at(0).text == "Be kind.");
    CHECK(r->messages.at(0).role == ir::Role::User);
}

TEST_CASE("gemini: decode thinking budgets") {
    Session s = gemini_session();
    auto with = [&](const char* tc) {
        std::string body = std::string(R"({"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":)") +
                           tc + "}}";
        auto r = decode_request(Protocol::Gemini, body, s);
        REQUIRE(r.ok());
        return r->reasoning;
    };
    CHECK(with(R"({"thinkingBudget":0})").mode == ir::ReasoningMode::Off);
    auto dyn = with(R"({"thinkingBudget":-1})");
    CHECK(dyn.mode == ir::ReasoningMode::Budget);
    CHECK(dyn.budget == -1);
    auto lvl = with(R"({"thinkingLevel":"LOW"})");
    CHECK(lvl.mode == ir::ReasoningMode::Effort);
    CHECK(lvl.effort == "low");
}

// ------------------------------------------------------------------ request encode

TEST_CASE("gemini: encode puts the model in the URL, not the body, and maps the basics") {
    Session s = cross_session();
    ir::Request r = weather_turn();
    r.model = "my-model";
    r.system.push_back(text("Be brief."));
    r.system.push_back(text(""));
    r.max_tokens = 100;
    r.temperature = 0.5;
    r.top_p = 0.9;
    r.top_k = 20;
    r.seed = 3;
    r.n = 2;
    r.presence_penalty = 0.5;
    r.stop = {"a", "b", "c", "d", "e", "f"};
    r.format.kind = ir::FormatKind::JsonObject;
    auto d = parse(encode_ok(r, s));
    CHECK(member(d, "model") == nullptr);
    CHECK(json(member(d, "systemInstruction")) == R"({"parts":[{"text":"Be brief."}]})");
    CHECK(json(member(d, "contents")) == R"([{"role":"user","parts":[{"text":"Weather in Paris and Rome?"}]}])");
    const auto& g = *member(d, "generationConfig");
    CHECK(get_int(member(g, "maxOutputTokens")) == 100);
    CHECK(get_double(member(g, "temperature")) == doctest::Approx(0.5));
    CHECK(get_double(member(g, "topP")) == doctest::Approx(0.9));
    CHECK(get_int(member(g, "topK")) == 20);
    CHECK(get_int(member(g, "seed")) == 3);
    CHECK(get_int(member(g, "candidateCount")) == 2);
    CHECK(get_double(member(g, "presencePenalty")) == doctest::Approx(0.5));
    CHECK(json(member(g, "stopSequences")) == R"(["a","b","c","d","e"])");
    CHECK(str(g, "responseMimeType") == "application/json");
    CHECK(member(g, "responseSchema") == nullptr);
    CHECK(member(d, "tools") == nullptr);
}

TEST_CASE("gemini: encode groups parallel calls in one model content and their responses in one user content") {
    Session s = cross_session();
    ir::Request r = weather_turn();
    // A client that split the turn: two assistant messages, then tool results
    // in reverse order, then more user text (Chat tool messages shape).
    r.messages.push_back(msg(ir::Role::Assistant, {text(""), call("call_a", "get_weather", R"({"city":"Paris"})")}));
    r.messages.push_back(msg(ir::Role::Assistant, {call("call_b", "get_weather", R"({"city":"Rome")")}));
    r.messages.push_back(msg(ir::Role::User, {result("call_b", "18C")}));
    r.messages.push_back(msg(ir::Role::User, {result("call_a", R"({"temp_c":21})")}));
    r.messages.push_back(msg(ir::Role::User, {text("Thanks")}));
    auto d = parse(encode_ok(r, s));
    const auto& contents = *member(d, "contents");
    REQUIRE(contents.Size() == 3);
    CHECK(str(contents[1], "role") == "model");
    const auto& mp = parts_of(contents[1]);
    REQUIRE(mp.Size() == 2);  // no empty text part
    CHECK(json(member(mp[0], "functionCall")) == R"({"name":"get_weather","args":{"city":"Paris"}})");
    CHECK(json(member(mp[1], "functionCall")) == R"({"name":"get_weather","args":{"city":"Rome"}})");  // repaired
    CHECK(str(contents[2], "role") == "user");
    const auto& up = parts_of(contents[2]);
    REQUIRE(up.Size() == 3);
    CHECK(json(member(up[0], "functionResponse")) == R"({"name":"get_weather","response":{"temp_c":21}})");
    CHECK(json(member(up[1], "functionResponse")) == R"({"name":"get_weather","response":{"output":"18C"}})");
    CHECK(json(&up[2]) == R"({"text":"Thanks"})");
    for (const auto& p : up.GetArray())
        if (const JsonValue* fr = member(p, "functionResponse")) CHECK(member(*fr, "id") == nullptr);
}

TEST_CASE("gemini: encode never sends empty text parts or empty contents") {
    Session s = cross_session();
    ir::Request r;
    r.messages.push_back(msg(ir::Role::User, {text("")}));
    r.messages.push_back(msg(ir::Role::User, {text("Hi"), text("")}));
    r.messages.push_back(msg(ir::Role::Assistant, {text("")}));
    r.messages.push_back(msg(ir::Role::User, {text("Again")}));
    auto d = parse(encode_ok(r, s));
    CHECK(json(member(d, "contents")) == R"([{"role":"user","parts":[{"text":"Hi"},{"text":"Again"}]}])");
    ir::Request empty;
    empty.messages.push_back(msg(ir::Role::User, {text("")}));
    auto e = encode_gemini_request(empty, s);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == 400);
}

TEST_CASE("gemini: encode answers orphan calls, turns orphan results into text, opens with a user turn") {
    Session s = cross_session();
    ir::Request r;
    // History that starts with a call (Anthropic prefill / trimmed history),
    // a call never answered, and a result whose call is not there.
    r.messages.push_back(msg(ir::Role::Assistant, {text("  "), call("c1", "my.tool", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {text("continue"), result("ghost", "stale")}));
    auto d = parse(encode_ok(r, s));
    const auto& contents = *member(d, "contents");
    REQUIRE(contents.Size() == 3);
    CHECK(json(&contents[0]) == R"({"role":"user","parts":[{"text":"Continue."}]})");
    const auto& mp = parts_of(contents[1]);
    REQUIRE(mp.Size() == 1);  // the blank text is gone
    CHECK(member(mp[0], "functionCall") != nullptr);
    const auto& up = parts_of(contents[2]);
    REQUIRE(up.Size() == 3);
    CHECK(json(&up[0]) ==
          R"({"functionResponse":{"name":"my.tool","response":{"error":"no result was provided for this call"}}})");
    CHECK(json(&up[1]) == R"({"text":"continue"})");
    CHECK(json(&up[2]) == R"({"text":"Result of tool: stale"})");
}

TEST_CASE("gemini: a root union of object schemas becomes one object for parameters") {
    Session s = cross_session();
    ir::Request r = weather_turn();
    r.tools.push_back(ir::Tool{"t", "", R"({"anyOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
        {"type":"object","properties":{"b":{"type":"number"}}}]})", std::nullopt});
    auto d = parse(encode_ok(r, s));
    const auto& decl = (*member((*member(d, "tools"))[0], "functionDeclarations"))[0];
    CHECK(json(member(decl, "parameters")) ==
          R"({"type":"object","properties":{"a":{"type":"string"},"b":{"type":"number"}}})");
}

TEST_CASE("gemini: encode wraps function responses as objects and renames $ keys") {
    Session s = cross_session();
    ir::Request r = weather_turn();
    r.messages.push_back(msg(ir::Role::Assistant, {call("c1", "t", "{}"), call("c2", "t", "{}"), call("c3", "t", "{}"),
                                                   call("c4", "t", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {result("c1", R"({"$ref":"#/a","$defs":{"a":{"$ref":"x"}},"ok":[{"$id":1}]})"),
                                              result("c2", "[1,2]"), result("c3", "boom", true),
                                              result("c4", R"({"ref":1,"$ref":2})")}));
    auto d = parse(encode_ok(r, s));
    const auto& up = parts_of((*member(d, "contents"))[2]);
    REQUIRE(up.Size() == 4);
    CHECK(json(member(*member(up[0], "functionResponse"), "response")) ==
          R"({"ref":"#/a","defs":{"a":{"ref":"x"}},"ok":[{"id":1}]})");
    CHECK(json(member(*member(up[1], "functionResponse"), "response")) == R"({"output":"[1,2]"})");
    CHECK(json(member(*member(up[2], "functionResponse"), "response")) == R"({"error":"boom"})");
    CHECK(json(member(*member(up[3], "functionResponse"), "response")) == R"({"ref":1,"_ref":2})");
}

TEST_CASE("gemini: signatures stay on their part when valid, foreign ones are dropped") {
    Session s = cross_session("gemini-2.5-pro");
    ir::Request r = weather_turn();
    ir::Part think;
    think.kind = ir::PartKind::Thinking;
    think.text = "Let me think";
    think.signature = "TSIG";
    think.origin = {Protocol::Gemini, "gemini-2.5-pro"};
    ir::Part foreign_think = think;
    foreign_think.origin = {Protocol::Anthropic, "claude-sonnet-4"};
    foreign_think.text = "claude thoughts";
    ir::Part said = text("Checking.");
    said.signature = "XSIG";
    said.origin = {Protocol::Gemini, "gemini-2.5-pro"};
    ir::Part c1 = call("c1", "get_weather", R"({"city":"Paris"})");
    c1.signature = "CSIG";
    c1.origin = {Protocol::Gemini, "gemini-2.5-pro"};
    ir::Part c2 = call("c2", "get_weather", R"({"city":"Rome"})");
    c2.signature = "OTHER";
    c2.origin = {Protocol::Gemini, "gemini-2.0-flash"};  // another model: not valid here
    r.messages.push_back(msg(ir::Role::Assistant, {foreign_think, think, said, c1, c2}));
    r.messages.push_back(msg(ir::Role::User, {result("c1", "21"), result("c2", "18")}));
    auto d = parse(encode_ok(r, s));
    const auto& mp = parts_of((*member(d, "contents"))[1]);
    REQUIRE(mp.Size() == 4);
    CHECK(json(&mp[0]) == R"({"text":"Let me think","thought":true,"thoughtSignature":"TSIG"})");
    CHECK(json(&mp[1]) == R"({"text":"Checking.","thoughtSignature":"XSIG"})");
    CHECK(str(mp[2], "thoughtSignature") == "CSIG");
    CHECK(member(mp[3], "thoughtSignature") == nullptr);
}

TEST_CASE("gemini: Gemini 3 gets the bypass signature on the first call of a turn only") {
    Session s = cross_session("gemini-3-pro-preview");
    ir::Request r = weather_turn();
    r.messages.push_back(msg(ir::Role::Assistant, {text("Looking."), call("c1", "get_weather", "{}"),
                                                   call("c2", "get_weather", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {result("c1", "a"), result("c2", "b")}));
    r.messages.push_back(msg(ir::Role::Assistant, {call("c3", "get_weather", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {result("c3", "c")}));
    auto d = parse(encode_ok(r, s));
    const auto& contents = *member(d, "contents");
    REQUIRE(contents.Size() == 5);
    const auto& t1 = parts_of(contents[1]);
    CHECK(member(t1[0], "thoughtSignature") == nullptr);
    CHECK(str(t1[1], "thoughtSignature") == "skip_thought_signature_validator");
    CHECK(member(t1[2], "thoughtSignature") == nullptr);
    CHECK(str(parts_of(contents[3])[0], "thoughtSignature") == "skip_thought_signature_validator");

    // Not a Gemini 3 model: no bypass.
    Session s25 = cross_session("gemini-2.5-flash");
    auto d25 = parse(encode_ok(r, s25));
    CHECK(member(parts_of((*member(d25, "contents"))[1])[1], "thoughtSignature") == nullptr);
}

TEST_CASE("gemini: a signature from the cache is used when the client lost it") {
    SignatureCache cache;
    cache.put("c1", CachedSignature{Protocol::Gemini, "gemini-3-pro-preview", "CACHED", {}});
    cache.put("c2", CachedSignature{Protocol::Gemini, "gemini-2.5-flash", "WRONGMODEL", {}});
    Session s = cross_session("gemini-3-pro-preview");
    s.signatures = &cache;
    ir::Request r = weather_turn();
    r.messages.push_back(msg(ir::Role::Assistant, {call("c1", "get_weather", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {result("c1", "a")}));
    r.messages.push_back(msg(ir::Role::Assistant, {call("c2", "get_weather", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {result("c2", "b")}));
    auto d = parse(encode_ok(r, s));
    const auto& contents = *member(d, "contents");
    CHECK(str(parts_of(contents[1])[0], "thoughtSignature") == "CACHED");
    CHECK(str(parts_of(contents[3])[0], "thoughtSignature") == "skip_thought_signature_validator");
}

TEST_CASE("gemini: a tagged signature from a Chat client round-trips to the same Gemini model") {
    Session s = cross_session("gemini-3-pro-preview");
    std::string tagged = signature_for_client("REAL", s);  // what the client was shown
    ir::Part c = call("c1", "get_weather", "{}");
    untag_signature(tagged, Protocol::OpenAIChat, c);
    ir::Request r = weather_turn();
    r.messages.push_back(msg(ir::Role::Assistant, {c}));
    r.messages.push_back(msg(ir::Role::User, {result("c1", "a")}));
    auto d = parse(encode_ok(r, s));
    CHECK(str(parts_of((*member(d, "contents"))[1])[0], "thoughtSignature") == "REAL");
}

TEST_CASE("gemini: encode tools, names and tool_config") {
    Session s = cross_session();
    ir::Request r = weather_turn();
    ir::Tool t1{"get weather/now", "Weather.", R"({"type":"object","additionalProperties":false,
      "properties":{"city":{"type":"string"}},"required":["city"]})", true};
    ir::Tool t2{"9lives", "", "", std::nullopt};
    r.tools = {t1, t2};
    r.tool_choice.mode = ir::ToolChoiceMode::Named;
    r.tool_choice.name = "get weather/now";
    r.messages.push_back(msg(ir::Role::Assistant, {call("c1", "get weather/now", "{}")}));
    r.messages.push_back(msg(ir::Role::User, {result("c1", "x")}));
    auto d = parse(encode_ok(r, s));
    const auto& tools = *member(d, "tools");
    REQUIRE(tools.Size() == 1);
    const auto& decls = *member(tools[0], "functionDeclarations");
    REQUIRE(decls.Size() == 2);
    CHECK(json(&decls[0]) == R"({"name":"get_weather_now","description":"Weather.","parameters":{"type":"object",)"
                             R"("properties":{"city":{"type":"string"}},"required":["city"]}})");
    CHECK(json(&decls[1]) == R"({"name":"_9lives","parameters":{"type":"object","properties":{}}})");
    CHECK(json(member(d, "toolConfig")) ==
          R"({"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather_now"]}})");
    const auto& contents = *member(d, "contents");
    CHECK(str(*member(parts_of(contents[1])[0], "functionCall"), "name") == "get_weather_now");
    CHECK(str(*member(parts_of(contents[2])[0], "functionResponse"), "name") == "get_weather_now");
    CHECK(s.client_tool_name("get_weather_now") == "get weather/now");
    CHECK(s.client_tool_name("_9lives") == "9lives");

    auto decl_count = [&](ir::ToolChoiceMode m, std::vector<std::string> allowed) {
        Session s2 = cross_session();
        ir::Request r2 = weather_turn();
        r2.tools = {ir::Tool{"a", "", "", std::nullopt}, ir::Tool{"b", "", "", std::nullopt}};
        r2.tool_choice.mode = m;
        r2.tool_choice.allowed = std::move(allowed);
        auto d2 = parse(encode_ok(r2, s2));
        return (*member((*member(d2, "tools"))[0], "functionDeclarations")).Size();
    };
    auto config = [&](ir::ToolChoiceMode m, std::vector<std::string> allowed = {}) {
        Session s2 = cross_session();
        ir::Request r2 = weather_turn();
        r2.tools = {ir::Tool{"a", "", "", std::nullopt}, ir::Tool{"b", "", "", std::nullopt}};
        r2.tool_choice.mode = m;
        r2.tool_choice.allowed = std::move(allowed);
        auto d2 = parse(encode_ok(r2, s2));
        return json(member(d2, "toolConfig"));
    };
    CHECK(config(ir::ToolChoiceMode::Unset) == "<none>");
    CHECK(config(ir::ToolChoiceMode::Auto) == R"({"functionCallingConfig":{"mode":"AUTO"}})");
    CHECK(config(ir::ToolChoiceMode::None) == R"({"functionCallingConfig":{"mode":"NONE"}})");
    CHECK(config(ir::ToolChoiceMode::Required) == R"({"functionCallingConfig":{"mode":"ANY"}})");
    CHECK(config(ir::ToolChoiceMode::Required, {"b"}) ==
          R"({"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["b"]}})");
    CHECK(config(ir::ToolChoiceMode::Auto, {"b"}) == R"({"functionCallingConfig":{"mode":"AUTO"}})");
    CHECK(decl_count(ir::ToolChoiceMode::Auto, {"b"}) == 1);
    CHECK(decl_count(ir::ToolChoiceMode::Required, {"b"}) == 2);
}

TEST_CASE("gemini: encode media: inline data, Gemini file URIs, other URLs refused") {
    Session s = cross_session();
    ir::Request r;
    ir::Part img;
    img.kind = ir::PartKind::Image;
    img.media.url = "data:image/jpeg;base64,/9j/4A==";
    ir::Part pdf;
    pdf.kind = ir::PartKind::File;
    pdf.media.mime = "application/pdf";
    pdf.media.url = "gs://bucket/a.pdf";
    ir::Part wav;
    wav.kind = ir::PartKind::Audio;
    wav.media.mime = "audio/wav";
    wav.media.data = "UklGRg==";
    r.messages.push_back(msg(ir::Role::User, {text("look"), img, pdf, wav}));
    auto d = parse(encode_ok(r, s));
    const auto& p = parts_of((*member(d, "contents"))[0]);
    REQUIRE(p.Size() == 4);
    CHECK(json(&p[1]) == R"({"inlineData":{"mimeType":"image/jpeg","data":"/9j/4A=="}})");
    CHECK(json(&p[2]) == R"({"fileData":{"mimeType":"application/pdf","fileUri":"gs://bucket/a.pdf"}})");
    CHECK(json(&p[3]) == R"({"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}})");

    ir::Request web;
    ir::Part url_img;
    url_img.kind = ir::PartKind::Image;
    url_img.media.url = "https://example.com/cat.png";
    web.messages.push_back(msg(ir::Role::User, {text("look"), url_img}));
    auto e = encode_gemini_request(web, s);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().code == 400);
    CHECK(e.error().message == "image URL must be inlined");
}

TEST_CASE("gemini: encode thinking config per model generation") {
    auto thinking = [](const char* model, ir::Reasoning rs) {
        Session s = cross_session(model);
        ir::Request r = weather_turn();
        r.reasoning = rs;
        auto d = parse(encode_ok(r, s));
        const JsonValue* g = member(d, "generationConfig");
        return g ? json(member(*g, "thinkingConfig")) : std::string("<none>");
    };
    ir::Reasoning effort_high{ir::ReasoningMode::Effort, "high", 0, std::nullopt, ""};
    ir::Reasoning effort_xhigh{ir::ReasoningMode::Effort, "xhigh", 0, std::nullopt, ""};
    ir::Reasoning effort_low{ir::ReasoningMode::Effort, "low", 0, std::nullopt, ""};
    ir::Reasoning off{ir::ReasoningMode::Off, "", 0, std::nullopt, ""};
    ir::Reasoning budget{ir::ReasoningMode::Budget, "", 3000, std::nullopt, ""};
    ir::Reasoning dynamic{ir::ReasoningMode::Budget, "", -1, std::nullopt, ""};
    CHECK(thinking("gemini-2.5-flash", effort_high) == R"({"includeThoughts":true,"thinkingBudget":24576})");
    CHECK(thinking("gemini-2.5-flash", off) == R"({"thinkingBudget":0})");
    CHECK(thinking("gemini-2.5-flash", budget) == R"({"includeThoughts":true,"thinkingBudget":3000})");
    CHECK(thinking("gemini-2.5-flash", dynamic) == R"({"includeThoughts":true,"thinkingBudget":-1})");
    CHECK(thinking("gemini-3-pro-preview", effort_high) == R"({"includeThoughts":true,"thinkingLevel":"HIGH"})");
    CHECK(thinking("gemini-3-pro-preview", effort_xhigh) == R"({"includeThoughts":true,"thinkingLevel":"HIGH"})");
    CHECK(thinking("gemini-3-pro-preview", effort_low) == R"({"includeThoughts":true,"thinkingLevel":"LOW"})");
    CHECK(thinking("gemini-3-pro-preview", budget) == R"({"includeThoughts":true,"thinkingLevel":"MEDIUM"})");
    CHECK(thinking("gemini-3-flash-preview", off) == R"({"thinkingLevel":"MINIMAL"})");
    CHECK(thinking("gemini-2.5-flash", ir::Reasoning{}) == "<none>");
    // Model ranges: Flash tops out at 24576, 2.5 Pro cannot go below 128.
    CHECK(thinking("gemini-2.5-flash", effort_xhigh) == R"({"includeThoughts":true,"thinkingBudget":24576})");
    CHECK(thinking("gemini-2.5-pro", effort_xhigh) == R"({"includeThoughts":true,"thinkingBudget":32768})");
    CHECK(thinking("gemini-2.5-pro", off) == R"({"thinkingBudget":128})");
}

TEST_CASE("gemini: request round trip keeps the §5.1 example's meaning") {
    Session s = gemini_session();
    auto r = decode_request(Protocol::Gemini, kExample, s);
    REQUIRE(r.ok());
    auto d = parse(encode_ok(*r, s));
    auto want = parse(kExample);
    CHECK(json(member(d, "systemInstruction")) == json(member(want, "systemInstruction")));
    CHECK(json(member(d, "contents")) == json(member(want, "contents")));
    CHECK(json(member(*member(d, "generationConfig"), "thinkingConfig")) ==
          R"({"includeThoughts":true,"thinkingBudget":4096})");
}

// ------------------------------------------------------------------ response decode / encode

TEST_CASE("gemini: decode the §5.2 response: thought, call, usage arithmetic") {
    SignatureCache cache;
    Session s = cross_session();
    s.client = Protocol::Anthropic;
    s.signatures = &cache;
    s.map_tool_name("get.weather/x", "get_weather");
    const char* body = R"({"candidates":[{"content":{"role":"model","parts":[
        {"text":"User asks weather…","thought":true},{"text":""},
        {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CiQB"},
        {"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]},
      "finishReason":"STOP","index":0}],
     "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":15,"thoughtsTokenCount":60,
       "cachedContentTokenCount":20,"toolUsePromptTokenCount":5,"totalTokenCount":200},
     "modelVersion":"gemini-2.5-flash","responseId":"Xyz123"})";
    auto r = decode_gemini_response(body, s);
    REQUIRE(r.ok());
    CHECK(r->id == "Xyz123");
    REQUIRE(r->content.size() == 3);
    CHECK(r->content[0].kind == ir::PartKind::Thinking);
    CHECK(r->content[1].kind == ir::PartKind::ToolCall);
    CHECK(r->content[1].call_id == "toolu_1");
    CHECK(r->content[1].name == "get.weather/x");
    CHECK(r->content[1].args_json == R"({"city":"Paris"})");
    CHECK(r->content[1].signature == "CiQB");
    CHECK(r->content[1].origin.protocol == Protocol::Gemini);
    CHECK(r->content[1].origin.model == "gemini-2.5-flash");
    CHECK(r->content[2].call_id == "toolu_2");
    CHECK(r->content[2].signature.empty());
    CHECK(r->finish == ir::Finish::ToolCalls);
    auto cached = cache.get("toolu_1");
    REQUIRE(cached);
    CHECK(cached->signature == "CiQB");
    CHECK(cached->model == "gemini-2.5-flash");
    CHECK_FALSE(cache.get("toolu_2"));
    CHECK(r->usage.prompt == 125);
    CHECK(r->usage.cache_read == 20);
    CHECK(r->usage.reasoning == 60);
    CHECK(r->usage.output == 75);
}

TEST_CASE("gemini: decode finish reasons and a blocked prompt") {
    Session s = cross_session();
    auto fin = [&](const char* body) {
        auto r = decode_gemini_response(body, s);
        REQUIRE(r.ok());
        return r->finish;
    };
    CHECK(fin(R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"MAX_TOKENS"}]})") ==
          ir::Finish::Length);
    CHECK(fin(R"({"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"SAFETY"}]})") ==
          ir::Finish::ContentFilter);
    CHECK(fin(R"({"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}})") ==
          ir::Finish::ContentFilter);
    auto bad = decode_gemini_response("not json", s);
    CHECK_FALSE(bad.ok());
    auto err = decode_gemini_response(R"({"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}})", s);
    REQUIRE_FALSE(err.ok());
    CHECK(err.error().code == 429);
    CHECK(err.error().message == "slow down");
}

TEST_CASE("gemini: encode a response for a Gemini client") {
    Session s = cross_session();
    s.client = Protocol::Gemini;
    s.upstream = Protocol::Anthropic;
    s.client_model = "gemini-proxy";
    s.upstream_model = "claude-sonnet-4";
    ir::Response r;
    r.id = "msg_1";
    ir::Part think;
    think.kind = ir::PartKind::Thinking;
    think.text = "hmm";
    think.signature = "ANTSIG";
    r.content.push_back(think);
    r.content.push_back(text(""));
    r.content.push_back(text("Calling."));
    r.content.push_back(call("toolu_9", "get_weather", R"({"city":"Paris"})"));
    r.finish = ir::Finish::ToolCalls;
    r.usage.prompt = 100;
    r.usage.cache_read = 40;
    r.usage.output = 75;
    r.usage.reasoning = 60;
    auto d = parse(encode_gemini_response(r, s));
    CHECK(str(d, "modelVersion") == "gemini-proxy");
    CHECK(str(d, "responseId") == "msg_1");
    const auto& c = (*member(d, "candidates"))[0];
    CHECK(str(c, "finishReason") == "STOP");
    CHECK(get_int(member(c, "index")) == 0);
    CHECK(str(*member(c, "content"), "role") == "model");
    const auto& p = parts_of(*member(c, "content"));
    REQUIRE(p.Size() == 3);
    // A signature Anthropic made is not Gemini's to show (§6.11).
    CHECK(json(&p[0]) == R"({"text":"hmm","thought":true})");
    CHECK(json(&p[1]) == R"({"text":"Calling."})");
    CHECK(json(member(p[2], "functionCall")) == R"({"name":"get_weather","args":{"city":"Paris"},"id":"toolu_9"})");
    CHECK(json(member(d, "usageMetadata")) ==
          R"({"promptTokenCount":100,"candidatesTokenCount":15,"thoughtsTokenCount":60,)"
          R"("cachedContentTokenCount":40,"totalTokenCount":175})");
}

TEST_CASE("gemini: response usage survives a decode/encode round trip") {
    Session s = gemini_session();
    const char* body = R"({"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP"}],
      "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":15,"thoughtsTokenCount":60,
        "cachedContentTokenCount":10,"totalTokenCount":195},"responseId":"r9"})";
    auto r = decode_gemini_response(body, s);
    REQUIRE(r.ok());
    auto d = parse(encode_gemini_response(*r, s));
    CHECK(json(member(d, "usageMetadata")) ==
          R"({"promptTokenCount":120,"candidatesTokenCount":15,"thoughtsTokenCount":60,)"
          R"("cachedContentTokenCount":10,"totalTokenCount":195})");
    CHECK(str(d, "responseId") == "r9");
}

// ------------------------------------------------------------------ stream decoder

TEST_CASE("gemini: stream with the call in one chunk and STOP in a later one finishes with ToolCalls") {
    SignatureCache cache;
    Session s = cross_session();
    s.signatures = &cache;
    auto dec = make_gemini_stream_decoder(s);
    REQUIRE(dec);
    Collect c;
    feed(*dec, c, R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Plan","thought":true,"thoughtSignature":"TS"}]},"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120},"modelVersion":"gemini-2.5-flash","responseId":"r1"})");
    feed(*dec, c, R"({"candidates":[{"content":{"role":"model","parts":[{"text":"Checking."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"CS"},{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r1"})");
    feed(*dec, c, R"({"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":30,"thoughtsTokenCount":12,"totalTokenCount":162},"modelVersion":"gemini-2.5-flash","responseId":"r1"})");
    dec->on_close(c);
    using T = ir::StreamEvent::Type;
    CHECK(c.types() == std::vector<T>{T::Start, T::Thinking, T::ThinkingSignature, T::Usage, T::Text, T::ToolStart,
                                      T::ToolArgs, T::ToolEnd, T::ToolStart, T::ToolArgs, T::ToolEnd, T::Usage,
                                      T::Finish, T::Done});
    CHECK(c.ev[0].id == "r1");
    CHECK(c.ev[0].name == "gemini-2.5-flash");
    CHECK(c.ev[0].usage.prompt == 120);
    CHECK(c.ev[1].text == "Plan");
    CHECK(c.ev[2].text == "TS");
    CHECK(c.ev[5].index == 0);
    CHECK(c.ev[5].id == "call_1");
    CHECK(c.ev[5].name == "get_weather");
    CHECK(c.ev[5].text == "CS");
    CHECK(c.ev[6].text == R"({"city":"Paris"})");
    CHECK(c.ev[8].index == 1);
    CHECK(c.ev[8].id == "call_2");
    CHECK(c.ev[8].text.empty());
    CHECK(c.ev[11].usage.output == 42);
    CHECK(c.ev[11].usage.reasoning == 12);
    CHECK(c.ev[12].finish == ir::Finish::ToolCalls);
    REQUIRE(cache.get("call_1"));
    CHECK(cache.get("call_1")->signature == "CS");
}

TEST_CASE("gemini: stream without a finishReason ends in an error") {
    Session s = cross_session();
    auto dec = make_gemini_stream_decoder(s);
    Collect c;
    feed(*dec, c, R"({"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]},"index":0}],"responseId":"r1"})");
    dec->on_close(c);
    REQUIRE(c.ev.size() == 3);
    CHECK(c.ev[1].type == ir::StreamEvent::Type::Text);
    CHECK(c.ev[2].type == ir::StreamEvent::Type::Error);
    CHECK(c.ev[2].status == 502);

    // An empty stream too.
    auto dec2 = make_gemini_stream_decoder(s);
    Collect c2;
    dec2->on_close(c2);
    REQUIRE(c2.ev.size() == 1);
    CHECK(c2.ev[0].type == ir::StreamEvent::Type::Error);
}

TEST_CASE("gemini: stream error chunk and a MAX_TOKENS end") {
    Session s = cross_session();
    auto dec = make_gemini_stream_decoder(s);
    Collect c;
    feed(*dec, c, R"({"candidates":[{"content":{"parts":[{"text":"a"}]}}]})");
    feed(*dec, c, R"({"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}})");
    feed(*dec, c, R"({"candidates":[{"content":{"parts":[{"text":"late"}]},"finishReason":"STOP"}]})");
    dec->on_close(c);
    REQUIRE(c.ev.size() == 3);
    CHECK(c.ev[2].type == ir::StreamEvent::Type::Error);
    CHECK(c.ev[2].status == 503);
    CHECK(c.ev[2].text == "The model is overloaded.");

    auto dec2 = make_gemini_stream_decoder(s);
    Collect c2;
    feed(*dec2, c2, R"({"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS"}]})");
    dec2->on_close(c2);
    REQUIRE(c2.ev.size() == 4);
    CHECK(c2.ev[2].finish == ir::Finish::Length);
    CHECK(c2.ev[3].type == ir::StreamEvent::Type::Done);
}

// ------------------------------------------------------------------ stream encoder

TEST_CASE("gemini: SSE encoder frames events with \\r\\n\\r\\n and emits calls whole") {
    Session s = cross_session();
    s.client = Protocol::Gemini;
    s.upstream = Protocol::Anthropic;
    s.upstream_model = "claude-sonnet-4";
    s.client_model = "gemini-proxy";
    s.gemini_sse = true;
    auto enc = make_gemini_stream_encoder(s);
    REQUIRE(enc);
    using T = ir::StreamEvent::Type;
    ir::StreamEvent st = ev(T::Start);
    st.id = "msg_1";
    st.usage.prompt = 50;
    enc->on(st);
    enc->on(ev(T::Thinking, "hmm"));
    enc->on(ev(T::ThinkingSignature, "SIG"));
    enc->on(ev(T::Text, "Hi"));
    ir::StreamEvent ts = ev(T::ToolStart);
    ts.id = "toolu_1";
    ts.name = "get_weather";
    enc->on(ts);
    std::string before = enc->out;
    enc->on(ev(T::ToolArgs, R"({"city":)"));
    enc->on(ev(T::ToolArgs, R"("Par)"));
    CHECK(enc->out == before);  // nothing until the call is complete
    enc->on(ev(T::ToolEnd));
    ir::StreamEvent u = ev(T::Usage);
    u.usage.output = 30;
    u.usage.reasoning = 10;
    enc->on(u);
    ir::StreamEvent f = ev(T::Finish);
    f.finish = ir::Finish::ToolCalls;
    enc->on(f);
    enc->on(ev(T::Done));
    CHECK(enc->finished());
    auto datas = sse_datas(enc->out);
    REQUIRE(datas.size() == 4);  // no part carries Anthropic's signature (§6.11)
    for (const auto& x : datas) {
        auto d = parse(x);
        CHECK(str(d, "modelVersion") == "gemini-proxy");
        CHECK(str(d, "responseId") == "msg_1");
    }
    CHECK(json(&parts_of(*member((*member(parse(datas[0]), "candidates"))[0], "content"))) ==
          R"([{"text":"hmm","thought":true}])");
    CHECK(enc->out.find("SIG") == std::string::npos);
    CHECK(json(&parts_of(*member((*member(parse(datas[1]), "candidates"))[0], "content"))) == R"([{"text":"Hi"}])");
    CHECK(json(&parts_of(*member((*member(parse(datas[2]), "candidates"))[0], "content"))) ==
          R"([{"functionCall":{"name":"get_weather","args":{"city":"Par"},"id":"toolu_1"}}])");
    auto last = parse(datas[3]);
    CHECK(str((*member(last, "candidates"))[0], "finishReason") == "STOP");
    CHECK(json(member(last, "usageMetadata")) ==
          R"({"promptTokenCount":50,"candidatesTokenCount":20,"thoughtsTokenCount":10,"totalTokenCount":80})");
    for (size_t i = 0; i < 3; ++i) CHECK(member((*member(parse(datas[i]), "candidates"))[0], "finishReason") == nullptr);
    enc->on(ev(T::Text, "after"));
    CHECK(sse_datas(enc->out).size() == 4);
}

TEST_CASE("gemini: array-mode encoder writes one JSON array") {
    Session s = cross_session();
    s.client = Protocol::Gemini;
    s.gemini_sse = false;
    auto enc = make_gemini_stream_encoder(s);
    using T = ir::StreamEvent::Type;
    enc->on(ev(T::Start));
    enc->on(ev(T::Text, "It is "));
    enc->on(ev(T::Text, "sunny."));
    ir::StreamEvent f = ev(T::Finish);
    f.finish = ir::Finish::Length;
    enc->on(f);
    enc->on(ev(T::Done));
    const std::string& out = enc->out;
    CHECK(out.front() == '[');
    CHECK(out.back() == ']');
    CHECK(out.find("data:") == std::string::npos);
    CHECK(out.find("},\r\n{") != std::string::npos);
    auto d = parse(out);
    REQUIRE(d.IsArray());
    REQUIRE(d.Size() == 3);
    CHECK(str((*member(d[2], "candidates"))[0], "finishReason") == "MAX_TOKENS");
    CHECK(str(d[0], "responseId") == str(d[2], "responseId"));
}

TEST_CASE("gemini: stream encoder errors: SSE error event, array mode stops writing") {
    using T = ir::StreamEvent::Type;
    Session s = cross_session();
    s.client = Protocol::Gemini;
    s.gemini_sse = true;
    auto enc = make_gemini_stream_encoder(s);
    enc->on(ev(T::Start));
    enc->on(ev(T::Text, "partial"));
    ir::StreamEvent e = ev(T::Error, "The model is overloaded.");
    e.status = 503;
    enc->on(e);
    CHECK(enc->finished());
    auto datas = sse_datas(enc->out);
    REQUIRE(datas.size() == 2);
    auto err = parse(datas[1]);
    const JsonValue* eo = member(err, "error");
    REQUIRE(is_object(eo));
    CHECK(str(*eo, "message") == "The model is overloaded.");
    CHECK(get_int(member(*eo, "code")) == 503);
    CHECK(str(*eo, "status") == "UNAVAILABLE");
    CHECK(enc->out.find("finishReason") == std::string::npos);

    Session a = s;
    a.gemini_sse = false;
    auto arr = make_gemini_stream_encoder(a);
    arr->on(ev(T::Start));
    arr->on(ev(T::Text, "partial"));
    std::string before = arr->out;
    arr->on(e);
    CHECK(arr->finished());
    CHECK(arr->out == before);  // no clean "]": the truncated array signals the failure
    arr->on(ev(T::Done));
    CHECK(arr->out == before);
}

TEST_CASE("gemini: stream decode then encode (Gemini to Gemini) keeps text, calls and usage") {
    Session s = gemini_session();
    s.gemini_sse = true;
    auto dec = make_gemini_stream_decoder(s);
    auto enc = make_gemini_stream_encoder(s);
    dec->on_event(sse::Event{"", R"({"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]},"index":0}],"usageMetadata":{"promptTokenCount":120,"totalTokenCount":120},"modelVersion":"gemini-2.5-flash","responseId":"r1"})"}, *enc);
    dec->on_event(sse::Event{"", R"({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":[1,{"b":null}]}},"thoughtSignature":"S"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":4,"totalTokenCount":124},"modelVersion":"gemini-2.5-flash","responseId":"r1"})"}, *enc);
    dec->on_close(*enc);
    auto datas = sse_datas(enc->out);
    REQUIRE(datas.size() == 3);
    auto call_ev = parse(datas[1]);
    const auto& part = parts_of(*member((*member(call_ev, "candidates"))[0], "content"))[0];
    CHECK(json(member(*member(part, "functionCall"), "args")) == R"({"a":[1,{"b":null}]})");
    CHECK(str(part, "thoughtSignature") == "S");
    auto last = parse(datas[2]);
    CHECK(str(last, "responseId") == "r1");
    CHECK(json(member(last, "usageMetadata")) ==
          R"({"promptTokenCount":120,"candidatesTokenCount":4,"totalTokenCount":124})");
}

// ------------------------------------------------------------------ robustness

TEST_CASE("gemini: decoders survive truncated and mistyped input") {
    const char* response = R"({"candidates":[{"content":{"role":"model","parts":[{"text":"a","thought":true},
      {"functionCall":{"name":"f","args":{"x":[1,{"y":null}]}},"thoughtSignature":"S"}]},"finishReason":"STOP"}],
      "usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2},"responseId":"r"})";
    std::string req(kExample), resp(response);
    for (size_t n = 0; n <= req.size(); ++n) {
        Session s = gemini_session();
        auto r = decode_request(Protocol::Gemini, std::string_view(req).substr(0, n), s);
        if (r.ok()) (void)encode_gemini_request(*r, s);
    }
    for (size_t n = 0; n <= resp.size(); ++n) {
        Session s = cross_session();
        auto r = decode_gemini_response(std::string_view(resp).substr(0, n), s);
        if (r.ok()) (void)encode_gemini_response(*r, s);
        auto dec = make_gemini_stream_decoder(s);
        Collect c;
        feed(*dec, c, resp.substr(0, n));
        dec->on_close(c);
        REQUIRE_FALSE(c.ev.empty());
        CHECK((c.ev.back().type == ir::StreamEvent::Type::Done || c.ev.back().type == ir::StreamEvent::Type::Error));
    }
    const char* odd_requests[] = {
        R"({"contents":[{"parts":[{"text":5}]}]})",
        R"({"contents":[{"parts":[{"functionCall":"x"},{"inlineData":"x"},{"fileData":{"fileUri":7}}]}]})",
        R"({"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}},{"thought":true}]}]})",
        R"({"contents":[{"role":"user","parts":[{"functionResponse":{"name":5,"response":"x","parts":"y"}}]}]})",
        R"({"contents":[{"parts":[{"text":"x"}]}],"tools":"x","toolConfig":5,"generationConfig":[]})",
        R"({"contents":[{"parts":[{"text":"x"}]}],"tools":[5,{"functionDeclarations":[{"name":"a","parameters":"x"},7]}]})",
        R"({"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"thinkingConfig":"x","stopSequences":"x",
           "temperature":"hot","responseMimeType":"application/json","responseSchema":[1]}})",
        R"({"systemInstruction":{"parts":"x"},"contents":[{"parts":[{"text":"x"}]}],
           "toolConfig":{"functionCallingConfig":{"mode":5,"allowedFunctionNames":"a"}}})",
    };
    for (const char* body : odd_requests) {
        Session s = cross_session();
        INFO(body);
        auto r = decode_request(Protocol::Gemini, body, s);
        if (r.ok()) (void)encode_gemini_request(*r, s);
    }
    const char* odd_responses[] = {
        R"({"candidates":"x"})", R"({"candidates":[5]})", R"({"candidates":[{"content":"x"}]})",
        R"({"candidates":[{"content":{"parts":[{"functionCall":{"args":"x"}},5,{"text":[]}]}}]})",
        R"({"usageMetadata":"x","promptFeedback":5})", R"({"error":"x"})", R"({"error":{"code":"x"}})",
    };
    for (const char* body : odd_responses) {
        Session s = cross_session();
        INFO(body);
        auto r = decode_gemini_response(body, s);
        if (r.ok()) (void)encode_gemini_response(*r, s);
        auto dec = make_gemini_stream_decoder(s);
        Collect c;
        feed(*dec, c, body);
        dec->on_close(c);
    }
    // Schemas of the wrong shape anywhere.
    for (const char* sc : {R"({"properties":5,"items":"x","anyOf":{},"allOf":7,"enum":3,"required":"a","type":5})",
                           R"({"$ref":5})", R"({"$ref":"#/nope"})", R"({"$ref":"#/$defs/a/0/b"})", R"({"type":[]})",
                           R"({"anyOf":[{"type":"null"}]})", R"({"$ref":"#"})"}) {
        INFO(sc);
        rapidjson::Document d;
        CHECK(parse_json(gemini_schema(sc), d));
        CHECK(d.IsObject());
    }
}
