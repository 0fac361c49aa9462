// `antigravityd client-setup`: its arguments, the plan made from a
// configuration, and the text for each client.
#include <doctest/doctest.h>

#include "../support.h"

#include <sysexits.h>

#include <string>
#include <string_view>
#include <vector>

#include "daemon/cli.h"
#include "daemon/cli_setup.h"

using agd::testing::contains;
using agd::testing::load_config;
using namespace agd;
using namespace agd::daemon;

namespace {

const char* kConf = R"(
[server]
listen = unix:/run/agd.sock
listen = 0.0.0.0:8045
[auth]
mode = strict
key = top-secret-client-key-1
[client.team]
key = team-secret-key-0002
[provider.oa]
type = openai
base_url = http://127.0.0.1:1/v1
key = sk-upstream-secret-3
models = gpt-*, gpt-5
[provider.resp]
type = openai
api = responses
base_url = http://127.0.0.1:1/v1
key = sk-upstream-secret-4
models = o3*, codex-fast=gpt-5-mini
[provider.an]
type = anthropic
base_url = http://127.0.0.1:1
key = sk-ant-secret-5
models = claude-*
)";

CliOptions opts_for(std::string client) {
    CliOptions o;
    o.setup_client = std::move(client);
    return o;
}

std::string render(const CliOptions& o, const config::Config* cfg) {
    auto plan = setup_plan(o, cfg, "gw.example");
    REQUIRE(plan);
    return render_setup(*plan);
}

// The value of `export NAME=...` in the text, "" when there is none.
std::string exported(const std::string& text, std::string_view name) {
    std::string head = "\nexport " + std::string(name) + "=";
    auto at = text.find(head);
    if (at == std::string::npos) return "";
    auto start = at + head.size();
    return text.substr(start, text.find('\n', start) - start);
}

}  // namespace

TEST_CASE("client-setup: arguments") {
    auto r = parse_args(std::vector<std::string_view>{"client-setup", "codex", "--url", "http://gw:8045/", "--key=k1",
                                                      "--model", "gpt-5", "-c", "/tmp/x.conf"});
    REQUIRE(r);
    CHECK(r->command == Command::ClientSetup);
    CHECK(r->options.setup_client == "codex");
    CHECK(r->options.url == "http://gw:8045/");
    CHECK(r->options.key == "k1");
    CHECK(r->options.model == "gpt-5");
    CHECK(r->options.config_path == "/tmp/x.conf");

    auto usage = [](std::vector<std::string_view> args) {
        auto p = parse_args(args);
        REQUIRE_FALSE(p);
        CHECK(p.error().code == EX_USAGE);
        return p.error().message;
    };
    CHECK(contains(usage({"client-setup"}), "name the client"));
    CHECK(contains(usage({"client-setup", "vim"}), "unknown client 'vim'"));
    CHECK(contains(usage({"client-setup", "claude", "gemini"}), "unexpected argument"));
    CHECK(contains(usage({"client-setup", "claude", "--url", "ftp://x"}), "not an http"));
    CHECK(contains(usage({"client-setup", "claude", "--key", "a\nb"}), "no control characters"));
    CHECK(contains(usage({"client-setup", "claude", "--json"}), "not valid for 'client-setup'"));
    usage({"route", "--model", "m", "--url", "http://x"});
    usage({"client-setup", "qwen", "--key"});
}

TEST_CASE("client-setup: the URL from the listeners") {
    auto cfg = load_config(kConf);
    auto plan = setup_plan(opts_for("qwen"), cfg.get(), "gw.example");
    REQUIRE(plan);
    CHECK(plan->url == "http://127.0.0.1:8045");  // the unix socket is skipped, 0.0.0.0 is reached on loopback
    CHECK(contains(plan->url_note, "http://gw.example:8045"));

    auto v6 = load_config("[server]\nlisten = [::]:9000\n[auth]\nmode = off\n");
    plan = setup_plan(opts_for("qwen"), v6.get(), "h");
    REQUIRE(plan);
    CHECK(plan->url == "http://[::1]:9000");
    auto one = load_config("[server]\nlisten = 192.0.2.7:81\n[auth]\nkey = k-0123456789abcdef\n");
    plan = setup_plan(opts_for("qwen"), one.get(), "h");
    REQUIRE(plan);
    CHECK(plan->url == "http://192.0.2.7:81");
    CHECK(plan->url_note.empty());
    // An ssl listener's URL is https.
    auto tls = load_config("[server]\nlisten = 0.0.0.0:8443 ssl\n[auth]\nkey = k-0123456789abcdef\n"
                           "[tls]\ncertificate = /c.pem\nkey = /k.pem\n");
    plan = setup_plan(opts_for("qwen"), tls.get(), "gw.example");
    REQUIRE(plan);
    CHECK(plan->url == "https://127.0.0.1:8443");
    CHECK(contains(plan->url_note, "https://gw.example:8443"));

    auto given = opts_for("qwen");
    given.url = "https://gw.example/";
    plan = setup_plan(given, nullptr, "h");
    REQUIRE(plan);
    CHECK(plan->url == "https://gw.example");

    auto fails = [](const config::Config* c) {
        auto p = setup_plan(opts_for("claude"), c, "h");
        REQUIRE_FALSE(p);
        CHECK(p.error().code == EX_CONFIG);
        CHECK(contains(p.error().message, "--url"));
    };
    fails(nullptr);
    auto kernel = load_config("[server]\nlisten = 127.0.0.1:0\n");
    fails(kernel.get());
    auto unix_only = load_config("[server]\nlisten = unix:/run/x.sock\n");
    fails(unix_only.get());
}

