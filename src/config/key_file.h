// key_file = PATH: API keys kept outside the configuration file, one per
// line (blank lines and lines starting with '#' are skipped). A relative
// path is under $CREDENTIALS_DIRECTORY when systemd set it (LoadCredential=
// in the unit), else next to the configuration file. A file others may read
// is refused: it holds keys.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace agd::config {

inline constexpr size_t kMaxKeyFileBytes = 1 << 20;

// Where `value` points: itself when absolute, else under
// $CREDENTIALS_DIRECTORY (when set and not empty), else in the directory
// of `config_path` (the working directory for a configuration not read
// from a file).
std::string key_file_path(std::string_view value, const std::string& config_path);

// The file's lines that hold a key, trimmed. A message (never a key) when
// it cannot be read, is not a regular file, is larger than
// kMaxKeyFileBytes, or may be read by others (mode o+r).
Result<std::vector<std::string>> read_key_file(const std::string& path);

// A secret file's whole text, with the same checks (a regular file, at
// most kMaxKeyFileBytes, not readable by others); `what` names its
// contents in the message ("keys", "a private key").
Result<std::string> read_secret_file(const std::string& path, const char* what);

}  // namespace agd::config
