// Small helpers the config tests share.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "config/loader.h"

namespace agd::config::test {

inline const std::string kConf = "/etc/antigravityd/antigravityd.conf";

// The first error of a configuration that must have one.
inline std::string first_error(const std::string& text) {
    LoadResult r = load_string(text, kConf);
    REQUIRE_FALSE(r.errors.empty());
    return r.errors.front().str();
}

}  // namespace agd::config::test
