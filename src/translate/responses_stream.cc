// OpenAI Responses: upstream stream -> IR events (protocols.md §6.13 F), and
// IR events -> client stream (§2.4, §6.13 E).
#include <map>
#include <vector>

#include "pipeline/errors.h"
#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/responses_wire.h"
#include "translate/signature_cache.h"
#include "translate/stream_limits.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {


namespace {

using namespace responses_detail;
using Ev = ir::StreamEvent;

// ---------------------------------------------------------------------------
// Upstream Responses SSE -> IR.

class ResponsesDecoder final : public StreamDecoder {
public:
    explicit ResponsesDecoder(Session& s) : s_(s) {}

    void on_event(const sse::Event& ev, EventSink& sink) override {
        if (terminal_) return;
        std::string_view data = ev.data;
        while (!data.empty() && (data.back() == '\n' || data.back() == ' ')) data.remove_suffix(1);
        if (data.empty() || data == "[DONE]") return;
        JsonDoc doc;
        if (!parse_json(data, doc, nullptr, {.in_place = true}) || !doc.IsObject()) return;  // not an event we can read: skip
        std::string_view type = get_string(member(doc, "type"));
        if (type.empty()) type = ev.name;

        if (type == "error") {
            const JsonValue* e = is_object(member(doc, "error")) ? member(doc, "error") : &doc;
            fail(sink, status_for_error_code(get_string(member(*e, "code"))), get_string(member(*e, "message")));
            return;
        }
        const JsonValue* resp = member(doc, "response");
        if (type == "response.created" || type == "response.in_progress" || type == "response.queued") {
            start(sink, resp);
            return;
        }
        start(sink, nullptr);
        if (type == "response.output_item.added") {
            const JsonValue* item = member(doc, "item");
            std::string_view it = get_string(item ? member(*item, "type") : nullptr);
            if (it == "function_call" || it == "custom_tool_call") tool_start(*item, sink);
        } else if (type == "response.output_text.delta" || type == "response.refusal.delta") {
            std::string_view d = get_string(member(doc, "delta"));
            if (!mark_streamed(std::string(get_string(member(doc, "item_id"))), sink)) return;
            if (!d.empty()) emit_text(sink, Ev::Type::Text, d);
        } else if (type == "response.reasoning_summary_text.delta" || type == "response.reasoning_text.delta") {
            std::string_view d = get_string(member(doc, "delta"));
            std::string item_id(get_string(member(doc, "item_id")));
            int64_t part = get_int(member(doc, "summary_index")).value_or(0);
            if (!mark_streamed(item_id, sink)) return;
            auto [it, fresh] = thinking_part_.try_emplace(item_id, part);
            if (!fresh && it->second != part) {  // a new summary part: separate it like the whole answer does
                it->second = part;
                emit_text(sink, Ev::Type::Thinking, "\n\n");
            }
            if (!d.empty()) emit_text(sink, Ev::Type::Thinking, d);
        } else if (type == "response.function_call_arguments.delta") {
            auto it = tools_.find(std::string(get_string(member(doc, "item_id"))));
            std::string_view d = get_string(member(doc, "delta"));
            if (it == tools_.end() || d.empty()) return;
            it->second.args_streamed = true;
            Ev e;
            e.type = Ev::Type::ToolArgs;
            e.index = it->second.index;
            e.text = d;
            sink.on(e);
        } else if (type == "response.custom_tool_call_input.delta") {
            // Input text: the IR carries it as the arguments {"input": "..."}.
            auto it = tools_.find(std::string(get_string(member(doc, "item_id"))));
            std::string_view d = get_string(member(doc, "delta"));
            if (it == tools_.end() || d.empty()) return;
            std::string args = it->second.args_streamed ? std::string() : std::string("{\"input\":\"");
            it->second.args_streamed = true;
            append_json_escaped(args, d);
            Ev e;
            e.type = Ev::Type::ToolArgs;
            e.index = it->second.index;
            e.text = args;
            sink.on(e);
        } else if (type == "response.output_item.done") {
            const JsonValue* item = member(doc, "item");
            if (item) item_done(*item, sink);
        } else if (type == "response.completed") {
            finish(sink, resp, any_tool_ ? ir::Finish::ToolCalls : ir::Finish::Stop);
        } else if (type == "response.incomplete") {
            finish(sink, resp, finish_from_incomplete(resp ? member(*resp, "incomplete_details") : nullptr));
        } else if (type == "response.failed") {
            const JsonValue* e = resp ? member(*resp, "error") : nullptr;
            std::string_view msg = get_string(e ? member(*e, "message") : nullptr);
            fail(sink, status_for_error_code(get_string(e ? member(*e, "code") : nullptr)),
                 msg.empty() ? std::string_view("upstream response failed") : msg);
        }
        // Everything else (content_part.*, *.done texts, annotations, built-in tools) adds nothing.
    }

