// OpenAI Chat Completions: upstream stream -> IR events, and IR events ->
// client stream (chat.completion.chunk, or legacy text_completion chunks).
#include <string>
#include <vector>

#include "pipeline/errors.h"
#include "translate/codecs.h"
#include "translate/custom_tool.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/stream_limits.h"
#include "translate/util.h"

namespace agd::translate {
namespace {

using Ev = ir::StreamEvent;
using EvType = ir::StreamEvent::Type;

int64_t nonneg(int64_t v) { return v < 0 ? 0 : v; }

// ------------------------------------------------------------ decoder

// A tool call being assembled from fragments. Its IR index is assigned
// when it starts (id and name known), so indexes follow the start order.
struct PendingCall {
    int upstream_index = -1;  // -1: the upstream sent no index
    std::string id, name, signature;
    std::string buffered;     // arguments that arrived before the start
    int ir_index = -1;        // -1: not started
    bool ended = false;
    bool custom = false;      // a custom tool's call: input pieces, passed on as {"input": "..."} fragments
    bool opened = false;      // custom: the arguments' opening was passed on
};

class ChatStreamDecoder final : public StreamDecoder {
public:
    explicit ChatStreamDecoder(Session& s) : s_(s) {}

    void on_event(const sse::Event& ev, EventSink& sink) override {
        if (closed_) return;
        std::string_view data = ev.data;
        while (!data.empty() && (data.back() == ' ' || data.back() == '\n' || data.back() == '\r')) data.remove_suffix(1);
        while (!data.empty() && data.front() == ' ') data.remove_prefix(1);
        if (data.empty()) return;
        if (data == "[DONE]") return finish_stream(sink);
        JsonDoc doc;
        if (!parse_json(data, doc, nullptr, {.in_place = true}) || !doc.IsObject()) return fail(sink, 502, "upstream sent an invalid stream chunk");
        if (const JsonValue* err = member(doc, "error"); err && !err->IsNull()) return upstream_error(sink, *err);
        start(sink, doc);
        if (const JsonValue* choices = member(doc, "choices"); is_array(choices)) {
            for (const JsonValue& c : choices->GetArray())
                if (get_int(member(c, "index")).value_or(0) == 0) on_choice(sink, c);
        }
        if (const JsonValue* u = member(doc, "usage"); is_object(u)) on_usage(sink, *u);
    }

    void on_close(EventSink& sink) override {
        if (closed_) return;
        fail(sink, 502, "upstream stream ended early");
    }

private:
    void emit(EventSink& sink, Ev ev) { sink.on(ev); }

    void fail(EventSink& sink, int status, std::string_view msg) {
        Ev ev;
        ev.type = EvType::Error;
        ev.status = status;
        ev.text = msg;
        emit(sink, ev);
        closed_ = true;
    }

    void upstream_error(EventSink& sink, const JsonValue& err) {
        int status = 502;
        std::string msg;
        if (err.IsString()) {
            msg.assign(get_string(&err));
        } else {
            msg.assign(get_string(member(err, "message")));
            std::string_view type = get_string(member(err, "type"));
            std::string_view code = get_string(member(err, "code"));
            if (auto c = get_int(member(err, "code")); c && *c >= 400 && *c <= 599) status = static_cast<int>(*c);
            else if (type.find("rate_limit") != std::string_view::npos || code.find("rate_limit") != std::string_view::npos ||
                     type == "insufficient_quota")
                status = 429;
            else if (type.find("overloaded") != std::string_view::npos) status = 503;
            else if (type == "server_error") status = 500;
        }
        fail(sink, status, msg.empty() ? std::string_view("upstream error") : std::string_view(msg));
    }

    void start(EventSink& sink, const JsonValue& doc) {
        if (started_) return;
        started_ = true;
        id_.assign(get_string(member(doc, "id")));
        model_.assign(get_string(member(doc, "model")));
        Ev ev;
        ev.type = EvType::Start;
        ev.id = id_;
        ev.name = model_;
        emit(sink, ev);
    }

    void delta_text(EventSink& sink, EvType type, const JsonValue* v) {
        std::string_view t = get_string(v);
        if (t.empty()) return;
        Ev ev;
        ev.type = type;
        ev.text = t;
        emit(sink, ev);
    }

