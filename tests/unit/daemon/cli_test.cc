#include <doctest/doctest.h>

#include "../support.h"

#include <sysexits.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "daemon/cli.h"

using agd::testing::contains;
using namespace agd::daemon;

namespace {

agd::Result<Invocation> parse(std::vector<std::string_view> args) { return parse_args(args); }


const char* kFullStatus = R"({"version":"0.1.0","pid":123,"now":1796388378366,"started_at":"2026-11-22T13:00:00Z","uptime_s":3723,
 "generation":2,"config_path":"/etc/antigravityd/antigravityd.conf","config_loaded_at":"2026-11-22T13:10:00Z",
 "workers":2,"listeners":["127.0.0.1:8045","/run/antigravityd/api.sock"],"auth_mode":"off","requests_served":1234,
 "in_flight":3,"providers":[{"name":"openai","type":"openai","api":"chat","base_url":"https://api.openai.com/v1",
 "models":["gpt-4o*","fast=gpt-4o-mini"],"credentials":[
  {"fingerprint":"1a2b3c4d","state":"ok","cooldown_remaining_s":0,"requests":10,"failures":1,"last_status":200},
  {"fingerprint":"5e6f7a8b","state":"cooldown","cooldown_remaining_s":42,"requests":1,"failures":1,"last_status":429,"models_cooling":[{"model":"gpt-4o","remaining_s":90}],"why":{"scope":"credential","status":429,"why":"429 insufficient_quota: You exceeded your current quota","at":1796388318366,"hint_ms":42000}}]},
 {"name":"claude","type":"anthropic","base_url":"https://api.anthropic.com","models":["claude-*"],"credentials":[]}]})";

}  // namespace

TEST_CASE("cli: commands and their options") {
    auto none = parse({});
    REQUIRE(none);
    CHECK(none->command == Command::Help);

    auto run = parse({"run"});
    REQUIRE(run);
    CHECK(run->command == Command::Run);
    CHECK(run->options.config_path == kDefaultConfigPath);
    CHECK_FALSE(run->options.daemonize);
    CHECK(run->options.pid_file.empty());

    auto full = parse({"run", "-c", "/a.conf", "--daemon", "--pid-file", "/run/x.pid"});
    REQUIRE(full);
    CHECK(full->options.config_path == "/a.conf");
    CHECK(full->options.daemonize);
    CHECK(full->options.pid_file == "/run/x.pid");

    auto eq = parse({"run", "--config=/b.conf", "--pid-file=/p.pid"});
    REQUIRE(eq);
    CHECK(eq->options.config_path == "/b.conf");
    CHECK(eq->options.pid_file == "/p.pid");

    auto t = parse({"-t", "-c", "/t.conf"});  // nginx -t
    REQUIRE(t);
    CHECK(t->command == Command::CheckConfig);
    CHECK(t->options.config_path == "/t.conf");
    CHECK_FALSE(parse({"-t", "--daemon"}));

    auto long_sep = parse({"check-config", "--config", "/c.conf"});
    REQUIRE(long_sep);
    CHECK(long_sep->command == Command::CheckConfig);
    CHECK(long_sep->options.config_path == "/c.conf");

    auto glued = parse({"reload", "-c/d.conf"});
    REQUIRE(glued);
    CHECK(glued->command == Command::Reload);
    CHECK(glued->options.config_path == "/d.conf");

    auto status = parse({"status", "--json", "-c", "/e.conf"});
    REQUIRE(status);
    CHECK(status->command == Command::Status);
    CHECK(status->options.json);
    CHECK(status->options.config_path == "/e.conf");

    auto stop = parse({"stop"});
    REQUIRE(stop);
    CHECK(stop->command == Command::Stop);

    for (auto v : {"version", "--version", "-V"}) {
        auto r = parse({v});
        REQUIRE(r);
        CHECK(r->command == Command::Version);
    }
    for (auto v : {"help", "--help", "-h"}) {
        auto r = parse({v});
        REQUIRE(r);
        CHECK(r->command == Command::Help);
    }
    auto run_help = parse({"run", "--help"});
    REQUIRE(run_help);
    CHECK(run_help->command == Command::Help);
}

