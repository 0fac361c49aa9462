// `antigravityd route`: the control command on a real router, and its text.
#include <doctest/doctest.h>

#include "../support.h"

#include <sysexits.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "credentials/ledger.h"
#include "daemon/cli.h"
#include "daemon/route_control.h"
#include "dispatch/router.h"

using agd::testing::contains;
using namespace agd;
using namespace agd::daemon;

namespace {

const char* kConf = R"(
[routing]
strategy = fill-first
sticky = session
[provider.oa]
type = openai
base_url = http://127.0.0.1:1/v1
key = key-one
key = key-two
models = gpt-*
[provider.an]
type = anthropic
base_url = http://127.0.0.1:1
priority = 2
key = key-three
models = gpt-*, claude-*
[client.team]
key = team-key-0001
models = claude-*
[model.gpt-*]
fallback = claude-a, gpt-b
)";

}  // namespace

TEST_CASE("route: the request line, and --model required") {
    auto r = parse_args(std::vector<std::string_view>{"route", "--model", "gpt-5", "--client=team", "--protocol",
                                                      "anthropic", "--session", "s \"1\""});
    REQUIRE(r);
    CHECK(r->command == Command::Route);
    CHECK(route_request(r->options) ==
          R"(route {"model":"gpt-5","client":"team","protocol":"anthropic","session":"s \"1\""})");
    CHECK_FALSE(parse_args(std::vector<std::string_view>{"route"}));
    CHECK_FALSE(parse_args(std::vector<std::string_view>{"route", "--model", "m", "--protocol", "grpc"}));
    CHECK_FALSE(parse_args(std::vector<std::string_view>{"log", "--protocol", "anthropic"}));
}

TEST_CASE("route: candidates in order, each exclusion with its reason, the pick; nothing used") {
    auto loaded = config::load_string(kConf, "t.conf");
    REQUIRE(loaded.ok());
    credentials::Ledger ledger;
    dispatch::Router router(*loaded.config, ledger);
    const auto& oa = router.providers()[0].creds;
    credentials::Verdict v;
    v.scope = credentials::Scope::Credential;
    v.wait_ms = 120'000;
    v.why = "429 insufficient_quota";
    oa[0].state->record("gpt-5", v, {}, 429, 1000, router.policy());
    int64_t now = 2000, wall = 1'800'000'000'000;

    std::string a = route_command(*loaded.config, router, R"({"model":"gpt-5","protocol":"anthropic"})", now, wall);
    INFO(a);
    CHECK(contains(a, R"("ok":true)"));
    CHECK(contains(a, R"("protocol":"anthropic")"));
    // Tier 0 first (translated: the client speaks Anthropic), then tier 2.
    auto one = a.find("\"oa/" + oa[0].fingerprint), two = a.find("\"oa/" + oa[1].fingerprint), three = a.find("\"an/");
    CHECK(one < two);
    CHECK(two < three);
    CHECK(contains(a, R"("gate":"out","reason":"cooling","until":)" + std::to_string(wall + 119'000)));
    CHECK(contains(a, R"("pick":{"status":"ok","id":"oa/)" + oa[1].fingerprint));
    // Nothing was used: no request counted, no session remembered.
    CHECK(oa[1].state->requests.load() == 0);
    CHECK(ledger.sessions().size() == 0);

    auto text = route_outcome(a, false);
    INFO(text.out);
    CHECK(text.exit_code == 0);
    CHECK(contains(text.out, "model gpt-5 (protocol anthropic, no session)\n"));
    CHECK(contains(text.out, "(translated to openai-chat): out, cooling for "));
    CHECK(contains(text.out, "pick: oa/" + oa[1].fingerprint + " with model gpt-5\n"));
    CHECK(contains(a, R"("fallback":["claude-a","gpt-b"])"));
    CHECK(contains(text.out, "fallback, when every credential of the model fails: claude-a, gpt-b\n"));

    // A client's models are checked; unknown names are refused.
    std::string no = route_command(*loaded.config, router, R"({"model":"gpt-5","client":"team"})", now, wall);
    CHECK(contains(no, R"("error":"forbidden")"));
    auto refused = route_outcome(no, false);
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, "client 'team' may not use model 'gpt-5'"));
    CHECK(contains(route_command(*loaded.config, router, R"({"model":"x","client":"nobody"})", now, wall),
                   R"("error":"not_found")"));
    CHECK(contains(route_command(*loaded.config, router, R"({"model":"llama"})", now, wall),
                   "no provider serves model 'llama'"));
    CHECK(contains(route_command(*loaded.config, router, "not json", now, wall), R"("error":"usage")"));
    CHECK(contains(route_command(*loaded.config, router, R"({"model":"m","protocol":"x"})", now, wall),
                   R"("error":"usage")"));

    // Every credential out: the 429 a client would get.
    for (const auto& p : router.providers())
        for (const auto& c : p.creds) c.state->record("gpt-5", v, {}, 429, 1000, router.policy());
    std::string all = route_command(*loaded.config, router, R"({"model":"gpt-5"})", now, wall);
    CHECK(contains(all, R"("pick":{"status":"all_cooling","retry_after_s":119})"));
    CHECK(contains(route_outcome(all, false).out, "every credential is resting; the request would get a 429"));
}

TEST_CASE("route: a session that sticks is named") {
    auto loaded = config::load_string(kConf, "t.conf");
    REQUIRE(loaded.ok());
    credentials::Ledger ledger;
    dispatch::Router router(*loaded.config, ledger);
    auto m = router.match("claude-x");
    uint64_t key = credentials::session_key("team", "claude-x", "conv-9");
    auto p = router.pick(m, {}, 0, key);
    REQUIRE(p.status == dispatch::Router::PickStatus::Ok);
    std::string a = route_command(*loaded.config, router, R"({"model":"claude-x","client":"team","session":"conv-9"})",
                                  1, 1'800'000'000'000);
    INFO(a);
    CHECK(contains(a, "\"sticky\":\"an/" + p.cred->fingerprint + "\""));
    CHECK(contains(route_outcome(a, false).out, "session sticks to an/" + p.cred->fingerprint));
}
