// Writer: the one thread that writes the request store ([log] database).
//
// Workers hand it every finished request through the completion hook
// (on_complete): the record is packed (store/packed.h: a few hundred bytes,
// strings cut to the store's bounds) straight into that worker's lane, a
// fixed ring of bytes (common/byte_ring.h) only it writes and only the
// writer thread reads. Bodies kept per [log] bodies travel apart, under
// their own memory budget. A worker never waits, never allocates for a
// record and, under load, makes no system call: when its lane is full the
// record is dropped and counted.
//
// The writer thread writes a batch of packed rows (up to
// Batch::kMaxRows) as one segment, one SQLite row, in one transaction with
// the rows' bodies and rollups. It wakes on a timer (every 100 ms) while
// records keep coming, or early when a lane passes a quarter of its
// capacity; after a second without records it sleeps until a producer wakes
// it (an eventfd written only when the thread asked for it: one system call
// per idle period, not per record). Every minute, and at
// start, it deletes what is past the retentions in bounded chunks, gives the
// free pages back to the file system and checkpoints the WAL; every ten
// seconds it checks database + WAL against [log] max_size and trims the
// oldest rows when over, and opens the file again if someone removed or
// replaced it.
//
// A database that cannot be opened or written (permissions, a full disk,
// corruption, a file that is not an SQLite database, a newer schema) is
// logged once per kind of failure, counted, and the records meanwhile are
// discarded (counted as lost); opening is retried every 30 s, and the
// recovery is logged once. Nothing here throws or crashes the daemon.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/byte_ring.h"
#include "config/config.h"
#include "record/hook.h"
#include "store/batch.h"

namespace agd::store {

class Database;

// Counters, readable from any thread (status, metrics).
struct WriterStats {
    uint64_t written = 0;         // rows committed
    uint64_t dropped = 0;         // records refused: the queue was full
    uint64_t lost = 0;            // records taken from the queue but not stored: the database failed
    uint64_t errors = 0;          // database failures (open, write, maintenance)
    uint64_t bodies_dropped = 0;  // bodies left out of a row: the memory for queued bodies was full
    uint64_t queue_depth = 0;     // records handed in and not yet written or lost
    uint64_t db_bytes = 0;        // database + WAL at the last check
    bool db_ok = false;           // open, and its last operation worked
};

struct WriterOptions {
    // Bytes of each worker's lane (a record takes about 150-400 bytes: the
    // default holds some 5,000 of them, half a second of a busy worker).
    size_t lane_bytes = 2u << 20;
    std::chrono::milliseconds retry_interval{30'000};  // between attempts to open a failed database
    std::chrono::milliseconds busy_interval{100};      // the timer while records keep coming
    std::chrono::milliseconds idle_after{1000};        // without records this long, sleep until woken
    // Worker threads that hand in records, one lane each: a record's
    // RequestRecord::worker must be below this, and records of one worker
    // index come from one thread at a time. Others are dropped (counted).
    unsigned workers = 1;
};

class Writer final : public record::Consumer {
public:
    static constexpr uint64_t kMaxQueuedBodyBytes = 64u << 20;  // bodies waiting in the queue
    static constexpr std::chrono::seconds kMaintenanceInterval{60};
    static constexpr std::chrono::seconds kSizeCheckInterval{10};
    static constexpr int kMaxBusyRetries = 25;  // a batch another process's lock refuses is tried again, then lost

