// The command line: `antigravityd <command> [options]`. Parsing and the
// rendering of the daemon's answers are plain functions, so tests can check
// them without a daemon; cli_main() wires them to the real world.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "daemon/options.h"

namespace agd::config {
struct LoadResult;
}

namespace agd::daemon {

enum class Command {
    Run, CheckConfig, Config, Reload, Upgrade, Passwd, Status, Stop, Log, Usage, Credentials, Route, ClientSetup, Version, Help
};

struct Invocation {
    Command command = Command::Help;
    CliOptions options;
};

// `args` are argv[1..]. Accepts -c FILE, -cFILE, --config FILE, --config=FILE
// (every command but version/help), --daemon and --pid-file PATH|=PATH (run),
// --json (status, log, usage), --since (log, usage), --client, --model,
// --provider, --status, --limit, --id (log), --by (usage), client-setup's
// CLIENT, --url, --key and --model; -h/--help
// anywhere means Help. Errors: EX_USAGE with a one-line message.
Result<Invocation> parse_args(const std::vector<std::string_view>& args);

std::string usage_text();
std::string version_text();  // "antigravityd 0.1.0\n"

// "45s", "2m 3s", "1h 2m 3s", "3d 0h 0m 7s".
std::string format_duration(std::int64_t seconds);

// What a command prints and returns.
struct Outcome {
    int exit_code = 0;
    std::string out;  // for stdout
    std::string err;  // for stderr
};

// check-config: every error and warning, then the verdict line.
Outcome check_config_outcome(const config::LoadResult& result, const std::string& path);
// The control socket's refusal, {"ok":false,"error":CODE,"message":..}, as
// an exit status: "busy" EX_TEMPFAIL, "permission" EX_NOPERM,
// "unknown_command"/"too_long" (this CLI and the daemon disagree)
// EX_PROTOCOL; no code (a failure the command itself reports): 1.
int refusal_exit_code(std::string_view error_code);
// A daemon answer that says "no": {"ok":false,...}. nullopt for anything
// else (a success, or text that is not a JSON object).
struct Refusal {
    int exit_code = 1;
    std::string message;
};
std::optional<Refusal> refusal_of(std::string_view json);
// What `command` prints for a refusal: the message on stderr, its exit
// code, and with --json the answer as it came on stdout. nullopt when the
// answer is not a refusal.
std::optional<Outcome> refused_outcome(std::string_view json, bool as_json, std::string_view command);
// An answer this CLI cannot read: EX_PROTOCOL, its start on stderr.
Outcome malformed_outcome(std::string_view json, std::string_view command);
// reload: the daemon's answer, {"ok":..,"generation":N,"errors":[..],"message":".."}.
Outcome reload_outcome(std::string_view json);
Outcome upgrade_outcome(std::string_view json);
// status: what `status` (text) or `status --json` prints and returns for
// the daemon's answer. --json prints the answer as it came, but a refusal
// or an answer that is not a JSON object still fails (non-zero exit).
Outcome status_outcome(std::string_view json, bool as_json);
// credentials: the daemon's list (text or as received), and the answer to
// reset/disable/enable. A refusal or a malformed answer fails.
Outcome credentials_outcome(std::string_view json, bool as_json);
Outcome credentials_action_outcome(std::string_view json);
// route: the daemon's explanation (text or as received).
Outcome route_outcome(std::string_view json, bool as_json);

// passwd: the hash of a new admin password on standard output (cli_passwd.cc).
int cmd_passwd(const CliOptions& opts);
// The control line for `route`: "route {JSON of the options}".
std::string route_request(const CliOptions& opts);
// status: the daemon's status JSON, readable. EX_PROTOCOL if it is not a JSON object.
Result<std::string> render_status(std::string_view json);

// argv -> subcommand -> sysexits code.
int cli_main(int argc, char** argv);

}  // namespace agd::daemon
