#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "pipeline/multipart.h"

using namespace agd;

namespace {

const std::string kType = "multipart/form-data; boundary=XyZ";

std::string part(std::string_view name, std::string_view value, std::string_view extra = "") {
    return "--XyZ\r\nContent-Disposition: form-data; name=\"" + std::string(name) + "\"" + std::string(extra) +
           "\r\n\r\n" + std::string(value) + "\r\n";
}

std::string refusal(const std::string& body, const std::string& type = kType) {
    Result<BodyInfo> r = scan_multipart(type, body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 400);
    return r.error().message;
}

}  // namespace

TEST_CASE("multipart: content type and boundary") {
    CHECK(is_multipart_form("multipart/form-data; boundary=a"));
    CHECK(is_multipart_form("Multipart/Form-Data;boundary=\"a b\""));
    CHECK_FALSE(is_multipart_form("application/json"));
    CHECK_FALSE(is_multipart_form("multipart/form-datax; boundary=a"));
    CHECK(multipart_boundary("multipart/form-data; boundary=abc").value() == "abc");
    CHECK(multipart_boundary("multipart/form-data; charset=utf-8; BOUNDARY=\"a b:c\"").value() == "a b:c");
    CHECK(multipart_boundary("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk").value() ==
          "----WebKitFormBoundary7MA4YWxk");
    CHECK_FALSE(multipart_boundary("multipart/form-data").ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=").ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=\"\"").ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=\"abc").ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'a')).ok());
    CHECK(multipart_boundary("multipart/form-data; boundary=" + std::string(70, 'a')).ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=a\x01z").ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=\"ab \"").ok());
    CHECK_FALSE(multipart_boundary("multipart/form-data; boundary=a; boundary=b").ok());
}

TEST_CASE("multipart: the model field, its span, the stream flag") {
    std::string body = part("file", "RIFF\r\n--Xy not a boundary\r\n", "; filename=\"a.wav\"") +
                       part("model", "whisper-1") + part("stream", "true") + "--XyZ--\r\n";
    Result<BodyInfo> r = scan_multipart(kType, body);
    REQUIRE(r.ok());
    CHECK(r->multipart);
    CHECK(r->has_model);
    CHECK(r->model == "whisper-1");
    CHECK(body.substr(r->model_begin, r->model_end - r->model_begin) == "whisper-1");
    CHECK(r->has_stream);
    CHECK(r->stream);
}

TEST_CASE("multipart: preamble, epilogue, padding, empty headers, unquoted names") {
    std::string body = "preamble text\r\n--XyZ \t\r\n\r\nno headers\r\n--XyZ\r\ncontent-disposition: form-data; "
                       "name=model\r\nContent-Type: text/plain\r\n\r\ngpt-image-1\r\n--XyZ--epilogue\r\n--XyZ\r\n";
    Result<BodyInfo> r = scan_multipart(kType, body);
    REQUIRE(r.ok());
    CHECK(r->model == "gpt-image-1");
    CHECK_FALSE(r->has_stream);
}

TEST_CASE("multipart: a name inside another parameter is not the field's") {
    std::string body = part("image", "PNG", "; filename=\"x; name=model\"") + "--XyZ--";
    Result<BodyInfo> r = scan_multipart(kType, body);
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_model);
    // A part that is itself multipart is content: never descended into.
    std::string nested =
        part("inner", "--In\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nhidden\r\n--In--",
             "\r\nContent-Type: multipart/mixed; boundary=In") +
        "--XyZ--";
    r = scan_multipart(kType, nested);
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_model);
}