    void on_close(EventSink& sink) override {
        if (terminal_) return;
        fail(sink, 502, "upstream stream ended early");
    }

private:
    struct Tool {
        int index = 0;
        bool args_streamed = false;
        bool ended = false;
    };

    void start(EventSink& sink, const JsonValue* resp) {
        if (started_) return;
        started_ = true;
        std::string_view id = get_string(resp ? member(*resp, "id") : nullptr);
        std::string_view model = get_string(resp ? member(*resp, "model") : nullptr);
        Ev e;
        e.type = Ev::Type::Start;
        e.id = id;
        e.name = model;
        if (resp) e.usage = decode_usage(member(*resp, "usage"));
        sink.on(e);
    }

    void emit_text(EventSink& sink, Ev::Type t, std::string_view text) {
        Ev e;
        e.type = t;
        e.text = text;
        sink.on(e);
    }

    Tool& tool_start(const JsonValue& item, EventSink& sink) {
        std::string item_id(get_string(member(item, "id")));
        std::string_view call_id = get_string(member(item, "call_id"));
        if (item_id.empty()) item_id = call_id;
        auto [it, fresh] = tools_.try_emplace(item_id);
        if (!fresh) return it->second;
        it->second.index = next_tool_++;
        any_tool_ = true;
        std::string cid = s_.client_call_id(call_id);
        std::string name = s_.client_tool_name(get_string(member(item, "name")));
        Ev e;
        e.type = Ev::Type::ToolStart;
        e.index = it->second.index;
        e.id = cid;
        e.name = name;
        sink.on(e);
        if (s_.signatures && !last_encrypted_.empty())
            s_.signatures->put(cid, {Protocol::OpenAIResponses, s_.upstream_model, last_encrypted_, last_summary_});
        return it->second;
    }

    void item_done(const JsonValue& item, EventSink& sink) {
        std::string item_id(get_string(member(item, "id")));
        item_done(item, item_id, sink);
        forget(item_id);
    }

