#include "failcount.h"

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include <fmt/format.h>

namespace mock {
namespace {

constexpr std::size_t kMaxPairs = 10000;      // the oldest pair is forgotten beyond this
constexpr std::size_t kMaxKeyBytes = 4096;    // longer pairs are keyed by a hash

std::mutex g_mutex;
std::unordered_map<std::string, int> g_counts;
std::deque<std::string> g_order;  // keys, oldest first

uint64_t fnv1a(std::string_view text, uint64_t h) {
    for (char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

std::string pair_key(std::string_view model, std::string_view credential) {
    if (model.size() + credential.size() < kMaxKeyBytes) {
        std::string key(model);
        key += '\0';
        key += credential;
        return key;
    }
    // Two independent 64-bit hashes and the lengths: bounded memory per pair.
    uint64_t a = fnv1a(credential, fnv1a(model, 14695981039346656037ULL) ^ 0xff);
    uint64_t b = fnv1a(model, fnv1a(credential, 0x9e3779b97f4a7c15ULL) ^ 0xff);
    return fmt::format("#{:016x}{:016x}:{}:{}", a, b, model.size(), credential.size());
}

}  // namespace

bool fail_times_take(std::string_view model, std::string_view credential, int times) {
    std::string key = pair_key(model, credential);
    std::lock_guard lock(g_mutex);
    auto it = g_counts.find(key);
    if (it == g_counts.end()) {
        if (g_counts.size() >= kMaxPairs) {
            g_counts.erase(g_order.front());
            g_order.pop_front();
        }
        it = g_counts.emplace(key, 0).first;
        g_order.push_back(std::move(key));
    }
    if (it->second >= times) {
        return false;
    }
    ++it->second;
    return true;
}

void fail_times_clear() {
    std::lock_guard lock(g_mutex);
    g_counts.clear();
    g_order.clear();
}

}  // namespace mock
