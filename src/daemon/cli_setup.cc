// `antigravityd client-setup`: the plan (URL, key, model) and its text.
#include "daemon/cli_setup.h"

#include <sysexits.h>

#include <array>
#include <vector>

#include <fmt/core.h>

#include "config/config.h"

namespace agd::daemon {

namespace {

constexpr std::string_view kKeyPlaceholder = "<your client key>";
constexpr std::string_view kModelPlaceholder = "<model>";
// What a client sends when the gateway takes any key: a word, not a secret.
constexpr std::string_view kAnyKey = "unused";
constexpr std::size_t kMaxGlobsShown = 8;

// Each client, the wire it speaks, and which provider serves it without
// translation.
struct ClientInfo {
    std::string_view name;
    std::string_view title;     // "Claude Code (npm @anthropic-ai/claude-code)"
    std::string_view speaks;    // "Anthropic Messages, POST /v1/messages"
    config::ProviderType native_type;
    config::OpenAIApi native_api;  // for an openai provider
};

constexpr std::array<ClientInfo, 4> kClients{{
    {"claude", "Claude Code (npm @anthropic-ai/claude-code)", "Anthropic Messages, POST /v1/messages",
     config::ProviderType::Anthropic, config::OpenAIApi::Chat},
    {"codex", "Codex CLI (npm @openai/codex)", "OpenAI Responses, POST /v1/responses", config::ProviderType::OpenAI,
     config::OpenAIApi::Responses},
    {"gemini", "Gemini CLI (npm @google/gemini-cli)",
     "Gemini, POST /v1beta/models/MODEL:streamGenerateContent", config::ProviderType::Gemini,
     config::OpenAIApi::Chat},
    {"qwen", "Qwen Code (npm @qwen-code/qwen-code)", "OpenAI Chat Completions, POST /v1/chat/completions",
     config::ProviderType::OpenAI, config::OpenAIApi::Chat},
}};

const ClientInfo* client_info(std::string_view name) {
    for (const auto& c : kClients)
        if (c.name == name) return &c;
    return nullptr;
}

bool native_for(const ClientInfo& c, const config::ProviderConfig& p) {
    if (p.type != c.native_type) return false;
    return p.type != config::ProviderType::OpenAI || p.api == c.native_api;
}

// The first listener a client can reach over TCP, as a URL.
Result<std::pair<std::string, std::string>> url_of_listeners(const config::ServerConfig& server,
                                                            std::string_view hostname, const std::string& path) {
    for (const auto& l : server.listen) {
        if (l.kind != config::ListenAddr::Kind::Tcp) continue;
        if (l.port == 0)
            return Result<std::pair<std::string, std::string>>::fail(
                EX_CONFIG, fmt::format("client-setup: listen = {} in {} lets the kernel pick the port: pass --url",
                                       l.text, path));
        std::string note;
        std::string host = l.host;
        const char* scheme = l.tls ? "https" : "http";
        if (host == "0.0.0.0" || host == "::" || host.empty()) {
            bool v6 = host == "::";
            host = v6 ? "::1" : "127.0.0.1";
            std::string other = hostname.empty() ? std::string("this machine's address") : std::string(hostname);
            note = fmt::format("the gateway listens on every address ({}); from another machine use {}://{}:{}",
                               l.text, scheme, other, l.port);
        }
        bool bracket = host.find(':') != std::string::npos;
        return std::make_pair(
            fmt::format("{}://{}{}{}:{}", scheme, bracket ? "[" : "", host, bracket ? "]" : "", l.port), note);
    }
    return Result<std::pair<std::string, std::string>>::fail(
        EX_CONFIG, fmt::format("client-setup: {} names no TCP listener ([server] listen): pass --url", path));
}

// A model the configuration routes: an exact name of a provider speaking the
// client's wire first (no translation), else of any provider; else the globs.
void pick_model(SetupPlan& plan, const ClientInfo& c, const config::Config& cfg) {
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& p : cfg.providers) {
            if (pass == 0 && !native_for(c, p)) continue;
            for (const auto& m : p.models) {
                if (m.is_glob || m.pattern.empty()) continue;
                plan.model = m.pattern;
                plan.model_note =
                    pass == 0 ? fmt::format("a model of provider {}, which speaks this client's protocol", p.name)
                              : fmt::format("a model of provider {} (translated to its protocol)", p.name);
                return;
            }
        }
    }
    std::vector<std::string> globs;
    for (const auto& p : cfg.providers)
        for (const auto& m : p.models)
            if (m.is_glob && globs.size() < kMaxGlobsShown) globs.push_back(m.pattern);
    if (globs.empty()) {
        plan.model_note = "the configuration names no model: ask the gateway's operator for one";
        return;
    }
    std::string list;
    for (const auto& g : globs) list += (list.empty() ? "" : ", ") + g;
    plan.model_note = "the gateway serves models matching " + list + ": name one (--model)";
}

