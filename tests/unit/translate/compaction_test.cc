// Codex's compaction v2 through another wire: the trigger read, the summary
// told back as one compaction item (whole and streamed), and read again
// when the client replays it.
#include <doctest/doctest.h>

#include <string>

#include "support.h"
#include "translate/codecs.h"
#include "translate/compaction.h"

using namespace agd;
using namespace agd::translate;
using test::parse;
using test::send;
using test::split_sse;
using test::str;
using Ev = ir::StreamEvent;

namespace {

Session responses_session() {
    Session s;
    s.client = Protocol::OpenAIResponses;
    s.upstream = Protocol::Anthropic;
    s.client_model = "m";
    s.upstream_model = "u";
    s.seed = 1;
    s.now = 1700000000;
    return s;
}

}  // namespace

TEST_CASE("compaction: the gateway's content carries the summary; another's is not read") {
    std::string c = compaction_content("goal: fix \"it\"\nnext: test");
    CHECK(c.rfind("agd-summary-v1:", 0) == 0);
    CHECK(summary_of_compaction(c) == std::string("goal: fix \"it\"\nnext: test"));
    CHECK_FALSE(summary_of_compaction("gAAAAABo-opaque-openai-blob").has_value());
    CHECK_FALSE(summary_of_compaction("agd-summary-v1:***").has_value());
}

TEST_CASE("compaction: the trigger and replayed compaction items decode") {
    Session s = responses_session();
    std::string body = R"({"model":"m","input":[
      {"type":"compaction","id":"cmp_1","encrypted_content":")" + compaction_content("the summary") + R"("},
      {"type":"compaction","id":"cmp_2","encrypted_content":"opaque"},
      {"type":"message","role":"user","content":"go on"},
      {"type":"compaction_trigger"}]})";
    auto r = decode_request(Protocol::OpenAIResponses, body, s);
    REQUIRE(r.ok());
    CHECK(r->compaction_trigger);
    REQUIRE(r->messages.size() == 2);  // the summary (the opaque item left out), then "go on"
    CHECK(r->messages[0].parts.at(0).text == std::string(kSummaryHead) + "the summary");
    CHECK(r->messages[1].parts.at(0).text == "go on");
}

TEST_CASE("compaction: the answer is one compaction item holding the text, whole and streamed") {
    Session s = responses_session();
    s.compaction_item = true;
    ir::Response resp;
    resp.content.push_back(test::text("part one, "));
    resp.content.push_back(test::text("part two"));
    resp.finish = ir::Finish::Stop;
    auto out = parse(encode_response(Protocol::OpenAIResponses, resp, s));
    const JsonValue& items = out["output"];
    REQUIRE(items.Size() == 1);
    CHECK(str(items[0], "type") == "compaction");
    CHECK(summary_of_compaction(str(items[0], "encrypted_content")) == std::string("part one, part two"));

    auto enc = make_responses_stream_encoder(s);
    send(*enc, Ev::Type::Start, {}, 0, "x", "u");
    send(*enc, Ev::Type::Text, "part one, ");
    send(*enc, Ev::Type::Text, "part two");
    send(*enc, Ev::Type::Done);
    auto evs = split_sse(enc->out);
    int compactions = 0;
    for (const auto& e : evs) {
        CHECK(e.name != "response.output_text.delta");
        if (e.name == "response.output_item.done") {
            const JsonValue& item = *member(e.data, "item");
            CHECK(str(item, "type") == "compaction");
            CHECK(summary_of_compaction(str(item, "encrypted_content")) == std::string("part one, part two"));
            ++compactions;
        }
    }
    CHECK(compactions == 1);
    CHECK(evs.back().name == "response.completed");
    CHECK((*member(*member(evs.back().data, "response"), "output")).Size() == 1);
}