    void item_done(const JsonValue& item, const std::string& item_id, EventSink& sink) {
        std::string_view type = get_string(member(item, "type"));
        if (type == "function_call" || type == "custom_tool_call") {
            Tool& t = tool_start(item, sink);  // no-op when it was announced
            if (t.ended) return;
            bool custom = type == "custom_tool_call";
            if (custom) {  // closes the arguments the input deltas opened, or tells them whole
                std::string args = t.args_streamed ? std::string("\"}") : custom_args_json(get_string(member(item, "input")));
                Ev e;
                e.type = Ev::Type::ToolArgs;
                e.index = t.index;
                e.text = args;
                sink.on(e);
            } else if (!t.args_streamed) {
                std::string_view args = get_string(member(item, "arguments"));
                if (!args.empty()) {
                    Ev e;
                    e.type = Ev::Type::ToolArgs;
                    e.index = t.index;
                    e.text = args;
                    sink.on(e);
                }
            }
            t.ended = true;
            Ev e;
            e.type = Ev::Type::ToolEnd;
            e.index = t.index;
            sink.on(e);
        } else if (type == "web_search_call") {
            ir::Part p;
            read_responses_web_search_call(item, p);
            Ev e;
            e.type = Ev::Type::WebSearch;
            e.id = p.call_id;
            e.text = p.text;
            e.sources = &p.sources;
            sink.on(e);
        } else if (type == "reasoning") {
            std::string summary;
            for (const char* key : {"summary", "content"}) {
                const JsonValue* arr = member(item, key);
                if (!is_array(arr) || !summary.empty()) continue;
                for (const auto& p : arr->GetArray()) {
                    std::string_view t = get_string(member(p, "text"));
                    if (t.empty()) continue;
                    if (!summary.empty()) summary += "\n\n";
                    summary.append(t);
                }
            }
            if (!streamed(item_id) && !summary.empty()) emit_text(sink, Ev::Type::Thinking, summary);
            std::string_view enc = get_string(member(item, "encrypted_content"));
            // Kept for the signature cache, which takes entries up to kMaxEntryBytes.
            bool cacheable = summary.size() + enc.size() <= SignatureCache::kMaxEntryBytes;
            last_summary_.assign(cacheable ? std::string_view(summary) : std::string_view());
            last_encrypted_.assign(cacheable ? enc : std::string_view());
            if (!enc.empty()) emit_text(sink, Ev::Type::ThinkingSignature, enc);
        } else if (type == "message") {
            if (streamed(item_id)) return;
            const JsonValue* content = member(item, "content");
            if (!is_array(content)) return;
            for (const auto& c : content->GetArray()) {
                std::string_view ct = get_string(member(c, "type"));
                std::string_view t = get_string(member(c, ct == "refusal" ? "refusal" : "text"));
                if (!t.empty()) emit_text(sink, Ev::Type::Text, t);
            }
        }
    }

    // Deltas were seen for this item (or for items the upstream did not name).
    bool streamed(const std::string& item_id) const { return streamed_.count(item_id) || streamed_.count(""); }

    // Notes deltas for an item; an item's entry goes when the item is done,
    // and at most kMaxItems may be open at once.
    bool mark_streamed(std::string item_id, EventSink& sink) {
        if (streamed_.size() >= stream_limits::kMaxItems && !streamed_.count(item_id)) {
            fail(sink, 502, "the upstream stream opened more than " + std::to_string(stream_limits::kMaxItems) +
                                " output items at once");
            return false;
        }
        streamed_[std::move(item_id)] = true;
        return true;
    }

    void forget(const std::string& item_id) {
        if (item_id.empty()) return;
        streamed_.erase(item_id);
        thinking_part_.erase(item_id);
    }

    void finish(EventSink& sink, const JsonValue* resp, ir::Finish f) {
        terminal_ = true;
        if (resp) {
            ir::Usage u = decode_usage(member(*resp, "usage"));
            if (u.present()) {
                Ev e;
                e.type = Ev::Type::Usage;
                e.usage = u;
                sink.on(e);
            }
        }
        Ev e;
        e.type = Ev::Type::Finish;
        e.finish = f;
        sink.on(e);
        Ev d;
        d.type = Ev::Type::Done;
        sink.on(d);
    }

    void fail(EventSink& sink, int status, std::string_view msg) {
        terminal_ = true;
        Ev e;
        e.type = Ev::Type::Error;
        e.status = status;
        e.text = msg.empty() ? std::string_view("upstream error") : msg;
        sink.on(e);
    }

