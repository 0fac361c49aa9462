// Database: the writer's connection to the request store. Single-threaded:
// owned and used by the Writer (its thread, or the caller of its synchronous
// test hooks). Every operation returns SQLite's extended result code on
// failure (Status::error().code) and never throws.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

struct sqlite3;

namespace agd::store {

class Batch;

// Ages are in milliseconds; 0 means no limit.
struct Retention {
    int64_t rows_ms = 0;
    int64_t bodies_ms = 0;
    int64_t rollups_ms = 0;
    uint64_t max_size = 0;  // bytes, database + WAL; 0 = no limit
};

class Database {
public:
    // Rows deleted per statement, so that a large backlog never holds the
    // write lock long; statements per call before it yields (returns "more").
    static constexpr int kChunkRows = 5000;
    static constexpr int kChunkSegments = 64;  // a segment holds up to Batch::kMaxRows requests
    static constexpr int kChunksPerCall = 40;

    Database();
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    // Opens (creating it 0640, and its directory 0750, when missing) and
    // prepares the schema. WAL mode with the WAL kept at close
    // (SQLITE_FCNTL_PERSIST_WAL): the -wal and -shm files stay, so that a
    // reader who may not write the directory can open the database read-only
    // while the daemon is stopped.
    Status open(const std::string& path);
    // Checkpoints (TRUNCATE) and closes. Safe when not open.
    void close();
    bool is_open() const { return db_ != nullptr; }
    const std::string& path() const { return path_; }

    // One transaction: the batch's segment (its requests numbered on from
    // the last), their bodies, their rollups. Rolled back whole on failure.
    Status write(const Batch& batch);
    // The number the next request written gets.
    int64_t next_row() const { return next_row_; }

    // Deletes what is older than the retention (segments whose newest
    // request is), kChunkSegments segments or kChunkRows bodies at a time and at
    // most kChunksPerCall statements. True when there is more to delete.
    Result<bool> expire(int64_t now_ms, const Retention& r);
    // When database + WAL pass max_size, deletes the oldest segments and
    // their requests' bodies until the live pages are under 90% of it (bounded like
    // expire()). True when there is more to delete.
    Result<bool> trim(uint64_t max_size);
    // Gives free pages back to the file system (PRAGMA incremental_vacuum,
    // bounded) and checkpoints the WAL with TRUNCATE (a reader holding a
    // snapshot makes it partial; not an error).
    Status compact();

    // True when the file at path() is no longer the one opened (removed or
    // replaced by hand): rows would go to a file nobody can see.
    bool replaced() const;

    // page_count * page_size + the WAL file's size.
    uint64_t size_bytes() const;
    // Live pages (page_count - freelist_count) * page_size.
    uint64_t live_bytes() const;

    sqlite3* handle() const { return db_; }  // for tests

private:
    struct Statements;
    Status fail(const char* what);
    Result<int> run_chunk(const char* sql, int64_t bound, int64_t chunk);

    sqlite3* db_ = nullptr;
    std::unique_ptr<Statements> st_;
    std::string path_, wal_path_;
    uint64_t dev_ = 0, ino_ = 0;  // of the file opened
    int64_t next_row_ = 1;
};

}  // namespace agd::store