    void on_choice(EventSink& sink, const JsonValue& c) {
        if (const JsonValue* d = member(c, "delta"); is_object(d)) {
            const JsonValue* reasoning = member(*d, "reasoning_content");
            if (get_string(reasoning).empty()) reasoning = member(*d, "reasoning");
            delta_text(sink, EvType::Thinking, reasoning);
            delta_text(sink, EvType::Text, member(*d, "content"));
            delta_text(sink, EvType::Text, member(*d, "refusal"));
            if (const JsonValue* tcs = member(*d, "tool_calls"); is_array(tcs))
                for (const JsonValue& tc : tcs->GetArray())
                    if (tc.IsObject() && !closed_) on_fragment(sink, tc);
            if (closed_) return;
        }
        // Content first, then the finish of the same chunk (§7.22).
        if (std::string_view fr = get_string(member(c, "finish_reason")); !fr.empty()) {
            finish_ = finish_from_chat(fr);
            end_calls(sink);
        }
    }

    PendingCall& call_for(const JsonValue& frag, std::string_view id) {
        std::optional<int64_t> idx = get_int(member(frag, "index"));
        if (idx) {
            for (size_t i = calls_.size(); i-- > 0;) {
                PendingCall& c = calls_[i];
                if (c.upstream_index != *idx || c.ended) continue;
                // The same index with another id is a new call (upstreams that send 0 for all).
                if (!id.empty() && !c.id.empty() && c.id != id) break;
                last_ = i;
                return c;
            }
        } else if (last_ < calls_.size() && !calls_[last_].ended && (id.empty() || calls_[last_].id == id)) {
            return calls_[last_];  // no index and no new id: continues the last call
        }
        if (calls_.size() >= stream_limits::kMaxItems) return overflow_;
        calls_.push_back(PendingCall{});
        calls_.back().upstream_index = idx ? static_cast<int>(*idx) : -1;
        last_ = calls_.size() - 1;
        return calls_.back();
    }

    void on_fragment(EventSink& sink, const JsonValue& frag) {
        std::string_view id = get_string(member(frag, "id"));
        PendingCall& c = call_for(frag, id);
        if (&c == &overflow_)
            return fail(sink, 502, "the upstream stream has more than " + std::to_string(stream_limits::kMaxItems) +
                                       " tool calls");
        size_t me = last_;
        bool continuation = !c.name.empty() && c.ir_index < 0;
        if (c.id.empty() && !id.empty()) c.id.assign(id);
        const JsonValue* fn = member(frag, "function");
        const JsonValue* cu = member(frag, "custom");
        if (is_object(cu)) {
            c.custom = true;
            fn = cu;
        }
        if (std::string_view n = get_string(fn ? member(*fn, "name") : nullptr); !n.empty() && c.name.empty()) c.name.assign(n);
        if (const JsonValue* ec = member(frag, "extra_content"); is_object(ec)) {
            const JsonValue* g = member(*ec, "google");
            if (std::string_view sig = get_string(g ? member(*g, "thought_signature") : nullptr); !sig.empty())
                c.signature.assign(sig);
        }
        std::string_view args = get_string(fn ? member(*fn, c.custom ? "input" : "arguments") : nullptr);
        std::string wrapped;  // custom: the input piece as a fragment of {"input": "..."}
        if (c.custom && !args.empty()) {
            if (!c.opened) wrapped = "{\"input\":\"";
            c.opened = true;
            append_json_escaped(wrapped, args);
            args = wrapped;
        }
        if (c.ir_index < 0) {
            // Arguments before the call's name: held until it starts.
            if (args.size() > stream_limits::kMaxHeld - held_)
                return fail(sink, 502, "the upstream's tool-call arguments exceed the " +
                                           std::to_string(stream_limits::kMaxHeld >> 20) + " MiB a stream may hold");
            held_ += args.size();
            c.buffered.append(args);
            // Start once id and name are known; an upstream that never sends an
            // id gets one minted when the call's second fragment comes.
            if (!c.name.empty() && (!c.id.empty() || continuation)) start_call(sink, me);
        } else if (!args.empty()) {
            tool_args(sink, c.ir_index, args);
        }
    }

    void start_call(EventSink& sink, size_t i) {
        PendingCall& c = calls_[i];
        if (c.id.empty()) c.id = s_.new_id(s_.client == Protocol::Anthropic ? "toolu_" : "call_");
        c.ir_index = next_index_++;
        std::string client_id = s_.client_call_id(c.id);
        std::string client_name = s_.client_tool_name(c.name);
        if (!c.signature.empty() && s_.signatures)
            s_.signatures->put(client_id, CachedSignature{s_.upstream, s_.upstream_model, c.signature, {}});
        Ev ev;
        ev.type = EvType::ToolStart;
        ev.index = c.ir_index;
        ev.id = client_id;
        ev.name = client_name;
        ev.text = c.signature;
        emit(sink, ev);
        any_tool_ = true;
        if (!c.buffered.empty()) {
            std::string b = std::move(c.buffered);
            c.buffered.clear();
            held_ -= b.size();
            tool_args(sink, c.ir_index, b);
        }
    }

