#include "metrics/collector.h"

#include <doctest/doctest.h>
#include <event2/event.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/mailbox.h"
#include "metrics/consumer.h"
#include "test_config.h"

using namespace agd;
using namespace agd::metrics;
using namespace std::chrono_literals;

namespace {

const std::string kSeries =
    R"(antigravityd_requests_total{client="team-a",protocol="openai-chat",model="gpt-4o",provider="oa",status="200"} )";

// The requests_total value of kSeries in a scrape, -1 when absent.
long long requests_in(const std::string& body) {
    size_t at = body.find(kSeries);
    if (at == std::string::npos) return -1;
    return std::atoll(body.c_str() + at + kSeries.size());
}

// Runs `base` until `done` or 5 s.
template <class F>
void run_until(event_base* base, F done) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) event_base_loop(base, EVLOOP_ONCE);
}

struct Base {
    event_base* base = event_base_new();
    ~Base() { event_base_free(base); }
};

}  // namespace

TEST_CASE("collector: adds up every worker's shard; concurrent scrapes share one collection") {
    Base main_loop;
    event_base* base = main_loop.base;
    {
        Mailbox main(base), w0(base), w1(base);
        Consumer consumer(2);
        auto cfg = test::sample_config();
        auto r = test::upstream_record(*cfg, "gpt-4o", 0);
        r.worker = 0;
        consumer.on_complete(r);
        r.worker = 1;
        consumer.on_complete(r);
        consumer.on_complete(r);
        r.worker = 7;  // no such worker: ignored
        consumer.on_complete(r);

        Collector c(base, main, consumer, {&w0, &w1}, [](Gauges& g) { g.in_flight = 5; });
        std::vector<std::string> got;
        c.collect([&](const std::string& b) { got.push_back(b); });
        c.collect([&](const std::string& b) { got.push_back(b); });
        CHECK(got.empty());  // never from inside collect()
        run_until(base, [&] { return got.size() == 2; });
        REQUIRE(got.size() == 2);
        CHECK(got[0] == got[1]);
        CHECK(c.collections() == 1);
        CHECK(c.incomplete() == 0);
        CHECK(requests_in(got[0]) == 3);
        CHECK(got[0].find("\nantigravityd_in_flight_requests 5\n") != std::string::npos);
        CHECK(got[0].find("\nprocess_open_fds ") != std::string::npos);

        // The next scrape is a new collection.
        r.worker = 0;
        consumer.on_complete(r);
        c.collect([&](const std::string& b) { got.push_back(b); });
        run_until(base, [&] { return got.size() == 3; });
        REQUIRE(got.size() == 3);
        CHECK(c.collections() == 2);
        CHECK(requests_in(got[2]) == 4);
    }
}

TEST_CASE("collector: a worker that misses the deadline counts with its last copy") {
    Base main_loop, stalled;
    event_base* base = main_loop.base;
    {
        Mailbox main(base), w0(base), w1(stalled.base);  // worker 1's loop does not run for now
        Consumer consumer(2);
        auto cfg = test::sample_config();
        auto r = test::upstream_record(*cfg, "gpt-4o", 0);
        r.worker = 0;
        consumer.on_complete(r);
        r.worker = 1;
        consumer.on_complete(r);
        consumer.on_complete(r);

        Collector c(base, main, consumer, {&w0, &w1}, nullptr, 50ms);
        std::vector<std::string> got;
        c.collect([&](const std::string& b) { got.push_back(b); });
        run_until(base, [&] { return got.size() == 1; });
        REQUIRE(got.size() == 1);
        CHECK(c.incomplete() == 1);
        CHECK(requests_in(got[0]) == 1);  // worker 1 never answered yet

        // Worker 1 catches up: its late answer is kept for the next scrapes.
        event_base_loop(stalled.base, EVLOOP_NONBLOCK);
        c.collect([&](const std::string& b) { got.push_back(b); });
        run_until(base, [&] { return got.size() == 2; });
        REQUIRE(got.size() == 2);
        CHECK(c.incomplete() == 2);
        CHECK(requests_in(got[1]) == 3);
    }
}

TEST_CASE("collector: no worker at all still answers from the loop") {
    Base main_loop;
    Mailbox main(main_loop.base);
    Consumer consumer(0);
    Collector c(main_loop.base, main, consumer, {}, nullptr);
    int calls = 0;
    c.collect([&](const std::string& b) {
        ++calls;
        CHECK(b.find("antigravityd_build_info") != std::string::npos);
    });
    CHECK(calls == 0);
    run_until(main_loop.base, [&] { return calls == 1; });
    CHECK(calls == 1);
}

TEST_CASE("collector: worker threads count while the main thread scrapes") {
    constexpr unsigned kWorkers = 2;
    constexpr int kRounds = 20;
    constexpr int kPerRound = 50;
    Base main_loop;
    event_base* base = main_loop.base;
    Mailbox main(base);
    Consumer consumer(kWorkers);
    auto cfg = test::sample_config();

    std::vector<event_base*> bases;
    std::vector<std::unique_ptr<Mailbox>> boxes;
    for (unsigned i = 0; i < kWorkers; ++i) {
        bases.push_back(event_base_new());
        boxes.push_back(std::make_unique<Mailbox>(bases.back()));
    }
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < kWorkers; ++i)
        threads.emplace_back([b = bases[i]] { event_base_loop(b, EVLOOP_NO_EXIT_ON_EMPTY); });

    {
        Collector c(base, main, consumer, {boxes[0].get(), boxes[1].get()}, nullptr);
        long long last = 0;
        for (int round = 0; round < kRounds; ++round) {
            for (unsigned i = 0; i < kWorkers; ++i) {
                auto r = test::upstream_record(*cfg, "gpt-4o", 0);
                r.worker = i;
                for (int k = 0; k < kPerRound; ++k)
                    REQUIRE(boxes[i]->post([&consumer, r] { consumer.on_complete(r); }));
            }
            std::string body;
            c.collect([&](const std::string& b) { body = b; });
            run_until(base, [&] { return !body.empty(); });
            long long n = requests_in(body);
            CHECK(n >= last);  // never goes down
            last = n;
        }
        // Every record posted before the last scrape was counted by then:
        // each worker runs its mailbox in order.
        CHECK(last == static_cast<long long>(kWorkers) * kRounds * kPerRound);
        CHECK(c.incomplete() == 0);
    }
    for (unsigned i = 0; i < kWorkers; ++i) {
        event_base* b = bases[i];
        REQUIRE(boxes[i]->post([b] { event_base_loopbreak(b); }));
    }
    for (auto& t : threads) t.join();
    boxes.clear();
    for (event_base* b : bases) event_base_free(b);
}
