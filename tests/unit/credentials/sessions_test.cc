// Sticky sessions: keys, expiry, bounds.
#include <doctest/doctest.h>

#include "credentials/sessions.h"

using namespace agd::credentials;

TEST_CASE("sessions: keys tell clients, models and conversations apart; none without a name") {
    CHECK(session_key("", "m", "") == 0);
    uint64_t k = session_key("", "m", "conv-1");
    CHECK(k != 0);
    CHECK(k == session_key("", "m", "conv-1"));
    CHECK(k != session_key("other", "m", "conv-1"));
    CHECK(k != session_key("", "m2", "conv-1"));
    CHECK(k != session_key("", "m", "conv-2"));
    // The separator keeps "ab"+"c" and "a"+"bc" apart.
    CHECK(session_key("", "ab", "c") != session_key("", "a", "bc"));
    CHECK(credential_key("oa", "1a2b3c4d") != credential_key("ob", "1a2b3c4d"));
}

TEST_CASE("sessions: remembered until unused for the ttl; a newer turn moves it") {
    Sessions s;
    uint64_t k = session_key("", "m", "conv");
    CHECK(s.find(k, 0, 1000) == 0);
    s.remember(k, 42, 100, 1000);
    CHECK(s.find(k, 600, 1000) == 42);
    CHECK(s.find(k, 1100, 1000) == 42);  // used at 100: 1000 ms later is still within
    s.remember(k, 43, 1100, 1000);       // served elsewhere: moved, and used again
    CHECK(s.find(k, 2000, 1000) == 43);
    CHECK(s.find(k, 2101, 1000) == 0);   // unused for longer than the ttl: forgotten
    CHECK(s.size() == 0);
    s.remember(k, 44, 3000, 1000);
    s.forget(k);
    CHECK(s.find(k, 3000, 1000) == 0);
}

TEST_CASE("sessions: bounded; expired entries go first, then the least recently used") {
    Sessions s;
    const size_t cap = Sessions::kShards * Sessions::kPerShard;
    // Twice the capacity of distinct sessions: the map never grows past it.
    for (size_t i = 0; i < 2 * cap; ++i) s.remember(session_key("", "m", std::to_string(i)), 1, static_cast<int64_t>(i), 1'000'000'000);
    CHECK(s.size() <= cap);
    CHECK(s.size() > cap - Sessions::kShards);  // one evicted per insert into a full shard
    // The newest ones are all there.
    for (size_t i = 2 * cap - 100; i < 2 * cap; ++i)
        CHECK(s.find(session_key("", "m", std::to_string(i)), static_cast<int64_t>(2 * cap), 1'000'000'000) == 1);
    // With a short ttl, a full shard sweeps what expired.
    Sessions t;
    for (size_t i = 0; i < 2 * cap; ++i) t.remember(session_key("", "m", std::to_string(i)), 1, 0, 10);
    REQUIRE(t.size() > cap - Sessions::kShards);  // every shard full
    t.remember(session_key("", "m", "late"), 2, 5000, 10);
    CHECK(t.size() <= cap - Sessions::kPerShard + 1);  // its shard swept clean
    CHECK(t.find(session_key("", "m", "late"), 5000, 10) == 2);
}
