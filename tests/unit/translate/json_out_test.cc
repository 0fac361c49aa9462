// JsonOut against the writer it replaced: for the same calls, the text must
// be byte for byte what rapidjson::Writer over a StringBuffer writes, but
// for the one place where that writer was wrong (bytes 0x1A-0x1F, below).
#include <doctest/doctest.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "translate/json_out.h"
#include "translate/json_util.h"

using namespace agd::translate;

namespace {

using RefWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Runs the same writing function on both writers; the texts must match.
template <class F>
std::string both(F&& f) {
    rapidjson::StringBuffer ref;
    RefWriter rw(ref);
    f(rw);
    std::string out;
    JsonOut w(out);
    f(w);
    CHECK(out == std::string(ref.GetString(), ref.GetSize()));
    return out;
}

std::string rand_string(std::mt19937& rng, size_t max_len) {
    // Mostly plain ASCII, with the bytes that need escapes and UTF-8
    // sequences mixed in at random positions (so runs end at every offset
    // of a 16-byte block). No 0x1A-0x1F: the reference writes them raw.
    static const char* const pieces[] = {"\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x01", "\x19", "\x7f",
                                         "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "/", " "};
    std::uniform_int_distribution<size_t> len(0, max_len);
    std::uniform_int_distribution<int> pick(0, 99);
    std::string s;
    size_t n = len(rng);
    while (s.size() < n) {
        int p = pick(rng);
        if (p < 85) s += static_cast<char>('a' + p % 26);
        else s += pieces[p % (sizeof pieces / sizeof *pieces)];
    }
    return s;
}

}  // namespace

TEST_CASE("JsonOut writes what rapidjson::Writer writes: structure and scalars") {
    std::string text = both([](auto& w) {
        w.StartObject();
        w.Key("a");
        w.Int(-7);
        w.Key("b");
        w.StartArray();
        w.Uint(4000000000u);
        w.Int64(INT64_MIN);
        w.Uint64(UINT64_MAX);
        w.Bool(true);
        w.Bool(false);
        w.Null();
        w.StartObject();
        w.EndObject();
        w.StartArray();
        w.EndArray();
        w.String("");
        w.EndArray();
        w.Key("");
        w.StartObject();
        w.Key("x");
        w.String("y");
        w.EndObject();
        w.EndObject();
    });
    CHECK(text == "{\"a\":-7,\"b\":[4000000000,-9223372036854775808,18446744073709551615,true,false,null,{},[],\"\"],"
                  "\"\":{\"x\":\"y\"}}");
}

TEST_CASE("JsonOut writes doubles as rapidjson::Writer does") {
    const double values[] = {0.0, -0.0, 0.1, 0.2, 1.0, -1.5, 1e21, 1e-7, 123456789.125, 3.141592653589793,
                             std::numeric_limits<double>::max(), std::numeric_limits<double>::min(),
                             std::numeric_limits<double>::denorm_min(), 5e-324, 0.30000000000000004};
    for (double d : values) {
        CAPTURE(d);
        both([d](auto& w) {
            w.StartArray();
            w.Double(d);
            w.Double(-d);
            w.EndArray();
        });
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 2000; ++i) {
        uint64_t bits = rng();
        double d;
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) continue;
        CAPTURE(d);
        both([d](auto& w) { w.Double(d); });
    }
}

TEST_CASE("JsonOut writes a NaN or an infinity as null, keeping the text valid") {
    std::string out;
    JsonOut w(out);
    w.StartArray();
    w.Double(std::nan(""));
    w.Double(std::numeric_limits<double>::infinity());
    w.Int(1);
    w.EndArray();
    CHECK(out == "[null,null,1]");
}

TEST_CASE("JsonOut escapes strings and keys as rapidjson::Writer does, at every length and offset") {
    std::mt19937 rng(11);
    for (int i = 0; i < 3000; ++i) {
        std::string k = rand_string(rng, 20), v = rand_string(rng, i < 2000 ? 70 : 700);
        CAPTURE(k);
        CAPTURE(v);
        std::string text = both([&](auto& w) {
            w.StartObject();
            w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
            w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
            w.EndObject();
        });
        JsonDoc back;
        REQUIRE(parse_json(text, back));
        CHECK(get_string(member(back, k)) == v);
    }
    // Every byte below 0x20, alone (the reference's byte-by-byte path).
    for (int c = 0; c < 0x20; ++c) {
        std::string s(1, static_cast<char>(c));
        both([&](auto& w) { w.String(s.data(), 1); });
    }
}

TEST_CASE("JsonOut is a RapidJSON handler: a parsed document written through it") {
    const char* const texts[] = {
        "{\"model\":\"m\",\"n\":[1,-2,3.5,1e300,true,null,{\"k\":\"\\u0001\\\"\"}],\"e\":{},\"a\":[]}",
        "[\"\\u00e9\\n\",18446744073709551615,-9223372036854775808,0.1]",
        "\"just a string\"",
        "42",
    };
    for (const char* t : texts) {
        CAPTURE(t);
        JsonDoc doc;
        REQUIRE(parse_json(t, doc));
        both([&](auto& w) { doc.Accept(w); });
    }
}

TEST_CASE("JsonOut appends to what the string holds and writes raw values as given") {
    std::string out = "data: ";
    JsonOut w(out);
    w.StartObject();
    w.Key("raw");
    w.RawValue("{\"pre\":1}", 9, rapidjson::kObjectType);
    w.Key("n");
    w.RawNumber("12.50", 5);
    w.EndObject();
    CHECK(out == "data: {\"raw\":{\"pre\":1},\"n\":12.50}");
    CHECK(&w.text() == &out);
}

TEST_CASE("JsonOut escapes 0x1A-0x1F wherever they are (RapidJSON 1.1's SSE2 scan wrote them raw)") {
    // rapidjson::Writer's 16-byte scan tests `byte <= 0x19`, so these six
    // control characters inside a long string went out unescaped: JSON no
    // parser accepts, e.g. from a client's "\u001f".
    for (int c = 0x1A; c < 0x20; ++c) {
        for (size_t at = 0; at < 40; ++at) {
            std::string s(48, 'a');
            s[at] = static_cast<char>(c);
            std::string out;
            JsonOut w(out);
            w.String(s);
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u00%02X", c);
            CHECK(out == "\"" + s.substr(0, at) + esc + s.substr(at + 1) + "\"");
            JsonDoc back;
            REQUIRE(parse_json(out, back));
            CHECK(get_string(&back) == s);
        }
    }
}
