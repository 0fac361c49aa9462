// Admin passwords: stored only as crypt(3) hashes (libxcrypt), never in the
// clear. `antigravityd passwd` makes one (yescrypt, "$y$..."); the admin
// listener checks a login against it.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace agd::auth {

inline constexpr size_t kMinPasswordLength = 10;
inline constexpr size_t kMaxPasswordLength = 1024;

// A new yescrypt hash of `password` with a random salt. Fails (with a
// message) when the password is shorter than kMinPasswordLength, longer
// than kMaxPasswordLength or holds a NUL or a line break.
Result<std::string> hash_password(std::string_view password);

// True when `password` matches `hash` (compared in constant time). Slow on
// purpose (tens of milliseconds for yescrypt): never on a request worker.
bool verify_password(std::string_view password, const std::string& hash);

// "" when `hash` is a crypt hash of a kind strong enough to accept
// (yescrypt, gost-yescrypt, scrypt, bcrypt, sha512crypt) that this system's
// crypt(3) can check; else why not (for a configuration error).
std::string hash_problem(const std::string& hash);

}  // namespace agd::auth
