// `antigravityd credentials`: argument parsing, the control command on a
// real router and ledger, and the text the CLI prints.
#include <doctest/doctest.h>

#include "../support.h"

#include <sysexits.h>

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "credentials/ledger.h"
#include "credentials/ledger_file.h"
#include "daemon/cli.h"
#include "daemon/credentials_control.h"
#include "dispatch/router.h"

using agd::testing::contains;
using namespace agd;
using namespace agd::daemon;

namespace {

const char* kConf = R"(
[server]
listen = 127.0.0.1:0
[provider.oa]
type = openai
base_url = http://127.0.0.1:1/v1
key = key-one
key = key-two
models = gpt-*
[provider.an]
type = anthropic
base_url = http://127.0.0.1:1
key = key-three
models = claude-*
)";

struct Pool {
    std::shared_ptr<const config::Config> cfg;
    credentials::Ledger ledger;
    std::unique_ptr<dispatch::Router> router;
    Pool() {
        auto r = config::load_string(kConf, "t.conf");
        REQUIRE(r.ok());
        cfg = r.config;
        router = std::make_unique<dispatch::Router>(*cfg, ledger);
    }
    const dispatch::Credential& cred(size_t p, size_t c) { return router->providers()[p].creds[c]; }
    std::string id(size_t p, size_t c) {
        return router->providers()[p].cfg->name + "/" + cred(p, c).fingerprint;
    }
};

credentials::Verdict verdict(credentials::Scope scope, int64_t wait_ms = -1, bool disable = false) {
    credentials::Verdict v;
    v.scope = scope;
    v.wait_ms = wait_ms;
    v.disable = disable;
    v.why = "429 rate_limit_error: slow down";
    return v;
}

}  // namespace

TEST_CASE("credentials cli: the list, and actions that name one target") {
    auto list = parse_args(std::vector<std::string_view>{"credentials", "--json", "-c", "/x.conf"});
    REQUIRE(list);
    CHECK(list->command == Command::Credentials);
    CHECK(list->options.json);
    CHECK(list->options.action.empty());

    auto reset = parse_args(std::vector<std::string_view>{"credentials", "reset", "oa/1a2b"});
    REQUIRE(reset);
    CHECK(reset->options.action == "reset");
    CHECK(reset->options.target == "oa/1a2b");

    for (auto bad : std::vector<std::vector<std::string_view>>{
             {"credentials", "frob", "oa"},            // unknown action
             {"credentials", "disable"},               // no target
             {"credentials", "enable", "oa", "an"},    // two targets
             {"credentials", "reset", "oa", "--json"},  // --json lists
             {"status", "reset"}}) {                    // other commands take no words
        auto r = parse_args(bad);
        CHECK_FALSE(r);
        if (!r) CHECK(r.error().code == EX_USAGE);
    }
}