TEST_CASE("cli: usage errors") {
    struct Case {
        std::vector<std::string_view> args;
        std::string_view message;
    };
    const Case cases[] = {
        {{"frobnicate"}, "unknown command 'frobnicate'"},
        {{"--daemon"}, "a command must come first, not '--daemon'"},
        {{"run", "-c"}, "option '-c' needs a value"},
        {{"run", "--config"}, "option '--config' needs a value"},
        {{"run", "--config="}, "option '--config' needs a value"},
        {{"run", "--pid-file"}, "option '--pid-file' needs a value"},
        {{"run", "--json"}, "option '--json' is not valid for 'run'"},
        {{"status", "--daemon"}, "option '--daemon' is not valid for 'status'"},
        {{"stop", "--pid-file", "/x"}, "option '--pid-file' is not valid for 'stop'"},
        {{"version", "-c", "/x"}, "option '-c' is not valid for 'version'"},
        {{"run", "--daemon=yes"}, "option '--daemon' takes no value"},
        {{"run", "--verbose"}, "unknown option '--verbose'"},
        {{"stop", "now"}, "unexpected argument 'now'"},
    };
    for (const auto& c : cases) {
        auto r = parse(c.args);
        INFO(c.message);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == EX_USAGE);
        CHECK(r.error().message == c.message);
    }
}

TEST_CASE("cli: usage text lists every command and option") {
    std::string u = usage_text();
    for (auto word : {"run", "check-config", "reload", "status", "stop", "version", "help", "--config", "-c",
                      "--daemon", "--pid-file", "--json", kDefaultConfigPath})
        CHECK_MESSAGE(contains(u, word), word);
    CHECK(version_text() == std::string("antigravityd ") + AGD_VERSION + "\n");
}

TEST_CASE("cli: durations") {
    CHECK(format_duration(0) == "0s");
    CHECK(format_duration(59) == "59s");
    CHECK(format_duration(60) == "1m 0s");
    CHECK(format_duration(123) == "2m 3s");
    CHECK(format_duration(3723) == "1h 2m 3s");
    CHECK(format_duration(90061) == "1d 1h 1m 1s");
    CHECK(format_duration(-5) == "0s");
}

TEST_CASE("cli: status rendering") {
    auto r = render_status(kFullStatus);
    REQUIRE_MESSAGE(r, r.error().message);
    const std::string& s = *r;
    INFO(s);
    CHECK(s.starts_with("antigravityd 0.1.0, PID 123\n"));
    CHECK(contains(s, "uptime:        1h 2m 3s (since 2026-11-22T13:00:00Z)\n"));
    CHECK(contains(s, "configuration: generation 2, /etc/antigravityd/antigravityd.conf, loaded 2026-11-22T13:10:00Z\n"));
    CHECK(contains(s, "listeners:     127.0.0.1:8045, /run/antigravityd/api.sock\n"));
    CHECK(contains(s, "workers:       2\n"));
    CHECK(contains(s, "auth mode:     off\n"));
    CHECK(contains(s, "requests:      1234 served, 3 in flight\n"));
    CHECK(contains(s, "providers:\n  openai (openai, chat api) https://api.openai.com/v1\n"));
    CHECK(contains(s, "    models: gpt-4o*, fast=gpt-4o-mini\n"));
    CHECK(contains(s, "    credential 1a2b3c4d: ready, 10 requests, 1 failure, last status 200\n"));
    CHECK(contains(s, "    credential 5e6f7a8b: cooling for every model (42s left), 1 request, 1 failure, last status 429\n"
                      "      cooling for model gpt-4o (1m 30s left)\n"
                      "      last failure: credential: 429 insufficient_quota: You exceeded your current quota "
                      "(upstream said wait 42s), 1m 0s ago\n"));
    CHECK(contains(s, "  claude (anthropic) https://api.anthropic.com\n    models: claude-*\n    no credentials\n"));
    // Providers come in the daemon's order.
    CHECK(s.find("openai (") < s.find("claude ("));
}

TEST_CASE("cli: status shows each client with today's usage and its limits") {
    auto r = render_status(R"({"pid":1,"clients":[
        {"name":"default","keys":1,"models":[],"limits":{},"in_flight":0,"requests":4,"limited":0,
         "tokens_today":120,"tokens_month":900},
        {"name":"team-a","keys":2,"models":["claude-*","gpt-5*"],
         "limits":{"rpm":60,"tpm":200000,"daily_tokens":5000000,"max_concurrent":8},
         "expires":"2027-03-31","expired":false,"in_flight":1,"requests":9,"limited":3,
         "tokens_today":1200,"tokens_month":3400}]})");
    REQUIRE_MESSAGE(r, r.error().message);
    const std::string& s = *r;
    INFO(s);
    CHECK(contains(s, "clients:\n  default: 1 key, today 120 tokens, month 900 tokens, 0 in flight\n"));
    CHECK(contains(s, "  team-a: 2 keys, today 1200 / 5000000 tokens, month 3400 tokens, 1 / 8 in flight, rpm 60, "
                      "tpm 200000, 3 refused by limits, expires 2027-03-31\n    models: claude-*, gpt-5*\n"));
}

