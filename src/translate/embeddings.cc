#include "translate/embeddings.h"

#include <cmath>
#include <cstring>

#include "common/base64.h"

namespace agd::translate {

namespace {

constexpr size_t kMaxTexts = 2048;       // OpenAI's own limit of inputs per request
constexpr size_t kMaxDimensions = 65536; // values in one upstream vector

using ReqResult = Result<EmbedRequest>;

// A Gemini Content's text: its parts' texts, joined.
std::string content_text(const JsonValue* content) {
    std::string out;
    const JsonValue* parts = is_object(content) ? member(*content, "parts") : nullptr;
    if (!is_array(parts)) return out;
    for (const auto& p : parts->GetArray()) {
        std::string_view t = get_string(member(p, "text"));
        if (t.empty()) continue;
        if (!out.empty()) out += '\n';
        out.append(t);
    }
    return out;
}

// One embedContent-shaped object (a whole request, or an entry of a batch).
std::string read_gemini_entry(const JsonValue& e, const std::string& at, EmbedRequest& r) {
    if (!e.IsObject()) return at + " must be an object";
    std::string text = content_text(member(e, "content"));
    if (text.empty()) return at + ".content needs a part with text (only text can be embedded)";
    r.texts.push_back(std::move(text));
    if (r.texts.size() == 1) {  // the first entry's settings stand for all
        if (auto d = get_int(member(e, "outputDimensionality", "output_dimensionality")); d && *d > 0)
            r.dimensions = *d;
        r.task_type.assign(get_string(member(e, "taskType", "task_type")));
        r.title.assign(get_string(member(e, "title")));
    }
    return {};
}

void write_gemini_entry(JsonWriter& w, const EmbedRequest& r, const std::string& text, const std::string& model) {
    w.StartObject();
    write_key(w, "model");
    write_string(w, "models/" + model);
    write_key(w, "content");
    w.StartObject();
    write_key(w, "parts");
    w.StartArray();
    w.StartObject();
    write_key(w, "text");
    write_string(w, text);
    w.EndObject();
    w.EndArray();
    w.EndObject();
    if (!r.task_type.empty()) {
        write_key(w, "taskType");
        write_string(w, r.task_type);
    }
    if (!r.title.empty()) {
        write_key(w, "title");
        write_string(w, r.title);
    }
    if (r.dimensions) {
        write_key(w, "outputDimensionality");
        w.Int64(*r.dimensions);
    }
    w.EndObject();
}

// A vector of numbers: its values, or false.
bool read_values(const JsonValue* v, std::vector<double>& out) {
    if (!is_array(v) || v->Size() > kMaxDimensions) return false;
    out.reserve(v->Size());
    for (const auto& x : v->GetArray()) {
        if (!x.IsNumber()) return false;
        out.push_back(x.GetDouble());
    }
    return true;
}

// OpenAI's base64 form: float32 little-endian.
bool read_base64_values(std::string_view b64, std::vector<double>& out) {
    std::string bytes;
    if (!base64_decode(b64, bytes) || bytes.size() % 4 != 0 || bytes.size() / 4 > kMaxDimensions) return false;
    for (size_t i = 0; i < bytes.size(); i += 4) {
        uint32_t u = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) |
                     static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8 |
                     static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 2])) << 16 |
                     static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 3])) << 24;
        float f;
        std::memcpy(&f, &u, 4);
        out.push_back(f);
    }
    return true;
}

}  // namespace

std::string base64_floats(const std::vector<double>& v) {
    std::string bytes(v.size() * 4, '\0');
    for (size_t i = 0; i < v.size(); ++i) {
        float f = static_cast<float>(v[i]);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
    }
    return base64_encode(bytes);
}

