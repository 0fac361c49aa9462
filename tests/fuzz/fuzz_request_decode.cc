// Fuzzes client request decoding and upstream request encoding
// (translate/codec.h). Input: the first byte picks the client protocol
// (bits 0-1), legacy /v1/completions for a Chat client (bit 2), a streamed
// request (bit 3) and a signature cache (bit 4); the rest is the body. A body
// that decodes is encoded for all four upstream protocols; every encoded
// body must be valid JSON. As in the daemon, the body scan goes first
// (server.max_json_depth at its default, UTF-8, NUL bytes) and the codecs
// run inside a JsonDepthScope with the same limit.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "pipeline/body.h"
#include "translate/codec.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"

using namespace agd;
using namespace agd::translate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t flags = data[0];
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    Protocol client = fuzz::protocol_from(flags);
    std::string copy(body);  // the scan wants a NUL after the body
    if (!scan_body(copy.c_str(), copy.size(), kDefaultMaxJsonDepth)) return 0;
    JsonDepthScope depth(kDefaultMaxJsonDepth);

    SignatureCache cache;
    for (Protocol upstream : fuzz::kProtocols) {
        Session s = fuzz::make_session(client, upstream);
        s.legacy_completion = client == Protocol::OpenAIChat && (flags & 4);
        s.stream = flags & 8;  // Gemini: from the URL; the others read the body
        if (flags & 16) s.signatures = &cache;
        Result<ir::Request> req = decode_request(client, body, s);
        if (!req) return 0;
        Result<std::string> out = encode_request(upstream, req.value(), s);
        if (!out) continue;
        std::string what = std::string("encode_request(") + protocol_name(upstream) + ") of a " +
                           protocol_name(client) + " request wrote invalid JSON";
        fuzz::require_json(out.value(), what.c_str());
    }
    return 0;
}
