#include <doctest/doctest.h>

#include <string>

#include "common/json.h"

using namespace agd;

TEST_CASE("invalid_utf8_at: the first bad byte, checked 8 ASCII bytes at a time") {
    CHECK(invalid_utf8_at("") == std::string_view::npos);
    CHECK(invalid_utf8_at("plain ascii text, long enough for words") == std::string_view::npos);
    CHECK(invalid_utf8_at("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf") == std::string_view::npos);
    std::string pad(13, 'x');
    CHECK(invalid_utf8_at(pad + "\xe9") == 13);                 // Latin-1
    CHECK(invalid_utf8_at(pad + "\xc0\xaf") == 13);             // overlong
    CHECK(invalid_utf8_at(pad + "\xe0\x80\xaf") == 13);         // overlong, 3 bytes
    CHECK(invalid_utf8_at(pad + "\xed\xa0\x80") == 13);         // a surrogate
    CHECK(invalid_utf8_at(pad + "\xf4\x90\x80\x80") == 13);     // past U+10FFFF
    CHECK(invalid_utf8_at(pad + "\xe2\x82") == 13);             // cut short
    CHECK(invalid_utf8_at(pad + "\x80" + pad) == 13);           // a lone continuation byte
    CHECK(invalid_utf8_at(std::string("a\0b", 3)) == std::string_view::npos);  // NUL is valid UTF-8
    CHECK(is_valid_utf8("\xc3\xa9"));
    CHECK_FALSE(is_valid_utf8("\xc3"));
}

TEST_CASE("JsonDepthCounter: brackets outside strings, fed in pieces") {
    JsonDepthCounter c;
    c.feed("{\"a\":[1,{\"b\"");
    CHECK(c.max_depth() == 3);
    c.feed(":\"[[[[{{\\\"[[\"}]}");  // brackets inside a string (with an escaped quote) do not count
    CHECK(c.max_depth() == 3);
    c.feed(",\"c\":[[[[]]]]}");
    CHECK(c.max_depth() == 4);
    JsonDepthCounter deep;
    std::string half(100000, '[');
    deep.feed(half);
    deep.feed(std::string(100000, ']'));
    CHECK(deep.max_depth() == 100000);
    JsonDepthCounter junk;  // stray closers do not go below zero
    junk.feed("]]]}}[");
    CHECK(junk.max_depth() == 1);
}
