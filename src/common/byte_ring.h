// ByteRing: a fixed-size ring of variable-length records for one producer
// thread and one consumer thread, without locks and without allocation.
//
// The producer reserves room for a record, writes it in place and commits
// it; the consumer peeks at the oldest record, reads it in place and pops
// it. Each record is framed by a 4-byte length and padded to 8 bytes; a
// record that does not fit before the end of the buffer starts again at its
// beginning (the tail is skipped, marked by a wrap frame). A full ring says
// so and the caller drops and counts: nothing ever waits.
//
// head_ (written by the producer) and tail_ (by the consumer) are byte
// counts since the start that only grow; each side caches the other's to
// touch the shared line only when it must.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace agd {

class ByteRing {
public:
    static constexpr size_t kAlign = 8;
    static constexpr size_t kFrame = 8;  // the length (4 bytes), padded

    // capacity: rounded up to a power of two, at least 64 bytes.
    explicit ByteRing(size_t capacity) {
        size_t n = 64;
        while (n < capacity) n <<= 1;
        cap_ = n;
        buf_ = std::make_unique<char[]>(n);
    }
    ByteRing(const ByteRing&) = delete;
    ByteRing& operator=(const ByteRing&) = delete;

    size_t capacity() const { return cap_; }
    // The largest record push can ever take.
    size_t max_record() const { return cap_ / 2 - kFrame; }
    // Bytes in use (frames and padding included); approximate from a third thread.
    size_t used() const {
        // Tail first: read the other way, a consumer passing the head read
        // meanwhile would make it negative (from a third thread).
        uint64_t tail = tail_.load(std::memory_order_acquire);
        uint64_t head = head_.load(std::memory_order_acquire);
        return head > tail ? static_cast<size_t>(std::min<uint64_t>(head - tail, cap_)) : 0;
    }

    // Producer: room for `n` bytes, or nullptr when the ring is full (or n is
    // over max_record()). The pointer stays valid until commit().
    char* reserve(size_t n) {
        if (n > max_record()) return nullptr;
        size_t need = kFrame + round_up(n);
        uint64_t head = head_.load(std::memory_order_relaxed);
        size_t pos = static_cast<size_t>(head & (cap_ - 1));
        size_t skip = cap_ - pos < need ? cap_ - pos : 0;  // the tail of the buffer is too short: wrap
        if (!room(head, skip + need)) return nullptr;
        if (skip != 0) {
            store_len(pos, kWrap);
            head += skip;
            pos = 0;
        }
        pending_head_ = head;
        return buf_.get() + pos + kFrame;
    }
    // Producer: publishes the record reserve() gave room for; n <= what was reserved.
    void commit(size_t n) {
        size_t pos = static_cast<size_t>(pending_head_ & (cap_ - 1));
        store_len(pos, static_cast<uint32_t>(n));
        head_.store(pending_head_ + kFrame + round_up(n), std::memory_order_release);
    }
    // Producer: reserve + copy + commit. False when full.
    bool push(std::string_view rec) {
        char* p = reserve(rec.size());
        if (p == nullptr) return false;
        if (!rec.empty()) std::memcpy(p, rec.data(), rec.size());
        commit(rec.size());
        return true;
    }

    // Consumer: the oldest record, valid until pop(); false when empty.
    bool peek(std::string_view& out) {
        uint64_t tail = tail_.load(std::memory_order_relaxed);
        for (;;) {
            if (tail == head_cache_) {
                head_cache_ = head_.load(std::memory_order_acquire);
                if (tail == head_cache_) return false;
            }
            size_t pos = static_cast<size_t>(tail & (cap_ - 1));
            uint32_t len = load_len(pos);
            if (len == kWrap) {
                tail += cap_ - pos;
                tail_.store(tail, std::memory_order_release);
                continue;
            }
            out = std::string_view(buf_.get() + pos + kFrame, len);
            return true;
        }
    }
    // Consumer: releases the record peek() returned.
    void pop() {
        uint64_t tail = tail_.load(std::memory_order_relaxed);
        if (tail == head_cache_) return;  // nothing peeked: nothing to release
        size_t pos = static_cast<size_t>(tail & (cap_ - 1));
        uint32_t len = load_len(pos);
        tail_.store(tail + kFrame + round_up(len), std::memory_order_release);
    }

private:
    static constexpr uint32_t kWrap = 0xFFFFFFFFu;

    static size_t round_up(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

    bool room(uint64_t head, size_t need) {
        if (head + need - tail_cache_ <= cap_) return true;
        tail_cache_ = tail_.load(std::memory_order_acquire);
        return head + need - tail_cache_ <= cap_;
    }
    void store_len(size_t pos, uint32_t len) { std::memcpy(buf_.get() + pos, &len, sizeof len); }
    uint32_t load_len(size_t pos) const {
        uint32_t len;
        std::memcpy(&len, buf_.get() + pos, sizeof len);
        return len;
    }

    size_t cap_ = 0;
    std::unique_ptr<char[]> buf_;
    // The producer's line.
    alignas(64) std::atomic<uint64_t> head_{0};
    uint64_t tail_cache_ = 0;
    uint64_t pending_head_ = 0;
    // The consumer's line.
    alignas(64) std::atomic<uint64_t> tail_{0};
    uint64_t head_cache_ = 0;
};

}  // namespace agd
