// The request store's writer thread (store/writer.h).
#include "store/writer.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include <sqlite3.h>

#include "common/log.h"
#include "record/record.h"
#include "store/database.h"
#include "store/packed.h"
#include "store/schema.h"

namespace agd::store {

namespace {

using namespace std::chrono_literals;

// Kinds of failure, each logged once until the database works again.
enum Kind : unsigned {
    kOpen = 1,
    kPermission = 2,
    kFull = 4,
    kCorrupt = 8,
    kBusy = 16,
    kSchema = 32,
    kIo = 64,
    kMemory = 128,
    kOther = 256,
};

Kind kind_of(int code) {
    if (code == kErrNewerSchema || code == kErrForeign) return kSchema;
    switch (code & 0xff) {
        case SQLITE_CANTOPEN: return kOpen;
        case SQLITE_PERM:
        case SQLITE_READONLY:
        case SQLITE_AUTH: return kPermission;
        case SQLITE_FULL: return kFull;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return kCorrupt;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return kBusy;
        case SQLITE_IOERR: return kIo;
        case SQLITE_NOMEM: return kMemory;
        default: return kOther;
    }
}

// Failures after which the connection is closed and opened again later
// (a full disk, a lock or memory may pass with the connection kept).
bool needs_reopen(Kind k) { return k != kFull && k != kBusy && k != kMemory; }

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Retention retention_of(const config::LogConfig& c) {
    Retention r;
    r.rows_ms = c.retention.count();
    r.bodies_ms = c.body_retention.count();
    r.rollups_ms = c.rollup_retention.count();
    r.max_size = c.max_size;
    return r;
}

}  // namespace

Writer::Writer(const config::LogConfig& cfg, WriterOptions opts)
    : path_(cfg.database),
      opts_(opts),
      bodies_mode_(static_cast<uint8_t>(cfg.bodies)),
      body_max_(cfg.body_max),
      cfg_(cfg),
      db_(std::make_unique<Database>()) {
    efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!path_.empty())
        for (unsigned i = 0; i < opts_.workers; ++i) lanes_.push_back(std::make_unique<Lane>(opts_.lane_bytes));
}

Writer::~Writer() {
    stop();
    // Records never written (synchronous use without a last flush): their
    // bodies are the writer's to free.
    while (fill_batch() > 0) discard_batch();
    discard_batch();
    db_->close();
    if (efd_ >= 0) ::close(efd_);
}

bool Writer::start() {
    if (path_.empty() || running_.load()) return false;
    stop_requested_.store(false);
    running_.store(true);
    try {
        thread_ = std::thread([this] { thread_main(); });
    } catch (const std::exception& e) {
        running_.store(false);
        log::error("request store {}: cannot start its writer thread: {}; requests are not recorded", path_, e.what());
        return false;
    }
    pthread_setname_np(thread_.native_handle(), "agd-store");
    return true;
}

void Writer::stop(std::chrono::milliseconds budget) {
    if (!thread_.joinable()) {  // synchronous use: close what the hooks opened
        db_->close();
        db_ok_.store(false);
        return;
    }
    auto deadline = Clock::now() + budget;
    stop_deadline_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count());
    stop_requested_.store(true);
    signal();
    thread_.join();
    running_.store(false);
    notify_flushers();
}

