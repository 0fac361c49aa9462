// Collector: answers a scrape with every worker's counts. On the main
// thread it posts "copy your shard" to each worker's mailbox; each worker
// copies its own shard on its own thread and posts the copy back to the main
// loop's mailbox. When every worker has answered, or at the deadline with
// what arrived, the copies are added up with the gauges of the moment and
// rendered (exposition.h).
//
// A worker that misses the deadline is counted with its latest copy from an
// earlier scrape, so a counter never goes down from one scrape to the next.
// Scrapes that arrive while a collection runs wait for it and get the same
// text: one collection at a time, however many scrapers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metrics/exposition.h"

struct event_base;

namespace agd {
class Mailbox;
}

namespace agd::metrics {

class Consumer;

class Collector {
public:
    static constexpr std::chrono::milliseconds kDefaultDeadline{1000};
    using Done = std::function<void(const std::string& body)>;
    // Fills the gauges of the moment (main thread, at the end of each collection).
    using FillGauges = std::function<void(Gauges&)>;

    // `base`: the main loop; `main`: a mailbox on it; `workers[i]`: the
    // mailbox of the worker that owns consumer.shard(i). The mailboxes and
    // the consumer must outlive every worker thread (a worker may be
    // answering when the collector goes away: its answer is then dropped).
    Collector(event_base* base, Mailbox& main, Consumer& consumer, std::vector<Mailbox*> workers, FillGauges gauges,
              std::chrono::milliseconds deadline = kDefaultDeadline);
    ~Collector();  // pending scrapes are dropped unanswered
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

    // Main thread. done(body) is called later from the main loop (never
    // from inside collect()).
    void collect(Done done);

    uint64_t collections() const;  // finished so far
    uint64_t incomplete() const;   // of those, finished at the deadline without every worker's answer

    struct State;

private:
    std::shared_ptr<State> state_;
};

}  // namespace agd::metrics
