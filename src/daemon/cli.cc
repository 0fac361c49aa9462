// `antigravityd <command> [options]`: argument parsing and the client
// commands (check-config, reload, status, stop, log, usage). `run` is
// daemon.cc's.
#include "daemon/cli.h"

#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <thread>

#include <fmt/core.h>
#include <rapidjson/document.h>

#include "config/dump.h"
#include "config/loader.h"
#include "daemon/cli_setup.h"
#include "daemon/cli_store.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "server/listener_tls.h"
#include "store/reader.h"
#include "store/since.h"

namespace agd::daemon {

namespace {

using namespace std::chrono_literals;

constexpr auto kConnectTimeout = 5s;
constexpr auto kStatusTimeout = 10s;
constexpr auto kReloadTimeout = 60s;
constexpr auto kUpgradeTimeout = 90s;  // the daemon gives its successor 60 s
constexpr auto kStopAnswerTimeout = 10s;
constexpr auto kStopGrace = 10s;  // on top of server.shutdown_timeout
constexpr int kStatusNotRunning = 3;  // LSB init-script status: the program is not running

struct CommandInfo {
    std::string_view name;
    Command command;
    bool config, daemon, pid_file, json;  // accepted options
    bool log = false, usage = false;      // the request store's options
};

constexpr CommandInfo kCommands[] = {
    {"run", Command::Run, true, true, true, false},
    {"check-config", Command::CheckConfig, true, false, false, false},
    {"config", Command::Config, true, false, false, false},
    {"reload", Command::Reload, true, false, false, false},
    {"upgrade", Command::Upgrade, true, false, false, false},
    {"passwd", Command::Passwd, false, false, false, false},
    {"status", Command::Status, true, false, false, true},
    {"stop", Command::Stop, true, false, false, false},
    {"log", Command::Log, true, false, false, true, true, false},
    {"usage", Command::Usage, true, false, false, true, false, true},
    {"credentials", Command::Credentials, true, false, false, true},
    {"route", Command::Route, true, false, false, true},
    {"client-setup", Command::ClientSetup, true, false, false, false},
    {"version", Command::Version, false, false, false, false},
    {"help", Command::Help, false, false, false, false},
};

constexpr std::size_t kMaxLogLimit = 1'000'000;
// route's values are sent as JSON on one control line: no control characters.
constexpr std::string_view kControlChars{"\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\0", 33};

Result<Invocation> usage_error(std::string message) { return Result<Invocation>::fail(EX_USAGE, std::move(message)); }

void print(std::FILE* f, std::string_view text) {
    if (!text.empty()) std::fwrite(text.data(), 1, text.size(), f);
}

int emit(const Outcome& o) {
    print(stderr, o.err);
    print(stdout, o.out);
    return o.exit_code;
}

int fail(const Error& e) {
    print(stderr, fmt::format("antigravityd: {}\n", e.message));
    return e.code != 0 ? e.code : 1;
}

// The daemon's control socket (and stop timeout) come from the config file,
// read best-effort: a file with errors still names the socket.
struct ClientSettings {
    std::string control_socket;
    std::chrono::milliseconds shutdown_timeout;
};

ClientSettings client_settings(const CliOptions& opts) {
    auto loaded = config::load_file(opts.config_path);
    const auto& server = loaded.ok() ? loaded.config->server : loaded.partial.server;
    return {server.control_socket, server.shutdown_timeout};
}

// The "pid" an answer names (stop's), or 0.
long pid_of(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) return 0;
    auto pid = doc.FindMember("pid");
    return pid != doc.MemberEnd() && pid->value.IsInt64() && pid->value.GetInt64() > 0 ? static_cast<long>(pid->value.GetInt64())
                                                                                         : 0;
}

// Whether process `pid` has ended: gone, or a zombie its parent has not
// reaped yet (it runs no more code).
bool process_ended(long pid) {
    if (::kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
    std::string stat;
    if (FILE* f = std::fopen(fmt::format("/proc/{}/stat", pid).c_str(), "re")) {
        char buf[512];
        size_t n = std::fread(buf, 1, sizeof buf, f);
        std::fclose(f);
        stat.assign(buf, n);
    }
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && (stat[close + 2] == 'Z' || stat[close + 2] == 'X');
}

// {"ok":true,...}
bool says_ok(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError() || !doc.IsObject()) return false;
    auto ok = doc.FindMember("ok");
    return ok != doc.MemberEnd() && ok->value.IsBool() && ok->value.GetBool();
}

int cmd_check_config(const CliOptions& opts) {
    config::LoadResult r = config::load_file(opts.config_path);
    load_listener_tls(r);  // the certificate and key are checked too
    return emit(check_config_outcome(r, opts.config_path));
}

// config --dump: as check-config, then (when the file is valid) the
// effective configuration on standard output.
int cmd_config_dump(const CliOptions& opts) {
    config::LoadResult r = config::load_file(opts.config_path);
    load_listener_tls(r);
    Outcome o = check_config_outcome(r, opts.config_path);
    print(stderr, o.err);
    if (o.exit_code != 0 || !r.config) {
        print(stdout, o.out);
        return o.exit_code;
    }
    print(stdout, config::dump(*r.config));
    return 0;
}

int cmd_reload(const CliOptions& opts) {
    auto settings = client_settings(opts);
    auto answer = control_call(settings.control_socket, "reload", kReloadTimeout, opts.config_path);
    if (!answer) return fail(answer.error());
    return emit(reload_outcome(*answer));
}

// The running daemon starts the binary at its path and hands over to it;
// the answer comes once the new process serves, or the upgrade failed.
int cmd_upgrade(const CliOptions& opts) {
    auto settings = client_settings(opts);
    auto answer = control_call(settings.control_socket, "upgrade", kUpgradeTimeout, opts.config_path);
    if (!answer) return fail(answer.error());
    return emit(upgrade_outcome(*answer));
}

int cmd_status(const CliOptions& opts) {
    auto settings = client_settings(opts);
    auto answer = control_call(settings.control_socket, "status", kStatusTimeout, opts.config_path);
    if (!answer) {
        // No daemon answers: LSB's "program is not running" (3), what
        // init scripts and monitoring expect of a status command.
        int code = fail(answer.error());
        return code == EX_UNAVAILABLE ? kStatusNotRunning : code;
    }
    return emit(status_outcome(*answer, opts.json));
}

int cmd_credentials(const CliOptions& opts) {
    auto settings = client_settings(opts);
    std::string command = opts.action.empty() ? std::string("credentials")
                                              : "credentials " + opts.action + " " + opts.target;
    auto answer = control_call(settings.control_socket, command, kStatusTimeout, opts.config_path);
    if (!answer) return fail(answer.error());
    return emit(opts.action.empty() ? credentials_outcome(*answer, opts.json) : credentials_action_outcome(*answer));
}

int cmd_route(const CliOptions& opts) {
    auto settings = client_settings(opts);
    auto answer = control_call(settings.control_socket, route_request(opts), kStatusTimeout, opts.config_path);
    if (!answer) return fail(answer.error());
    return emit(route_outcome(*answer, opts.json));
}

int cmd_stop(const CliOptions& opts) {
    auto settings = client_settings(opts);
    auto client = ControlClient::connect(settings.control_socket, kConnectTimeout, opts.config_path);
    if (!client) return fail(client.error());
    auto answer = client->request("stop", kStopAnswerTimeout);
    if (!answer) {
        // The daemon closes without answering only by exiting: that is a stop.
        if (auto closed = client->wait_closed(0ms); closed) {
            print(stdout, "antigravityd stopped\n");
            return 0;
        }
        return fail(answer.error());
    }
    if (auto refused = refusal_of(*answer)) return fail(Error{refused->exit_code, "stop: " + refused->message});
    if (!says_ok(*answer))  // neither yes nor no: not an answer this CLI understands
        return fail(Error{EX_PROTOCOL, "stop: malformed answer from antigravityd: " + *answer});
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(settings.shutdown_timeout + kStopGrace);
    auto deadline = std::chrono::steady_clock::now() + wait;
    if (auto closed = client->wait_closed(wait); !closed) return fail(closed.error());
    // The control socket closes before the daemon has finished (its
    // workers joined, the store flushed): "stopped" means the process
    // has exited, so wait for that too.
    if (long pid = pid_of(*answer)) {
        while (!process_ended(pid)) {
            if (std::chrono::steady_clock::now() >= deadline)
                return fail(Error{EX_TEMPFAIL, fmt::format("stop: antigravityd (PID {}) is still running", pid)});
            std::this_thread::sleep_for(10ms);  // no descriptor says when another process exits
        }
    }
    print(stdout, "antigravityd stopped\n");
    return 0;
}

// log and usage read the request store named by [log] database, from the
// config file read best-effort like the control socket's path.
Result<store::Reader> open_store(const CliOptions& opts, std::string_view command) {
    auto loaded = config::load_file(opts.config_path);
    const auto& log = loaded.ok() ? loaded.config->log : loaded.partial.log;
    if (log.database.empty())
        return Result<store::Reader>::fail(
            EX_CONFIG, fmt::format("{}: the request store is off ([log] database is empty in {})", command,
                                   opts.config_path));
    auto reader = store::Reader::open(log.database);
    if (!reader) return Result<store::Reader>::fail(reader.error().code, fmt::format("{}: {}", command, reader.error().message));
    if (!reader->note().empty()) print(stderr, fmt::format("antigravityd: note: {}\n", reader->note()));
    return reader;
}

// client-setup reads the file best-effort too: a file with errors still
// names the listeners and the models; one that cannot be read names nothing.
int cmd_client_setup(const CliOptions& opts) {
    auto loaded = config::load_file(opts.config_path);
    const config::Config* cfg = loaded.ok() ? loaded.config.get() : &loaded.partial;
    if (!loaded.ok() && loaded.errors.size() == 1 && loaded.errors.front().line == 0) cfg = nullptr;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    auto plan = setup_plan(opts, cfg, host);
    if (!plan) return fail(plan.error());
    if (!loaded.ok() && cfg != nullptr)
        print(stderr, fmt::format("antigravityd: note: {} has errors (check-config lists them); read as far as it goes\n",
                                  opts.config_path));
    print(stdout, render_setup(*plan));
    return 0;
}

int cmd_log(const CliOptions& opts) {
    auto reader = open_store(opts, "log");
    if (!reader) return fail(reader.error());
    return emit(log_outcome(*reader, opts, static_cast<int64_t>(std::time(nullptr))));
}

int cmd_usage(const CliOptions& opts) {
    auto reader = open_store(opts, "usage");
    if (!reader) return fail(reader.error());
    return emit(usage_outcome(*reader, opts, static_cast<int64_t>(std::time(nullptr))));
}

}  // namespace