    // `cfg.database` is the file; "" makes an inert writer (nothing is
    // queued, start() does nothing): better, do not register one.
    explicit Writer(const config::LogConfig& cfg, WriterOptions opts = {});
    ~Writer() override;  // stop()
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Main thread. Starts the writer thread, which opens the database (the
    // caller never waits on the disk). False when there is no database or
    // the thread could not be created (logged; records are then dropped).
    bool start();
    // Main thread, after the workers have stopped. Writes what is queued
    // (for at most `budget`; the rest is counted as lost), checkpoints and
    // closes the database. Without the thread, closes the database the
    // synchronous hooks opened.
    void stop(std::chrono::milliseconds budget = std::chrono::seconds(5));

    // Worker threads (record::Consumer). Never blocks; see WriterOptions::workers.
    void on_complete(const record::RequestRecord& rec) override;

    // Main thread, on reload. Retentions, max_size, bodies and body_max
    // apply at once (retention at the thread's next turn). A different
    // `database` path is not followed until a restart: the returned warning
    // says so ("" when there is none).
    std::string reconfigure(const config::LogConfig& cfg);

    WriterStats stats() const;
    const std::string& path() const { return path_; }

    // Synchronous hooks (tests, tools). With the thread running, flush()
    // waits (at most `timeout`) until everything queued before the call is
    // written or lost; without it, it does the work on the calling thread
    // (opening the database when it is not open and a retry is due).
    // maintain_now() runs retention, trimming and compaction now; only
    // without the thread.
    bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void maintain_now();

private:
    using Clock = std::chrono::steady_clock;
    enum WakeMode : int { kNoWake = 0, kWakeAtThreshold = 1, kWakeAny = 2 };

    void thread_main();
    bool step();  // one turn of the thread; false when it is time to exit
    size_t fill_batch();
    bool lanes_pending() const;         // some lane holds a record
    bool lanes_past_threshold() const;  // some lane is a quarter full
    void write_batch(Clock::time_point now);
    void discard_batch();
    void try_open(Clock::time_point now);
    void maintain(Clock::time_point now);
    void check_size(Clock::time_point now);
    bool reopen_if_replaced(Clock::time_point now);
    void failed(int code, const std::string& message, Clock::time_point now);
    void recovered();
    void wait(WakeMode mode, std::chrono::milliseconds timeout);
    void signal();
    void notify_flushers();
    void finish_batch();  // written or discarded: counted, bodies' budget given back, cleared

    const std::string path_;
    const WriterOptions opts_;
    struct Lane {
        explicit Lane(size_t bytes) : ring(bytes) {}
        ByteRing ring;        // [Bodies* or null][packed row], per record
        std::string scratch;  // the worker's: the row being packed
        // Records handed in, written by the worker alone: a plain store,
        // not a locked add on a line every worker shares.
        alignas(64) std::atomic<uint64_t> pushed{0};
    };
    uint64_t pushed() const;
    std::vector<std::unique_ptr<Lane>> lanes_;
    size_t next_lane_ = 0;  // the writer's: where the next batch starts reading

    // Read by producers.
    std::atomic<uint8_t> bodies_mode_;
    std::atomic<uint64_t> body_max_;
    std::atomic<uint64_t> queued_body_bytes_{0};
    std::atomic<int> wake_mode_{kNoWake};
    int efd_ = -1;

    // Counters.
    std::atomic<uint64_t> processed_{0};
    std::atomic<uint64_t> written_{0}, dropped_{0}, lost_{0}, errors_{0}, bodies_dropped_{0};
    std::atomic<uint64_t> db_bytes_{0};
    std::atomic<bool> db_ok_{false};

    // Retentions and max_size, read by the thread at each maintenance.
    mutable std::mutex cfg_mu_;
    config::LogConfig cfg_;
    std::atomic<bool> maintenance_due_{false};

    // Thread control.
    std::thread thread_;
    std::atomic<bool> running_{false};
    std::atomic<bool> stop_requested_{false};
    std::atomic<int64_t> stop_deadline_ns_{0};  // steady clock
    std::mutex flush_mu_;
    std::condition_variable flush_cv_;
    std::atomic<int> flush_waiters_{0};

    // The thread's own (or the synchronous hooks' caller's).
    std::unique_ptr<Database> db_;
    Batch batch_;
    int busy_retries_ = 0;
    bool open_attempted_ = false;
    Clock::time_point next_open_{}, next_maintenance_{}, next_size_check_{}, last_busy_{};
    unsigned logged_kinds_ = 0;   // failure kinds logged since the database last worked
    bool failing_ = false;
    uint64_t lost_at_failure_ = 0;
};

}  // namespace agd::store
