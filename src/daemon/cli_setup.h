// `antigravityd client-setup CLIENT`: what an AI client (Claude Code, Codex
// CLI, Gemini CLI, Qwen Code) needs to reach this gateway. The plan is made
// from the command line and the configuration file; its rendering is a plain
// function, so tests can check the text without a file.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "daemon/options.h"

namespace agd::config {
struct Config;
}

namespace agd::daemon {

// The clients client-setup knows, by the name on its command line.
bool is_setup_client(std::string_view name);

struct SetupPlan {
    std::string client;     // claude, codex, gemini or qwen
    std::string url;        // the gateway's base URL, no trailing slash
    std::string url_note;   // why this URL (listening on every address...), or ""
    std::string key;        // --key, or a placeholder when key_given is false
    bool key_given = false;
    bool auth_off = false;  // the gateway takes any key (auth off)
    std::string model;      // "" when none is known
    std::string model_note; // where the model came from, or what to pick from
};

// The plan for `opts` (client, --url, --key, --model). `cfg` is the
// configuration as far as it could be read (nullptr when not at all);
// `hostname` names this machine in the note about a listener on every
// address. No key of the configuration ever goes into the plan.
// Errors: EX_CONFIG when no URL can be found and --url was not given.
Result<SetupPlan> setup_plan(const CliOptions& opts, const config::Config* cfg, std::string_view hostname);

// The text client-setup prints for a plan: comments, `export NAME='value'`
// lines, and files to merge between "# ---- PATH ----" and "# ---- end ----".
std::string render_setup(const SetupPlan& plan);

// TOML basic string and POSIX shell single-quoted word of `s`.
std::string toml_string(std::string_view s);
std::string shell_word(std::string_view s);

}  // namespace agd::daemon
