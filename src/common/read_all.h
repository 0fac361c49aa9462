// Reading a small file whole from its descriptor, with a bound: the config
// file, key files, the daemon's state files. Blocking: main thread only.
#pragma once

#include <cstddef>
#include <string>

namespace agd {

// Appends what is left to read on `fd` to `out`, at most `max` bytes in
// all; false with errno set on a read error, or EFBIG past `max`. The
// descriptor stays open.
bool read_all(int fd, std::string& out, size_t max);

}  // namespace agd
