// Gemini: upstream stream -> IR events (protocols.md §5.3, §6.13 C/D), and IR
// events -> client stream (§6.13 G).
#include <rapidjson/document.h>

#include <map>
#include <string>
#include <vector>

#include "pipeline/errors.h"
#include "translate/codecs.h"
#include "translate/gemini_schema.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/stream_limits.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

using rapidjson::Value;
using Ev = ir::StreamEvent;

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool same_usage(const ir::Usage& a, const ir::Usage& b) {
    return a.prompt == b.prompt && a.cache_read == b.cache_read && a.cache_write == b.cache_write &&
           a.output == b.output && a.reasoning == b.reasoning;
}

// Each SSE data is a whole GenerateContentResponse holding only new parts;
// functionCall parts arrive whole. The finishReason may come in a later
// chunk than the calls, and the stream ends by closing.
class GeminiStreamDecoder : public StreamDecoder {
public:
    explicit GeminiStreamDecoder(Session& s) : s_(s) {}

    void on_event(const sse::Event& ev, EventSink& sink) override {
        if (ended_) return;
        std::string_view data = ev.data;
        while (!data.empty() && (data.front() == ' ' || data.front() == '\r' || data.front() == '\n')) data.remove_prefix(1);
        if (data.empty() || data == "[DONE]") return;
        JsonDoc doc;
        std::string err;
        if (!parse_json(data, doc, &err, {.in_place = true})) return fail(sink, 502, "invalid JSON in the upstream stream: " + err);
        if (doc.IsArray()) {  // a whole array-mode body handed over as one event
            for (const auto& chunk : doc.GetArray())
                if (!ended_) chunk_(chunk, sink);
            return;
        }
        chunk_(doc, sink);
    }

    void on_close(EventSink& sink) override {
        if (ended_) return;
        if (!finish_seen_) return fail(sink, 502, "upstream stream ended early");
        ended_ = true;
        Ev fin;
        fin.type = Ev::Type::Finish;
        fin.finish = next_tool_ > 0 ? ir::Finish::ToolCalls : finish_;
        if (fin.finish == ir::Finish::Unset) fin.finish = ir::Finish::Stop;
        sink.on(fin);
        Ev done;
        done.type = Ev::Type::Done;
        sink.on(done);
    }

private:
    void fail(EventSink& sink, int status, const std::string& message) {
        ended_ = true;
        Ev e;
        e.type = Ev::Type::Error;
        e.status = status;
        e.text = message;
        sink.on(e);
    }

    void chunk_(const Value& doc, EventSink& sink) {
        if (!doc.IsObject()) return;
        if (const Value* e = member(doc, "error"); is_object(e)) {
            int code = static_cast<int>(get_int(member(*e, "code")).value_or(502));
            std::string msg(get_string(member(*e, "message")));
            return fail(sink, code >= 400 && code < 600 ? code : 502, msg.empty() ? "upstream error" : msg);
        }
        const Value* um = member(doc, "usageMetadata", "usage_metadata");
        ir::Usage usage = is_object(um) ? gemini_wire::usage_from(*um) : ir::Usage{};
        if (!started_) {
            started_ = true;
            std::string id(get_string(member(doc, "responseId", "response_id")));
            std::string model(get_string(member(doc, "modelVersion", "model_version")));
            Ev st;
            st.type = Ev::Type::Start;
            st.id = id;
            // ir::StreamEvent has no model field: the model rides in `name`.
            st.name = model.empty() ? std::string_view(s_.upstream_model) : std::string_view(model);
            st.usage.prompt = usage.prompt;
            st.usage.cache_read = usage.cache_read;
            sink.on(st);
        }
        const Value* cands = member(doc, "candidates");
        const Value* cand = is_array(cands) && !cands->Empty() ? &(*cands)[0] : nullptr;
        if (cand && cand->IsObject()) {
            const Value* content = member(*cand, "content");
            const Value* parts = content ? member(*content, "parts") : nullptr;
            if (is_array(parts))
                for (const auto& part : parts->GetArray()) part_(part, sink);
            // Google Search grounding, told once (Gemini sends it with the last chunk).
            if (const Value* gm = member(*cand, "groundingMetadata", "grounding_metadata"); gm && !grounded_) {
                ir::Part search;
                if (read_gemini_grounding(*gm, search, s_)) {
                    grounded_ = true;
                    Ev e;
                    e.type = Ev::Type::WebSearch;
                    e.id = search.call_id;
                    e.text = search.text;
                    e.sources = &search.sources;
                    sink.on(e);
                }
            }
            std::string_view reason = get_string(member(*cand, "finishReason", "finish_reason"));
            if (!reason.empty()) {
                finish_ = finish_from_gemini(reason);
                finish_seen_ = true;
            }
        } else if (const Value* pf = member(doc, "promptFeedback", "prompt_feedback");
                   pf && !get_string(member(*pf, "blockReason", "block_reason")).empty()) {
            finish_ = ir::Finish::ContentFilter;
            finish_seen_ = true;
        }
        if (usage.present() && !same_usage(usage, usage_)) {
            usage_ = usage;
            Ev u;
            u.type = Ev::Type::Usage;
            u.usage = usage;
            sink.on(u);
        }
    }

