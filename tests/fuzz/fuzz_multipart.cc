// Fuzzes the multipart scan (src/pipeline/multipart.h), what routes an
// upload. Input: one byte, the length of the Content-Type value (mod 128)
// that follows it, then the body. Checks that
//  - a scan that passes has the model's span inside the body, the bytes of
//    that span equal to the model, and the model within its bound;
//  - the span is exactly the field's value: the body with the span replaced
//    by another name scans again to that name (what a passthrough's rename
//    relies on);
//  - the same input scans the same way twice;
//  - fed in pieces (a streamed upload: sizes taken from the body's bytes),
//    dropping what it has checked as it goes, the scan comes to the same
//    verdict (pass or refuse) and model, never checks past what arrived
//    nor goes back.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "pipeline/multipart.h"

using namespace agd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    size_t ct_len = data[0] & 0x7f;
    if (size - 1 < ct_len) return 0;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
    std::string_view type = in.substr(0, ct_len);
    std::string_view body = in.substr(ct_len);

    (void)is_multipart_form(type);
    Result<BodyInfo> r = scan_multipart(type, body);
    Result<BodyInfo> again = scan_multipart(type, body);
    if (r.ok() != again.ok()) fuzz::fail("two scans of the same input disagree");
    if (Result<MultipartScan> scan = MultipartScan::open(type); scan.ok()) {
        size_t base = 0, arrived = 0, k = 0;
        Status st;
        while (true) {
            size_t piece = body.empty() ? 1 : 1 + static_cast<unsigned char>(body[k++ % body.size()]) % 97;
            arrived = std::min(body.size(), arrived + piece);
            bool end = arrived == body.size();
            size_t before = scan->checked();
            st = scan->advance(body.substr(base, arrived - base), base, end);
            if (scan->checked() < before) fuzz::fail("the streamed scan went back");
            if (scan->checked() > arrived) fuzz::fail("the streamed scan checked bytes not yet arrived");
            if (!st.ok() || end) break;
            base = scan->checked();
        }
        if (st.ok() != r.ok()) fuzz::fail("the streamed scan and the whole scan disagree");
        if (st.ok() && (scan->info().model != r.value().model || scan->info().model_begin != r.value().model_begin))
            fuzz::fail("the streamed scan found another model", scan->info().model);
        // (A refusal may name another fault: a model field too long is
        // seen before the end that shows the body truncated too.)
        if (!st.ok() && (st.error().code != 400 || st.error().message.empty()))
            fuzz::fail("a streamed refusal without a 400 and a message");
    }
    if (!r.ok()) {
        if (r.error().code != 400 || r.error().message.empty()) fuzz::fail("a refusal without a 400 and a message");
        return 0;
    }
    const BodyInfo& b = r.value();
    if (!b.multipart) fuzz::fail("a passed scan without multipart set");
    if (!b.has_model) return 0;
    if (b.model_begin > b.model_end || b.model_end > body.size()) fuzz::fail("model span outside the body");
    if (body.substr(b.model_begin, b.model_end - b.model_begin) != b.model) fuzz::fail("model span != model", b.model);
    if (b.model.size() > kMultipartMaxModelBytes) fuzz::fail("model outside its bound", b.model);

    std::string renamed(body.substr(0, b.model_begin));
    renamed += "renamed-model";
    renamed += body.substr(b.model_end);
    Result<BodyInfo> r2 = scan_multipart(type, renamed);
    if (!r2.ok()) fuzz::fail("the renamed body is refused", r2.error().message);
    if (r2.value().model != "renamed-model") fuzz::fail("the renamed body names another model", r2.value().model);
    return 0;
}