    void tool_args(EventSink& sink, int index, std::string_view args) {
        Ev ev;
        ev.type = EvType::ToolArgs;
        ev.index = index;
        ev.text = args;
        emit(sink, ev);
    }

    // Every call is complete: start the ones still waiting, end all.
    void end_calls(EventSink& sink) {
        for (size_t i = 0; i < calls_.size(); ++i) {
            PendingCall& c = calls_[i];
            if (c.ended) continue;
            c.ended = true;
            if (c.ir_index < 0) {
                if (c.name.empty()) continue;  // a call without a name cannot be reported
                start_call(sink, i);
            }
            if (c.custom) tool_args(sink, c.ir_index, c.opened ? std::string("\"}") : custom_args_json(""));
            Ev ev;
            ev.type = EvType::ToolEnd;
            ev.index = c.ir_index;
            emit(sink, ev);
        }
    }

    void on_usage(EventSink& sink, const JsonValue& u) {
        if (auto v = get_int(member(u, "prompt_tokens"))) usage_.prompt = *v;
        if (auto v = get_int(member(u, "completion_tokens"))) usage_.output = *v;
        if (const JsonValue* pd = member(u, "prompt_tokens_details")) {
            if (auto v = get_int(member(*pd, "cached_tokens"))) usage_.cache_read = *v;
            if (auto v = get_int(member(*pd, "cache_write_tokens"))) usage_.cache_write = *v;
        }
        if (const JsonValue* cd = member(u, "completion_tokens_details"))
            if (auto v = get_int(member(*cd, "reasoning_tokens"))) usage_.reasoning = *v;
        Ev ev;
        ev.type = EvType::Usage;
        ev.usage = usage_;
        emit(sink, ev);
    }

    void finish_stream(EventSink& sink) {
        if (!started_) {
            started_ = true;
            Ev st;
            st.type = EvType::Start;
            emit(sink, st);
        }
        end_calls(sink);
        Ev ev;
        ev.type = EvType::Finish;
        // Tool calls exactly when one was emitted (§6.9).
        ev.finish = any_tool_ ? ir::Finish::ToolCalls
                    : finish_ == ir::Finish::Unset || finish_ == ir::Finish::ToolCalls ? ir::Finish::Stop
                                                                                       : finish_;
        emit(sink, ev);
        Ev done;
        done.type = EvType::Done;
        emit(sink, done);
        closed_ = true;
    }

    Session& s_;
    bool started_ = false, closed_ = false, any_tool_ = false;
    std::string id_, model_;
    std::vector<PendingCall> calls_;     // at most kMaxItems
    PendingCall overflow_;               // what call_for returns past kMaxItems
    size_t held_ = 0;                    // arguments buffered before their call started
    size_t last_ = static_cast<size_t>(-1);
    int next_index_ = 0;
    ir::Finish finish_ = ir::Finish::Unset;
    ir::Usage usage_;
};

// ------------------------------------------------------------ encoder

class ChatStreamEncoder final : public StreamEncoder {
public:
    explicit ChatStreamEncoder(Session& s) : s_(s), legacy_(s.legacy_completion) {}

    void on(const Ev& ev) override {
        if (finished_) return;
        if (ev.type == EvType::Error) {
            std::string_view msg = ev.text.empty() ? std::string_view("upstream error") : ev.text;
            out += stream_error_event(Protocol::OpenAIChat, error_kind_for_status(ev.status ? ev.status : 502), msg);
            finished_ = true;
            return;
        }
        begin(ev);
        switch (ev.type) {
            case EvType::Start:
                if (ev.usage.present()) usage_ = ev.usage;
                break;
            case EvType::Text:
                if (!ev.text.empty()) delta_string(legacy_ ? "text" : "content", ev.text);
                break;
            case EvType::Thinking:
                if (!ev.text.empty() && !legacy_) delta_string("reasoning_content", ev.text);
                break;
            case EvType::ToolStart: tool_start(ev); break;
            case EvType::ToolArgs: tool_args(ev.index, ev.text); break;
            case EvType::ToolEnd: tool_end(ev.index); break;
            case EvType::Usage: usage_ = ev.usage; break;
            case EvType::Finish: finish(ev.finish); break;
            case EvType::Done: done(); break;
            default: break;  // signatures and redacted thinking have no place in Chat
        }
    }

private:
    struct Call {
        int ir_index;
        bool got_args = false, ended = false;
        bool custom = false;  // a custom tool's call: its input unwrapped from the IR's {"input": "..."}
        CustomInputStream input{stream_limits::kMaxHeld};
    };

