#include "media.h"

#include <atomic>
#include <cstdint>
#include <ctime>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "formats.h"
#include "http_out.h"
#include "incoming.h"
#include "json.h"
#include "json_read.h"
#include "script.h"

namespace mock {

namespace {

std::atomic<uint64_t> g_media_seq{0};

constexpr int kImageTokens = 1290;  // what Gemini counts for one image
constexpr std::size_t kDefaultSpeechBytes = 4096;

struct Field {
    std::string name, filename, value;
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower(c);
    return out;
}

// A quoted (or bare) parameter of a header value: name="value".
std::string param(std::string_view header, std::string_view name) {
    std::string low = lowered(header);
    std::string key = std::string("; ") + std::string(name) + "=";
    std::size_t at = low.find(key);
    if (at == std::string::npos) {
        key = std::string(";") + std::string(name) + "=";
        at = low.find(key);
    }
    if (at == std::string::npos) return {};
    std::size_t i = at + key.size();
    if (i < header.size() && header[i] == '"') {
        std::size_t end = header.find('"', i + 1);
        return end == std::string::npos ? std::string() : std::string(header.substr(i + 1, end - i - 1));
    }
    std::size_t end = header.find(';', i);
    return std::string(header.substr(i, end == std::string::npos ? std::string::npos : end - i));
}

// The form's fields, as a server reading the upload would see them;
// nothing when the body is not well-formed multipart for `boundary`.
std::optional<std::vector<Field>> read_form(std::string_view body, const std::string& boundary) {
    if (boundary.empty()) return std::nullopt;
    std::string dash = "--" + boundary;
    std::string delim = "\r\n" + dash;
    std::size_t pos = body.find(dash);
    if (pos == std::string_view::npos) return std::nullopt;
    pos += dash.size();
    std::vector<Field> out;
    while (true) {
        if (body.substr(pos, 2) == "--") return out;
        if (body.substr(pos, 2) != "\r\n") return std::nullopt;
        pos += 2;
        std::size_t head_end = body.find("\r\n\r\n", pos);
        if (head_end == std::string_view::npos) return std::nullopt;
        Field f;
        std::string_view head = body.substr(pos, head_end - pos);
        while (!head.empty()) {
            std::size_t eol = head.find("\r\n");
            std::string_view line = head.substr(0, eol);
            head = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
            if (lowered(line.substr(0, 20)) == "content-disposition:") {
                f.name = param(line, "name");
                f.filename = param(line, "filename");
            }
        }
        std::size_t content = head_end + 4;
        std::size_t end = body.find(delim, content);
        if (end == std::string_view::npos) return std::nullopt;
        f.value.assign(body.substr(content, end - content));
        out.push_back(std::move(f));
        pos = end + delim.size();
    }
}

const Field* field(const std::vector<Field>& fs, std::string_view name) {
    for (const auto& f : fs)
        if (f.name == name) return &f;
    return nullptr;
}

void reply(evhtp_request_t* req, int status, std::string_view type, std::string_view body, bool gemini = false) {
    Headers h;
    if (!gemini) h.emplace_back("x-request-id", fmt::format("req_mock_media{}", ++g_media_seq));
    send_full(req, status, h, type, body);
}

void reply_error(evhtp_request_t* req, int status, std::string_view message, bool gemini = false) {
    reply(req, status, "application/json",
          error_body(gemini ? Api::gemini : Api::chat, status, message, ++g_media_seq), gemini);
}

// OpenAI's images answer: `n` copies of the PNG; usage for gpt-image models only (as OpenAI).
std::string images_body(const std::string& model, int64_t n, std::string_view revised, std::size_t prompt_bytes) {
    JsonOut j;
    j.obj().ki("created", static_cast<int64_t>(std::time(nullptr))).key("data").arr();
    for (int64_t i = 0; i < n; ++i) {
        j.obj().ks("b64_json", kPngBase64);
        if (!revised.empty()) j.ks("revised_prompt", revised);
        j.end();
    }
    j.end();
    if (model.rfind("gpt-image", 0) == 0) {
        int64_t in = static_cast<int64_t>((prompt_bytes + 3) / 4);
        int64_t out = 100 * n;
        j.key("usage").obj().ki("input_tokens", in).ki("output_tokens", out).ki("total_tokens", in + out)
            .key("input_tokens_details").obj().ki("text_tokens", in).ki("image_tokens", 0).end().end();
    }
    j.end();
    return j.take();
}

void image_generation(evhtp_request_t* req, const RecordedRequest& in) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(in.body.data(), in.body.size());
    if (doc.HasParseError() || !doc.IsObject()) return reply_error(req, 400, "mock: the body is not a JSON object");
    std::string model(str_of(doc, "model"));
    std::string_view prompt = str_of(doc, "prompt");
    if (model.empty() || prompt.empty()) return reply_error(req, 400, "mock: model and prompt are required");
    Script s = parse_script(model);
    if (s.status) return reply_error(req, s.status, "mock: scripted failure");
    int64_t n = 1;
    if (const JValue* v = member(doc, "n"); v && v->IsInt64()) n = v->GetInt64();
    if (n < 1 || n > 10) return reply_error(req, 400, "mock: n must be 1..10");
    if (const JValue* st = member(doc, "stream"); st && st->IsBool() && st->GetBool()) {
        // gpt-image-1's stream: partial images, then the completed one with the usage.
        int64_t partials = 1;
        if (const JValue* p = member(doc, "partial_images"); p && p->IsInt64()) partials = p->GetInt64();
        std::string body;
        for (int64_t i = 0; i < partials && i < 3; ++i) {
            JsonOut e;
            e.obj().ks("type", "image_generation.partial_image").ks("b64_json", kPngBase64)
                .ki("partial_image_index", i).end();
            body += "event: image_generation.partial_image\ndata: " + e.text() + "\n\n";
        }
        int64_t in = static_cast<int64_t>((prompt.size() + 3) / 4);
        JsonOut done;
        done.obj().ks("type", "image_generation.completed").ks("b64_json", kPngBase64)
            .key("usage").obj().ki("input_tokens", in).ki("output_tokens", 100).ki("total_tokens", in + 100).end()
            .end();
        body += "event: image_generation.completed\ndata: " + done.text() + "\n\n";
        return reply(req, 200, "text/event-stream", body);
    }
    reply(req, 200, "application/json", images_body(model, n, {}, prompt.size()));
}

std::optional<std::vector<Field>> form_of(evhtp_request_t* req, const RecordedRequest& in) {
    const std::string* ct = find_header(in, "content-type");
    if (!ct || lowered(*ct).rfind("multipart/form-data", 0) != 0) {
        reply_error(req, 400, "mock: expected multipart/form-data");
        return std::nullopt;
    }
    auto form = read_form(in.body, param(*ct, "boundary"));
    if (!form) reply_error(req, 400, "mock: malformed multipart body");
    return form;
}

void image_edit(evhtp_request_t* req, const RecordedRequest& in) {
    auto form = form_of(req, in);
    if (!form) return;
    const Field* model = field(*form, "model");
    const Field* prompt = field(*form, "prompt");
    const Field* image = field(*form, "image");
    if (!image) image = field(*form, "image[]");
    if (!model || !prompt || !image) return reply_error(req, 400, "mock: model, prompt and image are required");
    Script s = parse_script(model->value);
    if (s.status) return reply_error(req, s.status, "mock: scripted failure");
    std::string revised = fmt::format("edit of {} ({} bytes): {}", image->filename, image->value.size(), prompt->value);
    reply(req, 200, "application/json", images_body(model->value, 1, revised, prompt->value.size()));
}

void transcription(evhtp_request_t* req, const RecordedRequest& in, bool translate) {
    auto form = form_of(req, in);
    if (!form) return;
    const Field* model = field(*form, "model");
    const Field* file = field(*form, "file");
    if (!model || !file) return reply_error(req, 400, "mock: model and file are required");
    Script s = parse_script(model->value);
    if (s.status) return reply_error(req, s.status, "mock: scripted failure");
    std::string text = fmt::format("mock {} of {} ({} bytes)", translate ? "translation" : "transcript",
                                   file->filename, file->value.size());
    const Field* fmt_field = field(*form, "response_format");
    if (fmt_field && fmt_field->value == "text") return reply(req, 200, "text/plain; charset=utf-8", text + "\n");
    // gpt-4o transcription models report tokens; whisper reports seconds.
    bool tokens = model->value.rfind("gpt-", 0) == 0;
    const Field* stream = field(*form, "stream");
    if (stream && stream->value == "true") {
        std::string body;
        for (std::string_view piece : {std::string_view(text).substr(0, 5), std::string_view(text).substr(5)}) {
            JsonOut d;
            d.obj().ks("type", "transcript.text.delta").ks("delta", piece).end();
            body += "data: " + d.text() + "\n\n";
        }
        JsonOut done;
        done.obj().ks("type", "transcript.text.done").ks("text", text).key("usage").obj()
            .ks("type", "tokens").ki("input_tokens", 11).ki("output_tokens", 7).ki("total_tokens", 18).end().end();
        body += "data: " + done.text() + "\n\n";
        return reply(req, 200, "text/event-stream", body);
    }
    JsonOut j;
    j.obj().ks("text", text);
    if (!translate && tokens)
        j.key("usage").obj().ks("type", "tokens").ki("input_tokens", 11).ki("output_tokens", 7)
            .ki("total_tokens", 18).key("input_token_details").obj().ki("text_tokens", 0).ki("audio_tokens", 11)
            .end().end();
    else if (!translate)
        j.key("usage").obj().ks("type", "duration").ki("seconds", 3).end();
    j.end();
    reply(req, 200, "application/json", j.text());
}

void speech(evhtp_request_t* req, const RecordedRequest& in) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(in.body.data(), in.body.size());
    if (doc.HasParseError() || !doc.IsObject()) return reply_error(req, 400, "mock: the body is not a JSON object");
    std::string model(str_of(doc, "model"));
    if (model.empty() || str_of(doc, "input").empty() || str_of(doc, "voice").empty())
        return reply_error(req, 400, "mock: model, input and voice are required");
    Script s = parse_script(model);
    if (s.status) return reply_error(req, s.status, "mock: scripted failure");
    std::string_view format = str_of(doc, "response_format");
    std::string type = format.empty() || format == "mp3" ? "audio/mpeg" : "audio/" + std::string(format);
    std::size_t size = s.size ? s.size : kDefaultSpeechBytes;
    // Streamed as OpenAI does (chunked), in 16 KiB pieces of a known pattern.
    Headers h{{"content-type", type}, {"x-request-id", fmt::format("req_mock_media{}", ++g_media_seq)}};
    send_head(req, 200, h, std::nullopt);
    std::string piece;
    for (std::size_t sent = 0; sent < size;) {
        std::size_t n = std::min<std::size_t>(16384, size - sent);
        piece.resize(n);
        for (std::size_t i = 0; i < n; ++i) piece[i] = static_cast<char>((sent + i) % 251);
        if (sent == 0) piece.replace(0, std::min<std::size_t>(3, n), std::string_view("ID3").substr(0, std::min<std::size_t>(3, n)));
        send_chunk(req, piece);
        sent += n;
    }
    send_stream_end(req);
}

