// Anthropic Messages: upstream stream -> IR events, and IR events -> client
// stream (protocols.md §4.5, §6.13 A/B/D, §7.10, §7.11, §7.14).
#include <algorithm>
#include <deque>
#include <map>

#include "pipeline/errors.h"
#include "translate/codecs.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"
#include "translate/stream_limits.h"
#include "translate/util.h"
#include "translate/web_search.h"

namespace agd::translate {
namespace {

using Ev = ir::StreamEvent;
using EvType = ir::StreamEvent::Type;

void kv(JsonWriter& w, std::string_view key, std::string_view value) {
    write_key(w, key);
    write_string(w, value);
}

int status_for_error_type(std::string_view t) {
    if (t == "invalid_request_error") return 400;
    if (t == "authentication_error") return 401;
    if (t == "billing_error") return 402;
    if (t == "permission_error") return 403;
    if (t == "not_found_error") return 404;
    if (t == "request_too_large") return 413;
    if (t == "rate_limit_error") return 429;
    if (t == "timeout_error") return 504;
    if (t == "overloaded_error") return 529;
    return 500;  // api_error and anything unknown
}

// ---------------------------------------------------------------- decoder

class AnthropicStreamDecoder final : public StreamDecoder {
public:
    explicit AnthropicStreamDecoder(Session& s) : s_(s) {}

    void on_event(const sse::Event& ev, EventSink& sink) override {
        if (ended_) return;
        JsonDoc d;
        if (!parse_json(ev.data, d, nullptr, {.in_place = true}) || !d.IsObject()) return;  // ping without data, garbage: ignored
        std::string_view type = get_string(member(d, "type"));
        if (type.empty()) type = ev.name;
        if (type == "message_start") message_start(d, sink);
        else if (type == "content_block_start") block_start(d, sink);
        else if (type == "content_block_delta") block_delta(d, sink);
        else if (type == "content_block_stop") block_stop(d, sink);
        else if (type == "message_delta") message_delta(d, sink);
        else if (type == "message_stop") message_stop(sink);
        else if (type == "error") error(d, sink);
    }

    void on_close(EventSink& sink) override {
        if (ended_) return;
        fail(sink, "upstream stream ended early");
    }

private:
    // Ends the stream with an error event (text: a static message).
    void fail(EventSink& sink, std::string_view text) {
        ended_ = true;
        Ev e;
        e.type = EvType::Error;
        e.status = 502;
        e.text = text;
        sink.on(e);
    }

    struct Block {
        enum Kind { Text, Thinking, Tool, Search, Other } kind = Other;
        int tool = -1;
    };

    void start(EventSink& sink) {
        if (started_) return;
        started_ = true;
        Ev e;
        e.type = EvType::Start;
        e.id = id_;
        e.name = model_;  // Start carries the upstream's model name in `name` (and `text`)
        e.text = model_;
        e.usage = usage_;
        e.usage.output = -1;
        sink.on(e);
    }

    // Reads the usage fields present in `u`, overwriting (never adding, §7.10).
    void take_usage(const JsonValue* u) {
        if (!is_object(u)) return;
        if (auto v = get_int(member(*u, "input_tokens"))) input_ = *v;
        if (auto v = get_int(member(*u, "cache_creation_input_tokens"))) usage_.cache_write = *v;
        if (auto v = get_int(member(*u, "cache_read_input_tokens"))) usage_.cache_read = *v;
        if (auto v = get_int(member(*u, "output_tokens"))) usage_.output = *v;
        if (input_ >= 0 || usage_.cache_write >= 0 || usage_.cache_read >= 0)
            usage_.prompt = std::max<int64_t>(0, input_) + std::max<int64_t>(0, usage_.cache_write) +
                            std::max<int64_t>(0, usage_.cache_read);
    }

    void message_start(const JsonValue& d, EventSink& sink) {
        const JsonValue* m = member(d, "message");
        if (m) {
            id_.assign(get_string(member(*m, "id")));
            model_.assign(get_string(member(*m, "model")));
            take_usage(member(*m, "usage"));
        }
        start(sink);
    }