void Writer::on_complete(const record::RequestRecord& rec) {
    if (path_.empty()) return;
    if (rec.worker >= lanes_.size()) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    Lane& lane = *lanes_[rec.worker];
    std::unique_ptr<Bodies> bodies;
    size_t reserved = 0;
    try {
        auto mode = static_cast<config::LogBodies>(bodies_mode_.load(std::memory_order_relaxed));
        if ((!rec.request_body.empty() || !rec.response_body.empty()) &&
            record::keeps_bodies(mode, rec.status, !rec.error.empty())) {
            uint64_t max = body_max_.load(std::memory_order_relaxed);
            std::string_view request = cut_utf8(rec.request_body, static_cast<size_t>(max));
            std::string_view response = cut_utf8(rec.response_body, static_cast<size_t>(max));
            reserved = request.size() + response.size();
            if (queued_body_bytes_.fetch_add(reserved, std::memory_order_relaxed) + reserved > kMaxQueuedBodyBytes) {
                queued_body_bytes_.fetch_sub(reserved, std::memory_order_relaxed);
                reserved = 0;
                bodies_dropped_.fetch_add(1, std::memory_order_relaxed);
            } else {
                bodies = std::make_unique<Bodies>();
                bodies->request.assign(request.data(), request.size());
                bodies->response.assign(response.data(), response.size());
                bodies->request_truncated = rec.request_truncated || request.size() < rec.request_body.size();
                bodies->response_truncated = rec.response_truncated || response.size() < rec.response_body.size();
            }
        }
        pack_row(lane.scratch, rec, bodies != nullptr);
    } catch (const std::bad_alloc&) {
        if (reserved != 0) queued_body_bytes_.fetch_sub(reserved, std::memory_order_relaxed);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    Bodies* raw = bodies.get();
    char* p = lane.ring.reserve(sizeof raw + lane.scratch.size());
    if (p == nullptr) {
        if (reserved != 0) queued_body_bytes_.fetch_sub(reserved, std::memory_order_relaxed);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    std::memcpy(p, &raw, sizeof raw);
    std::memcpy(p + sizeof raw, lane.scratch.data(), lane.scratch.size());
    lane.ring.commit(sizeof raw + lane.scratch.size());
    (void)bodies.release();  // the writer thread owns them now
    lane.pushed.store(lane.pushed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // A read-modify-write (not a load), paired with the writer's exchange in
    // wait(): either it comes after the writer's in wake_mode_'s order and
    // sees the mode the writer set, or before it, and the writer's exchange
    // synchronizes with it and the writer finds this row when it looks.
    // (No fence: ThreadSanitizer does not model fences.)
    int mode = wake_mode_.fetch_add(0, std::memory_order_acq_rel);
    if (mode == kWakeAny || (mode == kWakeAtThreshold && lane.ring.used() >= lane.ring.capacity() / 4)) {
        if (wake_mode_.exchange(kNoWake) != kNoWake) signal();
    }
}

std::string Writer::reconfigure(const config::LogConfig& cfg) {
    bodies_mode_.store(static_cast<uint8_t>(cfg.bodies), std::memory_order_relaxed);
    body_max_.store(cfg.body_max, std::memory_order_relaxed);
    {
        std::lock_guard lock(cfg_mu_);
        cfg_ = cfg;
        cfg_.database = path_;
    }
    maintenance_due_.store(true);
    if (running_.load()) signal();
    if (cfg.database != path_)
        return "[log] database changed: the request store stays " + (path_.empty() ? std::string("off") : path_) +
               " until antigravityd restarts";
    return {};
}

uint64_t Writer::pushed() const {
    uint64_t n = 0;
    for (const auto& l : lanes_) n += l->pushed.load(std::memory_order_relaxed);
    return n;
}

WriterStats Writer::stats() const {
    WriterStats s;
    s.written = written_.load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed);
    s.lost = lost_.load(std::memory_order_relaxed);
    s.errors = errors_.load(std::memory_order_relaxed);
    s.bodies_dropped = bodies_dropped_.load(std::memory_order_relaxed);
    uint64_t pushed = this->pushed(), processed = processed_.load(std::memory_order_relaxed);
    s.queue_depth = pushed > processed ? pushed - processed : 0;
    s.db_bytes = db_bytes_.load(std::memory_order_relaxed);
    s.db_ok = db_ok_.load(std::memory_order_relaxed);
    return s;
}

bool Writer::flush(std::chrono::milliseconds timeout) {
    if (path_.empty()) return true;
    if (running_.load()) {
        uint64_t target = pushed();
        std::unique_lock lock(flush_mu_);
        flush_waiters_.fetch_add(1);
        signal();
        bool done = flush_cv_.wait_for(lock, timeout, [&] { return processed_.load() >= target || !running_.load(); });
        flush_waiters_.fetch_sub(1);
        return done && processed_.load() >= target;
    }
    auto now = Clock::now();
    if (!db_->is_open() && (!open_attempted_ || now >= next_open_)) try_open(now);
    for (;;) {
        fill_batch();
        if (batch_.empty()) break;
        write_batch(now);
        if (!batch_.empty()) discard_batch();  // kept for a retry: no one retries here
    }
    return true;
}

void Writer::maintain_now() {
    if (running_.load() || path_.empty()) return;
    auto now = Clock::now();
    if (!db_->is_open() && (!open_attempted_ || now >= next_open_)) try_open(now);
    if (db_->is_open()) maintain(now);
}

// --- the writer thread ---

void Writer::thread_main() {
    for (;;) {
        bool go_on = true;
        try {
            go_on = step();
        } catch (...) {  // std::bad_alloc in practice; nothing may leave the thread
            errors_.fetch_add(1, std::memory_order_relaxed);
            try {
                discard_batch();
                failed(SQLITE_NOMEM, "out of memory", Clock::now());
            } catch (...) {
            }
            ::poll(nullptr, 0, 100);
        }
        if (!go_on) break;
    }
    try {
        db_->close();
    } catch (...) {
    }
    db_ok_.store(false);
}

bool Writer::step() {
    auto now = Clock::now();
    bool stopping = stop_requested_.load();
    if (!db_->is_open() && (!open_attempted_ || now >= next_open_)) try_open(now);

    size_t popped = fill_batch();
    if (!batch_.empty()) write_batch(now);
    notify_flushers();

    if (stopping) {
        auto deadline = Clock::time_point(std::chrono::nanoseconds(stop_deadline_ns_.load()));
        bool empty = batch_.empty() && !lanes_pending();
        if (empty) return false;
        if (Clock::now() >= deadline) {
            discard_batch();
            while (fill_batch() > 0) discard_batch();
            notify_flushers();
            return false;
        }
        if (!batch_.empty()) wait(kNoWake, opts_.busy_interval);  // a lock in the way: try again shortly
        return true;
    }

    if (popped > 0) last_busy_ = now;
    if (db_->is_open()) {
        if (maintenance_due_.exchange(false) || now >= next_maintenance_)
            maintain(now);
        else if (now >= next_size_check_)
            check_size(now);
    }
    if (batch_.empty() && popped >= Batch::kMaxRows && lanes_pending()) return true;  // a backlog: keep writing

    if (now - last_busy_ < opts_.idle_after || !batch_.empty()) {
        wait(kWakeAtThreshold, opts_.busy_interval);
    } else {
        auto next = db_->is_open() ? next_maintenance_ : next_open_;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
        wait(kWakeAny, std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(60'000)));
    }
    return true;
}

bool Writer::lanes_pending() const {
    for (const auto& l : lanes_)
        if (l->ring.used() != 0) return true;
    return false;
}

bool Writer::lanes_past_threshold() const {
    for (const auto& l : lanes_)
        if (l->ring.used() >= l->ring.capacity() / 4) return true;
    return false;
}

size_t Writer::fill_batch() {
    size_t n = 0;
    // Lanes in turn from where the last batch stopped, so that a busy
    // worker cannot keep another's records waiting.
    for (size_t k = 0; k < lanes_.size() && !batch_.full(); ++k) {
        Lane& lane = *lanes_[(next_lane_ + k) % lanes_.size()];
        std::string_view rec;
        while (!batch_.full() && lane.ring.peek(rec)) {
            Bodies* raw = nullptr;
            if (rec.size() >= sizeof raw) std::memcpy(&raw, rec.data(), sizeof raw);
            std::unique_ptr<Bodies> bodies(raw);
            size_t body_bytes = bodies ? bodies->bytes() : 0;
            // A row this code packed always unpacks; were one not to, it
            // is counted as lost rather than stored damaged.
            bool added = rec.size() >= sizeof raw && batch_.add(rec.substr(sizeof raw), std::move(bodies));
            lane.ring.pop();
            ++n;
            if (!added) {
                if (body_bytes != 0) queued_body_bytes_.fetch_sub(body_bytes, std::memory_order_relaxed);
                lost_.fetch_add(1, std::memory_order_relaxed);
                processed_.fetch_add(1);
            }
        }
        if (batch_.full()) next_lane_ = (next_lane_ + k + 1) % lanes_.size();
    }
    return n;
}

void Writer::finish_batch() {
    if (uint64_t b = batch_.body_bytes(); b != 0) queued_body_bytes_.fetch_sub(b, std::memory_order_relaxed);
    processed_.fetch_add(batch_.rows());
    batch_.clear();
    busy_retries_ = 0;
}

void Writer::discard_batch() {
    if (batch_.empty()) return;
    lost_.fetch_add(batch_.rows(), std::memory_order_relaxed);
    finish_batch();
}

void Writer::write_batch(Clock::time_point now) {
    if (!db_->is_open()) {
        discard_batch();
        return;
    }
    auto st = db_->write(batch_);
    if (st) {
        written_.fetch_add(batch_.rows(), std::memory_order_relaxed);
        finish_batch();
        db_ok_.store(true, std::memory_order_relaxed);
        recovered();
        return;
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    if (kind_of(st.error().code) == kBusy && ++busy_retries_ <= kMaxBusyRetries) return;  // kept: tried again
    discard_batch();
    failed(st.error().code, st.error().message, now);
}

void Writer::try_open(Clock::time_point now) {
    open_attempted_ = true;
    auto st = db_->open(path_);
    if (!st) {
        errors_.fetch_add(1, std::memory_order_relaxed);
        failed(st.error().code, st.error().message, now);
        next_open_ = now + opts_.retry_interval;  // whatever the kind: the connection is closed
        return;
    }
    db_ok_.store(true, std::memory_order_relaxed);
    db_bytes_.store(db_->size_bytes(), std::memory_order_relaxed);
    if (!failing_) log::info("request store {}: open ({} KiB)", path_, db_bytes_.load() >> 10);
    recovered();
    next_maintenance_ = now;  // retention at start
    next_size_check_ = now + kSizeCheckInterval;
}

void Writer::maintain(Clock::time_point now) {
    if (reopen_if_replaced(now)) return;
    Retention r;
    {
        std::lock_guard lock(cfg_mu_);
        r = retention_of(cfg_);
    }
    bool more = false;
    Status st;
    if (auto expired = db_->expire(wall_ms(), r); !expired)
        st = expired.error();
    else
        more = *expired;
    if (st) {
        if (auto trimmed = db_->trim(r.max_size); !trimmed)
            st = trimmed.error();
        else
            more = more || *trimmed;
    }
    if (st) st = db_->compact();
    if (!st) {
        Kind k = kind_of(st.error().code);
        if (k != kBusy) {  // a lock held elsewhere: next time
            errors_.fetch_add(1, std::memory_order_relaxed);
            failed(st.error().code, st.error().message, now);
        }
    }
    if (db_->is_open()) db_bytes_.store(db_->size_bytes(), std::memory_order_relaxed);
    // A backlog of deletions is worked off a bounded piece at a time, with
    // the queue written in between.
    next_maintenance_ = now + (more ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(kMaintenanceInterval));
    next_size_check_ = now + kSizeCheckInterval;
}

bool Writer::reopen_if_replaced(Clock::time_point now) {
    if (!db_->replaced()) return false;
    // Removed or replaced by hand: close (the last checkpoint empties the
    // WAL, so the new file does not inherit it) and open the new one.
    log::notice("request store {}: the file was removed or replaced; opening it again", path_);
    db_->close();
    db_ok_.store(false, std::memory_order_relaxed);
    next_open_ = now;
    return true;
}

void Writer::check_size(Clock::time_point now) {
    if (reopen_if_replaced(now)) return;
    uint64_t max;
    {
        std::lock_guard lock(cfg_mu_);
        max = cfg_.max_size;
    }
    uint64_t size = db_->size_bytes();
    db_bytes_.store(size, std::memory_order_relaxed);
    if (max != 0 && size > max)
        maintain(now);
    else
        next_size_check_ = now + kSizeCheckInterval;
}

void Writer::failed(int code, const std::string& message, Clock::time_point now) {
    Kind k = kind_of(code);
    db_ok_.store(false, std::memory_order_relaxed);
    if (!failing_) {
        failing_ = true;
        lost_at_failure_ = lost_.load(std::memory_order_relaxed);
    }
    bool reopen = needs_reopen(k);
    if ((logged_kinds_ & k) == 0) {
        logged_kinds_ |= k;
        auto retry = std::chrono::duration_cast<std::chrono::seconds>(opts_.retry_interval).count();
        if (reopen)
            log::warning("request store {}: {}; requests are not recorded until it works (trying again every {}s)",
                         path_, message, retry);
        else
            log::warning("request store {}: {}; requests are not recorded until it works", path_, message);
    }
    if (reopen) {
        db_->close();
        next_open_ = now + opts_.retry_interval;
    }
}

void Writer::recovered() {
    if (!failing_) return;
    failing_ = false;
    logged_kinds_ = 0;
    log::notice("request store {}: working again ({} records were lost meanwhile)", path_,
                lost_.load(std::memory_order_relaxed) - lost_at_failure_);
}

void Writer::wait(WakeMode mode, std::chrono::milliseconds timeout) {
    if (mode != kNoWake) {
        wake_mode_.exchange(mode, std::memory_order_acq_rel);  // pairs with on_complete()
        bool pending = mode == kWakeAny ? lanes_pending() : lanes_past_threshold();
        if (pending || stop_requested_.load() || maintenance_due_.load()) {
            wake_mode_.store(kNoWake);
            return;
        }
    }
    if (efd_ >= 0) {
        pollfd p{efd_, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n > 0) {
            uint64_t v;
            (void)!::read(efd_, &v, sizeof v);
        }
    } else {  // no eventfd: the timer alone, never longer than the busy interval
        ::poll(nullptr, 0, static_cast<int>(std::min(timeout, opts_.busy_interval).count()));
    }
    wake_mode_.store(kNoWake);
}

void Writer::signal() {
    if (efd_ < 0) return;
    uint64_t one = 1;
    (void)!::write(efd_, &one, sizeof one);
}

void Writer::notify_flushers() {
    if (flush_waiters_.load() == 0) return;
    std::lock_guard lock(flush_mu_);
    flush_cv_.notify_all();
}

}  // namespace agd::store