    Session& s_;
    bool started_ = false;
    bool terminal_ = false;
    bool any_tool_ = false;
    int next_tool_ = 0;
    std::map<std::string, Tool> tools_;             // item id -> tool
    std::map<std::string, bool> streamed_;          // item id -> deltas were seen
    std::map<std::string, int64_t> thinking_part_;  // reasoning item id -> current summary index
    std::string last_encrypted_, last_summary_;     // the latest reasoning item, for the signature cache
};

// ---------------------------------------------------------------------------
// IR -> client Responses SSE.

class ResponsesEncoder final : public StreamEncoder {
public:
    explicit ResponsesEncoder(Session& s) : s_(s) {}

    void on(const Ev& ev) override {
        if (finished_) return;
        if (ev.type != Ev::Type::Start && ev.type != Ev::Type::Error) begin({});
        switch (ev.type) {
            case Ev::Type::Start:
                if (ev.usage.present()) usage_ = ev.usage;
                begin(ev.id);
                break;
            case Ev::Type::Text: text_delta(ev.text); break;
            case Ev::Type::Thinking: thinking_delta(ev.text); break;
            case Ev::Type::ThinkingSignature: signature(ev.text); break;
            case Ev::Type::RedactedThinking: break;  // no Responses form
            case Ev::Type::ToolStart: tool_start(ev); break;
            case Ev::Type::ToolArgs: tool_args(ev.index, ev.text); break;
            case Ev::Type::ToolEnd: tool_end(ev.index); break;
            case Ev::Type::WebSearch: web_search(ev); break;
            case Ev::Type::Usage: usage_ = ev.usage; break;
            case Ev::Type::Finish: finish_ = ev.finish; break;
            case Ev::Type::Done: done(); break;
            case Ev::Type::Error: error(ev.status, ev.text); break;
        }
    }

private:
    enum class Open { None, Reasoning, Message, Tool };
    enum class ToolState { Pending, Open, Closed };
    struct ToolItem {
        std::string item_id, call_id, name, args;
        const Session::ClientTool* client = nullptr;  // a namespaced or custom tool (written in its form)
        int output_index = -1;
        ToolState state = ToolState::Pending;
        bool ended = false;
    };

    // One SSE event: `event: <type>` + data with "type" and "sequence_number" first.
    template <class Body>
    void emit(std::string_view type, Body&& body) {
        std::string& buf = event_json();
        JsonWriter w(buf);
        w.StartObject();
        write_key(w, "type");
        write_string(w, type);
        write_key(w, "sequence_number");
        w.Int64(seq_++);
        body(w);
        w.EndObject();
        out += "event: ";
        out.append(type);
        out += "\ndata: ";
        out.append(buf.data(), buf.size());
        out += "\n\n";
    }

    void item_fields(JsonWriter& w, bool with_item_id = true) {
        if (with_item_id) {
            write_key(w, "item_id");
            write_string(w, item_id_);
        }
        write_key(w, "output_index");
        w.Int(output_index_);
    }

    void response_event(std::string_view type, const Outcome& o, bool final) {
        if (final) {  // the kept items, made an array in place
            output_.insert(output_.begin(), '[');
            output_.push_back(']');
        }
        emit(type, [&](JsonWriter& w) {
            write_key(w, "response");
            write_response_object(w, id_, created_, o, s_.client_model, final ? std::string_view(output_) : "[]",
                                  final ? &usage_ : nullptr);
        });
        if (final) std::string().swap(output_);
    }

    // Appends to `dst` what of `d` the kept-text budget still allows, cut
    // at a character boundary. Once something was cut, no more text is kept
    // (the kept text stays a prefix of what was streamed).
    void keep_text(std::string& dst, std::string_view d) {
        if (text_full_) return;
        size_t room = stream_limits::kMaxKeptText - kept_;
        if (d.size() > room) {
            text_full_ = true;
            while (room > 0 && (static_cast<unsigned char>(d[room]) & 0xC0) == 0x80) --room;
            d = d.substr(0, room);
        }
        dst.append(d);
        kept_ += d.size();
    }