void line(std::string& out, std::string_view text) {
    out += text;
    out += '\n';
}

void comment(std::string& out, std::string_view text) {
    if (!text.empty()) line(out, fmt::format("# {}", text));
}

void env(std::string& out, std::string_view name, std::string_view value) {
    line(out, fmt::format("export {}={}", name, shell_word(value)));
}

// A model variable: set when the model is known, else a commented example.
void model_env(std::string& out, const SetupPlan& plan, std::string_view name) {
    if (plan.model.empty())
        line(out, fmt::format("# export {}={}", name, shell_word(kModelPlaceholder)));
    else
        env(out, name, plan.model);
}

void key_lines(std::string& out, const SetupPlan& plan, std::string_view name) {
    if (!plan.key_given) {
        if (plan.auth_off)
            comment(out, "the gateway's [auth] is off: it takes any key, the client only needs one set");
        else
            comment(out, "your client key: an [auth] key or a [client.NAME] key of the gateway (ask its operator)");
    }
    env(out, name, plan.key);
}

void file_block(std::string& out, std::string_view path, std::string_view body) {
    line(out, fmt::format("# ---- {} ----", path));
    out += body;
    line(out, "# ---- end ----");
}

std::string settings_json(std::string_view selected_type) {
    return fmt::format("{{\n  \"security\": {{\n    \"auth\": {{\n      \"selectedType\": \"{}\"\n    }}\n  }}\n}}\n",
                       selected_type);
}

bool loopback_url(std::string_view url) {
    for (std::string_view host : {"http://127.0.0.1", "http://localhost", "http://[::1]"})
        if (url.starts_with(host) && (url.size() == host.size() || url[host.size()] == ':' || url[host.size()] == '/'))
            return true;
    return !url.starts_with("http://");
}

void render_claude(std::string& out, const SetupPlan& plan) {
    env(out, "ANTHROPIC_BASE_URL", plan.url);
    comment(out, "sent as Authorization: Bearer; leave ANTHROPIC_API_KEY unset");
    key_lines(out, plan, "ANTHROPIC_AUTH_TOKEN");
    if (plan.model.empty())
        comment(out, "without these Claude Code asks for its own claude-* names, which the gateway must route");
    comment(out, plan.model_note);
    model_env(out, plan, "ANTHROPIC_MODEL");
    comment(out, "the model of background tasks (titles, summaries); older releases read the second");
    model_env(out, plan, "ANTHROPIC_DEFAULT_HAIKU_MODEL");
    model_env(out, plan, "ANTHROPIC_SMALL_FAST_MODEL");
}

void render_codex(std::string& out, const SetupPlan& plan) {
    key_lines(out, plan, "ANTIGRAVITYD_API_KEY");
    line(out, "");
    comment(out, "Merge into ~/.codex/config.toml (the first two keys above any [table]):");
    std::string toml = "model_provider = \"antigravityd\"\n";
    if (!plan.model_note.empty()) toml += fmt::format("# {}\n", plan.model_note);
    toml += fmt::format("{}model = {}\n", plan.model.empty() ? "# " : "",
                        toml_string(plan.model.empty() ? kModelPlaceholder : plan.model));
    toml += "\n[model_providers.antigravityd]\n";
    toml += "name = \"antigravityd\"\n";
    toml += fmt::format("base_url = {}\n", toml_string(plan.url + "/v1"));
    toml += "env_key = \"ANTIGRAVITYD_API_KEY\"\n";
    toml += "wire_api = \"responses\"\n";
    toml += "# the Responses API over a WebSocket (GET /v1/responses), as Codex uses it with OpenAI;\n";
    toml += "# false: HTTP and SSE\n";
    toml += "supports_websockets = true\n";
    file_block(out, "~/.codex/config.toml", toml);
}

