// Command-line options shared by the subcommands (parsed in main.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace agd::daemon {

inline constexpr const char* kDefaultConfigPath = "/etc/antigravityd/antigravityd.conf";

struct CliOptions {
    std::string config_path = kDefaultConfigPath;
    std::string pid_file;       // --pid-file: overrides server.pid_file
    bool daemonize = false;     // run --daemon
    bool json = false;          // status, log, usage --json
    bool dump = false;          // config --dump
    bool from_stdin = false;    // passwd --stdin

    // log and usage (checked by parse_args, read by daemon/cli_store.h).
    std::string since;                    // --since: "" = log: no bound, usage: 24h
    std::optional<std::string> client;    // log --client, route --client
    std::optional<std::string> model;     // log --model GLOB, route and client-setup --model NAME
    std::optional<std::string> provider;  // log --provider
    std::string status;                   // log --status
    std::size_t limit = 50;               // log --limit
    std::optional<std::uint64_t> id;      // log --id
    std::string by = "client";            // usage --by

    // route --model M [--client C] [--protocol P] [--session S] (model and client above).
    std::string protocol;
    std::string session;

    // client-setup CLIENT [--url URL] [--key KEY] (--model above).
    std::string setup_client;
    std::optional<std::string> url;
    std::optional<std::string> key;

    // credentials reset|disable|enable TARGET ("" = list them).
    std::string action;
    std::string target;
};

}  // namespace agd::daemon
