// Shell-style glob matching for model names: '*' any run, '?' one char,
// '[abc]' / '[a-z]' / '[!a-z]' a class. Case-sensitive; no path semantics.
#pragma once

#include <string_view>

namespace agd {

bool glob_match(std::string_view pattern, std::string_view text);
bool has_glob_chars(std::string_view pattern);

}  // namespace agd
