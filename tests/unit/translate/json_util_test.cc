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
        std::string out;
        JsonWriter w(out);
        write_string(w, s);
        CHECK(out == "\"" + std::string(pad, 'p') + "q\\\"b\\\\c\\u0001\\n" + std::string(40, 'z') + "\xc3\xa9\"");
        JsonDoc back;
        REQUIRE(parse_json(out, back));
        CHECK(get_string(&back) == s);
    }
}

namespace {

// {"a":{"a":...[1]...}}: `levels` arrays and objects.
std::string nested(int levels) {
    std::string s;
    for (int i = 1; i < levels; ++i) s += "{\"a\":";
    s += "[1]";
    for (int i = 1; i < levels; ++i) s += '}';
    return s;
}

}  // namespace

TEST_CASE("parse_json refuses nesting past json_depth_limit(), 512 unless a scope says otherwise") {
    CHECK(json_depth_limit() == 512);
    JsonDoc ok;
    REQUIRE(parse_json(nested(512), ok));
    CHECK(to_json(ok) == nested(512));  // RapidJSON's recursive writer, 512 deep
    JsonDoc deep;
    std::string err;
    CHECK(parse_json_status(nested(513), deep, &err) == JsonStatus::TooDeep);
    CHECK(err == "JSON nested deeper than 512 levels (server.max_json_depth) at byte 2560");
    CHECK(deep.IsNull());
    // The repro, objects and arrays: refused, no stack overflow.
    std::string objects, arrays(100000, '[');
    for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
    objects += '1' + std::string(100000, '}');
    arrays += std::string(100000, ']');
    for (const std::string* text : {&objects, &arrays}) {
        JsonDoc d;
        CHECK(parse_json_status(*text, d) == JsonStatus::TooDeep);
        rapidjson::Document plain;
        CHECK_FALSE(parse_json(*text, plain));
    }
    // Plain syntax errors stay Invalid.
    JsonDoc bad;
    CHECK(parse_json_status("{\"a\":", bad, &err) == JsonStatus::Invalid);
    CHECK(err.find("invalid JSON at byte 5") == 0);
}

TEST_CASE("JsonDepthScope: sets the limit for its lifetime, nests, and records a refusal") {
    {
        JsonDepthScope outer(16);
        CHECK(json_depth_limit() == 16);
        JsonDoc d;
        CHECK(parse_json(nested(16), d));
        CHECK_FALSE(outer.exceeded());
        CHECK_FALSE(parse_json(nested(17), d));
        REQUIRE(outer.exceeded());
        CHECK(outer.what() == "JSON nested deeper than 16 levels (server.max_json_depth) at byte 80");
        outer.clear();
        {
            JsonDepthScope inner(64);
            CHECK(json_depth_limit() == 64);
            CHECK(parse_json(nested(17), d));
            CHECK_FALSE(parse_json(nested(65), d));
            CHECK(inner.exceeded());
        }
        CHECK_FALSE(outer.exceeded());  // the inner scope's refusal is its own
        CHECK(json_depth_limit() == 16);
        CHECK_FALSE(parse_json("{\"a\":", d));
        CHECK_FALSE(outer.exceeded());  // a syntax error is not a depth refusal
    }
    CHECK(json_depth_limit() == 512);
}

TEST_CASE("parse_json keeps strings valid UTF-8: bad bytes and lone surrogate escapes become U+FFFD") {
    JsonDoc d;
    REQUIRE(parse_json("{\"a\":\"caf\xe9!\",\"b\\udc00\":\"\\udc00x\",\"c\":\"\\u00e9\\ud83d\\ude00\"}", d));
    CHECK(get_string(member(d, "a")) == "caf\xef\xbf\xbd!");
    CHECK(get_string(member(d, "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd")) == "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
    CHECK(get_string(member(d, "c")) == "\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(agd::is_valid_utf8(to_json(d)));
    // \u0000 is a character like any other: kept, and written back escaped.
    JsonDoc z;
    REQUIRE(parse_json("{\"z\":\"a\\u0000b\"}", z));
    CHECK(get_string(member(z, "z")) == std::string_view("a\0b", 3));
    CHECK(to_json(z) == "{\"z\":\"a\\u0000b\"}");
}

TEST_CASE("parse_json in place reads what a copying parse reads") {
    const ParseOptions in_place{.in_place = true};
    for (int count : {1, 40, 2000}) {  // the JsonDoc's own buffer, past it, past the 64 KiB scratch
        CAPTURE(count);
        std::string text = items_json(count);
        JsonDoc doc;
        std::string err;
        REQUIRE_MESSAGE(parse_json(text, doc, &err, in_place), err);
        text.assign(text.size(), '#');  // the tree holds its own copy of the text
        check_items(doc, count);
        rapidjson::Document plain;
        REQUIRE(parse_json(items_json(count), plain));
        CHECK(to_json(doc) == to_json(plain));
    }
    JsonDoc outer;
    REQUIRE(parse_json(items_json(40), outer, nullptr, in_place));
    {
        JsonDoc inner;
        REQUIRE(parse_json("{\"a\":\"" + std::string(5000, 'x') + "\"}", inner, nullptr, in_place));
        CHECK(get_string(member(inner, "a")).size() == 5000);
    }
    check_items(outer, 40);

    std::string text = "{\"a\":\"bc\"}{\"junk\":";
    JsonDoc view;
    REQUIRE(parse_json(std::string_view(text).substr(0, 10), view, nullptr, in_place));
    CHECK(get_string(member(view, "a")) == "bc");
    std::string err;
    JsonDoc cut;
    CHECK_FALSE(parse_json(std::string_view(text).substr(0, 7), cut, &err, in_place));
    CHECK(err.find("invalid JSON at byte 7") == 0);
    JsonDoc bom;
    CHECK_FALSE(parse_json("\xef\xbb\xbf{\"a\":}", bom, &err, in_place));
    CHECK(err.find("invalid JSON at byte 8") == 0);
    JsonDoc nul;
    CHECK(parse_json(std::string_view("{\"a\":1}\0{", 9), nul, nullptr, in_place));
    JsonDoc nul_in_string;
    CHECK_FALSE(parse_json(std::string_view("{\"a\":\"x\0y\"}", 11), nul_in_string, nullptr, in_place));

    JsonDoc d;
    REQUIRE(parse_json("{\"a\":\"caf\xe9!\",\"e\":\"q\\\"\\n\\u00e9\\ud83d\\ude00\",\"z\":\"a\\u0000b\"}", d, nullptr, in_place));
    CHECK(get_string(member(d, "a")) == "caf\xef\xbf\xbd!");
    CHECK(get_string(member(d, "e")) == "q\"\n\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(get_string(member(d, "z")) == std::string_view("a\0b", 3));
}

TEST_CASE("parse_json with utf8_checked takes the strings as they are") {
    // What the option promises is the caller's: a body the scan passed. Here
    // the promise is broken on purpose, to see that nothing is checked.
    const char* text = "{\"a\":\"caf\xe9!\"}";
    JsonDoc checked;
    REQUIRE(parse_json(text, checked));
    CHECK(get_string(member(checked, "a")) == "caf\xef\xbf\xbd!");
    for (bool in_place : {false, true}) {
        JsonDoc trusted;
        REQUIRE(parse_json(text, trusted, nullptr, {.in_place = in_place, .utf8_checked = true}));
        CHECK(get_string(member(trusted, "a")) == "caf\xe9!");
    }
}
