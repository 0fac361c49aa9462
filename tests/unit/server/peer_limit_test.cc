#include <doctest/doctest.h>

#include "server/peer_limit.h"

using namespace agd;

TEST_CASE("peer limit: counts per address, gives back on release") {
    PeerLimit p;
    IpAddr a = *parse_ip("10.0.0.1"), b = *parse_ip("::1");
    CHECK(p.acquire(a, 2));
    CHECK(p.acquire(a, 2));
    CHECK_FALSE(p.acquire(a, 2));  // the third one from a
    CHECK(p.count(a) == 2);
    CHECK(p.acquire(b, 2));        // another address is not affected
    p.release(a);
    CHECK(p.acquire(a, 2));
    p.release(a);
    p.release(a);
    p.release(b);
    CHECK(p.count(a) == 0);
    CHECK(p.addresses() == 0);     // nothing kept for addresses with no connection
    CHECK_FALSE(p.acquire(a, 0));  // a quota of 0 admits nothing (the caller treats 0 as no limit)
    p.release(a);                  // releasing what is not held does nothing
    CHECK(p.addresses() == 0);
}
