#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <thread>

#include "common/byte_ring.h"

using agd::ByteRing;

namespace {

// xorshift64*: the same sizes and bytes on every run.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1Dull;
    }
    size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

// Record `seq` of `len` bytes: every byte depends on the record and its
// place, so a record read at the wrong offset or in the wrong order differs.
std::string pattern(uint64_t seq, size_t len) {
    std::string s(len, '\0');
    for (size_t i = 0; i < len; ++i) s[i] = static_cast<char>((seq * 131 + i * 7 + (i >> 8)) & 0xFF);
    return s;
}

// What one record takes in the ring: the frame and the record padded to 8.
size_t frame_of(size_t len) { return ByteRing::kFrame + ((len + 7) & ~size_t{7}); }

// Pops the oldest record (which must be there) and returns a copy.
std::string take(ByteRing& r) {
    std::string_view v;
    REQUIRE(r.peek(v));
    std::string s(v);
    r.pop();
    return s;
}

}  // namespace

TEST_CASE("byte ring: capacity rounds up to a power of two, at least 64; max_record is half less a frame") {
    CHECK(ByteRing(0).capacity() == 64);
    CHECK(ByteRing(1).capacity() == 64);
    CHECK(ByteRing(64).capacity() == 64);
    CHECK(ByteRing(65).capacity() == 128);
    CHECK(ByteRing(1000).capacity() == 1024);
    CHECK(ByteRing(4096).capacity() == 4096);
    CHECK(ByteRing(64).max_record() == 24);
    CHECK(ByteRing(1 << 20).max_record() == (1 << 19) - 8);
}

TEST_CASE("byte ring: an empty ring has nothing to peek") {
    ByteRing r(256);
    std::string_view v = "untouched";
    CHECK_FALSE(r.peek(v));
    CHECK_FALSE(r.peek(v));  // asking again changes nothing
    CHECK(r.used() == 0);
    REQUIRE(r.push("x"));
    CHECK(take(r) == "x");
    CHECK_FALSE(r.peek(v));
    CHECK(r.used() == 0);
}

TEST_CASE("byte ring: records come out in order with their exact bytes, every length 0..100") {
    ByteRing r(8192);
    size_t want_used = 0;
    for (size_t len = 0; len <= 100; ++len) {
        REQUIRE(r.push(pattern(len, len)));
        want_used += frame_of(len);
        CHECK(r.used() == want_used);  // frames and padding included
    }
    // Several empty records in a row, then one byte: all distinct records.
    for (int i = 0; i < 3; ++i) REQUIRE(r.push(std::string_view()));
    REQUIRE(r.push("z"));
    for (size_t len = 0; len <= 100; ++len) {
        std::string_view v, again;
        REQUIRE(r.peek(v));
        REQUIRE(r.peek(again));  // peeking twice gives the same record
        CHECK(v.data() == again.data());
        CHECK(v.size() == len);
        CHECK(v == pattern(len, len));
        r.pop();
    }
    for (int i = 0; i < 3; ++i) CHECK(take(r).empty());
    CHECK(take(r) == "z");
    std::string_view v;
    CHECK_FALSE(r.peek(v));
    CHECK(r.used() == 0);

    // The same one at a time in a small ring, so that every length starts
    // at every place of the buffer.
    ByteRing small(64);
    for (int round = 0; round < 8; ++round)
        for (size_t len = 0; len <= small.max_record(); ++len) {
            REQUIRE(small.push(pattern(len + 1000 * round, len)));
            CHECK(small.used() >= frame_of(len));
            CHECK(take(small) == pattern(len + 1000 * round, len));
            CHECK(small.used() == 0);
        }
}

TEST_CASE("byte ring: a full ring refuses, changes nothing, and takes records again after pops") {
    ByteRing r(1024);
    // 8-byte records take 16 bytes each: exactly 64 fill the buffer.
    int n = 0;
    while (r.push(pattern(n, 8))) {
        ++n;
        REQUIRE(n <= 64);
    }
    CHECK(n == 64);
    CHECK(r.used() == 1024);
    CHECK_FALSE(r.push(pattern(999, 8)));
    CHECK_FALSE(r.push(std::string_view()));  // even an empty record needs its frame
    CHECK(r.reserve(0) == nullptr);
    CHECK(r.reserve(1) == nullptr);
    CHECK(r.used() == 1024);

    // One pop frees one record's room, no more.
    CHECK(take(r) == pattern(0, 8));
    CHECK(r.used() == 1024 - 16);
    char* p = r.reserve(8);
    REQUIRE(p != nullptr);
    std::memcpy(p, pattern(64, 8).data(), 8);
    r.commit(8);
    CHECK_FALSE(r.push(pattern(65, 8)));
    CHECK(r.used() == 1024);

    // Everything comes out in order, the refused ones never.
    for (int i = 1; i <= 64; ++i) CHECK(take(r) == pattern(i, 8));
    std::string_view v;
    CHECK_FALSE(r.peek(v));
    CHECK(r.used() == 0);

    // Full with records that do not divide the buffer: refused, then fine.
    ByteRing s(256);
    int m = 0;
    while (s.push(pattern(m, 50))) ++m;  // 64 bytes each: 4
    CHECK(m == 4);
    CHECK(s.reserve(50) == nullptr);
    CHECK(take(s) == pattern(0, 50));
    CHECK(s.push(pattern(m, 50)));
    for (int i = 1; i <= m; ++i) CHECK(take(s) == pattern(i, 50));
}

