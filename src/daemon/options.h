// Command-line options shared by the subcommands (parsed in main.cc).
#pragma once

#include <string>

namespace agd::daemon {

inline constexpr const char* kDefaultConfigPath = "/etc/antigravityd/antigravityd.conf";

struct CliOptions {
    std::string config_path = kDefaultConfigPath;
    std::string pid_file;       // --pid-file: overrides server.pid_file
    bool daemonize = false;     // run --daemon
    bool json = false;          // status --json
};

}  // namespace agd::daemon