TEST_CASE("client-setup: keys of the configuration are never printed") {
    auto cfg = load_config(kConf);
    for (const char* client : {"claude", "codex", "gemini", "qwen"}) {
        CAPTURE(client);
        std::string text = render(opts_for(client), cfg.get());
        for (const char* secret : {"top-secret-client-key-1", "team-secret-key-0002", "sk-upstream-secret-3",
                                   "sk-upstream-secret-4", "sk-ant-secret-5"})
            CHECK_FALSE(contains(text, secret));
        CHECK(contains(text, "'<your client key>'"));
    }
    // A given key is printed (quoted for the shell); with auth off any word does.
    auto given = opts_for("claude");
    given.key = "it's-mine";
    CHECK(exported(render(given, cfg.get()), "ANTHROPIC_AUTH_TOKEN") == R"('it'\''s-mine')");
    auto open = load_config("[server]\nlisten = 127.0.0.1:8045\n[auth]\nmode = off\n");
    std::string text = render(opts_for("gemini"), open.get());
    CHECK(exported(text, "GEMINI_API_KEY") == "'unused'");
    CHECK(contains(text, "[auth] is off"));
}

TEST_CASE("client-setup: the model the configuration routes for the client's protocol") {
    auto cfg = load_config(kConf);
    auto model = [&](const char* client) {
        auto p = setup_plan(opts_for(client), cfg.get(), "h");
        REQUIRE(p);
        return p->model;
    };
    CHECK(model("qwen") == "gpt-5");         // chat provider's exact name
    CHECK(model("codex") == "codex-fast");   // the responses provider's alias
    CHECK(model("claude") == "gpt-5");       // no exact claude name: any provider's, translated
    auto globs = load_config("[server]\nlisten = 127.0.0.1:8045\n[provider.an]\ntype = anthropic\nkey = k\n"
                             "models = claude-*\n");
    auto p = setup_plan(opts_for("claude"), globs.get(), "h");
    REQUIRE(p);
    CHECK(p->model.empty());
    CHECK(contains(p->model_note, "claude-*"));
    std::string text = render_setup(*p);
    CHECK(contains(text, "# export ANTHROPIC_MODEL='<model>'"));
    CHECK(exported(text, "ANTHROPIC_MODEL").empty());

    auto given = opts_for("gemini");
    given.model = "gemini-2.5-pro";
    CHECK(exported(render(given, cfg.get()), "GEMINI_MODEL") == "'gemini-2.5-pro'");
}

TEST_CASE("client-setup: each client's text") {
    CliOptions o = opts_for("claude");
    o.url = "http://gw:8045";
    o.key = "k";
    o.model = "claude-x";
    std::string claude = render(o, nullptr);
    CHECK(exported(claude, "ANTHROPIC_BASE_URL") == "'http://gw:8045'");
    CHECK(exported(claude, "ANTHROPIC_AUTH_TOKEN") == "'k'");
    CHECK(exported(claude, "ANTHROPIC_MODEL") == "'claude-x'");
    CHECK(exported(claude, "ANTHROPIC_SMALL_FAST_MODEL") == "'claude-x'");

    o.setup_client = "codex";
    o.model = "gpt-\"5\"";
    std::string codex = render(o, nullptr);
    CHECK(exported(codex, "ANTIGRAVITYD_API_KEY") == "'k'");
    CHECK(contains(codex, "# ---- ~/.codex/config.toml ----\nmodel_provider = \"antigravityd\"\n"));
    CHECK(contains(codex, "model = \"gpt-\\\"5\\\"\"\n"));
    CHECK(contains(codex, "[model_providers.antigravityd]\n"));
    CHECK(contains(codex, "base_url = \"http://gw:8045/v1\"\n"));
    CHECK(contains(codex, "env_key = \"ANTIGRAVITYD_API_KEY\"\n"));
    CHECK(contains(codex, "wire_api = \"responses\"\n"));
    CHECK(contains(codex, "supports_websockets = true\n# ---- end ----\n"));

    o.setup_client = "gemini";
    o.model = "gemini-x";
    std::string gemini = render(o, nullptr);
    CHECK(exported(gemini, "GOOGLE_GEMINI_BASE_URL") == "'http://gw:8045'");
    CHECK(exported(gemini, "GEMINI_API_KEY") == "'k'");
    CHECK(exported(gemini, "GEMINI_MODEL") == "'gemini-x'");
    CHECK(contains(gemini, "# ---- ~/.gemini/settings.json ----\n{"));
    CHECK(contains(gemini, "\"selectedType\": \"gemini-api-key\""));
    CHECK(contains(gemini, "asks for https"));  // plain http to a host that is not loopback

    o.setup_client = "qwen";
    o.url = "http://127.0.0.1:8045";
    std::string qwen = render(o, nullptr);
    CHECK(exported(qwen, "OPENAI_BASE_URL") == "'http://127.0.0.1:8045/v1'");
    CHECK(exported(qwen, "OPENAI_API_KEY") == "'k'");
    CHECK(exported(qwen, "OPENAI_MODEL") == "'gemini-x'");
    CHECK(contains(qwen, "\"selectedType\": \"openai\""));
    o.setup_client = "gemini";
    CHECK_FALSE(contains(render(o, nullptr), "asks for https"));
}

TEST_CASE("client-setup: TOML and shell quoting") {
    CHECK(toml_string("a\"b\\c") == R"("a\"b\\c")");
    CHECK(toml_string("x\ty") == R"("x\u0009y")");
    CHECK(shell_word("a'b") == R"('a'\''b')");
    CHECK(shell_word("$HOME `x`") == "'$HOME `x`'");
}
