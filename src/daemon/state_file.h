// Small files the daemon keeps in its state directory (the credential
// ledger, OAuth2 token files): read whole with a bound, written whole or
// not at all. Main thread only (blocking I/O).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "common/result.h"

namespace agd::daemon {

// The whole file, at most `max` bytes; false (errno set: EFBIG past `max`)
// when it cannot be read. A symlink is not followed.
bool read_small_file(const std::string& path, std::string& out, size_t max);

// Replaces `path` with `body`: a new temporary file beside it (created
// exclusively, with `mode`), written, fsync'ed, renamed over `path`, and
// the directory fsync'ed, so a crash leaves the old file or the new one.
// A missing parent directory is created 0750.
Status write_file_atomic(const std::string& path, const std::string& body, mode_t mode);

}  // namespace agd::daemon
