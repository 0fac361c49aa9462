// The body scan run both ways, the plain scan and the one that also builds
// the DOM (a request that may be translated): both must agree on every
// field and every refusal, and the DOM must be the text's.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "pipeline/body.h"
#include "translate/json_util.h"

namespace agd::test {

inline Result<BodyInfo> scan_both(const std::string& s, unsigned max_depth = kDefaultMaxJsonDepth) {
    Result<BodyInfo> plain = scan_body(s.c_str(), s.size(), max_depth);
    translate::JsonDoc dom;
    Result<BodyInfo> built = scan_body(s.c_str(), s.size(), max_depth, &dom);
    REQUIRE(plain.ok() == built.ok());
    if (!plain.ok()) {
        CHECK(plain.error().code == built.error().code);
        CHECK(plain.error().message == built.error().message);
        CHECK(dom.IsNull());
        return plain;
    }
    const BodyInfo& a = plain.value();
    const BodyInfo& b = built.value();
    CHECK(a.is_object == b.is_object);
    CHECK(a.has_model == b.has_model);
    CHECK(a.model == b.model);
    CHECK(a.model_begin == b.model_begin);
    CHECK(a.model_end == b.model_end);
    CHECK(a.has_stream == b.has_stream);
    CHECK(a.stream == b.stream);
    CHECK(a.has_stream_options == b.has_stream_options);
    CHECK(a.prompt_cache_key == b.prompt_cache_key);
    CHECK(a.user == b.user);
    CHECK(a.metadata_user_id == b.metadata_user_id);
    REQUIRE(dom.IsObject());
    // Comparing walks the trees recursively: only as deep as the codecs go.
    if (max_depth <= kDefaultMaxJsonDepth) {
        translate::JsonDoc parsed;
        REQUIRE(translate::parse_json(s, parsed));
        CHECK(translate::to_json(dom) == translate::to_json(parsed));
    }
    return plain;
}

}  // namespace agd::test
