#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "translate/sse.h"

using namespace agd;

TEST_CASE("sse: complete prefix with every line ending") {
    CHECK(sse::complete_prefix("data: a\n\ndata: b") == 9);
    CHECK(sse::complete_prefix("data: a\r\n\r\ndata: b\r\n") == 11);
    CHECK(sse::complete_prefix("data: a\r\rdata") == 9);
    CHECK(sse::complete_prefix("data: a\r\n\r") == 0);  // the \r may be half of \r\n
    CHECK(sse::complete_prefix("data: a") == 0);
    CHECK(sse::complete_prefix("") == 0);
    CHECK(sse::complete_prefix(": ping\n\n") == 8);
}

TEST_CASE("sse: events, names, multi-line data, comments") {
    std::string s = "event: message_stop\ndata: {\"a\":1}\n\n: keep-alive\n\ndata: x\ndata: y\r\n\r\ndata:[DONE]\n\n";
    std::vector<std::string> names, datas;
    sse::for_each_event(s, [&](const sse::Event& e) {
        names.emplace_back(e.name);
        datas.push_back(e.data);
    });
    REQUIRE(names.size() == 3);
    CHECK(names[0] == "message_stop");
    CHECK(datas[0] == "{\"a\":1}");
    CHECK(names[1].empty());
    CHECK(datas[1] == "x\ny");
    CHECK(datas[2] == "[DONE]");
}