    void block_start(const JsonValue& d, EventSink& sink) {
        start(sink);
        int index = static_cast<int>(get_int(member(d, "index")).value_or(-1));
        const JsonValue* cb = member(d, "content_block");
        if (!cb) return;
        std::string_view type = get_string(member(*cb, "type"));
        if (blocks_.size() >= stream_limits::kMaxItems && !blocks_.count(index)) {
            fail(sink, "the upstream stream opened too many content blocks");
            return;
        }
        Block& b = blocks_[index];
        Ev e;
        if (type == "text") {
            b.kind = Block::Text;
            e.type = EvType::Text;
            e.text = get_string(member(*cb, "text"));
            if (!e.text.empty()) sink.on(e);
        } else if (type == "thinking") {
            b.kind = Block::Thinking;
            e.type = EvType::Thinking;
            e.text = get_string(member(*cb, "thinking"));
            note_thinking(e.text);
            if (!e.text.empty()) sink.on(e);
        } else if (type == "redacted_thinking") {
            e.type = EvType::RedactedThinking;
            e.text = get_string(member(*cb, "data"));
            if (!e.text.empty()) sink.on(e);
        } else if (type == "server_tool_use" && get_string(member(*cb, "name")) == "web_search") {
            // The query arrives as input_json_delta; the pages in the
            // web_search_tool_result block that follows (web_search.h).
            b.kind = Block::Search;
            search_id_.assign(get_string(member(*cb, "id")));
            search_input_.clear();
            if (const JsonValue* input = member(*cb, "input"); is_object(input) && input->MemberCount() > 0)
                search_input_ = to_json(*input);
        } else if (type == "web_search_tool_result") {
            search_result(*cb, sink);
        } else if (type == "tool_use") {
            b.kind = Block::Tool;
            b.tool = next_tool_++;
            std::string id = s_.client_call_id(get_string(member(*cb, "id")));
            std::string name = s_.client_tool_name(get_string(member(*cb, "name")));
            tool_ids_.push_back(id);
            e.type = EvType::ToolStart;
            e.index = b.tool;
            e.id = id;
            e.name = name;
            sink.on(e);
            cache_signatures();
            // Some relays send the whole input in the start event.
            const JsonValue* input = member(*cb, "input");
            if (is_object(input) && input->MemberCount() > 0) {
                std::string args = to_json(*input);
                Ev a;
                a.type = EvType::ToolArgs;
                a.index = b.tool;
                a.text = args;
                sink.on(a);
            }
        }
    }

    void block_delta(const JsonValue& d, EventSink& sink) {
        start(sink);
        int index = static_cast<int>(get_int(member(d, "index")).value_or(-1));
        const JsonValue* delta = member(d, "delta");
        if (!delta) return;
        std::string_view type = get_string(member(*delta, "type"));
        Ev e;
        if (type == "text_delta") {
            e.type = EvType::Text;
            e.text = get_string(member(*delta, "text"));
        } else if (type == "thinking_delta") {
            e.type = EvType::Thinking;
            e.text = get_string(member(*delta, "thinking"));
            note_thinking(e.text);
        } else if (type == "signature_delta") {
            e.type = EvType::ThinkingSignature;
            e.text = get_string(member(*delta, "signature"));
            if (signature_.empty()) {
                signature_.assign(e.text);
                signed_thinking_ = thinking_;
            }
        } else if (type == "input_json_delta") {
            auto it = blocks_.find(index);
            if (it != blocks_.end() && it->second.kind == Block::Search) {
                std::string_view part = get_string(member(*delta, "partial_json"));
                if (search_input_.size() + part.size() <= kMaxSearchInput) search_input_.append(part);
                return;
            }
            if (it == blocks_.end() || it->second.kind != Block::Tool) return;
            e.type = EvType::ToolArgs;
            e.index = it->second.tool;
            e.text = get_string(member(*delta, "partial_json"));
        } else {
            return;  // citations_delta and others
        }
        if (e.text.empty()) return;
        sink.on(e);
        if (e.type == EvType::ThinkingSignature) cache_signatures();
    }

    void block_stop(const JsonValue& d, EventSink& sink) {
        int index = static_cast<int>(get_int(member(d, "index")).value_or(-1));
        auto it = blocks_.find(index);
        if (it == blocks_.end()) return;
        if (it->second.kind == Block::Tool) {
            Ev e;
            e.type = EvType::ToolEnd;
            e.index = it->second.tool;
            sink.on(e);
        } else if (it->second.kind == Block::Search && searches_.size() < stream_limits::kMaxItems) {
            JsonDoc input;
            std::string query;
            if (parse_json(search_input_, input) && input.IsObject()) query.assign(get_string(member(input, "query")));
            searches_.push_back(web_search_part(std::move(search_id_), std::move(query)));
            search_id_.clear();
            search_input_.clear();
        }
        blocks_.erase(it);
    }

