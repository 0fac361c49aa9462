// PeerLimit: how many connections each client address holds, across every
// worker, for server.max_connections_per_ip. Taken once when a connection is
// accepted and given back when it is freed, under a short mutex (never
// held across I/O); the map holds only addresses with a connection open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "common/cidr.h"

namespace agd {

class PeerLimit {
public:
    // Counts a connection from ip; false (and nothing counted) when ip has
    // `max` open already.
    bool acquire(const IpAddr& ip, unsigned max);
    void release(const IpAddr& ip);
    unsigned count(const IpAddr& ip) const;
    size_t addresses() const;

private:
    struct Hash {
        size_t operator()(const IpAddr& ip) const;
    };
    mutable std::mutex mu_;
    std::unordered_map<IpAddr, unsigned, Hash> open_;
};

}  // namespace agd
