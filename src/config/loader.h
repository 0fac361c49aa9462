// Loading antigravityd.conf: parse, validate, collect every diagnostic.
// Never throws, touches no global state, safe on any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace agd::config {

// One problem found in the file. str() gives "FILE:LINE: KEY: MESSAGE"
// (KEY is "section.key", "provider.NAME.key" or a section name alone).
// A message never contains the value of a secret.
struct Diagnostic {
    std::string file;
    int line = 0;
    std::string key;
    std::string message;
    std::string str() const;
};

struct LoadResult {
    std::shared_ptr<const Config> config;  // null when there is any error
    std::vector<Diagnostic> errors;
    std::vector<Diagnostic> warnings;      // non-fatal (e.g. placeholder keys)
    Config partial;                        // best effort even with errors
    bool ok() const { return config != nullptr; }
};

// Unreadable file -> one error "FILE:0: cannot read: <strerror>".
LoadResult load_file(const std::string& path);
// `name` stands for the file name in diagnostics.
LoadResult load_string(std::string_view text, const std::string& name);

}  // namespace agd::config