TEST_CASE("multipart: hostile bodies get a 400, never a crash") {
    CHECK(refusal(part("model", "m") + "--XyZ--", "multipart/form-data").find("boundary") != std::string::npos);
    CHECK(refusal("", kType).find("without its boundary") != std::string::npos);
    CHECK(refusal("no delimiter at all").find("without its boundary") != std::string::npos);
    // Truncated: in the headers, in a part's content, before the close.
    CHECK(refusal("--XyZ\r\nContent-Disposition: form-data; name=\"model\"").find("truncated") != std::string::npos);
    CHECK(refusal("--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt").find("truncated") !=
          std::string::npos);
    CHECK(refusal(part("model", "m")).find("truncated") != std::string::npos);
    CHECK(refusal("--XyZ").find("truncated") != std::string::npos);
    CHECK(refusal("--XyZjunk\r\n").find("CRLF") != std::string::npos);
    // Huge headers, too many header lines, too many parts.
    std::string huge = "--XyZ\r\nX-Pad: " + std::string(kMultipartMaxHeaderBytes, 'a') + "\r\n\r\nv\r\n--XyZ--";
    CHECK(refusal(huge).find("headers exceed") != std::string::npos);
    std::string many_lines = "--XyZ\r\n";
    for (size_t i = 0; i <= kMultipartMaxHeaders; ++i) many_lines += "X-A: b\r\n";
    many_lines += "\r\nv\r\n--XyZ--";
    CHECK(refusal(many_lines).find("header lines") != std::string::npos);
    std::string many_parts;
    for (size_t i = 0; i <= kMultipartMaxParts; ++i) many_parts += part("f", "v");
    many_parts += "--XyZ--";
    CHECK(refusal(many_parts).find("parts") != std::string::npos);
    // Malformed headers and parameters.
    CHECK(refusal("--XyZ\r\nno colon here\r\n\r\nv\r\n--XyZ--").find("malformed header") != std::string::npos);
    CHECK(refusal("--XyZ\r\nContent-Disposition: form-data; name=\"model\r\n\r\nv\r\n--XyZ--")
              .find("Content-Disposition") != std::string::npos);
    // Fields a server could read two ways.
    CHECK(refusal("--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; "
                  "name=\"model\"\r\n\r\nv\r\n--XyZ--")
              .find("two Content-Disposition") != std::string::npos);
    CHECK(refusal(part("a", "v", "; name=\"model\"") + "--XyZ--").find("Content-Disposition") != std::string::npos);
    CHECK(refusal(part("a", "v", "; name*=UTF-8''model") + "--XyZ--").find("Content-Disposition") !=
          std::string::npos);
    // The model field: twice, too long, control characters, invalid UTF-8.
    CHECK(refusal(part("model", "a") + part("model", "b") + "--XyZ--").find("more than one") != std::string::npos);
    CHECK(refusal(part("model", std::string(kMultipartMaxModelBytes + 1, 'm')) + "--XyZ--").find("longer") !=
          std::string::npos);
    CHECK(refusal(part("model", "a\nb") + "--XyZ--").find("control") != std::string::npos);
    CHECK(refusal(part("model", "a\xff") + "--XyZ--").find("UTF-8") != std::string::npos);
}

TEST_CASE("multipart: no model field is not the scan's refusal") {
    Result<BodyInfo> r = scan_multipart(kType, part("file", "x") + "--XyZ--");
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_model);
}

TEST_CASE("multipart: near-delimiters cost linear time") {
    // Every other byte starts a delimiter that never completes.
    std::string body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n";
    for (int i = 0; i < 200000; ++i) body += "\r\n--Xy";
    body += "\r\n--XyZ--";
    Result<BodyInfo> r = scan_multipart(kType, body);
    CHECK(r.ok());
}

namespace {

// Feeds `body` to a MultipartScan in pieces of `piece` bytes, dropping what
// it has checked as a streamed upload would; returns the outcome and the
// most bytes checked before it.
struct Fed {
    Status status;
    BodyInfo info;
    size_t checked = 0;
    bool model_known_early = false;  // known before the body ended
};

Fed feed(const std::string& body, size_t piece, const std::string& type = kType) {
    Fed out;
    Result<MultipartScan> scan = MultipartScan::open(type);
    REQUIRE(scan.ok());
    size_t base = 0, arrived = 0;
    while (true) {
        arrived = std::min(body.size(), arrived + piece);
        bool end = arrived == body.size();
        size_t before = scan->checked();
        out.status = scan->advance(std::string_view(body).substr(base, arrived - base), base, end);
        CHECK(scan->checked() >= before);   // never goes back
        CHECK(scan->checked() <= arrived);  // never past what arrived
        if (!out.status.ok()) break;
        out.checked = scan->checked();
        if (scan->model_known() && !end) out.model_known_early = true;
        base = scan->checked();  // what a stream may drop
        if (end) break;
    }
    out.info = scan->info();
    return out;
}

}  // namespace