    void begin(std::string_view upstream_id) {
        if (begun_) return;
        begun_ = true;
        id_ = response_id(upstream_id, s_);
        created_ = now_seconds(s_);
        Outcome o;
        o.status = "in_progress";
        response_event("response.created", o, false);
        response_event("response.in_progress", o, false);
    }

    // Announces a finished item and keeps it for response.completed (the
    // first kMaxItems items; the text in them is bounded by keep_text, tool
    // arguments by kMaxHeld). `held` is the tool arguments it carries.
    void item_done(const std::string& item_json, size_t held = 0) {
        emit("response.output_item.done", [&](JsonWriter& w) {
            write_key(w, "output_index");
            w.Int(output_index_);
            write_key(w, "item");
            write_raw(w, item_json);
        });
        if (output_items_ < stream_limits::kMaxItems) {
            if (output_items_++) output_.push_back(',');
            output_.append(item_json);
        } else {
            held_ -= held;
        }
        ++item_count_;
        open_ = Open::None;
    }

    template <class F>
    std::string item_text(F&& f) {
        std::string buf;
        JsonWriter w(buf);
        f(w);
        return buf;
    }

    void open_item(Open kind, std::string id) {
        open_ = kind;
        item_id_ = std::move(id);
        output_index_ = static_cast<int>(item_count_);
        text_.clear();
    }

    // --- reasoning ---
    void open_reasoning(bool with_summary) {
        close_open();
        open_item(Open::Reasoning, s_.new_id("rs_"));
        encrypted_.clear();
        summary_open_ = false;
        emit("response.output_item.added", [&](JsonWriter& w) {
            write_key(w, "output_index");
            w.Int(output_index_);
            write_key(w, "item");
            w.StartObject();
            write_key(w, "id");
            write_string(w, item_id_);
            write_key(w, "type");
            write_string(w, "reasoning");
            write_key(w, "summary");
            w.StartArray();
            w.EndArray();
            w.EndObject();
        });
        if (with_summary) open_summary();
    }

    void summary_part(JsonWriter& w) {
        item_fields(w);
        write_key(w, "summary_index");
        w.Int(0);
        write_key(w, "part");
        w.StartObject();
        write_key(w, "type");
        write_string(w, "summary_text");
        write_key(w, "text");
        write_string(w, text_);
        w.EndObject();
    }

    void open_summary() {
        summary_open_ = true;
        emit("response.reasoning_summary_part.added", [&](JsonWriter& w) { summary_part(w); });
    }

    void thinking_delta(std::string_view d) {
        if (d.empty()) return;
        // A signed run is complete: more thinking is a new item (Anthropic: one per block).
        if (open_ != Open::Reasoning || !encrypted_.empty()) open_reasoning(true);
        else if (!summary_open_) open_summary();
        keep_text(text_, d);
        emit("response.reasoning_summary_text.delta", [&](JsonWriter& w) {
            item_fields(w);
            write_key(w, "summary_index");
            w.Int(0);
            write_key(w, "delta");
            write_string(w, d);
        });
    }

    void signature(std::string_view sig) {
        if (sig.empty()) return;
        if (open_ != Open::Reasoning) open_reasoning(false);
        encrypted_ = signature_for_client(sig, s_);
    }

    void close_reasoning() {
        if (summary_open_) {
            emit("response.reasoning_summary_text.done", [&](JsonWriter& w) {
                item_fields(w);
                write_key(w, "summary_index");
                w.Int(0);
                write_key(w, "text");
                write_string(w, text_);
            });
            emit("response.reasoning_summary_part.done", [&](JsonWriter& w) { summary_part(w); });
        }
        item_done(item_text([&](JsonWriter& w) { write_reasoning_item(w, item_id_, text_, encrypted_); }));
    }

    // --- message ---
    void content_part(JsonWriter& w) {
        item_fields(w);
        write_key(w, "content_index");
        w.Int(0);
        write_key(w, "part");
        write_output_text_part(w, text_);
    }

