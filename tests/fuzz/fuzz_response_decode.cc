// Fuzzes upstream answer decoding and client answer encoding
// (translate/codec.h). Input: the first byte picks the upstream protocol
// (bits 0-1), legacy /v1/completions for the Chat client (bit 2) and a
// signature cache (bit 3); the rest is the upstream's body. An answer that
// decodes is encoded for all four client protocols; every encoded body must
// be valid JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "translate/codec.h"
#include "translate/json_util.h"
#include "translate/signature_cache.h"

using namespace agd;
using namespace agd::translate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t flags = data[0];
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    Protocol upstream = fuzz::protocol_from(flags);
    JsonDepthScope depth(kDefaultMaxJsonDepth);  // server.max_json_depth's default, as the daemon sets it

    SignatureCache cache;
    for (Protocol client : fuzz::kProtocols) {
        Session s = fuzz::make_session(client, upstream);
        s.legacy_completion = client == Protocol::OpenAIChat && (flags & 4);
        if (flags & 8) s.signatures = &cache;
        Result<ir::Response> r = decode_response(upstream, body, s);
        if (!r) return 0;
        std::string out = encode_response(client, r.value(), s);
        std::string what = std::string("encode_response(") + protocol_name(client) + ") of a " +
                           protocol_name(upstream) + " answer wrote invalid JSON";
        fuzz::require_json(out, what.c_str());
    }
    return 0;
}
