#include "translate/images.h"

#include <cmath>
#include <cstdlib>

namespace agd::translate {

namespace {

constexpr size_t kMaxPromptBytes = 256 * 1024;  // far above any model's prompt limit
constexpr size_t kMaxTextBytes = 64 * 1024;     // the model's words kept as revised_prompt

// The aspect ratios Gemini's imageConfig accepts.
struct Ratio {
    const char* name;
    double value;
};
constexpr Ratio kRatios[] = {{"1:1", 1.0},         {"2:3", 2.0 / 3},  {"3:2", 3.0 / 2}, {"3:4", 3.0 / 4},
                             {"4:3", 4.0 / 3},     {"4:5", 4.0 / 5},  {"5:4", 5.0 / 4}, {"9:16", 9.0 / 16},
                             {"16:9", 16.0 / 9},   {"21:9", 21.0 / 9}};

bool parse_dim(std::string_view s, long& out) {
    if (s.empty() || s.size() > 5) return false;
    long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    return v > 0;
}

std::string_view mime_ext(std::string_view mime) {
    if (mime == "image/jpeg") return "jpeg";
    if (mime == "image/webp") return "webp";
    return "png";
}

}  // namespace

Result<std::string> aspect_ratio_of(std::string_view size) {
    if (size.empty() || size == "auto") return std::string();
    size_t x = size.find('x');
    long w = 0, h = 0;
    if (x == std::string_view::npos || !parse_dim(size.substr(0, x), w) || !parse_dim(size.substr(x + 1), h))
        return Result<std::string>::fail(400, "size must be \"auto\" or WIDTHxHEIGHT (e.g. 1024x1024)");
    // Nearest on a log scale: 1792x1024 (1.75) is 16:9, not 3:2.
    double want = std::log(static_cast<double>(w) / static_cast<double>(h));
    const Ratio* best = &kRatios[0];
    for (const Ratio& r : kRatios)
        if (std::fabs(std::log(r.value) - want) < std::fabs(std::log(best->value) - want)) best = &r;
    return std::string(best->name);
}

Result<ImageRequest> decode_image_request(const JsonValue& body) {
    using R = Result<ImageRequest>;
    if (!body.IsObject()) return R::fail(400, "the request body must be a JSON object");
    ImageRequest r;
    const JsonValue* prompt = member(body, "prompt");
    if (!prompt || !prompt->IsString() || prompt->GetStringLength() == 0)
        return R::fail(400, "prompt is required (a non-empty string)");
    if (prompt->GetStringLength() > kMaxPromptBytes)
        return R::fail(400, "prompt is longer than " + std::to_string(kMaxPromptBytes) + " bytes");
    r.prompt.assign(prompt->GetString(), prompt->GetStringLength());
    if (const JsonValue* n = member(body, "n"); n && !n->IsNull()) {
        auto v = get_int(n);
        if (!v || *v < 1 || *v > kMaxImages)
            return R::fail(400, "n must be an integer from 1 to " + std::to_string(kMaxImages));
        r.n = *v;
    }
    if (const JsonValue* size = member(body, "size"); size && !size->IsNull()) {
        if (!size->IsString()) return R::fail(400, "size must be a string");
        Result<std::string> ar = aspect_ratio_of(get_string(size));
        if (!ar) return R::fail(400, ar.error().message);
        r.aspect_ratio = std::move(ar).value();
    }
    std::string_view fmt = get_string(member(body, "response_format"));
    if (!fmt.empty() && fmt != "b64_json" && fmt != "url")
        return R::fail(400, "response_format must be b64_json or url");
    r.url = fmt == "url";
    if (get_bool(member(body, "stream")).value_or(false))
        return R::fail(400, "streamed image generation is not available for this model's provider (Gemini): send "
                            "stream false");
    return r;
}

std::string encode_gemini_image_request(const ImageRequest& r) {
    std::string out;
    reserve_output(out, r.prompt.size());
    JsonWriter w(out);
    w.StartObject();
    write_key(w, "contents");
    w.StartArray();
    w.StartObject();
    write_key(w, "role");
    write_string(w, "user");
    write_key(w, "parts");
    w.StartArray();
    w.StartObject();
    write_key(w, "text");
    write_string(w, r.prompt);
    w.EndObject();
    w.EndArray();
    w.EndObject();
    w.EndArray();
    write_key(w, "generationConfig");
    w.StartObject();
    write_key(w, "responseModalities");
    w.StartArray();
    write_string(w, "TEXT");
    write_string(w, "IMAGE");
    w.EndArray();
    if (r.n > 1) {
        write_key(w, "candidateCount");
        w.Int64(r.n);
    }
    if (!r.aspect_ratio.empty()) {
        write_key(w, "imageConfig");
        w.StartObject();
        write_key(w, "aspectRatio");
        write_string(w, r.aspect_ratio);
        w.EndObject();
    }
    w.EndObject();
    w.EndObject();
    return out;
}

Result<ImageAnswer> decode_gemini_image_response(std::string_view body) {
    using R = Result<ImageAnswer>;
    JsonDoc doc;
    std::string err;
    ParseOptions opt;
    opt.in_place = true;  // only std::strings are kept
    if (!parse_json(body, doc, &err, opt)) return R::fail(502, "upstream answer: " + err);
    if (!doc.IsObject()) return R::fail(502, "upstream answer: not a JSON object");
    ImageAnswer a;
    std::string finish;
    if (const JsonValue* cands = member(doc, "candidates"); is_array(cands)) {
        for (const auto& c : cands->GetArray()) {
            if (finish.empty()) finish.assign(get_string(member(c, "finishReason", "finish_reason")));
            const JsonValue* content = member(c, "content");
            const JsonValue* parts = is_object(content) ? member(*content, "parts") : nullptr;
            if (!is_array(parts)) continue;
            size_t first = a.images.size();
            std::string words;
            for (const auto& p : parts->GetArray()) {
                if (get_bool(member(p, "thought")).value_or(false)) continue;  // a thinking model's drafts
                if (const JsonValue* inl = member(p, "inlineData", "inline_data"); is_object(inl)) {
                    std::string_view mime = get_string(member(*inl, "mimeType", "mime_type"));
                    std::string_view data = get_string(member(*inl, "data"));
                    if (data.empty() || (!mime.empty() && mime.substr(0, 6) != "image/")) continue;
                    if (a.images.size() >= static_cast<size_t>(kMaxImages) * 4)
                        return R::fail(502, "upstream answer: more images than were asked for");
                    a.images.push_back({std::string(mime.empty() ? "image/png" : mime), std::string(data), {}});
                } else if (std::string_view t = get_string(member(p, "text")); !t.empty()) {
                    if (words.size() + t.size() <= kMaxTextBytes) words.append(t);
                }
            }
            for (size_t i = first; i < a.images.size(); ++i) a.images[i].text = words;
            if (a.text.empty()) a.text = std::move(words);
        }
    }
    if (const JsonValue* u = member(doc, "usageMetadata", "usage_metadata"); is_object(u)) {
        if (auto v = get_int(member(*u, "promptTokenCount", "prompt_token_count"))) a.input_tokens = *v;
        auto out = get_int(member(*u, "candidatesTokenCount", "candidates_token_count"));
        auto thoughts = get_int(member(*u, "thoughtsTokenCount", "thoughts_token_count"));
        if (out || thoughts) a.output_tokens = out.value_or(0) + thoughts.value_or(0);
    }
    if (a.images.empty()) {
        std::string why;
        if (const JsonValue* pf = member(doc, "promptFeedback", "prompt_feedback"); is_object(pf))
            why.assign(get_string(member(*pf, "blockReason", "block_reason")));
        if (why.empty()) why = finish;
        std::string msg = "the model returned no image";
        if (!why.empty()) msg += " (" + why + ")";
        if (!a.text.empty()) msg += ": " + a.text.substr(0, 300);
        return R::fail(502, msg);
    }
    return a;
}

std::string encode_image_response(const ImageRequest& r, const ImageAnswer& a, int64_t created) {
    size_t bytes = 128;
    for (const auto& i : a.images) bytes += i.b64.size() + i.text.size() + 64;
    std::string out;
    out.reserve(bytes);
    JsonWriter w(out);
    w.StartObject();
    write_key(w, "created");
    w.Int64(created);
    write_key(w, "data");
    w.StartArray();
    for (const auto& img : a.images) {
        w.StartObject();
        if (r.url) {
            write_key(w, "url");
            write_string(w, "data:" + img.mime + ";base64," + img.b64);
        } else {
            write_key(w, "b64_json");
            write_string(w, img.b64);
        }
        if (!img.text.empty()) {
            write_key(w, "revised_prompt");
            write_string(w, img.text);
        }
        w.EndObject();
    }
    w.EndArray();
    write_key(w, "output_format");
    write_string(w, mime_ext(a.images.empty() ? std::string_view() : std::string_view(a.images[0].mime)));
    if (a.input_tokens >= 0 || a.output_tokens >= 0) {
        int64_t in = a.input_tokens > 0 ? a.input_tokens : 0, outt = a.output_tokens > 0 ? a.output_tokens : 0;
        write_key(w, "usage");
        w.StartObject();
        write_key(w, "input_tokens");
        w.Int64(in);
        write_key(w, "output_tokens");
        w.Int64(outt);
        write_key(w, "total_tokens");
        w.Int64(in + outt);
        write_key(w, "input_tokens_details");
        w.StartObject();
        write_key(w, "text_tokens");
        w.Int64(in);
        write_key(w, "image_tokens");
        w.Int64(0);
        w.EndObject();
        w.EndObject();
    }
    w.EndObject();
    return out;
}

}  // namespace agd::translate