TEST_CASE("byte ring: a record over max_record() is refused; one of max_record() fits wherever the ring stands") {
    ByteRing r(256);
    const size_t max = r.max_record();
    REQUIRE(max == 120);
    CHECK_FALSE(r.push(std::string(max + 1, 'x')));
    CHECK(r.reserve(max + 1) == nullptr);
    CHECK(r.reserve(r.capacity()) == nullptr);
    CHECK(r.reserve(SIZE_MAX) == nullptr);
    CHECK(r.reserve(SIZE_MAX - 3) == nullptr);
    CHECK(r.used() == 0);
    // From every place in the buffer, the largest record goes in (wrapping
    // when it must) as soon as the ring is empty.
    for (size_t start = 0; start < r.capacity(); start += ByteRing::kAlign) {
        ByteRing e(256);
        for (size_t k = 0; k < start / ByteRing::kAlign; ++k) {  // empty records move the head by 8
            REQUIRE(e.push(std::string_view()));
            REQUIRE(take(e).empty());
        }
        REQUIRE(e.used() == 0);
        std::string rec = pattern(start, max);
        CHECK_MESSAGE(e.push(rec), "head at " << start);
        CHECK(take(e) == rec);
        CHECK_FALSE(e.push(std::string(max + 1, 'y')));
        CHECK(e.used() == 0);
    }
}

TEST_CASE("byte ring: a record whose frame does not fit before the end starts again at the beginning") {
    ByteRing r(64);
    // Two 16-byte records (24 with their frame) leave 16 bytes at the end.
    REQUIRE(r.push(pattern(1, 16)));
    REQUIRE(r.push(pattern(2, 16)));
    // A third would go at 48, where only 16 bytes are left: it must wrap,
    // and with record 1 still at the start there is no room.
    CHECK_FALSE(r.push(pattern(3, 16)));
    CHECK(r.used() == 48);
    CHECK(take(r) == pattern(1, 16));
    // Now it wraps into the 24 bytes record 1 had, next to record 2; the 16
    // at the end are skipped, so the ring is full.
    REQUIRE(r.push(pattern(3, 16)));
    CHECK(r.used() == 64);
    CHECK_FALSE(r.push(std::string_view()));
    CHECK(take(r) == pattern(2, 16));
    CHECK(take(r) == pattern(3, 16));
    CHECK(r.used() == 0);
    // And the next one follows it at 24.
    REQUIRE(r.push(pattern(4, 16)));
    CHECK(r.used() == 24);
    CHECK(take(r) == pattern(4, 16));

    // A frame that fits exactly to the end does not wrap.
    ByteRing e(128);
    for (int i = 0; i < 2; ++i) {  // the head to 96
        REQUIRE(e.push(pattern(5, 40)));  // 48 bytes
        CHECK(take(e) == pattern(5, 40));
    }
    REQUIRE(e.push(pattern(6, 24)));  // 32 bytes: 96..128
    CHECK(e.used() == 32);
    REQUIRE(e.push(pattern(7, 8)));  // 16 bytes at 0
    CHECK(e.used() == 48);
    CHECK(take(e) == pattern(6, 24));
    CHECK(take(e) == pattern(7, 8));
    CHECK(e.used() == 0);
}

