#include "translate/responses_socket.h"

#include <ctime>

#include "common/json.h"
#include "translate/json_out.h"
#include "translate/json_util.h"
#include "translate/session.h"

namespace agd::translate {

namespace {

SocketRequest error(int status, std::string code, std::string message) {
    SocketRequest r;
    r.kind = SocketRequest::Kind::Error;
    r.status = status;
    r.code = std::move(code);
    r.message = std::move(message);
    return r;
}

// The new input of a create, as JSON items joined by commas: an array's
// items, or a string as one user message.
bool input_items(const JsonValue* input, std::string* out) {
    if (!input) return true;
    if (input->IsString()) {
        *out += "{\"role\":\"user\",\"content\":";
        append_json_string(*out, std::string_view(input->GetString(), input->GetStringLength()));
        *out += '}';
        return true;
    }
    if (!input->IsArray()) return false;
    bool first = true;
    for (const auto& item : input->GetArray()) {
        if (!first) *out += ',';
        first = false;
        JsonOut w(*out);
        item.Accept(w);
    }
    return true;
}

void join(std::string& items, std::string_view more) {
    if (more.empty()) return;
    if (!items.empty()) items += ',';
    items.append(more);
}

}  // namespace

bool socket_header_name(std::string_view key, std::string* name) {
    constexpr std::string_view prefix = "ws_request_header_";
    if (key.size() <= prefix.size() || key.substr(0, prefix.size()) != prefix) return false;
    name->clear();
    for (char c : key.substr(prefix.size())) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) return false;
        name->push_back(c == '_' ? '-' : c);
    }
    return true;
}

SocketRequest SocketConversation::read(std::string_view text) {
    JsonDoc doc;
    std::string err;
    if (!parse_json(text, doc, &err)) return error(400, "invalid_json", "the message is not JSON: " + err);
    if (!doc.IsObject()) return error(400, "invalid_request_error", "a message must be a JSON object");
    std::string_view type = get_string(member(doc, "type"));
    if (type == "response.processed") {
        SocketRequest r;
        r.kind = SocketRequest::Kind::Ignore;
        return r;
    }
    if (type != "response.create") {
        return error(400, "unknown_message_type",
                     type.empty() ? std::string("a message needs a \"type\" (response.create)")
                                  : "unsupported message type \"" + std::string(type) +
                                        "\": this endpoint serves response.create");
    }
    // The fields of a create may also come wrapped in "response" (the
    // Realtime style); the flat form is Codex's.
    const JsonValue* fields = member(doc, "response");
    if (!is_object(fields)) fields = &doc;

    SocketRequest r;
    r.kind = SocketRequest::Kind::Create;
    r.model.assign(get_string(member(*fields, "model")));
    if (r.model.empty()) return error(400, "invalid_request_error", "response.create needs a \"model\"");
    if (auto g = get_bool(member(*fields, "generate")); g && !*g) r.generate = false;

    std::string previous(get_string(member(*fields, "previous_response_id")));
    std::string items;
    if (!previous.empty()) {
        if (previous != last_id_) {
            return error(400, "previous_response_not_found",
                         "previous response " + previous +
                             " is not the last response of this connection; send the whole input");
        }
        items = items_;
    }
    std::string fresh;
    if (!input_items(member(*fields, "input"), &fresh))
        return error(400, "invalid_request_error", "\"input\" must be a string or an array of items");
    join(items, fresh);

    r.body.reserve(text.size() + items.size() + 64);
    JsonOut w(r.body);
    w.StartObject();
    for (auto it = fields->MemberBegin(); it != fields->MemberEnd(); ++it) {
        std::string_view k(it->name.GetString(), it->name.GetStringLength());
        if (k == "type" || k == "input" || k == "stream" || k == "previous_response_id" || k == "generate" ||
            (fields == &doc && k == "response"))
            continue;
        if (k == "client_metadata" && it->value.IsObject()) {
            for (auto m = it->value.MemberBegin(); m != it->value.MemberEnd(); ++m) {
                std::string name;
                if (!m->value.IsString() || !socket_header_name(m->name.GetString(), &name)) continue;
                if (r.headers.size() == kMaxMessageHeaders) break;
                r.headers.emplace_back(std::move(name), std::string(m->value.GetString(), m->value.GetStringLength()));
            }
        }
        w.Key(k);
        it->value.Accept(w);
    }
    w.Key("input");
    std::string array;
    array.reserve(items.size() + 2);
    array += '[';
    array += items;
    array += ']';
    w.RawValue(array.data(), array.size(), rapidjson::kArrayType);
    w.Key("stream");
    w.Bool(true);
    w.EndObject();
    if (r.body.size() > max_body_) {
        return error(413, "request_too_large",
                     "the conversation of this connection (" + std::to_string(r.body.size()) +
                         " bytes) exceeds server.max_body_size (" + std::to_string(max_body_) +
                         " bytes); start a new conversation");
    }
    reset_pending();
    pending_ = true;
    pending_items_ = std::move(items);
    return r;
}