Result<Invocation> parse_args(const std::vector<std::string_view>& args) {
    Invocation inv;
    if (args.empty()) return inv;  // Help
    std::string_view first = args[0];
    const CommandInfo* info = nullptr;
    if (first == "-h" || first == "--help") return inv;
    if (first == "-V" || first == "--version") {
        inv.command = Command::Version;
        return inv;
    }
    // -t: check-config, -T: config --dump, as nginx -t and -T say them.
    std::string_view wanted = first == "-t" ? std::string_view("check-config")
                              : first == "-T" ? std::string_view("config")
                                              : first;
    if (first == "-T") inv.options.dump = true;
    for (const auto& c : kCommands)
        if (c.name == wanted) info = &c;
    if (info == nullptr) {
        if (!first.empty() && first[0] == '-') return usage_error(fmt::format("a command must come first, not '{}'", first));
        return usage_error(fmt::format("unknown command '{}'", first));
    }
    inv.command = info->command;

    // A value for option `name`: "--name=VALUE", or the next argument.
    auto take_value = [&](std::size_t& i, std::string_view name, std::string_view inline_value,
                          bool has_inline) -> Result<std::string> {
        if (has_inline) {
            if (inline_value.empty()) return Result<std::string>::fail(EX_USAGE, fmt::format("option '{}' needs a value", name));
            return std::string(inline_value);
        }
        if (i + 1 >= args.size() || args[i + 1].empty())
            return Result<std::string>::fail(EX_USAGE, fmt::format("option '{}' needs a value", name));
        return std::string(args[++i]);
    };

    for (std::size_t i = 1; i < args.size(); ++i) {
        std::string_view a = args[i];
        if (a == "-h" || a == "--help") return Invocation{};
        std::string_view name = a, value;
        bool has_inline = false;
        if (a.starts_with("--")) {
            if (auto eq = a.find('='); eq != std::string_view::npos) {
                name = a.substr(0, eq);
                value = a.substr(eq + 1);
                has_inline = true;
            }
        } else if (a.starts_with("-c") && a.size() > 2) {  // -cFILE
            name = "-c";
            value = a.substr(2);
            has_inline = true;
        }
        auto not_for = [&](std::string_view opt) {
            return usage_error(fmt::format("option '{}' is not valid for '{}'", opt, info->name));
        };
        if (name == "-c" || name == "--config") {
            if (!info->config) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            inv.options.config_path = std::move(*v);
        } else if (name == "--pid-file") {
            if (!info->pid_file) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            inv.options.pid_file = std::move(*v);
        } else if (name == "--daemon") {
            if (!info->daemon) return not_for(name);
            if (has_inline) return usage_error("option '--daemon' takes no value");
            inv.options.daemonize = true;
        } else if (name == "--stdin") {
            if (inv.command != Command::Passwd) return not_for(name);
            if (has_inline) return usage_error("option '--stdin' takes no value");
            inv.options.from_stdin = true;
        } else if (name == "--dump") {
            if (inv.command != Command::Config) return not_for(name);
            if (has_inline) return usage_error("option '--dump' takes no value");
            inv.options.dump = true;
        } else if (name == "--json") {
            if (!info->json) return not_for(name);
            if (has_inline) return usage_error("option '--json' takes no value");
            inv.options.json = true;
        } else if (name == "--since") {
            if (!info->log && !info->usage) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            if (!store::parse_since(*v, 0))
                return usage_error(fmt::format("--since: cannot read '{}' (30m, 24h, 7d, today, month, 2026-12-01)", *v));
            inv.options.since = std::move(*v);
        } else if ((name == "--url" || name == "--key" || name == "--model") && inv.command == Command::ClientSetup) {
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            // Printed into shell, TOML and comment lines: one line, no control characters.
            if (v->size() > 2048 || v->find_first_of(kControlChars) != std::string::npos)
                return usage_error(fmt::format("option '{}': at most 2048 bytes, no control characters", name));
            if (name == "--url" && !v->starts_with("http://") && !v->starts_with("https://"))
                return usage_error(fmt::format("--url: '{}' is not an http:// or https:// URL", *v));
            (name == "--url" ? inv.options.url : name == "--key" ? inv.options.key : inv.options.model) = std::move(*v);
        } else if ((name == "--client" || name == "--model") && inv.command == Command::Route) {
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            if (v->size() > 512 || v->find_first_of(kControlChars) != std::string::npos)
                return usage_error(fmt::format("option '{}': at most 512 bytes, no control characters", name));
            (name == "--client" ? inv.options.client : inv.options.model) = std::move(*v);
        } else if (name == "--protocol" || name == "--session") {
            if (inv.command != Command::Route) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            if (v->size() > 512 || v->find_first_of(kControlChars) != std::string::npos)
                return usage_error(fmt::format("option '{}': at most 512 bytes, no control characters", name));
            if (name == "--protocol" && *v != "openai-chat" && *v != "openai-responses" && *v != "anthropic" &&
                *v != "gemini")
                return usage_error(fmt::format(
                    "--protocol: '{}' is not openai-chat, openai-responses, anthropic or gemini", *v));
            (name == "--protocol" ? inv.options.protocol : inv.options.session) = std::move(*v);
        } else if (name == "--client" || name == "--model" || name == "--provider") {
            if (!info->log) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            (name == "--client" ? inv.options.client : name == "--model" ? inv.options.model : inv.options.provider) =
                std::move(*v);
        } else if (name == "--status") {
            if (!info->log) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            if (!store::parse_status_filter(*v))
                return usage_error(fmt::format("--status: cannot read '{}' (429, 4xx, 5xx, error)", *v));
            inv.options.status = std::move(*v);
        } else if (name == "--limit") {
            if (!info->log) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            std::size_t n = 0;
            bool ok = !v->empty() && v->size() <= 7;
            for (char c : *v) {
                ok = ok && c >= '0' && c <= '9';
                if (ok) n = n * 10 + static_cast<std::size_t>(c - '0');
            }
            if (!ok || n == 0 || n > kMaxLogLimit)
                return usage_error(fmt::format("--limit: '{}' is not a number from 1 to {}", *v, kMaxLogLimit));
            inv.options.limit = n;
        } else if (name == "--id") {
            if (!info->log) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            auto id = parse_request_id(*v);
            if (!id) return usage_error(fmt::format("--id: '{}' is not a request id (hex, as in the access log)", *v));
            inv.options.id = *id;
        } else if (name == "--by") {
            if (!info->usage) return not_for(name);
            auto v = take_value(i, name, value, has_inline);
            if (!v) return v.error();
            if (!store::parse_group_by(*v))
                return usage_error(
                    fmt::format("--by: cannot read '{}' (client, model, provider, credential, hour, day)", *v));
            inv.options.by = std::move(*v);
        } else if (!a.empty() && a[0] == '-') {
            return usage_error(fmt::format("unknown option '{}'", name));
        } else if (inv.command == Command::ClientSetup && inv.options.setup_client.empty()) {
            if (!is_setup_client(a))
                return usage_error(fmt::format("client-setup: unknown client '{}' (claude, codex, gemini, qwen)", a));
            inv.options.setup_client = std::string(a);
        } else if (inv.command == Command::Credentials && inv.options.action.empty()) {
            if (a != "reset" && a != "disable" && a != "enable")
                return usage_error(fmt::format("credentials: unknown action '{}' (reset, disable, enable)", a));
            inv.options.action = std::string(a);
        } else if (inv.command == Command::Credentials && inv.options.target.empty()) {
            if (a.find_first_of(" \t\r\n") != std::string_view::npos || a.size() > 300)
                return usage_error(fmt::format("credentials {}: '{}' is not PROVIDER or PROVIDER/FINGERPRINT",
                                               inv.options.action, a));
            inv.options.target = std::string(a);
        } else {
            return usage_error(fmt::format("unexpected argument '{}'", a));
        }
    }
    if (inv.command == Command::Config && !inv.options.dump)
        return usage_error("config: say what to do with it: --dump");
    if (inv.command == Command::ClientSetup && inv.options.setup_client.empty())
        return usage_error("client-setup: name the client: claude, codex, gemini or qwen");
    if (inv.command == Command::Route && (!inv.options.model || inv.options.model->empty()))
        return usage_error("route: --model is required");
    if (inv.command == Command::Credentials && !inv.options.action.empty()) {
        if (inv.options.target.empty())
            return usage_error(fmt::format("credentials {}: name PROVIDER or PROVIDER/FINGERPRINT", inv.options.action));
        if (inv.options.json) return usage_error("option '--json' lists the credentials: it takes no action");
    }
    if (inv.options.id && (!inv.options.since.empty() || inv.options.client || inv.options.model ||
                           inv.options.provider || !inv.options.status.empty()))
        return usage_error("option '--id' shows one request: it takes no filters");
    return inv;
}

