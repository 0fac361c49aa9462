// The effective configuration as an INI file (`antigravityd config --dump`,
// like nginx -T): every section and key, defaults written out, in the
// syntax antigravityd.conf(5) documents. Secrets never appear: a key is
// its fingerprint ("key = fingerprint:1a2b3c4d", what logs and `status`
// show), the admin password "(set)"; files that hold secrets are named by
// their paths.
#pragma once

#include <string>

#include "config/config.h"

namespace agd::config {

std::string dump(const Config& cfg);

}  // namespace agd::config
