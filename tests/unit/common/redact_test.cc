#include <doctest/doctest.h>

#include <string>

#include "common/redact.h"

using agd::has_url_credentials;
using agd::redact_url;
using agd::redact_urls;

TEST_CASE("redact: the userinfo of one URL is masked whole") {
    CHECK(redact_url("http://alice:SECRET@host/v1") == "http://***@host/v1");
    CHECK(redact_url("https://TOKEN@api.example.com") == "https://***@api.example.com");
    CHECK(redact_url("socks5h://u:p@10.0.0.1:1080") == "socks5h://***@10.0.0.1:1080");
    CHECK(redact_url("http://:SECRET@[::1]:8080/v1") == "http://***@[::1]:8080/v1");
    // A raw '@' in the password: the userinfo ends at the last '@' of the authority.
    CHECK(redact_url("http://alice:SE@CRET@host/v1") == "http://***@host/v1");
    CHECK(redact_url("http://alice:SE%40CRET@host") == "http://***@host");
    // Nothing to mask.
    CHECK(redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1");
    CHECK(redact_url("http://host/v1/models/x@001") == "http://host/v1/models/x@001");  // '@' in the path
    CHECK(redact_url("http://host?u=a@b") == "http://host?u=a@b");
    CHECK(redact_url("http://host#a@b") == "http://host#a@b");
    CHECK(redact_url("") == "");
    CHECK(redact_url("not a url") == "not a url");
    CHECK(redact_url("user:pw@host") == "user:pw@host");  // no scheme: not a URL
    CHECK(redact_url("HTTP://A:B@H") == "HTTP://***@H");
}

TEST_CASE("redact: a value that is not scheme://... is searched as text") {
    CHECK(redact_url(" http://a:SECRET@h") == " http://***@h");
    CHECK(redact_url("x http://a:SECRET@h/p y https://b:SECRET2@g") == "x http://***@h/p y https://***@g");
}

TEST_CASE("redact: every URL in free text") {
    CHECK(redact_urls("could not fetch http://alice:SECRET@img.example/a.png: 404") ==
          "could not fetch http://***@img.example/a.png: 404");
    CHECK(redact_urls("proxy socks5://u:SECRET@p:1080 and http://v:SECRET2@q failed") ==
          "proxy socks5://***@p:1080 and http://***@q failed");
    // The URL ends at whitespace or a quote: an '@' after it is not userinfo.
    CHECK(redact_urls("error=\"see http://host\" mail admin@example.com") ==
          "error=\"see http://host\" mail admin@example.com");
    CHECK(redact_urls("<http://u:SECRET@h>") == "<http://***@h>");
    CHECK(redact_urls("'http://u:SECRET@h'") == "'http://***@h'");
    CHECK(redact_urls("1http://u:SECRET@h") == "1http://***@h");
    // "://" without a scheme before it is not a URL.
    CHECK(redact_urls("a ://u:p@h") == "a ://u:p@h");
    CHECK(redact_urls("no url here") == "no url here");
    CHECK(redact_urls("") == "");
    CHECK(redact_urls("http://") == "http://");
    CHECK(redact_urls("http://@") == "http://***@");
}

TEST_CASE("redact: has_url_credentials") {
    CHECK(has_url_credentials("x http://u:p@h"));
    CHECK_FALSE(has_url_credentials("x http://h/u@p"));
    CHECK_FALSE(has_url_credentials("plain text"));
    CHECK_FALSE(has_url_credentials("admin@example.com"));
}

TEST_CASE("redact: a key in a kept body, whole or cut at the end") {
    const std::string key = "sk-proj-ABCDEFGH12345678";
    std::string body = R"({"error":"bad key sk-proj-ABCDEFGH12345678, and again sk-proj-ABCDEFGH12345678"})";
    agd::redact_secret(body, key, false);
    CHECK(body == R"({"error":"bad key [redacted], and again [redacted]"})");
    std::string cut = "the key was sk-proj-ABCD";
    agd::redact_secret(cut, key, false);
    CHECK(cut == "the key was sk-proj-ABCD");  // not cut short: an ordinary end
    agd::redact_secret(cut, key, true);
    CHECK(cut == "the key was [redacted]");
    std::string short_secret = "a short one";
    agd::redact_secret(short_secret, "short", true);
    CHECK(short_secret == "a short one");
}
