// OAuth2 pieces: token files in the shapes tools write, token endpoint
// answers, form encoding, and the single-flight wait.
#include <doctest/doctest.h>

#include <event2/event.h>

#include <string>

#include "common/mailbox.h"
#include "credentials/oauth_token.h"

using namespace agd;
using namespace agd::credentials;

TEST_CASE("oauth: token files in snake_case, camelCase, nested; damage refused") {
    auto a = parse_token_file(R"({"refresh_token":"rt-1","access_token":"at-1","expires_at":1800000000})");
    REQUIRE(a);
    CHECK(a->refresh_token == "rt-1");
    CHECK(a->access_token == "at-1");
    CHECK(a->expires_at_ms == 1'800'000'000'000);
    auto b = parse_token_file(R"({"claudeAiOauth":{"accessToken":"at-2","refreshToken":"rt-2","expiresAt":1800000000123}})");
    REQUIRE(b);
    CHECK(b->refresh_token == "rt-2");
    CHECK(b->expires_at_ms == 1'800'000'000'123);
    auto c = parse_token_file(R"({"refresh_token":"rt-3","expiry_date":1800000000999})");
    REQUIRE(c);
    CHECK(c->access_token.empty());
    CHECK(c->expires_at_ms == 1'800'000'000'999);
    auto d = parse_token_file(R"({"refresh_token":"rt-4","expiry":"2027-01-15T10:00:00Z"})");
    REQUIRE(d);
    CHECK(d->expires_at_ms == 1'800'007'200'000);

    CHECK_FALSE(parse_token_file(R"({"access_token":"at"})"));
    // A token that could not go in a header is not taken.
    CHECK_FALSE(parse_token_file("{\"refresh_token\":\"rt\\r\\nX-Evil: 1\"}"));
    auto nl = parse_token_file("{\"refresh_token\":\"rt-6\",\"access_token\":\"at\\r\\nX: y\",\"expires_at\":99999999999999999}");
    REQUIRE(nl);
    CHECK(nl->access_token.empty());
    CHECK(nl->expires_at_ms == 0);  // past year 9999: not believed
    CHECK_FALSE(parse_token_file("{not json"));
    CHECK_FALSE(parse_token_file("[1]"));
    CHECK_FALSE(parse_token_file(std::string(kMaxTokenFile + 1, ' ')));
    CHECK_FALSE(parse_token_file(R"({"refresh_token":")" + std::string(kMaxTokenText + 1, 'r') + R"("})"));
    // Deep nesting is refused by the bounded parser, not a stack overflow.
    CHECK_FALSE(parse_token_file(std::string(100000, '[') + std::string(100000, ']')));

    TokenFile w{"rt-5", "at-5", 1'800'000'000'500};
    auto back = parse_token_file(token_file_json(w));
    REQUIRE(back);
    CHECK(back->refresh_token == "rt-5");
    CHECK(back->access_token == "at-5");
    CHECK(back->expires_at_ms == 1'800'000'000'000);  // whole seconds
}

TEST_CASE("oauth: token endpoint answers") {
    auto ok = parse_token_answer(200, R"({"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt2"})");
    CHECK(ok.ok);
    CHECK(ok.access_token == "at");
    CHECK(ok.refresh_token == "rt2");
    CHECK(ok.expires_in_s == 3600);
    auto str = parse_token_answer(200, R"({"access_token":"at","expires_in":"120"})");
    CHECK(str.ok);
    CHECK(str.expires_in_s == 120);
    CHECK(str.refresh_token.empty());

    auto refused = parse_token_answer(400, R"({"error":"invalid_grant","error_description":"Token has been\nrevoked."})");
    CHECK_FALSE(refused.ok);
    CHECK(refused.refused);
    CHECK(refused.message == "token endpoint: 400 invalid_grant: Token has been revoked.");
    auto busy = parse_token_answer(503, R"({"error":"temporarily_unavailable"})");
    CHECK_FALSE(busy.refused);
    auto html = parse_token_answer(502, "<html>bad gateway</html>");
    CHECK_FALSE(html.ok);
    CHECK(html.message == "token endpoint: 502");
    auto evil = parse_token_answer(200, R"({"access_token":"at x","expires_in":60})");
    CHECK_FALSE(evil.ok);
    auto empty = parse_token_answer(200, R"({"token_type":"Bearer"})");
    CHECK_FALSE(empty.ok);
    CHECK(empty.message == "token endpoint: 200 without a usable access_token");
}

TEST_CASE("oauth: form encoding") {
    CHECK(form_encode({{"grant_type", "refresh_token"}, {"refresh_token", "a/b+c d=é"}, {"scope", "x y"}}) ==
          "grant_type=refresh_token&refresh_token=a%2Fb%2Bc+d%3D%C3%A9&scope=x+y");
}

TEST_CASE("oauth: one refresh for many waiters, each woken on its own loop; a 401 drops only the token it saw") {
    event_base* base = event_base_new();
    REQUIRE(base != nullptr);
    {
        Mailbox main(base), worker(base);
        auto token = std::make_shared<OAuthToken>();
        int starts = 0;
        token->set_starter(&main, [&](std::shared_ptr<OAuthToken>) { ++starts; });
        int woken = 0;
        token->want(worker, [&] { ++woken; });
        token->want(worker, [&] { ++woken; });
        CHECK(token->refreshing());
        event_base_loop(base, EVLOOP_NONBLOCK);
        CHECK(starts == 1);  // single-flight
        CHECK(woken == 0);
        token->publish("at-1", 0);
        CHECK_FALSE(token->refreshing());
        event_base_loop(base, EVLOOP_NONBLOCK);
        CHECK(woken == 2);
        CHECK(token->access(0) == "at-1");
        uint64_t g1 = token->generation();

        // A 401 seen on an older generation does not drop a newer token,
        // and starts no refresh: the newer one is used at once.
        token->publish("at-2", 0);
        token->want(worker, [&] { ++woken; }, g1);
        CHECK(token->access(0) == "at-2");
        CHECK_FALSE(token->refreshing());
        event_base_loop(base, EVLOOP_NONBLOCK);
        CHECK(starts == 1);
        CHECK(woken == 3);
        // On the current generation it does.
        token->want(worker, [&] { ++woken; }, token->generation());
        CHECK(token->access(0).empty());
        token->failed("token endpoint: 400 invalid_grant");
        event_base_loop(base, EVLOOP_NONBLOCK);
        CHECK(starts == 2);
        CHECK(woken == 4);
        CHECK(token->last_error() == "token endpoint: 400 invalid_grant");

        // Expiry: the margin is 10 s, or a quarter of a short life.
        token->publish("at-3", 100'000, 0);
        CHECK(token->access(89'999) == "at-3");
        CHECK(token->access(90'000).empty());
        token->publish("at-4", 8'000, 0 + 4'000);  // lives 4 s: margin 1 s
        CHECK(token->access(6'999) == "at-4");
        CHECK(token->access(7'000).empty());
    }
    event_base_free(base);
}
