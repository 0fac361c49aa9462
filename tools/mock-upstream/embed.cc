#include "embed.h"

#include <rapidjson/document.h>

#include <cstdint>
#include <cstring>

#include "common/base64.h"
#include "formats.h"
#include "json.h"
#include "json_read.h"

namespace mock {

namespace {

constexpr int kDefaultDims = 8;
constexpr int kMaxDims = 4096;

std::string number(double v) {
    // Multiples of 1/256: at most 8 decimals, exact.
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.8g", v);
    return buf;
}

std::string values_json(const std::vector<double>& v) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += ',';
        out += number(v[i]);
    }
    return out + "]";
}

std::string base64_floats(const std::vector<double>& v) {
    std::string bytes;
    for (double d : v) {
        float f = static_cast<float>(d);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>((u >> (8 * b)) & 0xFF));
    }
    return agd::base64_encode(bytes);
}

std::pair<int, std::string> bad(EmbedApi api, const std::string& message) {
    return {400, error_body(api == EmbedApi::openai ? Api::chat : Api::gemini, 400, message, 0)};
}

// A Gemini entry's text (its parts' texts joined), or "" when it has none.
std::string entry_text(const JValue& e) {
    const JValue* content = member(e, "content");
    if (!content || !content->IsObject()) return {};
    const JValue* parts = member(*content, "parts");
    std::string out;
    if (!parts || !parts->IsArray()) return out;
    for (const auto& p : parts->GetArray()) {
        std::string_view t = str_of(p, "text");
        if (t.empty()) continue;
        if (!out.empty()) out += '\n';
        out.append(t);
    }
    return out;
}

int dims_of(const JValue* v, bool* ok) {
    *ok = true;
    if (!v || v->IsNull()) return kDefaultDims;
    if (!v->IsInt() || v->GetInt() < 1 || v->GetInt() > kMaxDims) {
        *ok = false;
        return 0;
    }
    return v->GetInt();
}

}  // namespace

std::vector<double> embed_vector(const std::string& text, int dimensions) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    std::vector<double> v;
    v.reserve(static_cast<size_t>(dimensions));
    for (int k = 0; k < dimensions; ++k) {
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ull;
        v.push_back(static_cast<double>((h >> 40) & 0xFF) / 256.0);
    }
    return v;
}

std::pair<int, std::string> embed_answer(EmbedApi api, const std::string& body, const std::string& model) {
    rapidjson::Document doc;
    doc.Parse(body.c_str(), body.size());
    if (doc.HasParseError() || !doc.IsObject()) return bad(api, "the body is not a JSON object");
    bool ok = true;
    JsonOut j;
    if (api == EmbedApi::openai) {
        std::string_view m = str_of(doc, "model");
        if (m.empty()) return bad(api, "you must provide a model parameter");
        const JValue* input = member(doc, "input");
        std::vector<std::string> texts;
        if (input && input->IsString()) {
            texts.emplace_back(input->GetString(), input->GetStringLength());
        } else if (input && input->IsArray() && !input->Empty()) {
            for (const auto& t : input->GetArray()) {
                if (t.IsString()) texts.emplace_back(t.GetString(), t.GetStringLength());
                else if (t.IsInt()) texts.emplace_back("token " + std::to_string(t.GetInt()));
                else return bad(api, "'input' entries must be strings or token ids");
            }
        } else {
            return bad(api, "'input' is a required property (a string or a non-empty array)");
        }
        int dims = dims_of(member(doc, "dimensions"), &ok);
        if (!ok) return bad(api, "'dimensions' must be an integer from 1 to 4096");
        std::string_view fmt = str_of(doc, "encoding_format");
        if (!fmt.empty() && fmt != "float" && fmt != "base64") return bad(api, "'encoding_format' must be float or base64");
        int64_t tokens = 0;
        j.obj().ks("object", "list").key("data").arr();
        for (size_t i = 0; i < texts.size(); ++i) {
            tokens += static_cast<int64_t>((texts[i].size() + 3) / 4);
            auto v = embed_vector(texts[i], dims);
            j.obj().ks("object", "embedding").ki("index", static_cast<int64_t>(i));
            if (fmt == "base64") j.ks("embedding", base64_floats(v));
            else j.kr("embedding", values_json(v));
            j.end();
        }
        j.end().ks("model", m).key("usage").obj().ki("prompt_tokens", tokens).ki("total_tokens", tokens).end().end();
        return {200, j.text()};
    }
    if (api == EmbedApi::gemini_one) {
        std::string text = entry_text(doc);
        if (text.empty()) return bad(api, "* EmbedContentRequest.content: contents must have at least one text part");
        int dims = dims_of(member2(doc, "outputDimensionality", "output_dimensionality"), &ok);
        if (!ok) return bad(api, "outputDimensionality must be from 1 to 4096");
        j.obj().key("embedding").obj().kr("values", values_json(embed_vector(text, dims))).end().end();
        return {200, j.text()};
    }
    const JValue* reqs = member(doc, "requests");
    if (!reqs || !reqs->IsArray() || reqs->Empty()) return bad(api, "* BatchEmbedContentsRequest.requests: required");
    if (reqs->Size() > 100) return bad(api, "* BatchEmbedContentsRequest.requests: at most 100 requests");
    j.obj().key("embeddings").arr();
    for (const auto& e : reqs->GetArray()) {
        // The real API refuses an entry naming another model than the URL's.
        if (str_of(e, "model") != "models/" + model)
            return bad(api, "* BatchEmbedContentsRequest.requests[].model: must be models/" + model);
        std::string text = entry_text(e);
        if (text.empty()) return bad(api, "* BatchEmbedContentsRequest.requests[].content: a text part is required");
        int dims = dims_of(member2(e, "outputDimensionality", "output_dimensionality"), &ok);
        if (!ok) return bad(api, "outputDimensionality must be from 1 to 4096");
        j.obj().kr("values", values_json(embed_vector(text, dims))).end();
    }
    j.end().end();
    return {200, j.text()};
}

}  // namespace mock