TEST_CASE("byte ring: thousands of records of varied sizes wrap around many times, in order and intact") {
    for (size_t cap : {64u, 256u, 1024u}) {
        CAPTURE(cap);
        ByteRing r(cap);
        const size_t max = r.max_record();
        Rng rng(cap);
        std::deque<std::pair<uint64_t, size_t>> queued;  // seq, length
        uint64_t next_seq = 0, taken = 0;
        size_t queued_bytes = 0, wraps = 0, refused = 0;
        uint64_t head = 0;  // where the next frame goes, as the ring should count
        // The first thing that went wrong, "" when nothing did; the walk
        // stops there (a damaged ring could make peek() loop).
        auto walk = [&]() -> std::string {
            for (int turn = 0; taken < 20000; ++turn) {
                if (turn > 1'000'000) return "no progress";
                // A few pushes (until one is refused), then a few pops.
                size_t pushes = rng.below(6);
                for (size_t k = 0; k < pushes; ++k) {
                    size_t len = rng.below(8) == 0 ? max : rng.below(max + 1);
                    if (rng.below(16) == 0) len = 0;
                    std::string rec = pattern(next_seq, len);
                    size_t used_before = r.used();
                    bool ok = r.push(rec);
                    size_t pos = static_cast<size_t>(head % cap);
                    bool wrap = cap - pos < frame_of(len);
                    size_t need = (wrap ? cap - pos : 0) + frame_of(len);
                    // Refused exactly when it would not fit (the ring uses every byte).
                    if (ok != (used_before + need <= cap))
                        return "record " + std::to_string(next_seq) + " of " + std::to_string(len) + " bytes " +
                               (ok ? "taken" : "refused") + " with " + std::to_string(used_before) + " used";
                    if (!ok) {
                        ++refused;
                        break;
                    }
                    if (wrap) ++wraps;
                    head += need;
                    queued.emplace_back(next_seq++, len);
                    queued_bytes += frame_of(len);
                }
                // used() counts at least every queued frame, at most one skipped tail more.
                size_t used = r.used();
                if (used < queued_bytes || used > cap || used >= queued_bytes + cap / 2)
                    return "used() " + std::to_string(used) + " with " + std::to_string(queued_bytes) + " queued";
                size_t pops = rng.below(6);
                for (size_t k = 0; k < pops && !queued.empty(); ++k) {
                    auto [seq, len] = queued.front();
                    queued.pop_front();
                    std::string_view v;
                    if (!r.peek(v)) return "record " + std::to_string(seq) + " missing";
                    if (v != pattern(seq, len))
                        return "record " + std::to_string(seq) + " of " + std::to_string(len) + " bytes read as " +
                               std::to_string(v.size()) + " other bytes";
                    r.pop();
                    queued_bytes -= frame_of(len);
                    ++taken;
                }
                if (queued.empty() && r.used() != 0) return "used() " + std::to_string(r.used()) + " when empty";
            }
            // Drain: used() goes back to 0.
            while (!queued.empty()) {
                auto [seq, len] = queued.front();
                queued.pop_front();
                std::string_view v;
                if (!r.peek(v) || v != pattern(seq, len)) return "draining: record " + std::to_string(seq);
                r.pop();
            }
            std::string_view v;
            if (r.peek(v)) return "a record after the last";
            if (r.used() != 0) return "used() " + std::to_string(r.used()) + " when drained";
            return "";
        };
        CHECK(walk() == "");
        CHECK(wraps > 1000);   // the case under test happened often
        CHECK(refused > 100);  // and so did a full ring
    }
}

TEST_CASE("byte ring: commit(n) of less than was reserved keeps n bytes and takes only their room") {
    ByteRing r(256);
    char* p = r.reserve(100);
    REQUIRE(p != nullptr);
    std::string big = pattern(1, 100);
    std::memcpy(p, big.data(), big.size());
    r.commit(10);
    CHECK(r.used() == frame_of(10));
    REQUIRE(r.push(pattern(2, 5)));
    CHECK(r.used() == frame_of(10) + frame_of(5));
    p = r.reserve(50);
    REQUIRE(p != nullptr);
    r.commit(0);
    CHECK(r.used() == frame_of(10) + frame_of(5) + frame_of(0));
    CHECK(take(r) == big.substr(0, 10));
    CHECK(take(r) == pattern(2, 5));
    CHECK(take(r).empty());
    CHECK(r.used() == 0);

    // Also when the reservation wrapped: the record is at the start.
    ByteRing w(64);
    REQUIRE(w.push(pattern(3, 16)));
    REQUIRE(w.push(pattern(4, 16)));
    CHECK(take(w) == pattern(3, 16));
    CHECK(take(w) == pattern(4, 16));
    p = w.reserve(24);  // 32 bytes; 16 left at the end: wraps
    REQUIRE(p != nullptr);
    std::string rec = pattern(5, 24);
    std::memcpy(p, rec.data(), rec.size());
    w.commit(3);
    CHECK(take(w) == rec.substr(0, 3));
    CHECK(w.used() == 0);
}