std::string usage_text() {
    return fmt::format(
        "Usage: antigravityd <command> [options]\n"
        "\n"
        "Commands:\n"
        "  run [-c FILE] [--daemon] [--pid-file PATH]\n"
        "                        run the daemon (in the foreground unless --daemon)\n"
        "  check-config [-c FILE]      (also: -t [-c FILE])\n"
        "                        check the configuration file, print every problem\n"
        "  config --dump [-c FILE]     (also: -T [-c FILE])\n"
        "                        check the configuration, then print it as the daemon\n"
        "                        reads it: defaults written out, keys as fingerprints\n"
        "  reload [-c FILE]      make the running daemon load its configuration again\n"
        "  upgrade [-c FILE]     replace the running daemon by the binary installed at its\n"
        "                        path, without refusing a connection or losing a request\n"
        "  passwd [--stdin]      print the hash of a new admin password ([admin] password_hash)\n"
        "  status [-c FILE] [--json]\n"
        "                        show the running daemon's state\n"
        "  stop [-c FILE]        stop the running daemon and wait until it has exited\n"
        "  log [-c FILE] [--since WHEN] [--client NAME] [--model GLOB] [--provider NAME]\n"
        "      [--status 429|4xx|5xx|error] [--limit N] [--json]\n"
        "                        list the requests in the request store, newest first\n"
        "  log [-c FILE] --id ID [--json]\n"
        "                        show one request in full, bodies included when kept\n"
        "  usage [-c FILE] [--since WHEN] [--by client|model|provider|credential|hour|day]\n"
        "      [--json]          requests, errors and tokens from the request store\n"
        "  credentials [-c FILE] [--json]\n"
        "                        every credential: state, why, quota, last use\n"
        "  credentials reset|disable|enable PROVIDER[/FINGERPRINT] [-c FILE]\n"
        "                        reset: forget cooldowns, breaker and refusals;\n"
        "                        disable: keep it out (across reloads and restarts)\n"
        "                        until enable; enable: undo disable, and reset\n"
        "  route --model NAME [--client NAME] [--protocol P] [--session S] [-c FILE] [--json]\n"
        "                        how a request would be routed: candidates, why each\n"
        "                        is out, the pick; nothing is sent\n"
        "  client-setup claude|codex|gemini|qwen [--url URL] [--key KEY] [--model NAME] [-c FILE]\n"
        "                        what that AI client needs to use the gateway: environment\n"
        "                        and settings files (never a key of the configuration)\n"
        "  version               print the version (also --version)\n"
        "  help                  print this text (also --help)\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE     configuration file (default: {})\n"
        "      --daemon          run: detach from the terminal, return once started\n"
        "      --pid-file PATH   run: PID file to lock (overrides server.pid_file)\n"
        "      --json            status, credentials, route: print the daemon's JSON as received;\n"
        "                        log, usage: print JSON\n"
        "      --since WHEN      log, usage: since 30m, 24h, 7d, today, month, 2026-12-01 or\n"
        "                        2026-12-01T13:45 (local time unless Z or +HH:MM);\n"
        "                        usage defaults to 24h\n"
        "      --client NAME     log: the client's requests (\"\" for none);\n"
        "                        route: as this client (its models, its sessions)\n"
        "      --protocol P      route: the client speaks openai-chat (default),\n"
        "                        openai-responses, anthropic or gemini\n"
        "      --session S       route: the session a client would name (sticky)\n"
        "      --model GLOB      log: the model asked or sent matches GLOB;\n"
        "                        client-setup: the model the client asks for\n"
        "      --url URL         client-setup: the gateway's URL (default: the first\n"
        "                        [server] listen address)\n"
        "      --key KEY         client-setup: the key the client sends (default: a placeholder)\n"
        "      --provider NAME   log: the provider that served them\n"
        "      --status S        log: 429, 4xx, 5xx or error (>= 400 or failed)\n"
        "      --limit N         log: at most N requests (default 50)\n"
        "      --id ID           log: one request, by the id of the access log\n"
        "      --by KEY          usage: one line per client (default), model, provider,\n"
        "                        credential, hour or day\n"
        "\n"
        "reload, status, stop, credentials and route reach the daemon through\n"
        "server.control_socket\n"
        "named in the configuration file; log and usage read the file [log] database\n"
        "names (read-only, whether the daemon runs or not).\n"
        "\n"
        "Exit status: 0 success; 1 failure (invalid configuration, failed reload);\n"
        "3 status: no daemon runs; 64 usage error; 65 not a request store (or a\n"
        "damaged one); 66 no request store; 69 daemon not reachable, or run: an\n"
        "address in use; 73 run: the PID file cannot be created; 74 cannot write\n"
        "the output; 75 timed out or daemon busy, or run: another instance holds\n"
        "the PID file; 76 malformed answer; 77 permission denied (run: a port it\n"
        "may not bind); 78 configuration error at start-up, or the request store\n"
        "is off.\n",
        kDefaultConfigPath);
}