    // A web_search_tool_result block, whole in its start event: the search
    // it answers is told with the pages it found.
    void search_result(const JsonValue& block, EventSink& sink) {
        std::string_view id = get_string(member(block, "tool_use_id"));
        for (auto it = searches_.begin(); it != searches_.end(); ++it) {
            if (it->call_id != id) continue;
            read_anthropic_search_results(block, it->sources);
            Ev e;
            e.type = EvType::WebSearch;
            e.id = it->call_id;
            e.text = it->text;
            e.sources = &it->sources;
            sink.on(e);
            searches_.erase(it);
            return;
        }
    }

    void message_delta(const JsonValue& d, EventSink& sink) {
        start(sink);
        take_usage(member(d, "usage"));
        Ev u;
        u.type = EvType::Usage;
        u.usage = usage_;
        sink.on(u);
        const JsonValue* delta = member(d, "delta");
        if (!delta) return;
        std::string_view reason = get_string(member(*delta, "stop_reason"));
        if (reason.empty()) return;
        finish(finish_from_anthropic(reason), get_string(member(*delta, "stop_sequence")), sink);
    }

    void finish(ir::Finish f, std::string_view stop_sequence, EventSink& sink) {
        if (next_tool_ > 0 && f != ir::Finish::Length) f = ir::Finish::ToolCalls;
        Ev e;
        e.type = EvType::Finish;
        e.finish = f;
        e.text = stop_sequence;
        sink.on(e);
        finished_ = true;
    }

    void message_stop(EventSink& sink) {
        start(sink);
        if (!finished_) finish(next_tool_ > 0 ? ir::Finish::ToolCalls : ir::Finish::Stop, {}, sink);
        ended_ = true;
        Ev e;
        e.type = EvType::Done;
        sink.on(e);
    }

    void error(const JsonValue& d, EventSink& sink) {
        ended_ = true;
        const JsonValue* err = member(d, "error");
        std::string_view type = err ? get_string(member(*err, "type")) : std::string_view{};
        std::string_view msg = err ? get_string(member(*err, "message")) : std::string_view{};
        Ev e;
        e.type = EvType::Error;
        e.status = status_for_error_type(type);
        e.text = msg.empty() ? std::string_view("upstream stream error") : msg;
        sink.on(e);
    }

    // The thinking text, kept for the signature cache while it fits one of its entries.
    void note_thinking(std::string_view t) {
        if (thinking_too_long_) return;
        if (thinking_.size() + t.size() > SignatureCache::kMaxEntryBytes) {
            thinking_too_long_ = true;
            std::string().swap(thinking_);
            return;
        }
        thinking_.append(t);
    }

    // The thinking that signs this message's tool calls, cached per client call id.
    void cache_signatures() {
        if (!s_.signatures || signature_.empty() || thinking_too_long_) return;
        for (; cached_ < tool_ids_.size(); ++cached_)
            s_.signatures->put(tool_ids_[cached_],
                               CachedSignature{Protocol::Anthropic, s_.upstream_model, signature_, signed_thinking_});
    }

    Session& s_;
    bool started_ = false, finished_ = false, ended_ = false;
    std::string id_, model_;
    int64_t input_ = -1;
    ir::Usage usage_;
    std::map<int, Block> blocks_;
    int next_tool_ = 0;
    std::string thinking_, signed_thinking_, signature_;
    bool thinking_too_long_ = false;  // over what the signature cache takes: not cached
    std::vector<std::string> tool_ids_;
    size_t cached_ = 0;
    static constexpr size_t kMaxSearchInput = 16 * 1024;  // a search's input JSON ({"query": ...})
    std::string search_id_, search_input_;  // the server_tool_use block being read
    std::vector<ir::Part> searches_;        // searches whose results have not come yet
};

// ---------------------------------------------------------------- encoder

class AnthropicStreamEncoder final : public StreamEncoder {
public:
    explicit AnthropicStreamEncoder(Session& s) : s_(s) {}