TEST_CASE("byte ring: one producer and one consumer thread, every record in order and intact") {
    // The consumer knows what the producer sends: both draw the sizes from
    // the same seed. Each record also carries its number, its length and a
    // checksum of its payload.
    constexpr uint64_t kRecords = 200'000;
    ByteRing r(4096);
    const size_t max = r.max_record();
    auto size_of = [max](Rng& rng) {
        size_t pick = rng.below(64);
        if (pick == 0) return max;                     // the largest there is
        if (pick < 8) return size_t{16} + rng.below(max - 15);  // anything
        return size_t{16} + rng.below(200);            // the usual
    };
    auto checksum = [](const char* p, size_t n) {
        uint32_t h = 2166136261u;  // FNV-1a
        for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(p[i])) * 16777619u;
        return h;
    };
    // [seq u64][len u32][checksum u32][payload]
    auto make = [&](uint64_t seq, size_t len, char* out) {
        std::string payload = pattern(seq, len - 16);
        uint32_t l = static_cast<uint32_t>(len), c = checksum(payload.data(), payload.size());
        std::memcpy(out, &seq, 8);
        std::memcpy(out + 8, &l, 4);
        std::memcpy(out + 12, &c, 4);
        std::memcpy(out + 16, payload.data(), payload.size());
    };

    uint64_t full_retries = 0, producer_bad = 0;
    std::atomic<bool> stop{false};           // the consumer gave up: the producer stops too
    std::atomic<bool> producer_done{false};  // nothing more will come
    std::thread producer([&] {
        Rng rng(42);
        std::string buf;
        for (uint64_t seq = 0; seq < kRecords; ++seq) {
            size_t len = size_of(rng);
            bool by_reserve = (seq & 1) != 0;
            size_t extra = by_reserve ? rng.below(max - len + 1) : 0;  // reserve more than is committed
            buf.resize(len);
            make(seq, len, buf.data());
            for (;;) {
                // Nothing but this thread fills the ring: refused when it
                // was empty would be a bug (and a wait that never ends).
                bool was_empty = r.used() == 0;
                if (by_reserve) {
                    char* p = r.reserve(len + extra);
                    if (p != nullptr) {
                        std::memcpy(p, buf.data(), len);
                        r.commit(len);
                        break;
                    }
                } else if (r.push(buf)) {
                    break;
                }
                if (was_empty) {
                    ++producer_bad;
                    stop.store(true, std::memory_order_relaxed);
                }
                if (stop.load(std::memory_order_relaxed)) break;
                ++full_retries;
                std::this_thread::yield();
            }
            if (r.used() > r.capacity()) ++producer_bad;
            if (stop.load(std::memory_order_relaxed)) break;
        }
        producer_done.store(true, std::memory_order_release);
    });

    Rng rng(42);
    uint64_t received = 0, first_bad = UINT64_MAX;
    std::string want;
    for (uint64_t seq = 0; seq < kRecords; ++seq) {
        size_t len = size_of(rng);
        if ((seq & 1) != 0) (void)rng.below(max - len + 1);
        std::string_view v;
        bool got = false;
        for (;;) {
            if (r.peek(v)) {
                got = true;
                break;
            }
            if (producer_done.load(std::memory_order_acquire)) {
                got = r.peek(v);
                break;
            }
            std::this_thread::yield();
        }
        bool ok = got;
        if (ok) {
            want.resize(len);
            make(seq, len, want.data());
            ok = v.size() == len && std::memcmp(v.data(), want.data(), len) == 0;
        }
        if (ok) {
            uint64_t got_seq;
            uint32_t got_len, got_sum;
            std::memcpy(&got_seq, v.data(), 8);
            std::memcpy(&got_len, v.data() + 8, 4);
            std::memcpy(&got_sum, v.data() + 12, 4);
            ok = got_seq == seq && got_len == v.size() && got_sum == checksum(v.data() + 16, v.size() - 16);
        }
        if (ok && r.used() > r.capacity()) ok = false;
        if (!ok) {
            first_bad = seq;
            stop.store(true, std::memory_order_relaxed);
            break;
        }
        r.pop();
        ++received;
    }
    producer.join();
    CHECK(first_bad == UINT64_MAX);  // the first record missing, out of order or damaged
    CHECK(received == kRecords);
    CHECK(producer_bad == 0);
    if (first_bad == UINT64_MAX) {  // (a damaged ring is not read further)
        std::string_view v;
        CHECK_FALSE(r.peek(v));
        CHECK(r.used() == 0);
    }
    (void)full_retries;  // how often it was full: not asserted (timing)
}
