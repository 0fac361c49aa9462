// BoundedQueue<T>: a fixed-size queue for many producer threads and one
// consumer, without locks (Dmitry Vyukov's bounded MPMC ring: one sequence
// number per slot, producers and the consumer each claim a slot with one
// compare-and-swap). push() never blocks and never allocates: a full queue
// says so and the caller drops and counts. The consumer is told about new
// items by whoever owns the queue (record/mailbox.h, store/writer.h).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace agd {

template <class T>
class BoundedQueue {
public:
    // capacity is rounded up to a power of two (at least 2).
    explicit BoundedQueue(size_t capacity) {
        size_t n = 2;
        while (n < capacity) n <<= 1;
        mask_ = n - 1;
        slots_ = std::make_unique<Slot[]>(n);
        for (size_t i = 0; i < n; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
    }
    BoundedQueue(const BoundedQueue&) = delete;
    BoundedQueue& operator=(const BoundedQueue&) = delete;

    size_t capacity() const { return mask_ + 1; }

    // False when the queue is full (the item is left untouched).
    bool push(T& item) {
        size_t pos = tail_.load(std::memory_order_relaxed);
        Slot* s;
        for (;;) {
            s = &slots_[pos & mask_];
            size_t seq = s->seq.load(std::memory_order_acquire);
            intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
            if (diff == 0) {
                if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
            } else if (diff < 0) {
                return false;
            } else {
                pos = tail_.load(std::memory_order_relaxed);
            }
        }
        s->value.emplace(std::move(item));
        s->seq.store(pos + 1, std::memory_order_release);
        return true;
    }

    // The oldest item, or nullopt when there is none. One consumer at a time.
    std::optional<T> pop() {
        size_t pos = head_.load(std::memory_order_relaxed);
        Slot* s = &slots_[pos & mask_];
        size_t seq = s->seq.load(std::memory_order_acquire);
        if (static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + 1) < 0) return std::nullopt;
        head_.store(pos + 1, std::memory_order_relaxed);
        std::optional<T> out(std::move(s->value));
        s->value.reset();
        s->seq.store(pos + mask_ + 1, std::memory_order_release);
        return out;
    }

    // Items queued (approximate while producers run).
    size_t size() const {
        size_t t = tail_.load(std::memory_order_relaxed), h = head_.load(std::memory_order_relaxed);
        return t >= h ? t - h : 0;
    }

private:
    struct Slot {
        std::atomic<size_t> seq{0};
        std::optional<T> value;
    };
    size_t mask_ = 0;
    std::unique_ptr<Slot[]> slots_;
    alignas(64) std::atomic<size_t> tail_{0};
    alignas(64) std::atomic<size_t> head_{0};
};

}  // namespace agd
