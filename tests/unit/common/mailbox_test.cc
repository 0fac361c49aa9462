#include <doctest/doctest.h>

#include <event2/event.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/bounded_queue.h"
#include "common/mailbox.h"

using agd::BoundedQueue;
using agd::Mailbox;

TEST_CASE("bounded queue: FIFO, full says so, capacity rounds up") {
    BoundedQueue<std::string> q(3);
    CHECK(q.capacity() == 4);
    for (int i = 0; i < 4; ++i) {
        std::string s = "m" + std::to_string(i);
        CHECK(q.push(s));
        CHECK(s.empty());  // moved in
    }
    std::string extra = "x";
    CHECK_FALSE(q.push(extra));
    CHECK(extra == "x");  // untouched when full
    CHECK(q.size() == 4);
    for (int i = 0; i < 4; ++i) CHECK(*q.pop() == "m" + std::to_string(i));
    CHECK_FALSE(q.pop());
    // Wraps around.
    for (int round = 0; round < 10; ++round) {
        std::string s = std::to_string(round);
        CHECK(q.push(s));
        CHECK(*q.pop() == std::to_string(round));
    }
}

TEST_CASE("bounded queue: many producers, one consumer, nothing lost or doubled") {
    BoundedQueue<int> q(1024);
    constexpr int kPerThread = 20000, kThreads = 4;
    std::atomic<int> rejected{0};
    std::vector<std::thread> producers;
    for (int t = 0; t < kThreads; ++t)
        producers.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                int v = t * kPerThread + i;
                while (!q.push(v)) rejected.fetch_add(1, std::memory_order_relaxed);
            }
        });
    std::vector<int> last(kThreads, -1);
    int got = 0;
    bool ordered = true;
    while (got < kPerThread * kThreads) {
        auto v = q.pop();
        if (!v) continue;
        int t = *v / kPerThread, i = *v % kPerThread;
        if (i <= last[t]) ordered = false;  // each producer's items arrive in its order
        last[t] = i;
        ++got;
    }
    for (auto& p : producers) p.join();
    CHECK(ordered);
    CHECK(got == kPerThread * kThreads);
    CHECK_FALSE(q.pop());
}

TEST_CASE("mailbox: messages from other threads run on the loop, in order") {
    event_base* base = event_base_new();
    REQUIRE(base);
    {
        Mailbox box(base, 64);
        REQUIRE(box.ok());
        std::vector<int> seen;
        std::thread poster([&] {
            for (int i = 0; i < 10; ++i) CHECK(box.post([&seen, i] { seen.push_back(i); }));
            CHECK(box.post([base] { event_base_loopbreak(base); }));
        });
        event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
        poster.join();
        CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    }
    event_base_free(base);
}

TEST_CASE("mailbox: a full mailbox drops and says so; the next wake takes the rest") {
    event_base* base = event_base_new();
    REQUIRE(base);
    {
        Mailbox box(base, 4);
        int ran = 0;
        for (int i = 0; i < 4; ++i) CHECK(box.post([&ran] { ++ran; }));
        CHECK_FALSE(box.post([&ran] { ran += 100; }));
        event_base_loop(base, EVLOOP_NONBLOCK);
        CHECK(ran == 4);
        CHECK(box.post([&ran] { ++ran; }));
        event_base_loop(base, EVLOOP_NONBLOCK);
        CHECK(ran == 5);
    }
    event_base_free(base);
}
