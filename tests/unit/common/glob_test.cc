#include <doctest/doctest.h>

#include <string>

#include "common/glob.h"

using agd::glob_match;
using agd::has_glob_chars;

TEST_CASE("glob: literals and empty strings") {
    CHECK(glob_match("gpt-4o", "gpt-4o"));
    CHECK_FALSE(glob_match("gpt-4o", "gpt-4o-mini"));
    CHECK_FALSE(glob_match("gpt-4o-mini", "gpt-4o"));
    CHECK(glob_match("", ""));
    CHECK_FALSE(glob_match("", "a"));
    CHECK_FALSE(glob_match("a", ""));
    CHECK_FALSE(glob_match("GPT-4o", "gpt-4o"));  // case-sensitive
}

TEST_CASE("glob: star") {
    CHECK(glob_match("*", ""));
    CHECK(glob_match("*", "anything/at all"));
    CHECK(glob_match("**", "x"));
    CHECK(glob_match("gpt-4o*", "gpt-4o"));
    CHECK(glob_match("gpt-4o*", "gpt-4o-mini-2024-07-18"));
    CHECK_FALSE(glob_match("gpt-4o*", "gpt-4"));
    CHECK(glob_match("*-mini", "gpt-4o-mini"));
    CHECK_FALSE(glob_match("*-mini", "gpt-4o-mini-2024"));
    CHECK(glob_match("claude-*-sonnet-*", "claude-3-5-sonnet-20241022"));
    CHECK_FALSE(glob_match("claude-*-sonnet-*", "claude-3-5-haiku-20241022"));
    CHECK(glob_match("a*b*c", "aXXbYYc"));
    CHECK(glob_match("a*b*c", "abc"));
    CHECK_FALSE(glob_match("a*b*c", "acb"));
    CHECK(glob_match("*a", "aaaa"));  // needs backtracking past earlier 'a's
    CHECK(glob_match("a*a*a", "aaa"));
    CHECK_FALSE(glob_match("a*a*a", "aa"));
}

TEST_CASE("glob: question mark") {
    CHECK(glob_match("o?", "o3"));
    CHECK_FALSE(glob_match("o?", "o"));
    CHECK_FALSE(glob_match("o?", "o3x"));
    CHECK(glob_match("???", "abc"));
    CHECK(glob_match("?*", "a"));
    CHECK_FALSE(glob_match("?*", ""));
}

TEST_CASE("glob: character classes") {
    CHECK(glob_match("o[134]", "o3"));
    CHECK_FALSE(glob_match("o[134]", "o2"));
    CHECK(glob_match("gpt-[3-4]*", "gpt-4o"));
    CHECK(glob_match("gpt-[3-4]*", "gpt-3.5-turbo"));
    CHECK_FALSE(glob_match("gpt-[3-4]*", "gpt-5"));
    CHECK(glob_match("[!a-c]x", "dx"));
    CHECK_FALSE(glob_match("[!a-c]x", "bx"));
    CHECK(glob_match("[^a-c]x", "dx"));
    CHECK(glob_match("[]]", "]"));      // ']' first in a class is literal
    CHECK(glob_match("[!]]", "a"));
    CHECK_FALSE(glob_match("[!]]", "]"));
    CHECK(glob_match("[a-]", "-"));     // trailing '-' is literal
    CHECK(glob_match("[*?]", "*"));
    CHECK_FALSE(glob_match("[*?]", "x"));
    CHECK_FALSE(glob_match("[ab]", ""));
    CHECK(glob_match("*[0-9]", "model7"));
    CHECK_FALSE(glob_match("*[0-9]", "model"));
}

TEST_CASE("glob: unterminated bracket is a literal") {
    CHECK(glob_match("a[b", "a[b"));
    CHECK_FALSE(glob_match("a[b", "ab"));
    CHECK(glob_match("*[", "x["));
}

TEST_CASE("glob: no exponential backtracking") {
    std::string text(2000, 'a');
    std::string pattern;
    for (int i = 0; i < 40; ++i) pattern += "a*";
    pattern += "b";
    CHECK_FALSE(glob_match(pattern, text));  // would take ages if exponential
    text += 'b';
    CHECK(glob_match(pattern, text));
}

TEST_CASE("glob: has_glob_chars") {
    CHECK(has_glob_chars("gpt-4o*"));
    CHECK(has_glob_chars("o?"));
    CHECK(has_glob_chars("o[13]"));
    CHECK_FALSE(has_glob_chars("gpt-4o-mini"));
    CHECK_FALSE(has_glob_chars(""));
}