Result<EmbedRequest> decode_embed_request(Operation op, const JsonValue& body) {
    if (!body.IsObject()) return ReqResult::fail(400, "the request body must be a JSON object");
    EmbedRequest r;
    if (op == Operation::GeminiEmbedContent) {
        if (std::string err = read_gemini_entry(body, "the request", r); !err.empty()) return ReqResult::fail(400, err);
        return r;
    }
    if (op == Operation::GeminiBatchEmbed) {
        const JsonValue* reqs = member(body, "requests");
        if (!is_array(reqs) || reqs->Empty()) return ReqResult::fail(400, "requests: a non-empty array is required");
        if (reqs->Size() > kMaxTexts)
            return ReqResult::fail(400, "requests: at most " + std::to_string(kMaxTexts) + " entries");
        size_t i = 0;
        for (const auto& e : reqs->GetArray()) {
            std::string err = read_gemini_entry(e, "requests[" + std::to_string(i++) + "]", r);
            if (!err.empty()) return ReqResult::fail(400, err);
        }
        return r;
    }
    const JsonValue* input = member(body, "input");
    if (!input) return ReqResult::fail(400, "input is required (a string or an array of strings)");
    auto tokens_refused = [] {
        return ReqResult::fail(400, "input given as token ids cannot be embedded by this model's provider (it takes "
                                    "text): send the text");
    };
    if (input->IsString()) {
        r.texts.emplace_back(get_string(input));
    } else if (input->IsArray()) {
        if (input->Empty()) return ReqResult::fail(400, "input must not be empty");
        if (input->Size() > kMaxTexts) return ReqResult::fail(400, "input: at most " + std::to_string(kMaxTexts) + " entries");
        for (const auto& v : input->GetArray()) {
            if (v.IsNumber() || v.IsArray()) return tokens_refused();
            if (!v.IsString()) return ReqResult::fail(400, "input entries must be strings");
            r.texts.emplace_back(v.GetString(), v.GetStringLength());
        }
    } else {
        return ReqResult::fail(400, "input must be a string or an array of strings");
    }
    for (const auto& t : r.texts)
        if (t.empty()) return ReqResult::fail(400, "input strings must not be empty");
    if (const JsonValue* d = member(body, "dimensions"); d && !d->IsNull()) {
        auto n = get_int(d);
        if (!n || *n <= 0) return ReqResult::fail(400, "dimensions must be a positive integer");
        r.dimensions = *n;
    }
    std::string_view fmt = get_string(member(body, "encoding_format"));
    if (!fmt.empty() && fmt != "float" && fmt != "base64")
        return ReqResult::fail(400, "encoding_format must be float or base64");
    r.base64 = fmt == "base64";
    r.user.assign(get_string(member(body, "user")));
    return r;
}

Result<std::string> encode_embed_request(Protocol wire, const EmbedRequest& r, const std::string& upstream_model) {
    std::string out;
    JsonWriter w(out);
    if (wire == Protocol::Gemini) {
        if (r.texts.size() > kMaxGeminiBatch)
            return Result<std::string>::fail(400, "at most " + std::to_string(kMaxGeminiBatch) +
                                                      " inputs per request can be embedded by this model (Gemini)");
        w.StartObject();
        write_key(w, "requests");
        w.StartArray();
        for (const auto& t : r.texts) write_gemini_entry(w, r, t, upstream_model);
        w.EndArray();
        w.EndObject();
        return out;
    }
    if (wire == Protocol::Anthropic)
        return Result<std::string>::fail(400, "this model's provider (Anthropic) has no embeddings API");
    w.StartObject();
    write_key(w, "model");
    write_string(w, upstream_model);
    write_key(w, "input");
    w.StartArray();
    for (const auto& t : r.texts) write_string(w, t);
    w.EndArray();
    write_key(w, "encoding_format");
    write_string(w, "float");
    if (r.dimensions) {
        write_key(w, "dimensions");
        w.Int64(*r.dimensions);
    }
    if (!r.user.empty()) {
        write_key(w, "user");
        write_string(w, r.user);
    }
    w.EndObject();
    return out;
}

