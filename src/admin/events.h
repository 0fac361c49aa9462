// The admin plane's live feed (GET /api/events): each finished request's
// record as one JSON object, handed from the worker that finished it to the
// admin thread. Only while someone listens: with no subscriber the
// consumer wants nothing and costs nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "record/hook.h"

namespace agd::admin {

// One event's data: id, time, client, address, method, path, protocol,
// model (asked, sent), provider, credential (fingerprint), attempts,
// status, upstream status, error, limit, stream, tokens, timings, bytes.
// Never a body, never a key.
std::string event_json(const record::RequestRecord& rec);

class EventFeed final : public record::Consumer {
public:
    // `deliver` runs on a worker: it must hand the text over (to the
    // admin thread's mailbox) and return false when it could not.
    explicit EventFeed(std::function<bool(std::string)> deliver) : deliver_(std::move(deliver)) {}

    // Acquire/release: a worker that sees a subscriber also sees the admin
    // thread's mailbox, made before the first subscriber came.
    bool wants(const config::Config&) const override { return subscribers_.load(std::memory_order_acquire) > 0; }
    void on_complete(const record::RequestRecord& rec) override;

    void subscribed(int delta) { subscribers_.fetch_add(delta, std::memory_order_release); }
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    std::function<bool(std::string)> deliver_;
    std::atomic<int> subscribers_{0};
    std::atomic<uint64_t> dropped_{0};
};

}  // namespace agd::admin