void render_gemini(std::string& out, const SetupPlan& plan) {
    if (!loopback_url(plan.url))
        comment(out, "Gemini CLI's documentation asks for https unless the host is localhost, 127.0.0.1 or [::1]");
    env(out, "GOOGLE_GEMINI_BASE_URL", plan.url);
    key_lines(out, plan, "GEMINI_API_KEY");
    comment(out, plan.model_note);
    model_env(out, plan, "GEMINI_MODEL");
    line(out, "");
    comment(out, "Merge into ~/.gemini/settings.json: the API key and base URL above, not a Google login:");
    file_block(out, "~/.gemini/settings.json", settings_json("gemini-api-key"));
}

void render_qwen(std::string& out, const SetupPlan& plan) {
    env(out, "OPENAI_BASE_URL", plan.url + "/v1");
    key_lines(out, plan, "OPENAI_API_KEY");
    comment(out, plan.model_note);
    model_env(out, plan, "OPENAI_MODEL");
    line(out, "");
    comment(out, "Merge into ~/.qwen/settings.json: the OpenAI-compatible settings above, no /auth dialog:");
    file_block(out, "~/.qwen/settings.json", settings_json("openai"));
}

}  // namespace

bool is_setup_client(std::string_view name) { return client_info(name) != nullptr; }

std::string toml_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += static_cast<char>(ch);
        } else if (ch < 0x20 || ch == 0x7f) {
            out += fmt::format("\\u{:04X}", static_cast<unsigned>(ch));
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out + "\"";
}

std::string shell_word(std::string_view s) {
    std::string out = "'";
    for (char ch : s) {
        if (ch == '\'')
            out += "'\\''";
        else
            out += ch;
    }
    return out + "'";
}

Result<SetupPlan> setup_plan(const CliOptions& opts, const config::Config* cfg, std::string_view hostname) {
    const ClientInfo* c = client_info(opts.setup_client);
    if (c == nullptr)
        return Result<SetupPlan>::fail(
            EX_USAGE, fmt::format("client-setup: unknown client '{}' (claude, codex, gemini, qwen)", opts.setup_client));
    SetupPlan plan;
    plan.client = std::string(c->name);
    if (opts.url) {
        plan.url = *opts.url;
        while (plan.url.size() > 1 && plan.url.back() == '/') plan.url.pop_back();
    } else {
        if (cfg == nullptr)
            return Result<SetupPlan>::fail(
                EX_CONFIG, fmt::format("client-setup: cannot read {}: pass --url", opts.config_path));
        auto url = url_of_listeners(cfg->server, hostname, opts.config_path);
        if (!url) return url.error();
        plan.url = std::move(url->first);
        plan.url_note = std::move(url->second);
    }
    if (opts.key) {
        plan.key = *opts.key;
        plan.key_given = true;
    } else {
        plan.auth_off = cfg != nullptr && cfg->auth.effective == config::AuthMode::Off;
        plan.key = std::string(plan.auth_off ? kAnyKey : kKeyPlaceholder);
    }
    if (opts.model) {
        plan.model = *opts.model;
    } else if (cfg != nullptr) {
        pick_model(plan, *c, *cfg);
    } else {
        plan.model_note = "name a model the gateway routes (--model)";
    }
    return plan;
}

std::string render_setup(const SetupPlan& plan) {
    const ClientInfo* c = client_info(plan.client);
    if (c == nullptr) return {};
    std::string out;
    comment(out, fmt::format("{} through antigravityd at {}", c->title, plan.url));
    comment(out, fmt::format("it speaks {}", c->speaks));
    comment(out, plan.url_note);
    line(out, "");
    comment(out, "In your shell (or its profile):");
    switch (c->native_type) {
        case config::ProviderType::Anthropic: render_claude(out, plan); break;
        case config::ProviderType::Gemini: render_gemini(out, plan); break;
        case config::ProviderType::OpenAI:
            if (c->native_api == config::OpenAIApi::Responses)
                render_codex(out, plan);
            else
                render_qwen(out, plan);
            break;
    }
    return out;
}

}  // namespace agd::daemon