std::string version_text() { return fmt::format("antigravityd {}\n", AGD_VERSION); }

int cli_main(int argc, char** argv) {
    std::vector<std::string_view> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    auto inv = parse_args(args);
    if (!inv) {
        print(stderr, fmt::format("antigravityd: {}\nTry 'antigravityd help'.\n", inv.error().message));
        return EX_USAGE;
    }
    int code = EX_SOFTWARE;
    switch (inv->command) {
        case Command::Run: code = run(inv->options); break;
        case Command::CheckConfig: code = cmd_check_config(inv->options); break;
        case Command::Config: code = cmd_config_dump(inv->options); break;
        case Command::Reload: code = cmd_reload(inv->options); break;
        case Command::Upgrade: code = cmd_upgrade(inv->options); break;
        case Command::Passwd: code = cmd_passwd(inv->options); break;
        case Command::Status: code = cmd_status(inv->options); break;
        case Command::Stop: code = cmd_stop(inv->options); break;
        case Command::Log: code = cmd_log(inv->options); break;
        case Command::Usage: code = cmd_usage(inv->options); break;
        case Command::Credentials: code = cmd_credentials(inv->options); break;
        case Command::Route: code = cmd_route(inv->options); break;
        case Command::ClientSetup: code = cmd_client_setup(inv->options); break;
        case Command::Version: print(stdout, version_text()); code = 0; break;
        case Command::Help: print(stdout, usage_text()); code = 0; break;
    }
    // What a command printed must have reached its reader (`status > /dev/full`
    // is a failure, not a success).
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        if (code == 0) {
            print(stderr, "antigravityd: cannot write to standard output\n");
            code = EX_IOERR;
        }
    }
    return code;
}

}  // namespace agd::daemon
