// The request store's schema: three tables in one SQLite file.
//
//   segments  finished requests (metadata only), many per SQLite row: the
//             packed rows (store/packed.h) of one writer transaction, with
//             their time and id ranges; request number first_row + i is the
//             segment's i-th row. One insert per batch instead of one per
//             request is what keeps the store's cost per request small.
//   bodies    the request and answer bodies kept by [log] bodies, one row per
//             request that has them (id = the request's number);
//   rollups   per hour x client x model x provider x credential: requests,
//             errors, each token type, time; kept longer than rows.
//
// Versions are PRAGMA user_version; the file is marked with PRAGMA
// application_id so that a database of another program is never written.
// A connection that writes calls prepare_database(); one that reads checks
// schema_version().
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.h"

struct sqlite3;

namespace agd::store {

inline constexpr int kSchemaVersion = 2;
inline constexpr int32_t kApplicationId = 0x41474431;  // "AGD1"

// Error codes besides SQLite's result codes (Status::error().code).
inline constexpr int kErrNewerSchema = 10001;  // written by a newer antigravityd
inline constexpr int kErrForeign = 10002;      // an SQLite database of another program

// Stored strings come from clients and upstreams: each is cut to a bound
// (on a UTF-8 character boundary).
inline constexpr size_t kMaxNameBytes = 256;    // client, provider, credential, method, addr, limit
inline constexpr size_t kMaxModelBytes = 256;   // model, model_sent
inline constexpr size_t kMaxPathBytes = 1024;   // path (without its query string)
inline constexpr size_t kMaxErrorBytes = 1024;  // error
inline constexpr size_t kMaxAttemptDetailBytes = 1024;

// Sets the writer's pragmas (auto_vacuum=INCREMENTAL before any table
// exists, journal_mode=WAL, synchronous=NORMAL) and creates or upgrades the
// schema to kSchemaVersion in one transaction. Errors: SQLite's extended
// result code, kErrNewerSchema or kErrForeign, with a message.
Status prepare_database(sqlite3* db);

// The schema version of a database opened for reading: 0 when it has no
// tables yet (an empty file), kSchemaVersion or an older version this code
// still reads. Errors as prepare_database().
Result<int> schema_version(sqlite3* db);

}  // namespace agd::store