TEST_CASE("credentials control: disable holds across reloads and restarts; reset forgets the upstream's word") {
    Pool pool;
    int64_t now = 1'000'000, wall = 1'800'000'000'000;
    credentials::Policy policy;
    auto& one = *pool.cred(0, 0).state;
    auto& two = *pool.cred(0, 1).state;

    // A cooldown on one, a 401 refusal on two.
    one.record("gpt-4o", verdict(credentials::Scope::Credential, 60'000), {}, 429, now, policy);
    two.record("gpt-4o", verdict(credentials::Scope::Credential, -1, true), {}, 401, now, policy);
    CHECK(one.check("gpt-4o", now, policy).gate == credentials::CredentialState::Gate::Out);
    CHECK(two.refused());

    // Reset the whole provider: both ready again, evidence gone.
    std::string answer = credentials_command(*pool.router, "reset oa", now, wall);
    INFO(answer);
    CHECK(contains(answer, R"("ok":true)"));
    CHECK(contains(answer, pool.id(0, 0)));
    CHECK(contains(answer, pool.id(0, 1)));
    CHECK(one.check("gpt-4o", now, policy).gate == credentials::CredentialState::Gate::Ready);
    CHECK_FALSE(two.refused());
    CHECK(one.evidence().scope == credentials::Scope::None);

    // Disable one by a fingerprint prefix; the other stays in.
    std::string fp = pool.cred(0, 0).fingerprint;
    answer = credentials_command(*pool.router, "disable oa/" + fp.substr(0, 5), now, wall);
    CHECK(contains(answer, R"("ok":true)"));
    auto c = one.check("gpt-4o", now, policy);
    CHECK(c.gate == credentials::CredentialState::Gate::Out);
    CHECK(std::string_view(c.reason) == "disabled by an administrator");
    CHECK(two.check("gpt-4o", now, policy).gate == credentials::CredentialState::Gate::Ready);

    // A reload gives refused keys their chance again, not disabled ones.
    pool.ledger.reloaded();
    CHECK(one.admin_disabled());
    // Neither does reset.
    credentials_command(*pool.router, "reset oa/" + fp, now, wall);
    CHECK(one.admin_disabled());

    // A restart: the state file keeps it.
    std::string file = credentials::ledger_json(pool.ledger, now, wall);
    CHECK(contains(file, R"("admin_disabled":true)"));
    credentials::Ledger after;
    auto restored = credentials::load_ledger_json(after, file, 5, wall + 1000);
    REQUIRE(restored);
    CHECK(after.get("oa", fp)->admin_disabled());

    // Only enable brings it back.
    answer = credentials_command(*pool.router, "enable oa/" + fp, now, wall);
    CHECK(contains(answer, R"("ok":true)"));
    CHECK(one.check("gpt-4o", now, policy).gate == credentials::CredentialState::Gate::Ready);
}

TEST_CASE("credentials control: targets that name nothing, or too much, are refused") {
    Pool pool;
    auto refused = [&](std::string_view args, std::string_view code) {
        std::string a = credentials_command(*pool.router, args, 0, 0);
        INFO(args, " -> ", a);
        CHECK(contains(a, R"("ok":false)"));
        CHECK(contains(a, "\"error\":\"" + std::string(code) + "\""));
    };
    refused("disable nosuch", "not_found");
    refused("disable oa/ffffffffff", "not_found");
    refused("disable oa/", "usage");
    refused("frob oa", "usage");
    refused("disable", "usage");
    refused("disable oa an", "usage");
    // An empty prefix would match both of oa's keys: a prefix must be unique.
    std::string a = pool.cred(0, 0).fingerprint, b = pool.cred(0, 1).fingerprint;
    size_t common = 0;
    while (common < a.size() && a[common] == b[common]) ++common;
    if (common > 0) refused("disable oa/" + a.substr(0, common), "ambiguous");
    // Nothing changed.
    for (size_t i = 0; i < 2; ++i) CHECK_FALSE(pool.cred(0, i).state->disabled());
}

TEST_CASE("credentials control: the list carries state, evidence, quota and the summary") {
    Pool pool;
    int64_t now = 1'000'000, wall = credentials::wall_ms();  // record() stamps the real wall clock
    credentials::Policy policy;
    credentials::Hints h;
    h.requests = {17, wall + 40'000};
    h.unified_7d.utilization = 0.93;
    h.unified_7d.reset_unix_ms = wall + 3 * 86'400'000LL;
    pool.cred(0, 0).state->record("gpt-4o", {}, h, 200, now, policy);
    pool.cred(1, 0).state->record("claude-x", verdict(credentials::Scope::Model, 90'000), {}, 429, now, policy);
    pool.cred(0, 1).state->disable();

    std::string json = credentials_json(*pool.router, now, wall);
    INFO(json);
    CHECK(contains(json, R"("summary":{"total":3,"ready":1,"soft":0,"models_cooling":1,"cooling":0,"breaker":0,"disabled":1})"));
    CHECK(contains(json, R"("quota":{"requests":{"remaining":17,"reset_at":)" + std::to_string(wall + 40'000)));
    CHECK(contains(json, R"("unified_7d":{"utilization":0.93)"));
    CHECK(contains(json, R"("state":"disabled")"));
    CHECK(contains(json, R"("models_cooling":[{"model":"claude-x","remaining_s":90,"until":)" +
                             std::to_string(wall + 90'000)));
    CHECK(contains(json, "\"last_used_at\":"));

    // The text: one block per credential, times relative to the daemon's "now".
    auto o = credentials_outcome(json, false);
    INFO(o.out);
    CHECK(o.exit_code == 0);
    CHECK(contains(o.out, "credentials: 1/3 ready, 1 cooling for some models, 1 disabled\n"));
    CHECK(contains(o.out, "  " + pool.id(0, 0) + ": ready, 1 request, 0 failures, last status 200, last used just now\n"
                          "    quota: requests 17 left, reset in 40s; 7-day window 93% used, reset in 3d 0h 0m 0s\n"));
    CHECK(contains(o.out, "  " + pool.id(0, 1) + ": disabled by an administrator"));
    CHECK(contains(o.out, "    cooling for model claude-x (1m 30s left)\n"
                          "    last failure: model: 429 rate_limit_error: slow down (upstream said wait 1m 30s), just now\n"));

    // --json passes the answer through; a refusal fails either way.
    CHECK(credentials_outcome(json, true).out == json + "\n");
    auto no = credentials_outcome(R"({"ok":false,"error":"busy","message":"try again"})", false);
    CHECK(no.exit_code == EX_TEMPFAIL);
    CHECK(credentials_outcome("[1]", false).exit_code == EX_PROTOCOL);

    auto done = credentials_action_outcome(credentials_command(*pool.router, "enable oa", now, wall));
    CHECK(done.exit_code == 0);
    CHECK(contains(done.out, "enabled 2 credential(s) of provider oa: " + pool.id(0, 0)));
    auto missing = credentials_action_outcome(credentials_command(*pool.router, "enable zz", now, wall));
    CHECK(missing.exit_code == EX_USAGE);
    CHECK(contains(missing.err, "no provider 'zz' (providers: oa, an)"));
}