    void part_(const Value& part, EventSink& sink) {
        if (!part.IsObject()) return;
        std::string_view sig = get_string(member(part, "thoughtSignature", "thought_signature"));
        if (const Value* fc = member(part, "functionCall", "function_call"); is_object(fc)) {
            int index = next_tool_++;
            std::string id = s_.new_id(s_.client == Protocol::Anthropic ? "toolu_" : "call_");
            std::string name = s_.client_tool_name(get_string(member(*fc, "name")));
            const Value* a = member(*fc, "args");
            std::string args = is_object(a) ? to_json(*a) : "{}";
            if (s_.signatures && !sig.empty())
                s_.signatures->put(id, CachedSignature{Protocol::Gemini, s_.upstream_model, std::string(sig), {}});
            Ev ev;
            ev.type = Ev::Type::ToolStart;
            ev.index = index;
            ev.id = id;
            ev.name = name;
            ev.text = sig;
            sink.on(ev);
            Ev args_ev;
            args_ev.type = Ev::Type::ToolArgs;
            args_ev.index = index;
            args_ev.text = args;
            sink.on(args_ev);
            Ev end;
            end.type = Ev::Type::ToolEnd;
            end.index = index;
            sink.on(end);
            return;
        }
        const Value* text = member(part, "text");
        if (!text || !text->IsString()) return;
        bool thought = get_bool(member(part, "thought")).value_or(false);
        if (text->GetStringLength() > 0) {
            Ev ev;
            ev.type = thought ? Ev::Type::Thinking : Ev::Type::Text;
            ev.text = sv(*text);
            sink.on(ev);
        }
        if (thought && !sig.empty()) {
            Ev ev;
            ev.type = Ev::Type::ThinkingSignature;
            ev.text = sig;
            sink.on(ev);
        }
        // A signature on a plain text part (or a signature-only part) has no
        // IR stream form; Gemini needs signatures back only on function calls.
    }

    Session& s_;
    bool started_ = false, finish_seen_ = false, ended_ = false;
    bool grounded_ = false;  // groundingMetadata told
    int next_tool_ = 0;
    ir::Finish finish_ = ir::Finish::Unset;
    ir::Usage usage_;
};

// The client's stream: ?alt=sse -> "data: <GenerateContentResponse>\r\n\r\n"
// per event; otherwise one JSON array written element by element.
class GeminiStreamEncoder : public StreamEncoder {
public:
    explicit GeminiStreamEncoder(Session& s) : s_(s) {}