    void text_delta(std::string_view d) {
        if (d.empty()) return;
        if (s_.compaction_item) {  // the summary, told whole as the compaction item at the end
            if (d.size() > stream_limits::kMaxHeld - held_)
                return fail_stream(502, "the summary exceeds the " + std::to_string(stream_limits::kMaxHeld >> 20) +
                                            " MiB a stream may hold");
            held_ += d.size();
            summary_.append(d);
            return;
        }
        if (open_ != Open::Message) {
            close_open();
            open_item(Open::Message, s_.new_id("msg_"));
            emit("response.output_item.added", [&](JsonWriter& w) {
                write_key(w, "output_index");
                w.Int(output_index_);
                write_key(w, "item");
                w.StartObject();
                write_key(w, "id");
                write_string(w, item_id_);
                write_key(w, "type");
                write_string(w, "message");
                write_key(w, "status");
                write_string(w, "in_progress");
                write_key(w, "role");
                write_string(w, "assistant");
                write_key(w, "content");
                w.StartArray();
                w.EndArray();
                w.EndObject();
            });
            emit("response.content_part.added", [&](JsonWriter& w) { content_part(w); });
        }
        keep_text(text_, d);
        emit("response.output_text.delta", [&](JsonWriter& w) {
            item_fields(w);
            write_key(w, "content_index");
            w.Int(0);
            write_key(w, "delta");
            write_string(w, d);
            write_key(w, "logprobs");
            w.StartArray();
            w.EndArray();
        });
    }

    void close_message() {
        emit("response.output_text.done", [&](JsonWriter& w) {
            item_fields(w);
            write_key(w, "content_index");
            w.Int(0);
            write_key(w, "text");
            write_string(w, text_);
            write_key(w, "logprobs");
            w.StartArray();
            w.EndArray();
        });
        emit("response.content_part.done", [&](JsonWriter& w) { content_part(w); });
        item_done(item_text([&](JsonWriter& w) { write_message_item(w, item_id_, text_, "completed"); }));
    }

    // --- function calls ---
    // Calls are opened one at a time in the order they started; a call that
    // starts while another is still streaming is buffered until that one ends.
    void tool_start(const Ev& ev) {
        if (tools_.count(ev.index)) return;
        ToolItem& t = tools_[ev.index];
        t.call_id.assign(ev.id);
        t.name.assign(ev.name);
        t.client = s_.client_tool(t.name);
        any_tool_ = true;
        if (open_ != Open::Tool) open_tool(ev.index);
    }

    // Opened only when no call is open (tool_start checks; the others call
    // it after close_tool): what it may close is reasoning or a message.
    void open_tool(int index) {
        close_text();
        ToolItem& t = tools_[index];
        open_item(Open::Tool, s_.new_id(custom(t) ? "ctc_" : searching(t) ? "tsc_" : "fc_"));
        open_tool_ = index;
        t.item_id = item_id_;
        t.output_index = output_index_;
        t.state = ToolState::Open;
        emit("response.output_item.added", [&](JsonWriter& w) {
            write_key(w, "output_index");
            w.Int(output_index_);
            write_key(w, "item");
            write_call_item(w, t.client, t.item_id, t.call_id, t.name, "", "in_progress");
        });
        if (!t.args.empty() && plain(t)) args_delta(t.args);
        if (t.ended) close_tool();
    }

    static bool custom(const ToolItem& t) { return t.client && t.client->custom; }
    static bool searching(const ToolItem& t) { return t.client && t.client->tool_search; }
    // A function call, whose arguments stream as function_call_arguments deltas.
    static bool plain(const ToolItem& t) { return !custom(t) && !searching(t); }

    void args_delta(std::string_view d) {
        emit("response.function_call_arguments.delta", [&](JsonWriter& w) {
            item_fields(w);
            write_key(w, "delta");
            write_string(w, d);
        });
    }