    // The fixed id/created/model, and the role chunk, before anything else.
    void begin(const Ev& ev) {
        if (begun_) return;
        begun_ = true;
        if (ev.type == EvType::Start && !ev.id.empty()) id_.assign(ev.id);
        else id_ = s_.new_id(legacy_ ? "cmpl-" : "chatcmpl-");
        created_ = now_seconds(s_);
        if (legacy_) return;
        chunk([&](JsonWriter& w) {
            write_key(w, "role"), write_string(w, "assistant");
            write_key(w, "content"), write_string(w, "");
        });
    }

    template <class F>
    void chunk(F&& delta, const char* finish = nullptr) {
        std::string& buf = event_json();
        JsonWriter w(buf);
        header(w);
        write_key(w, "choices"), w.StartArray();
        w.StartObject();
        write_key(w, "index"), w.Int(0);
        if (legacy_) {
            delta(w);  // writes "text"
        } else {
            write_key(w, "delta"), w.StartObject();
            delta(w);
            w.EndObject();
        }
        write_key(w, "logprobs"), w.Null();
        write_key(w, "finish_reason");
        if (finish) write_string(w, finish);
        else w.Null();
        w.EndObject();
        w.EndArray();
        if (s_.include_usage) write_key(w, "usage"), w.Null();
        w.EndObject();
        send(buf);
    }

    void header(JsonWriter& w) {
        w.StartObject();
        write_key(w, "id"), write_string(w, id_);
        write_key(w, "object"), write_string(w, legacy_ ? "text_completion" : "chat.completion.chunk");
        write_key(w, "created"), w.Int64(created_);
        write_key(w, "model"), write_string(w, s_.client_model);
    }

    void send(const std::string& buf) {
        out += "data: ";
        out.append(buf.data(), buf.size());
        out += "\n\n";
    }

    void delta_string(const char* key, std::string_view text) {
        chunk([&](JsonWriter& w) { write_key(w, key), write_string(w, text); });
    }

    Call* call(int ir_index) {
        for (Call& c : calls_)
            if (c.ir_index == ir_index) return &c;
        return nullptr;
    }
    int wire_index(const Call* c) const { return static_cast<int>(c - calls_.data()); }

    void tool_start(const Ev& ev) {
        if (legacy_ || call(ev.index)) return;
        calls_.push_back(Call{ev.index});
        int idx = static_cast<int>(calls_.size() - 1);
        std::string id = ev.id.empty() ? s_.new_id("call_") : std::string(ev.id);
        if (const Session::ClientTool* ct = s_.client_tool(ev.name); ct && ct->custom) {
            calls_.back().custom = true;
            chunk([&](JsonWriter& w) {
                write_key(w, "tool_calls"), w.StartArray();
                w.StartObject();
                write_key(w, "index"), w.Int(idx);
                write_key(w, "id"), write_string(w, id);
                write_key(w, "type"), write_string(w, "custom");
                write_key(w, "custom"), w.StartObject();
                write_key(w, "name"), write_string(w, ev.name);
                write_key(w, "input"), write_string(w, "");
                w.EndObject();
                w.EndObject();
                w.EndArray();
            });
            return;
        }
        std::string sig = ev.text.empty() ? std::string() : signature_for_client(ev.text, s_);
        chunk([&](JsonWriter& w) {
            write_key(w, "tool_calls"), w.StartArray();
            w.StartObject();
            write_key(w, "index"), w.Int(idx);
            write_key(w, "id"), write_string(w, id);
            write_key(w, "type"), write_string(w, "function");
            write_key(w, "function"), w.StartObject();
            write_key(w, "name"), write_string(w, ev.name);
            write_key(w, "arguments"), write_string(w, "");
            w.EndObject();
            if (!sig.empty()) {
                write_key(w, "extra_content"), w.StartObject();
                write_key(w, "google"), w.StartObject();
                write_key(w, "thought_signature"), write_string(w, sig);
                w.EndObject();
                w.EndObject();
            }
            w.EndObject();
            w.EndArray();
        });
    }

