#include "server/peer_limit.h"

#include <cstring>

namespace agd {

size_t PeerLimit::Hash::operator()(const IpAddr& ip) const {
    uint64_t a, b;
    std::memcpy(&a, ip.bytes.data(), 8);
    std::memcpy(&b, ip.bytes.data() + 8, 8);
    return static_cast<size_t>((a * 0x9E3779B97F4A7C15ull) ^ (b + 0x632BE59BD9B4E019ull + (a << 6)));
}

bool PeerLimit::acquire(const IpAddr& ip, unsigned max) {
    std::lock_guard<std::mutex> lock(mu_);
    unsigned& n = open_[ip];
    if (n >= max) {
        if (n == 0) open_.erase(ip);
        return false;
    }
    ++n;
    return true;
}

void PeerLimit::release(const IpAddr& ip) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(ip);
    if (it == open_.end()) return;
    if (--it->second == 0) open_.erase(it);
}

unsigned PeerLimit::count(const IpAddr& ip) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(ip);
    return it == open_.end() ? 0 : it->second;
}

size_t PeerLimit::addresses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_.size();
}

}  // namespace agd