TEST_CASE("cli: status shows the request store and its trouble") {
    auto r = render_status(R"({"pid":1,"store":{"database":"/var/lib/antigravityd/antigravityd.db","ok":true,
        "written":120,"dropped":0,"lost":0,"errors":0,"queue":0,"bytes":40960}})");
    REQUIRE(r);
    CHECK(contains(*r, "request store: /var/lib/antigravityd/antigravityd.db (ok, 120 written, 40 KiB)\n"));
    r = render_status(R"({"pid":1,"store":{"database":"/x.db","ok":false,"written":0,"dropped":3,"lost":7,
        "errors":2,"queue":5,"bytes":0}})");
    REQUIRE(r);
    CHECK(contains(*r, "request store: /x.db (NOT WRITING, 0 written, 5 queued, 3 dropped (queue full), 7 lost, 2 errors)\n"));
    r = render_status(R"({"pid":1,"store":null})");
    REQUIRE(r);
    CHECK_FALSE(contains(*r, "request store"));
}

TEST_CASE("cli: status rendering tolerates missing and odd fields") {
    auto empty = render_status("{}");
    REQUIRE(empty);
    CHECK(*empty == "antigravityd\n");

    auto partial = render_status(R"({"pid":7,"requests_served":5,"providers":[{"credentials":[{"state":"disabled"}]}, 3],
                                    "workers":"two","listeners":[]})");
    REQUIRE(partial);
    CHECK(contains(*partial, "antigravityd, PID 7\n"));
    CHECK(contains(*partial, "requests:      5 served, ? in flight\n"));
    CHECK(contains(*partial, "listeners:     none\n"));
    CHECK_FALSE(contains(*partial, "workers"));
    CHECK(contains(*partial, "  ?\n    credential ?: disabled by an administrator\n"));

    auto broken = render_status("not json");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().code == EX_PROTOCOL);
    CHECK_FALSE(render_status("[1,2]"));
}

TEST_CASE("cli: reload outcomes") {
    auto ok = reload_outcome(R"({"ok":true,"generation":4,"message":"configuration reloaded"})");
    CHECK(ok.exit_code == 0);
    CHECK(ok.out == "reloaded: configuration generation 4 is live\n");
    CHECK(ok.err.empty());

    auto failed = reload_outcome(
        R"({"ok":false,"generation":3,"errors":["/etc/a.conf:12: server.listen: bad address","/etc/a.conf:20: provider.x.keys: empty"],"message":"2 errors"})");
    CHECK(failed.exit_code == 1);
    CHECK(failed.out.empty());
    CHECK(failed.err ==
          "/etc/a.conf:12: server.listen: bad address\n"
          "/etc/a.conf:20: provider.x.keys: empty\n"
          "reload failed: still running the previous configuration (generation 3)\n");

    auto refused = reload_outcome(R"({"ok":false,"generation":3,"message":"a reload is already in progress"})");
    CHECK(refused.exit_code == 1);
    CHECK(refused.err ==
          "a reload is already in progress\n"
          "reload failed: still running the previous configuration (generation 3)\n");

    auto garbage = reload_outcome("<html>");
    CHECK(garbage.exit_code == EX_PROTOCOL);
    CHECK(contains(garbage.err, "malformed answer"));
}