    void on(const Ev& ev) override {
        if (finished_) return;
        switch (ev.type) {
            case EvType::Start:
                if (!ev.id.empty()) id_ = ev.id.substr(0, 4) == "msg_" ? std::string(ev.id) : "msg_" + std::string(ev.id);
                merge_usage(ev.usage);
                ensure_started();
                break;
            case EvType::Text:
            case EvType::Thinking:
            case EvType::ThinkingSignature:
            case EvType::RedactedThinking:
                ensure_started();
                if (ev.text.empty()) break;
                if (open_ == Open::Tool) {
                    if (!hold(ev.text.size())) break;
                    queue_.push_back(Item{ev.type, std::string(ev.text), -1});
                } else {
                    content(ev.type, ev.text);
                }
                break;
            case EvType::ToolStart: {
                ensure_started();
                Tool& t = tools_[ev.index];
                t.id = ev.id.empty() ? s_.new_id("toolu_") : std::string(ev.id);
                t.name.assign(ev.name);
                if (open_ == Open::Tool) queue_.push_back(Item{ev.type, {}, ev.index});
                else open_tool(ev.index);
                break;
            }
            case EvType::ToolArgs: {
                if (ev.text.empty()) break;
                auto it = tools_.find(ev.index);
                if (it == tools_.end()) break;
                if (open_ == Open::Tool && open_tool_ == ev.index) {
                    args_delta(ev.text);
                } else {
                    if (!hold(ev.text.size())) break;
                    it->second.buf.append(ev.text);
                }
                break;
            }
            case EvType::ToolEnd: {
                auto it = tools_.find(ev.index);
                if (it == tools_.end()) break;
                it->second.ended = true;
                if (open_ == Open::Tool && open_tool_ == ev.index) {
                    close_block();
                    drain(false);
                }
                break;
            }
            case EvType::WebSearch: {
                ensure_started();
                Item it{ev.type, {}, -1};
                it.search = web_search_part(std::string(ev.id), std::string(ev.text));
                if (ev.sources) it.search.sources = *ev.sources;
                if (open_ == Open::Tool) {
                    if (!hold(search_bytes(it.search))) break;
                    queue_.push_back(std::move(it));
                } else {
                    search(it.search);
                }
                break;
            }
            case EvType::Usage: merge_usage(ev.usage); break;
            case EvType::Finish:
                finish_ = ev.finish;
                stop_sequence_.assign(ev.text);
                break;
            case EvType::Done: done(); break;
            case EvType::Error:
                out += stream_error_event(Protocol::Anthropic, error_kind_for_status(ev.status),
                                          ev.text.empty() ? std::string_view("upstream error") : ev.text);
                finished_ = true;
                break;
        }
    }

private:
    enum class Open { None, Text, Thinking, Tool };
    struct Tool {
        std::string id, name, buf;
        bool ended = false;
    };
    struct Item {  // something that arrived while a tool block was open
        EvType type;
        std::string text;
        int tool;
        ir::Part search = {};  // WebSearch
    };

    // Content and arguments that wait for a tool block to close: at most
    // kMaxHeld bytes, or the stream fails.
    bool hold(size_t n) {
        if (n > stream_limits::kMaxHeld - held_) {
            fail_stream(502, "the upstream stream interleaves more than " +
                                 std::to_string(stream_limits::kMaxHeld >> 20) +
                                 " MiB of content with a tool call (an Anthropic stream holds it until the call ends)");
            return false;
        }
        held_ += n;
        return true;
    }

    void event(std::string_view name, const std::string& buf) {
        out += "event: ";
        out.append(name);
        out += "\ndata: ";
        out.append(buf.data(), buf.size());
        out += "\n\n";
    }

    void merge_usage(const ir::Usage& u) {
        if (u.prompt >= 0) usage_.prompt = u.prompt;
        if (u.cache_read >= 0) usage_.cache_read = u.cache_read;
        if (u.cache_write >= 0) usage_.cache_write = u.cache_write;
        if (u.output >= 0) usage_.output = u.output;
        if (u.reasoning >= 0) usage_.reasoning = u.reasoning;
    }

    int64_t input_tokens() const {
        return std::max<int64_t>(0, usage_.prompt - std::max<int64_t>(0, usage_.cache_read) -
                                        std::max<int64_t>(0, usage_.cache_write));
    }

