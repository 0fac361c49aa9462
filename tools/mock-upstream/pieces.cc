#include "pieces.h"

#include <ctime>

#include <fmt/format.h>

namespace mock {

int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string piece_text(const Script& script, int index, std::string_view credential,
                       std::string_view model, std::size_t pad_to) {
    std::string text;
    if (index == 0) {
        text = fmt::format("cred={};model={};", credential, model);
    }
    if (script.stamp) {
        text += fmt::format("#{}@{};", index, monotonic_ns());
    } else {
        text += fmt::format("#{};", index);
    }
    if (text.size() < pad_to) {
        text.append(pad_to - text.size(), 'x');
    }
    return text;
}

std::string full_text(const Script& script, std::string_view credential,
                      std::string_view model) {
    std::string text;
    for (int i = 0; i < script.chunks; ++i) {
        text += piece_text(script, i, credential, model, 0);
    }
    if (text.size() < script.size) {
        text.append(script.size - text.size(), 'x');
    }
    return text;
}

int input_tokens(std::size_t body_bytes) {
    std::size_t n = body_bytes / 4;
    if (n < 1) return 1;
    if (n > 2000000000u) return 2000000000;
    return static_cast<int>(n);
}

}  // namespace mock
