// Shell-style glob matching. Iterative with single-star backtracking: when a
// later '*' is met, earlier ones never need revisiting, so the worst case is
// O(pattern * text) with no exponential blow-up.
#include "common/glob.h"

#include <cstddef>

namespace agd {

namespace {

// Matches the class starting at pattern[p] == '['. Sets `next` to the index
// just past the closing ']'. Returns false with next = npos when the bracket
// is unterminated (then '[' is treated as a literal by the caller).
bool match_class(std::string_view pattern, std::size_t p, char c, std::size_t& next, bool& matched) {
    std::size_t i = p + 1;
    bool negate = false;
    if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
        negate = true;
        ++i;
    }
    bool hit = false;
    bool first = true;
    while (i < pattern.size()) {
        char lo = pattern[i];
        if (lo == ']' && !first) {
            next = i + 1;
            matched = hit != negate;
            return true;
        }
        first = false;
        if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
            char hi = pattern[i + 2];
            auto uc = static_cast<unsigned char>(c);
            if (static_cast<unsigned char>(lo) <= uc && uc <= static_cast<unsigned char>(hi)) hit = true;
            i += 3;
        } else {
            if (lo == c) hit = true;
            ++i;
        }
    }
    next = std::string_view::npos;
    matched = false;
    return false;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
    std::size_t p = 0, t = 0;
    std::size_t star_p = std::string_view::npos;  // index after the last '*'
    std::size_t star_t = 0;                        // text index that '*' resumes from

    while (t < text.size()) {
        if (p < pattern.size()) {
            char pc = pattern[p];
            if (pc == '*') {
                while (p < pattern.size() && pattern[p] == '*') ++p;
                if (p == pattern.size()) return true;  // trailing '*' eats the rest
                star_p = p;
                star_t = t;
                continue;
            }
            if (pc == '?') {
                ++p;
                ++t;
                continue;
            }
            if (pc == '[') {
                std::size_t next = 0;
                bool matched = false;
                if (match_class(pattern, p, text[t], next, matched)) {
                    if (matched) {
                        p = next;
                        ++t;
                        continue;
                    }
                } else if (text[t] == '[') {  // unterminated: literal '['
                    ++p;
                    ++t;
                    continue;
                }
            } else if (pc == text[t]) {
                ++p;
                ++t;
                continue;
            }
        }
        // Mismatch: let the last '*' absorb one more character.
        if (star_p == std::string_view::npos) return false;
        p = star_p;
        t = ++star_t;
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool has_glob_chars(std::string_view pattern) {
    return pattern.find_first_of("*?[") != std::string_view::npos;
}

}  // namespace agd