    // Arguments are held whole until the end of the stream (output_item.done
    // and response.completed carry them): at most kMaxHeld bytes in all.
    void tool_args(int index, std::string_view d) {
        auto it = tools_.find(index);
        if (it == tools_.end() || d.empty() || it->second.state == ToolState::Closed) return;
        if (d.size() > stream_limits::kMaxHeld - held_)
            return fail_stream(502, "the upstream's tool-call arguments exceed the " +
                                        std::to_string(stream_limits::kMaxHeld >> 20) + " MiB a stream may hold");
        held_ += d.size();
        it->second.args.append(d);
        // A custom tool's input is its arguments' one string: told whole at the end.
        if (it->second.state == ToolState::Open && plain(it->second)) args_delta(d);
    }

    void tool_end(int index) {
        auto it = tools_.find(index);
        if (it == tools_.end()) return;
        it->second.ended = true;
        if (it->second.state == ToolState::Open) {
            close_tool();
            open_next_pending();
        }
    }

    void open_next_pending() {
        for (auto& [index, t] : tools_)
            if (t.state == ToolState::Pending) {
                open_tool(index);  // closes itself at once when already ended
                if (open_ == Open::Tool) return;
            }
    }

    void close_tool() {
        ToolItem& t = tools_[open_tool_];
        if (t.args.empty()) {
            t.args = "{}";
            held_ += 2;
        }
        t.state = ToolState::Closed;
        if (custom(t)) {
            t.args = custom_input(t.args);
            emit("response.custom_tool_call_input.delta", [&](JsonWriter& w) {
                item_fields(w);
                write_key(w, "delta");
                write_string(w, t.args);
            });
            emit("response.custom_tool_call_input.done", [&](JsonWriter& w) {
                item_fields(w);
                write_key(w, "input");
                write_string(w, t.args);
            });
        } else if (plain(t)) {  // a tool search is told whole by its item
            emit("response.function_call_arguments.done", [&](JsonWriter& w) {
                item_fields(w);
                write_key(w, "name");
                write_string(w, t.client ? std::string_view(t.client->name) : std::string_view(t.name));
                write_key(w, "arguments");
                write_string(w, t.args);
            });
        }
        size_t held = t.args.size();
        item_done(item_text([&](JsonWriter& w) {
            write_call_item(w, t.client, t.item_id, t.call_id, t.name, t.args, "completed");
        }), held);
        std::string().swap(t.args);  // in output_ now
    }

    // --- compaction v2 ---
    void compaction() {
        std::string id = s_.new_id("cmp_");
        open_item(Open::None, id);
        emit("response.output_item.added", [&](JsonWriter& w) {
            write_key(w, "output_index");
            w.Int(output_index_);
            write_key(w, "item");
            w.StartObject();
            write_key(w, "type");
            write_string(w, "compaction");
            write_key(w, "id");
            write_string(w, id);
            w.EndObject();
        });
        std::string item = item_text([&](JsonWriter& w) { write_compaction_item(w, id, summary_); });
        held_ -= std::min(held_, summary_.size());
        std::string().swap(summary_);
        held_ += item.size();
        item_done(item, item.size());
    }

    // --- hosted web search ---
    // Told whole, as its item's life: added (in progress), the three
    // web_search_call events, done with the query and the pages.
    void web_search(const Ev& ev) {
        close_open();
        open_next_pending();
        while (open_ == Open::Tool) close_open();
        ir::Part p = web_search_part(std::string(ev.id), std::string(ev.text));
        if (ev.sources) p.sources = *ev.sources;
        p.call_id = web_search_id(p, "ws_", s_);
        std::string item = item_text([&](JsonWriter& w) {
            w.StartObject();
            write_responses_web_search_call(w, p, "completed");
            w.EndObject();
        });
        if (item.size() > stream_limits::kMaxHeld - held_)
            return fail_stream(502, "the upstream's web search results exceed the " +
                                        std::to_string(stream_limits::kMaxHeld >> 20) + " MiB a stream may hold");
        held_ += item.size();
        open_item(Open::None, p.call_id);
        emit("response.output_item.added", [&](JsonWriter& w) {
            write_key(w, "output_index");
            w.Int(output_index_);
            write_key(w, "item");
            w.StartObject();
            write_responses_web_search_call(w, p, "in_progress");
            w.EndObject();
        });
        for (const char* step : {"response.web_search_call.in_progress", "response.web_search_call.searching",
                                 "response.web_search_call.completed"})
            emit(step, [&](JsonWriter& w) { item_fields(w); });
        item_done(item, item.size());
    }