    void ensure_started() {
        if (started_) return;
        started_ = true;
        if (id_.empty()) id_ = s_.new_id("msg_");
        // Claude Code tracks its context from message_start: never 0 (§7.11).
        int64_t input = usage_.prompt >= 0 ? input_tokens() : s_.prompt_estimate;
        bool cached = usage_.cache_read > 0 || usage_.cache_write > 0;
        if (input <= 0 && (!cached || usage_.prompt < 0)) input = 1;
        std::string& b = event_json();
        JsonWriter w(b);
        w.StartObject();
        kv(w, "type", "message_start");
        w.Key("message");
        w.StartObject();
        kv(w, "id", id_);
        kv(w, "type", "message");
        kv(w, "role", "assistant");
        kv(w, "model", s_.client_model);
        w.Key("content");
        w.StartArray();
        w.EndArray();
        w.Key("stop_reason");
        w.Null();
        w.Key("stop_sequence");
        w.Null();
        w.Key("usage");
        w.StartObject();
        w.Key("input_tokens");
        w.Int64(input);
        w.Key("cache_creation_input_tokens");
        w.Int64(std::max<int64_t>(0, usage_.cache_write));
        w.Key("cache_read_input_tokens");
        w.Int64(std::max<int64_t>(0, usage_.cache_read));
        w.Key("output_tokens");
        w.Int64(0);
        w.EndObject();
        w.EndObject();
        w.EndObject();
        event("message_start", b);
    }

    // A content_block_start event; `fields` writes the block's members.
    template <class F>
    void start_block(F&& fields) {
        std::string& b = event_json();
        JsonWriter w(b);
        w.StartObject();
        kv(w, "type", "content_block_start");
        w.Key("index");
        w.Int(next_block_);
        w.Key("content_block");
        w.StartObject();
        fields(w);
        w.EndObject();
        w.EndObject();
        event("content_block_start", b);
    }

    void block_start(std::string_view type, const Tool* tool, std::string_view data = {}) {
        start_block([&](JsonWriter& w) {
            kv(w, "type", type);
            if (type == "text") {
                kv(w, "text", "");
            } else if (type == "thinking") {
                kv(w, "thinking", "");
                kv(w, "signature", "");
            } else if (type == "redacted_thinking") {
                kv(w, "data", data);
            } else if (tool) {
                kv(w, "id", tool->id);
                kv(w, "name", tool->name);
                w.Key("input");
                w.StartObject();
                w.EndObject();
            }
        });
    }

    void delta(std::string_view type, std::string_view field, std::string_view text) {
        std::string& b = event_json();
        JsonWriter w(b);
        w.StartObject();
        kv(w, "type", "content_block_delta");
        w.Key("index");
        w.Int(next_block_);
        w.Key("delta");
        w.StartObject();
        kv(w, "type", type);
        write_key(w, field);
        write_string(w, text);
        w.EndObject();
        w.EndObject();
        event("content_block_delta", b);
    }

    void block_stop() {
        std::string& b = event_json();
        JsonWriter w(b);
        w.StartObject();
        kv(w, "type", "content_block_stop");
        w.Key("index");
        w.Int(next_block_);
        w.EndObject();
        event("content_block_stop", b);
        ++next_block_;
    }

    void close_block() {
        if (open_ == Open::None) return;
        if (open_ == Open::Thinking && !signature_.empty())
            delta("signature_delta", "signature", signature_for_client(signature_, s_));
        signature_.clear();
        if (open_ == Open::Tool) tools_[open_tool_].ended = true;
        open_ = Open::None;
        block_stop();
    }

    // A text / thinking / signature / redacted delta, no tool block open.
    void content(EvType type, std::string_view text) {
        if (type == EvType::RedactedThinking) {
            close_block();
            block_start("redacted_thinking", nullptr, signature_for_client(text, s_));
            block_stop();
            return;
        }
        if (type == EvType::ThinkingSignature) {
            if (open_ != Open::Thinking) {  // a signature with no thinking run: a block of its own
                close_block();
                block_start("thinking", nullptr);
                open_ = Open::Thinking;
            }
            signature_.assign(text);
            return;
        }
        Open want = type == EvType::Text ? Open::Text : Open::Thinking;
        if (open_ != want) {
            close_block();
            block_start(want == Open::Text ? "text" : "thinking", nullptr);
            open_ = want;
        }
        if (want == Open::Text) delta("text_delta", "text", text);
        else delta("thinking_delta", "thinking", text);
    }