void SocketConversation::reset_pending() {
    pending_ = false;
    pending_over_ = false;
    pending_items_.clear();
    pending_output_.clear();
    pending_id_.clear();
}

void SocketConversation::on_event(std::string_view json) {
    if (!pending_) return;
    // Only the events that may matter are parsed (a delta naming none of
    // these types is not); the parse says which it is.
    auto names = [&](std::string_view t) { return json.find(t) != std::string_view::npos; };
    if (!names("\"response.output_item.done\"") && !names("\"response.completed\"") &&
        !(pending_id_.empty() && names("\"response.created\"")))
        return;
    JsonDoc doc;
    if (!parse_json(json, doc) || !doc.IsObject()) return;
    std::string_view type = get_string(member(doc, "type"));
    if (type == "response.output_item.done") {
        const JsonValue* item = member(doc, "item");
        if (!is_object(item) || pending_over_) return;
        std::string text = to_json(*item);
        if (pending_items_.size() + pending_output_.size() + text.size() > max_body_) {
            pending_over_ = true;  // too big to continue from: the client sends everything again
            pending_output_.clear();
            return;
        }
        join(pending_output_, text);
        return;
    }
    const JsonValue* response = member(doc, "response");
    std::string_view id = is_object(response) ? get_string(member(*response, "id")) : std::string_view();
    if (type == "response.created") {
        pending_id_.assign(id);
        return;
    }
    if (type != "response.completed") return;
    if (!id.empty()) pending_id_.assign(id);
    if (pending_over_ || pending_id_.empty()) {
        on_failed();
        return;
    }
    last_id_ = std::move(pending_id_);
    items_ = std::move(pending_items_);
    join(items_, pending_output_);
    reset_pending();
}

void SocketConversation::on_failed() {
    reset_pending();
    // What the client continues from must be a response it saw complete.
    last_id_.clear();
    items_.clear();
}

std::vector<std::string> SocketConversation::warm_up(std::string_view model) {
    Session s;
    std::string id = s.new_id("resp_");
    std::string resp = "{\"id\":";
    append_json_string(resp, id);
    resp += ",\"object\":\"response\",\"created_at\":" + std::to_string(static_cast<int64_t>(std::time(nullptr))) +
            ",\"model\":";
    append_json_string(resp, model);
    std::string created = "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":" + resp +
                          ",\"status\":\"in_progress\",\"output\":[]}}";
    std::string completed = "{\"type\":\"response.completed\",\"sequence_number\":1,\"response\":" + resp +
                            ",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":0,"
                            "\"output_tokens\":0,\"total_tokens\":0}}}";
    std::vector<std::string> events;
    events.push_back(std::move(created));
    events.push_back(std::move(completed));
    if (pending_) {
        last_id_ = std::move(id);
        items_ = std::move(pending_items_);
        reset_pending();
    }
    return events;
}

}  // namespace agd::translate