    void close_open() {
        switch (open_) {
            case Open::Reasoning: close_reasoning(); break;
            case Open::Message: close_message(); break;
            case Open::Tool:
                // Text interrupts the calls: flush them all (a loop: the
                // number of pending calls is the upstream's to choose).
                while (open_ == Open::Tool) {
                    close_tool();
                    open_next_pending();
                }
                break;
            case Open::None: break;
        }
    }

    void close_text() {
        if (open_ == Open::Reasoning) close_reasoning();
        else if (open_ == Open::Message) close_message();
    }

    void done() {
        close_open();
        open_next_pending();
        while (open_ == Open::Tool) close_open();
        if (s_.compaction_item) compaction();
        Outcome o = outcome_for(finish_, any_tool_);
        const char* type = std::string_view(o.status) == "incomplete" ? "response.incomplete"
                           : std::string_view(o.status) == "failed"   ? "response.failed"
                                                                      : "response.completed";
        response_event(type, o, true);
        finished_ = true;
    }

    void error(int status, std::string_view msg) {
        // The shared table's `error` event, with this stream's sequence number.
        std::string ev = stream_error_event(Protocol::OpenAIResponses, error_kind_for_status(status), msg);
        size_t at = ev.find("data: ");
        size_t end = ev.rfind("\n\n");
        JsonDoc doc;
        if (at != std::string::npos && end != std::string::npos && end > at &&
            parse_json(std::string_view(ev).substr(at + 6, end - at - 6), doc) && doc.IsObject()) {
            emit("error", [&](JsonWriter& w) {
                for (auto& m : doc.GetObject()) {
                    std::string_view key(m.name.GetString(), m.name.GetStringLength());
                    if (key == "type" || key == "sequence_number") continue;
                    write_key(w, key);
                    m.value.Accept(w);
                }
            });
        } else {
            out += ev;
        }
        finished_ = true;
    }

    Session& s_;
    bool begun_ = false;
    bool any_tool_ = false;
    int64_t seq_ = 0;
    int64_t created_ = 0;
    std::string id_;
    ir::Usage usage_;
    ir::Finish finish_ = ir::Finish::Unset;

    std::string output_;              // finished items kept for response.completed, JSON, comma-separated
    size_t output_items_ = 0;         // items in output_
    size_t item_count_ = 0;           // items finished
    size_t kept_ = 0;                 // text kept (text_ and output_), at most kMaxKeptText
    bool text_full_ = false;          // text was cut: no more is kept
    size_t held_ = 0;                 // tool arguments held (tools_ and output_), at most kMaxHeld
    Open open_ = Open::None;
    std::string item_id_;             // the open item
    int output_index_ = 0;
    std::string text_;                // the open item's text so far
    std::string summary_;             // compaction v2: the text, told as the compaction item at the end
    std::string encrypted_;           // the open reasoning item's signature
    bool summary_open_ = false;
    std::map<int, ToolItem> tools_;   // by IR tool index
    int open_tool_ = -1;
};

}  // namespace

std::unique_ptr<StreamDecoder> make_responses_stream_decoder(Session& s) { return std::make_unique<ResponsesDecoder>(s); }
std::unique_ptr<StreamEncoder> make_responses_stream_encoder(Session& s) { return std::make_unique<ResponsesEncoder>(s); }

}  // namespace agd::translate
