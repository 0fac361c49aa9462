#include "metrics/collector.h"

#include <event2/event.h>

#include <utility>

#include "common/log.h"
#include "common/mailbox.h"
#include "metrics/consumer.h"
#include "metrics/process.h"

namespace agd::metrics {

struct Collector::State : std::enable_shared_from_this<State> {
    event_base* base;
    Mailbox& main;
    Consumer& consumer;
    std::vector<Mailbox*> workers;
    FillGauges gauges;
    std::chrono::milliseconds deadline;

    event* timer = nullptr;
    std::vector<std::shared_ptr<const ShardData>> last;  // each worker's latest copy
    uint64_t round = 0;
    bool running = false;
    std::vector<bool> answered;  // in this round
    size_t awaited = 0;          // answers this round still waits for
    std::vector<Done> waiters;
    uint64_t finished = 0;
    uint64_t late = 0;

    State(event_base* b, Mailbox& m, Consumer& c, std::vector<Mailbox*> w, FillGauges g, std::chrono::milliseconds d)
        : base(b), main(m), consumer(c), workers(std::move(w)), gauges(std::move(g)), deadline(d),
          last(workers.size()), answered(workers.size()) {}
    ~State() {
        if (timer) event_free(timer);
    }

    void start();
    void arrived(size_t worker, uint64_t of_round, std::shared_ptr<const ShardData> copy);
    void finish();
    static void on_timer(evutil_socket_t, short, void* arg) { static_cast<State*>(arg)->finish(); }
};

void Collector::State::start() {
    running = true;
    ++round;
    awaited = 0;
    std::weak_ptr<State> weak = weak_from_this();
    Mailbox* back = &main;
    for (size_t i = 0; i < workers.size(); ++i) {
        answered[i] = false;
        if (!workers[i] || i >= consumer.shards()) continue;
        Shard* shard = &consumer.shard(static_cast<unsigned>(i));
        uint64_t r = round;
        // Runs on worker i: the only thread that touches its shard.
        bool posted = workers[i]->post([shard, back, weak, i, r] {
            auto copy = std::make_shared<const ShardData>(shard->data());
            back->post([weak, i, r, copy = std::move(copy)]() mutable {
                if (auto s = weak.lock()) s->arrived(i, r, std::move(copy));
            });
        });
        if (posted) ++awaited;
    }
    // With nothing to wait for the timer fires at once: done() always runs from the loop.
    auto ms = awaited ? deadline.count() : 0;
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    if (timer) evtimer_add(timer, &tv);
    else finish();  // no timer (out of memory at start): answer now, without waiting
}

void Collector::State::arrived(size_t worker, uint64_t of_round, std::shared_ptr<const ShardData> copy) {
    // Answers come back in the order the worker took the requests: a later
    // copy is never older than the one kept.
    last[worker] = std::move(copy);
    if (!running || of_round != round || answered[worker]) return;
    answered[worker] = true;
    if (--awaited == 0) finish();
}

void Collector::State::finish() {
    if (!running) return;
    evtimer_del(timer);
    if (awaited > 0) {
        ++late;
        log::warning("metrics: {} worker(s) did not answer within {} ms; their counts are from an earlier scrape",
                     awaited, deadline.count());
    }
    Merged merged;
    for (const auto& copy : last)
        if (copy) merged.add(*copy);
    Gauges g;
    if (gauges) gauges(g);
    g.have_process = read_process_stats(g.process);
    std::string body = render(merged, g);
    running = false;
    ++finished;
    std::vector<Done> done = std::move(waiters);
    waiters.clear();
    // A callback may start the next collection (collect()): it gets a new round.
    auto keep = shared_from_this();
    for (Done& d : done) d(body);
}

Collector::Collector(event_base* base, Mailbox& main, Consumer& consumer, std::vector<Mailbox*> workers,
                     FillGauges gauges, std::chrono::milliseconds deadline)
    : state_(std::make_shared<State>(base, main, consumer, std::move(workers), std::move(gauges), deadline)) {
    state_->timer = evtimer_new(base, &State::on_timer, state_.get());
}

Collector::~Collector() = default;

void Collector::collect(Done done) {
    state_->waiters.push_back(std::move(done));
    if (!state_->running) state_->start();
}

uint64_t Collector::collections() const { return state_->finished; }
uint64_t Collector::incomplete() const { return state_->late; }

}  // namespace agd::metrics