Result<EmbedResponse> decode_embed_response(Protocol wire, std::string_view body, size_t texts) {
    using R = Result<EmbedResponse>;
    JsonDoc doc;
    std::string err;
    if (!parse_json(body, doc, &err)) return R::fail(502, "upstream answer: " + err);
    if (!doc.IsObject()) return R::fail(502, "upstream answer: not a JSON object");
    EmbedResponse a;
    if (wire == Protocol::Gemini) {
        const JsonValue* list = member(doc, "embeddings");
        if (is_array(list)) {
            for (const auto& e : list->GetArray()) {
                a.vectors.emplace_back();
                if (!read_values(member(e, "values"), a.vectors.back()))
                    return R::fail(502, "upstream answer: an embedding without values");
            }
        } else if (const JsonValue* one = member(doc, "embedding"); is_object(one)) {
            a.vectors.emplace_back();
            if (!read_values(member(*one, "values"), a.vectors.back()))
                return R::fail(502, "upstream answer: an embedding without values");
        }
    } else {
        const JsonValue* data = member(doc, "data");
        if (is_array(data)) {
            a.vectors.resize(data->Size());
            size_t pos = 0;
            for (const auto& e : data->GetArray()) {
                size_t index = static_cast<size_t>(get_int(member(e, "index")).value_or(static_cast<int64_t>(pos)));
                ++pos;
                if (index >= a.vectors.size() || !a.vectors[index].empty())
                    return R::fail(502, "upstream answer: embedding indexes out of order or repeated");
                const JsonValue* v = member(e, "embedding");
                bool ok = v && v->IsString() ? read_base64_values(get_string(v), a.vectors[index])
                                             : read_values(v, a.vectors[index]);
                if (!ok) return R::fail(502, "upstream answer: an embedding that is not a list of numbers");
            }
        }
        if (const JsonValue* u = member(doc, "usage"); is_object(u))
            if (auto n = get_int(member(*u, "prompt_tokens"))) a.prompt_tokens = *n;
    }
    if (a.vectors.size() != texts)
        return R::fail(502, "upstream answer: " + std::to_string(a.vectors.size()) + " embeddings for " +
                                std::to_string(texts) + " inputs");
    return a;
}

int64_t estimate_embed_tokens(const EmbedRequest& r) {
    int64_t tokens = 0;
    for (const auto& t : r.texts) tokens += static_cast<int64_t>((t.size() + 3) / 4);
    return tokens;
}

std::string encode_embed_response(Operation op, const EmbedResponse& a, const EmbedRequest& r,
                                  std::string_view client_model) {
    std::string out;
    size_t values = 0;
    for (const auto& v : a.vectors) values += v.size();
    out.reserve(64 + values * 12);
    JsonWriter w(out);
    auto vector = [&](const std::vector<double>& v) {
        w.StartArray();
        for (double x : v) w.Double(x);
        w.EndArray();
    };
    w.StartObject();
    if (op == Operation::GeminiEmbedContent) {
        write_key(w, "embedding");
        w.StartObject();
        write_key(w, "values");
        vector(a.vectors.empty() ? std::vector<double>() : a.vectors[0]);
        w.EndObject();
    } else if (op == Operation::GeminiBatchEmbed) {
        write_key(w, "embeddings");
        w.StartArray();
        for (const auto& v : a.vectors) {
            w.StartObject();
            write_key(w, "values");
            vector(v);
            w.EndObject();
        }
        w.EndArray();
    } else {
        write_key(w, "object");
        write_string(w, "list");
        write_key(w, "data");
        w.StartArray();
        for (size_t i = 0; i < a.vectors.size(); ++i) {
            w.StartObject();
            write_key(w, "object");
            write_string(w, "embedding");
            write_key(w, "index");
            w.Uint64(i);
            write_key(w, "embedding");
            if (r.base64) write_string(w, base64_floats(a.vectors[i]));
            else vector(a.vectors[i]);
            w.EndObject();
        }
        w.EndArray();
        write_key(w, "model");
        write_string(w, client_model);
        // Gemini reports no tokens: the estimate the daemon records too.
        int64_t tokens = a.prompt_tokens >= 0 ? a.prompt_tokens : estimate_embed_tokens(r);
        write_key(w, "usage");
        w.StartObject();
        write_key(w, "prompt_tokens");
        w.Int64(tokens);
        write_key(w, "total_tokens");
        w.Int64(tokens);
        w.EndObject();
    }
    w.EndObject();
    return out;
}

}  // namespace agd::translate