    void on(const Ev& ev) override {
        if (finished_) return;
        switch (ev.type) {
            case Ev::Type::Start:
                if (!ev.id.empty()) id_.assign(ev.id);
                merge_usage(ev.usage);
                break;
            case Ev::Type::Text:
                if (!ev.text.empty()) part_event([&](JsonWriter& w) { gemini_wire::write_text_part(w, ev.text, false, ""); });
                break;
            case Ev::Type::Thinking:
                if (!ev.text.empty()) part_event([&](JsonWriter& w) { gemini_wire::write_text_part(w, ev.text, true, ""); });
                break;
            case Ev::Type::ThinkingSignature:
                // Only a signature Gemini made goes back as a thoughtSignature (§6.11).
                if (!ev.text.empty() && s_.upstream == Protocol::Gemini) {
                    std::string sig(ev.text);
                    part_event([&](JsonWriter& w) { gemini_wire::write_text_part(w, "", true, sig); });
                }
                break;
            case Ev::Type::RedactedThinking: break;
            case Ev::Type::ToolStart: {
                Tool& t = tools_[ev.index];
                t.id.assign(ev.id);
                t.name.assign(ev.name);
                t.signature.assign(ev.text);
                break;
            }
            case Ev::Type::ToolArgs: {
                // A functionCall carries its arguments whole: held until the call ends.
                auto it = tools_.find(ev.index);
                if (it == tools_.end()) break;
                if (ev.text.size() > stream_limits::kMaxHeld - held_)
                    return fail_stream(502, "the upstream's tool-call arguments exceed the " +
                                                std::to_string(stream_limits::kMaxHeld >> 20) + " MiB a stream may hold");
                held_ += ev.text.size();
                it->second.args.append(ev.text);
                break;
            }
            case Ev::Type::ToolEnd: {
                auto it = tools_.find(ev.index);
                if (it == tools_.end()) break;
                emit_call(it->second);
                held_ -= it->second.args.size();
                tools_.erase(it);
                break;
            }
            case Ev::Type::WebSearch:
                // Told as groundingMetadata with the last chunk, as Gemini does.
                if (searches_.size() < stream_limits::kMaxItems) {
                    searches_.push_back(web_search_part(std::string(ev.id), std::string(ev.text)));
                    if (ev.sources) searches_.back().sources = *ev.sources;
                }
                break;
            case Ev::Type::Usage: merge_usage(ev.usage); break;
            case Ev::Type::Finish: finish_ = ev.finish; break;
            case Ev::Type::Done: {
                for (auto& [index, t] : tools_) emit_call(t);  // calls left open: emit what arrived
                tools_.clear();
                ir::Finish f = any_call_ ? ir::Finish::ToolCalls : finish_;
                write_event([&](JsonWriter& w) {
                    w.Key("candidates");
                    w.StartArray();
                    w.StartObject();
                    content_open(w);
                    gemini_wire::write_text_part(w, "", false, "");
                    content_close(w);
                    w.Key("finishReason");
                    w.String(gemini_finish_reason(f));
                    if (!searches_.empty()) {
                        std::vector<const ir::Part*> told;
                        for (const auto& p : searches_) told.push_back(&p);
                        write_gemini_grounding(w, told);
                    }
                    w.Key("index");
                    w.Int(0);
                    w.EndObject();
                    w.EndArray();
                    if (usage_.present()) gemini_wire::write_usage(w, usage_);
                });
                if (!s_.gemini_sse) out += "]";
                finished_ = true;
                break;
            }
            case Ev::Type::Error:
                // SSE: Gemini's in-stream error event. A JSON array stream has
                // no in-band error form: write nothing more, the caller cuts
                // the connection so the client sees a truncated array.
                if (s_.gemini_sse) out += stream_error_event(Protocol::Gemini, error_kind_for_status(ev.status), ev.text);
                finished_ = true;
                break;
        }
    }

private:
    struct Tool {
        std::string id, name, signature, args;
    };

    void merge_usage(const ir::Usage& u) {
        if (u.prompt >= 0) usage_.prompt = u.prompt;
        if (u.cache_read >= 0) usage_.cache_read = u.cache_read;
        if (u.cache_write >= 0) usage_.cache_write = u.cache_write;
        if (u.output >= 0) usage_.output = u.output;
        if (u.reasoning >= 0) usage_.reasoning = u.reasoning;
    }

    void emit_call(const Tool& t) {
        any_call_ = true;
        std::string sig = s_.upstream == Protocol::Gemini ? t.signature : std::string();
        part_event([&](JsonWriter& w) { gemini_wire::write_function_call(w, t.name, t.args, t.id, sig); });
    }

    static void content_open(JsonWriter& w) {
        w.Key("content");
        w.StartObject();
        w.Key("role");
        w.String("model");
        w.Key("parts");
        w.StartArray();
    }
    static void content_close(JsonWriter& w) {
        w.EndArray();
        w.EndObject();
    }

    // One event holding one part.
    template <class F>
    void part_event(F&& write_part) {
        write_event([&](JsonWriter& w) {
            w.Key("candidates");
            w.StartArray();
            w.StartObject();
            content_open(w);
            write_part(w);
            content_close(w);
            w.Key("index");
            w.Int(0);
            w.EndObject();
            w.EndArray();
        });
    }

    template <class F>
    void write_event(F&& body) {
        if (id_.empty()) id_ = s_.new_id("");
        std::string& buf = event_json();
        JsonWriter w(buf);
        w.StartObject();
        body(w);
        w.Key("modelVersion");
        write_string(w, s_.client_model);
        w.Key("responseId");
        write_string(w, id_);
        w.EndObject();
        if (s_.gemini_sse) {
            out += "data: ";
            out.append(buf.data(), buf.size());
            out += "\r\n\r\n";
        } else {
            out += first_ ? "[" : ",\r\n";
            out.append(buf.data(), buf.size());
        }
        first_ = false;
    }

    Session& s_;
    std::string id_;
    std::map<int, Tool> tools_;
    ir::Usage usage_;
    ir::Finish finish_ = ir::Finish::Unset;
    bool any_call_ = false;
    bool first_ = true;
    size_t held_ = 0;  // arguments of the calls not ended yet
    std::vector<ir::Part> searches_;  // web searches, for the last chunk's groundingMetadata
};

}  // namespace

std::unique_ptr<StreamDecoder> make_gemini_stream_decoder(Session& s) { return std::make_unique<GeminiStreamDecoder>(s); }
std::unique_ptr<StreamEncoder> make_gemini_stream_encoder(Session& s) { return std::make_unique<GeminiStreamEncoder>(s); }

}  // namespace agd::translate