TEST_CASE("cli: check-config outcomes") {
    using agd::config::Diagnostic;
    using agd::config::LoadResult;
    LoadResult bad;
    bad.errors.push_back(Diagnostic{"/etc/a.conf", 3, "server.listen", "bad address"});
    bad.errors.push_back(Diagnostic{"/etc/a.conf", 9, "auth.mode", "unknown mode"});
    bad.warnings.push_back(Diagnostic{"/etc/a.conf", 5, "provider.x.keys", "looks like a placeholder"});
    auto o = check_config_outcome(bad, "/etc/a.conf");
    CHECK(o.exit_code == 1);
    CHECK(o.out.empty());
    CHECK(contains(o.err, bad.errors[0].str() + "\n"));
    CHECK(contains(o.err, bad.errors[1].str() + "\n"));
    CHECK(contains(o.err, bad.warnings[0].str() + "\n"));
    CHECK(o.err.ends_with("/etc/a.conf: configuration has 2 error(s)\n"));

    LoadResult one;
    one.errors.push_back(Diagnostic{"/etc/b.conf", 0, "", "cannot read: No such file or directory"});
    CHECK(check_config_outcome(one, "/etc/b.conf").err.ends_with("/etc/b.conf: configuration has 1 error(s)\n"));

    LoadResult good;
    good.config = std::make_shared<const agd::config::Config>();
    good.warnings.push_back(Diagnostic{"/etc/c.conf", 5, "provider.x.keys", "looks like a placeholder"});
    auto g = check_config_outcome(good, "/etc/c.conf");
    CHECK(g.exit_code == 0);
    CHECK(g.out == "/etc/c.conf: configuration is valid\n");
    CHECK(contains(g.err, good.warnings[0].str()));
}

TEST_CASE("cli: status never shows credentials in a URL, whoever sent them") {
    auto r = render_status(R"({"providers":[{"name":"p","type":"openai","base_url":"http://alice:SECRET@host/v1",
                                            "proxy":"socks5://bob:SECRET2@proxy:1080","credentials":[]}]})");
    REQUIRE(r);
    INFO(*r);
    CHECK(contains(*r, "  p (openai) http://***@host/v1\n    proxy: socks5://***@proxy:1080\n"));
    CHECK_FALSE(contains(*r, "SECRET"));
}

TEST_CASE("cli: status exits non-zero on every refusal or bad answer, --json or not") {
    for (bool as_json : {false, true}) {
        INFO("json=" << as_json);
        auto ok = status_outcome(kFullStatus, as_json);
        CHECK(ok.exit_code == 0);
        CHECK(ok.err.empty());
        if (as_json) CHECK(ok.out == std::string(kFullStatus) + "\n");

        auto busy = status_outcome(R"({"ok":false,"error":"busy","message":"too many control connections busy"})",
                                   as_json);
        CHECK(busy.exit_code == EX_TEMPFAIL);
        CHECK(busy.err == "antigravityd: status: too many control connections busy\n");
        CHECK(contains(busy.out, "\"ok\":false") == as_json);  // --json still shows the answer

        auto denied = status_outcome(R"({"ok":false,"error":"permission","message":"no"})", as_json);
        CHECK(denied.exit_code == EX_NOPERM);
        auto unknown = status_outcome(R"({"ok":false,"error":"unknown_command","message":"unknown command"})", as_json);
        CHECK(unknown.exit_code == EX_PROTOCOL);
        auto plain = status_outcome(R"({"ok":false})", as_json);
        CHECK(plain.exit_code == 1);
        CHECK(plain.err == "antigravityd: status: refused\n");

        auto garbage = status_outcome("not json", as_json);
        CHECK(garbage.exit_code == EX_PROTOCOL);
        CHECK(garbage.out.empty());
        CHECK(contains(garbage.err, "malformed status"));
        CHECK(status_outcome("[1]", as_json).exit_code == EX_PROTOCOL);
    }
}

TEST_CASE("cli: a refused reload exits with the refusal's status") {
    auto busy = reload_outcome(R"({"ok":false,"error":"busy","message":"too many control connections busy; try again"})");
    CHECK(busy.exit_code == EX_TEMPFAIL);
    CHECK(busy.err == "antigravityd: reload: too many control connections busy; try again\n");
    CHECK(reload_outcome(R"({"ok":false,"error":"permission","message":"x"})").exit_code == EX_NOPERM);
    CHECK(reload_outcome(R"({"ok":false,"error":"too_long","message":"x"})").exit_code == EX_PROTOCOL);
    CHECK(refusal_exit_code("something new") == 1);
    CHECK_FALSE(refusal_of(R"({"ok":true})"));
    CHECK_FALSE(refusal_of("{}"));
    CHECK_FALSE(refusal_of("nope"));
    REQUIRE(refusal_of(R"({"ok":false,"error":"busy"})"));
    CHECK(refusal_of(R"({"ok":false,"error":"busy"})")->message == "refused");
}