    // A piece of a custom call's input.
    void input_delta(int idx, std::string_view piece) {
        if (piece.empty()) return;
        chunk([&](JsonWriter& w) {
            write_key(w, "tool_calls"), w.StartArray();
            w.StartObject();
            write_key(w, "index"), w.Int(idx);
            write_key(w, "custom"), w.StartObject();
            write_key(w, "input"), write_string(w, piece);
            w.EndObject();
            w.EndObject();
            w.EndArray();
        });
    }

    void tool_args(int ir_index, std::string_view args) {
        Call* c = call(ir_index);
        if (!c || c->ended || args.empty()) return;
        c->got_args = true;
        int idx = wire_index(c);
        if (c->custom) {
            std::string piece;
            size_t before = c->input.held();
            bool ok = c->input.feed(args, piece);
            held_ = held_ - before + c->input.held();
            if (!ok || held_ > stream_limits::kMaxHeld)
                return fail_stream(502, "custom tool calls' arguments hold more than the " +
                                            std::to_string(stream_limits::kMaxHeld >> 20) +
                                            " MiB a stream may hold before their input");
            return input_delta(idx, piece);
        }
        chunk([&](JsonWriter& w) {
            write_key(w, "tool_calls"), w.StartArray();
            w.StartObject();
            write_key(w, "index"), w.Int(idx);
            write_key(w, "function"), w.StartObject();
            write_key(w, "arguments"), write_string(w, args);
            w.EndObject();
            w.EndObject();
            w.EndArray();
        });
    }

    void tool_end(int ir_index) {
        Call* c = call(ir_index);
        if (!c || c->ended) return;
        if (c->custom) {
            std::string rest;
            held_ -= c->input.held();
            c->input.finish(rest);
            input_delta(wire_index(c), rest);
        } else if (!c->got_args) {
            tool_args(ir_index, "{}");  // §6.13 A: a call without arguments
        }
        c->ended = true;
    }

    void finish(ir::Finish f) {
        if (finish_sent_) return;
        for (size_t i = 0; i < calls_.size() && !finished_; ++i) tool_end(calls_[i].ir_index);
        if (finished_) return;
        finish_sent_ = true;
        // tool_calls exactly when a call was emitted (§6.9, §7.3).
        if (f == ir::Finish::Unset || f == ir::Finish::ToolCalls) f = ir::Finish::Stop;
        if (!calls_.empty()) f = ir::Finish::ToolCalls;
        const char* reason = legacy_ && f == ir::Finish::ToolCalls ? "stop" : chat_finish_reason(f);
        chunk([&](JsonWriter& w) {
            if (legacy_) write_key(w, "text"), write_string(w, "");
        }, reason);
    }

    void done() {
        finish(ir::Finish::Stop);
        if (finished_) return;  // failed while ending the calls
        if (s_.include_usage) {
            std::string& buf = event_json();
            JsonWriter w(buf);
            header(w);
            write_key(w, "choices"), w.StartArray(), w.EndArray();
            write_key(w, "usage"), w.StartObject();
            write_key(w, "prompt_tokens"), w.Int64(nonneg(usage_.prompt));
            write_key(w, "completion_tokens"), w.Int64(nonneg(usage_.output));
            write_key(w, "total_tokens"), w.Int64(nonneg(usage_.prompt) + nonneg(usage_.output));
            if (!legacy_ && (usage_.cache_read >= 0 || usage_.cache_write >= 0)) {
                write_key(w, "prompt_tokens_details"), w.StartObject();
                write_key(w, "cached_tokens"), w.Int64(nonneg(usage_.cache_read));
                if (usage_.cache_write >= 0) write_key(w, "cache_write_tokens"), w.Int64(usage_.cache_write);
                w.EndObject();
            }
            if (!legacy_ && usage_.reasoning >= 0) {
                write_key(w, "completion_tokens_details"), w.StartObject();
                write_key(w, "reasoning_tokens"), w.Int64(usage_.reasoning);
                w.EndObject();
            }
            w.EndObject();
            w.EndObject();
            send(buf);
        }
        out += "data: [DONE]\n\n";
        finished_ = true;
    }

    Session& s_;
    bool legacy_;
    bool begun_ = false, finish_sent_ = false;
    std::string id_;
    int64_t created_ = 0;
    std::vector<Call> calls_;
    size_t held_ = 0;  // what the custom calls' inputs hold, together (at most kMaxHeld)
    ir::Usage usage_;
};

}  // namespace

std::unique_ptr<StreamDecoder> make_chat_stream_decoder(Session& s) { return std::make_unique<ChatStreamDecoder>(s); }
std::unique_ptr<StreamEncoder> make_chat_stream_encoder(Session& s) { return std::make_unique<ChatStreamEncoder>(s); }

}  // namespace agd::translate