bool asks_for_image(const rapidjson::Document& doc) {
    const JValue* gc = member2(doc, "generationConfig", "generation_config");
    const JValue* mods = gc && gc->IsObject() ? member2(*gc, "responseModalities", "response_modalities") : nullptr;
    if (!mods || !mods->IsArray()) return false;
    for (const auto& m : mods->GetArray())
        if (m.IsString() && std::string_view(m.GetString()) == "IMAGE") return true;
    return false;
}

}  // namespace

void media(evhtp_request_t* req, const RecordedRequest& in, MediaApi api) {
    switch (api) {
        case MediaApi::image_generation: return image_generation(req, in);
        case MediaApi::image_edit: return image_edit(req, in);
        case MediaApi::transcription: return transcription(req, in, false);
        case MediaApi::translation: return transcription(req, in, true);
        case MediaApi::speech: return speech(req, in);
    }
}

bool gemini_image(evhtp_request_t* req, const RecordedRequest& in, const std::string& model) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseIterativeFlag>(in.body.data(), in.body.size());
    if (doc.HasParseError() || !doc.IsObject() || !asks_for_image(doc)) return false;
    Script s = parse_script(model);
    if (s.status) {
        reply_error(req, s.status, "mock: scripted failure", true);
        return true;
    }
    const JValue* gc = member2(doc, "generationConfig", "generation_config");
    int64_t count = 1;
    if (const JValue* c = member2(*gc, "candidateCount", "candidate_count"); c && c->IsInt64()) count = c->GetInt64();
    if (count < 1 || count > 8) {
        reply_error(req, 400, "mock: candidateCount must be 1..8", true);
        return true;
    }
    std::string prompt;
    if (const JValue* contents = member(doc, "contents"); contents && contents->IsArray() && !contents->Empty()) {
        const JValue* parts = member((*contents)[contents->Size() - 1], "parts");
        if (parts) prompt = text_of(*parts);
    }
    std::string_view ratio;
    if (const JValue* ic = member2(*gc, "imageConfig", "image_config"); ic && ic->IsObject())
        ratio = str_of(*ic, "aspectRatio");
    JsonOut j;
    j.obj().key("candidates").arr();
    for (int64_t i = 0; i < count; ++i) {
        j.obj().key("content").obj().ks("role", "model").key("parts").arr()
            .obj().ks("text", fmt::format("mock image {} for: {}{}", i, prompt, ratio.empty() ? "" : fmt::format(" ({})", ratio))).end()
            .obj().key("inlineData").obj().ks("mimeType", "image/png").ks("data", kPngBase64).end().end()
            .end().end()
            .ks("finishReason", "STOP").ki("index", i).end();
    }
    int64_t in_tokens = static_cast<int64_t>((prompt.size() + 3) / 4);
    j.end().key("usageMetadata").obj().ki("promptTokenCount", in_tokens)
        .ki("candidatesTokenCount", kImageTokens * count).ki("totalTokenCount", in_tokens + kImageTokens * count).end()
        .ks("modelVersion", model).end();
    reply(req, 200, "application/json", j.text(), true);
    return true;
}

}  // namespace mock
