#include <doctest/doctest.h>

#include <string>

#include "translate/json_util.h"

using namespace agd::translate;

namespace {

// {"items":[{"n":0,"text":"item 0 ..."},...]}: `count` objects, each with a
// string long enough to take the vector copy and the byte-by-byte tail.
std::string items_json(int count) {
    std::string s = "{\"items\":[";
    for (int i = 0; i < count; ++i) {
        if (i) s += ',';
        s += "{\"n\":" + std::to_string(i) + ",\"text\":\"item " + std::to_string(i) +
             " says \\\"hi\\\" \\u00e9 and a tab\\t then forty more plain bytes..\"}";
    }
    return s + "]}";
}

void check_items(const JsonValue& doc, int count) {
    const JsonValue* items = member(doc, "items");
    REQUIRE(is_array(items));
    REQUIRE(items->Size() == static_cast<unsigned>(count));
    for (int i = 0; i < count; i += count / 7 + 1) {
        const JsonValue& it = (*items)[static_cast<unsigned>(i)];
        CHECK(get_int(member(it, "n")) == i);
        CHECK(get_string(member(it, "text")) ==
              "item " + std::to_string(i) + " says \"hi\" \xc3\xa9 and a tab\t then forty more plain bytes..");
    }
}

}  // namespace

TEST_CASE("a JsonDoc holds documents of any size: in its own buffers, then in heap chunks") {
    for (int count : {1, 40, 2000}) {  // about 0.1, 4 and 200 KiB: buffer only, past it, past the 64 KiB scratch
        CAPTURE(count);
        JsonDoc doc;
        std::string err;
        REQUIRE_MESSAGE(parse_json(items_json(count), doc, &err), err);
        check_items(doc, count);
        // The same document parsed into a plain rapidjson::Document agrees.
        rapidjson::Document plain;
        REQUIRE(parse_json(items_json(count), plain));
        CHECK(to_json(doc) == to_json(plain));
    }
}

TEST_CASE("JsonDocs nest: a document parsed while another is alive keeps both intact") {
    JsonDoc outer;
    REQUIRE(parse_json(items_json(40), outer));
    {
        JsonDoc inner;
        REQUIRE(parse_json("{\"a\":\"" + std::string(5000, 'x') + "\"}", inner));
        CHECK(get_string(member(inner, "a")).size() == 5000);
    }
    check_items(outer, 40);
}

TEST_CASE("parse_json reads the view's bytes only, whatever follows them in memory") {
    std::string text = "{\"a\":\"bc\"}{\"junk\":";
    JsonDoc doc;
    REQUIRE(parse_json(std::string_view(text).substr(0, 10), doc));
    CHECK(get_string(member(doc, "a")) == "bc");
    // A view cut inside a string is an error, not a read past its end.
    JsonDoc cut;
    std::string err;
    CHECK_FALSE(parse_json(std::string_view(text).substr(0, 7), cut, &err));
    CHECK(err.find("invalid JSON at byte 7") == 0);
}

TEST_CASE("parse_json: byte-order-mark bytes are skipped, error offsets count from the first byte") {
    JsonDoc doc;
    REQUIRE(parse_json("\xef\xbb\xbf{\"a\":1}", doc));
    CHECK(get_int(member(doc, "a")) == 1);
    std::string err;
    JsonDoc bad;
    CHECK_FALSE(parse_json("\xef\xbb\xbf{\"a\":}", bad, &err));
    CHECK(err.find("invalid JSON at byte 8") == 0);
    JsonDoc plain_bad;
    CHECK_FALSE(parse_json("{\"a\":}", plain_bad, &err));
    CHECK(err.find("invalid JSON at byte 5") == 0);
}

TEST_CASE("parse_json: an embedded NUL ends the text") {
    JsonDoc doc;
    CHECK(parse_json(std::string_view("{\"a\":1}\0{", 9), doc));
    JsonDoc in_string;
    CHECK_FALSE(parse_json(std::string_view("{\"a\":\"x\0y\"}", 11), in_string));
}

TEST_CASE("write_string escapes what JSON requires, at any length and alignment") {
    for (size_t pad = 0; pad < 20; ++pad) {
        std::string s(pad, 'p');
        s += "q\"b\\c\x01\n";
        s += std::string(40, 'z');
        s += "\xc3\xa9";
        rapidjson::StringBuffer buf;
        JsonWriter w(buf);
        write_string(w, s);
        std::string out(buf.GetString(), buf.GetSize());
        CHECK(out == "\"" + std::string(pad, 'p') + "q\\\"b\\\\c\\u0001\\n" + std::string(40, 'z') + "\xc3\xa9\"");
        JsonDoc back;
        REQUIRE(parse_json(out, back));
        CHECK(get_string(&back) == s);
    }
}