TEST_CASE("multipart: a scan fed in pieces agrees with the whole scan") {
    std::string file(20000, 'a');
    file[777] = '\r';
    file[778] = '\n';
    file += "\r\n--XyZ-almost";  // near-delimiters inside the content
    std::vector<std::string> bodies = {
        part("model", "whisper-1") + part("file", file, "; filename=\"a.wav\"") + part("stream", "true") + "--XyZ--\r\n",
        part("file", file, "; filename=\"a.wav\"") + part("model", "gpt-4o-transcribe") + "--XyZ--",
        "preamble text\r\n" + part("model", "m") + "--XyZ--epilogue",
        part("file", "x") + "--XyZ  \t\r\n",                        // truncated after padding
        part("model", "a") + part("model", "b") + "--XyZ--",        // two models
        part("model", std::string(600, 'm')) + "--XyZ--",           // model too long
        part("file", "x") + "--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n",  // truncated headers
        "no boundary at all",
    };
    for (const std::string& body : bodies) {
        Result<BodyInfo> whole = scan_multipart(kType, body);
        for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, size_t{64}, size_t{4096}, body.size()}) {
            CAPTURE(piece);
            CAPTURE(body.substr(0, 60));
            Fed f = feed(body, piece);
            REQUIRE(f.status.ok() == whole.ok());
            if (!whole.ok()) {
                CHECK(f.status.error().message == whole.error().message);
                continue;
            }
            CHECK(f.checked == body.size());
            CHECK(f.info.has_model == whole.value().has_model);
            CHECK(f.info.model == whole.value().model);
            CHECK(f.info.model_begin == whole.value().model_begin);
            CHECK(f.info.model_end == whole.value().model_end);
            CHECK(f.info.stream == whole.value().stream);
        }
    }
}

TEST_CASE("multipart: a streamed scan knows the model early and checks before it lets bytes go") {
    std::string file(100000, 'z');
    std::string body = part("model", "whisper-1") + part("file", file, "; filename=\"a.wav\"") + "--XyZ--\r\n";
    Fed f = feed(body, 1000);
    REQUIRE(f.status.ok());
    CHECK(f.model_known_early);

    // A second model field after a long file: refused before any byte of
    // its part was let through.
    std::string second = part("file", file) + part("model", "other");
    std::string hostile = part("model", "whisper-1") + second + "--XyZ--";
    size_t second_model_part = hostile.find("--XyZ\r\nContent-Disposition: form-data; name=\"model\"", 10);
    Result<MultipartScan> scan = MultipartScan::open(kType);
    REQUIRE(scan.ok());
    size_t arrived = 0;
    Status st;
    while (st.ok() && arrived < hostile.size()) {
        arrived = std::min(hostile.size(), arrived + 333);
        st = scan->advance(std::string_view(hostile).substr(0, arrived), 0, arrived == hostile.size());
        if (st.ok()) CHECK(scan->checked() <= second_model_part + 2 + 5 + 2);  // at most its delimiter line
    }
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message == "multipart body with more than one 'model' field");

    // The model field is checked only once whole: nothing of it is let go early.
    Result<MultipartScan> s2 = MultipartScan::open(kType);
    REQUIRE(s2.ok());
    std::string start = part("model", "whisp");
    start.resize(start.size() - 2);  // its value not yet ended
    REQUIRE(s2->advance(start, 0, false).ok());
    CHECK_FALSE(s2->model_known());
    CHECK(s2->checked() == start.find("whisp"));
}

TEST_CASE("multipart: a folded header line is refused, not skipped") {
    // Joined to the line before, it would name the part "model" for a
    // server that reads folds; skipped, it would leave the part unnamed here.
    std::string folded = "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"model\"\r\n\r\nother\r\n" +
                         part("model", "whisper-1") + "--XyZ--";
    CHECK(refusal(folded) == "part 1 has a folded header line");
}
