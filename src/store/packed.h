// Packed rows: one finished request in the store's compact binary form.
//
// A worker packs its RequestRecord (valid only during the completion call)
// into a few hundred bytes, every string cut to the store's bounds; the
// writer thread copies packed rows as they are into a segment (one SQLite
// row holding many requests, store/schema.h) and reads back only what the
// hourly rollups need; the reader unpacks them for the CLI.
//
// Format, version 1 (kPackedFormat): a version byte, a flags byte, then the
// fields of PackedRow in declaration order: unsigned numbers as LEB128
// varints, signed ones (where -1 means unknown) zigzag-encoded, strings as a
// varint length and their bytes. A row that ends early leaves the remaining
// fields at their defaults and bytes after the last known field are
// ignored, so that a later version can append fields. Unpacking treats the
// bytes as hostile (a damaged file): every length is checked, nothing
// recurses, and a malformed row is reported, never read past its end.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agd::record {
struct RequestRecord;
}

namespace agd::store {

inline constexpr uint8_t kPackedFormat = 1;
// A segment's rows after its first: the strings equal to the previous row's
// left out (a bit mask of them follows the flags), the id and the time as
// differences. A batch's rows mostly share their client, address, path,
// model, provider and credential: a delta row is about a third of a full one.
inline constexpr uint8_t kPackedDelta = 2;

// Flags byte.
inline constexpr uint8_t kPackedStream = 1;      // a streamed answer
inline constexpr uint8_t kPackedUpstream = 2;    // an API operation (counted in the rollups)
inline constexpr uint8_t kPackedRouted = 4;      // a provider took it (the rollups name its model)
inline constexpr uint8_t kPackedProtocol = 8;    // protocol is set (an upstream operation)
inline constexpr uint8_t kPackedBodies = 16;     // the bodies table has a row for it

// A packed row read back. Views point into the packed bytes.
struct PackedRow {
    uint8_t flags = 0;
    uint64_t request_id = 0;
    int64_t ts_ms = 0;
    std::string_view client, addr, method, path, op, protocol, model, model_sent, provider, credential;
    uint64_t attempts = 0;
    std::string_view attempt_detail;  // "" for one plain attempt: see plain_attempt_detail()
    uint64_t status = 0, upstream_status = 0;
    std::string_view error, limit;
    int64_t input = -1, output = -1, cache_read = -1, cache_write = -1, reasoning = -1;
    std::string_view usage_state = "none";
    int64_t ttfb_us = -1, ttft_us = -1, total_us = 0;
    uint64_t bytes_in = 0, bytes_out = 0;

    bool stream() const { return (flags & kPackedStream) != 0; }
    bool upstream() const { return (flags & kPackedUpstream) != 0; }
    bool routed() const { return (flags & kPackedRouted) != 0; }
    bool has_bodies() const { return (flags & kPackedBodies) != 0; }
};

// A PackedRow whose strings it owns (the writer's previous row, kept after
// the bytes it came from are gone).
struct OwnedRow {
    static constexpr unsigned kStringFields = 14;
    PackedRow row;
    std::string text[kStringFields];
    void assign(const PackedRow& r);
};

// Packs `r` into `out` (cleared first; its memory is reused), each string
// cut to the store's bounds and the path to before its query string.
void pack(std::string& out, const PackedRow& r);
// Packs `rec` into `out` (cleared first; its memory is reused). `bodies`
// sets kPackedBodies (the caller stores them apart).
void pack_row(std::string& out, const record::RequestRecord& rec, bool bodies);

// Unpacks one row. False when the bytes are not a packed row this code can
// read (a newer format, or damaged), `row` then untouched. A delta row needs
// `prev`, the row before it in its segment (its views must stay valid as
// long as `row`'s); a full row ignores it.
bool unpack_row(std::string_view bytes, PackedRow& row, const PackedRow* prev = nullptr);
// `r` as a delta row against `prev` (appended to `out`).
void pack_delta(std::string& out, const PackedRow& r, const PackedRow& prev);

// The row's attempt detail: as packed, or, for the one plain attempt that
// is not spelled out, "provider/credential:status:ok".
std::string plain_attempt_detail(const PackedRow& r);

// Segments: packed rows one after the other, each preceded by its length
// (a varint); the first a full row, the others full or delta rows against
// the row before. Appends one row.
void append_to_segment(std::string& segment, std::string_view packed);

// Walks a segment's rows in order (their bytes; unpack each with the row
// before it). A damaged segment ends the walk early (ok() says so).
class SegmentCursor {
public:
    explicit SegmentCursor(std::string_view segment) : rest_(segment) {}
    // The next packed row's bytes; false at the end (or at damage).
    bool next(std::string_view& packed);
    bool ok() const { return ok_; }

private:
    std::string_view rest_;
    bool ok_ = true;
};

// The longest prefix of `s` of at most `max` bytes that does not end inside
// a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, size_t max);
// "provider/credential:status:outcome" per attempt, comma-separated, into
// `out` (cleared, its memory reused), cut to kMaxAttemptDetailBytes.
void attempt_detail(std::string& out, const record::RequestRecord& rec);
std::string attempt_detail(const record::RequestRecord& rec);

}  // namespace agd::store