    void open_tool(int index) {
        close_block();
        Tool& t = tools_[index];
        block_start("tool_use", &t);
        any_tool_ = true;
        open_ = Open::Tool;
        open_tool_ = index;
        if (!t.buf.empty()) {
            held_ -= t.buf.size();
            args_delta(t.buf);
            std::string().swap(t.buf);
        }
        if (t.ended) close_block();
    }

    void args_delta(std::string_view text) { delta("input_json_delta", "partial_json", text); }

    // What a held search counts against kMaxHeld.
    static size_t search_bytes(const ir::Part& p) {
        size_t n = p.text.size() + 64;
        for (const auto& src : p.sources) n += src.url.size() + src.title.size() + 64;
        return n;
    }

    // A web search the upstream ran: its server_tool_use block (the query
    // as one input delta, as Anthropic streams it), then its result block.
    void search(ir::Part& p) {
        close_block();
        p.call_id = web_search_id(p, "srvtoolu_", s_);
        start_block([&](JsonWriter& w) { write_anthropic_server_tool_use(w, p, false); });
        std::string input;
        JsonWriter iw(input);
        iw.StartObject();
        kv(iw, "query", p.text);
        iw.EndObject();
        delta("input_json_delta", "partial_json", input);
        block_stop();
        start_block([&](JsonWriter& w) { write_anthropic_search_result(w, p); });
        block_stop();
    }

    // Replays what waited for a tool block to close, until another tool
    // block stays open (or, at the end, everything).
    void drain(bool all) {
        while (!queue_.empty() && (all || open_ != Open::Tool)) {
            if (all && open_ == Open::Tool) close_block();
            Item it = std::move(queue_.front());
            queue_.pop_front();
            held_ -= it.text.size();
            if (it.type == EvType::ToolStart) {
                open_tool(it.tool);
            } else if (it.type == EvType::WebSearch) {
                held_ -= std::min(held_, search_bytes(it.search));
                search(it.search);
            } else {
                content(it.type, it.text);
            }
        }
        if (all) close_block();
    }

    void done() {
        ensure_started();
        drain(true);
        ir::Finish f = finish_;
        if (any_tool_ && f != ir::Finish::Length) f = ir::Finish::ToolCalls;
        if (!any_tool_ && f == ir::Finish::ToolCalls) f = ir::Finish::Stop;
        std::string& b = event_json();
        JsonWriter w(b);
        w.StartObject();
        kv(w, "type", "message_delta");
        w.Key("delta");
        w.StartObject();
        w.Key("stop_reason");
        w.String(anthropic_stop_reason(f));
        w.Key("stop_sequence");
        if (f == ir::Finish::StopSequence && !stop_sequence_.empty()) write_string(w, stop_sequence_);
        else w.Null();
        w.EndObject();
        w.Key("usage");
        w.StartObject();
        if (usage_.prompt >= 0) {
            w.Key("input_tokens");
            w.Int64(input_tokens());
        }
        if (usage_.cache_write >= 0) {
            w.Key("cache_creation_input_tokens");
            w.Int64(usage_.cache_write);
        }
        if (usage_.cache_read >= 0) {
            w.Key("cache_read_input_tokens");
            w.Int64(usage_.cache_read);
        }
        w.Key("output_tokens");
        w.Int64(std::max<int64_t>(0, usage_.output));
        w.EndObject();
        w.EndObject();
        event("message_delta", b);
        out += "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        finished_ = true;
    }

    Session& s_;
    bool started_ = false, any_tool_ = false;
    std::string id_;
    ir::Usage usage_;
    ir::Finish finish_ = ir::Finish::Unset;
    std::string stop_sequence_;
    Open open_ = Open::None;
    int open_tool_ = -1;
    int next_block_ = 0;
    std::string signature_;  // of the open thinking block
    std::map<int, Tool> tools_;
    std::deque<Item> queue_;
    size_t held_ = 0;  // bytes in queue_ and the tools' buf
};

}  // namespace

std::unique_ptr<StreamDecoder> make_anthropic_stream_decoder(Session& s) {
    return std::make_unique<AnthropicStreamDecoder>(s);
}

std::unique_ptr<StreamEncoder> make_anthropic_stream_encoder(Session& s) {
    return std::make_unique<AnthropicStreamEncoder>(s);
}

}  // namespace agd::translate
