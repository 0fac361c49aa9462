// Small helpers shared by unit tests.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <string_view>

#include "config/loader.h"

namespace agd::testing {

inline bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

// A configuration that must load: its errors are shown when it does not.
inline std::shared_ptr<const config::Config> load_config(const std::string& text) {
    auto r = config::load_string(text, "test.conf");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.ok());
    return r.config;
}

}  // namespace agd::testing
