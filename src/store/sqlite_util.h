// Small RAII helpers around the SQLite C API, for the store's own .cc files
// and its tests only: nothing else includes <sqlite3.h>.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace agd::store::sql {

// A prepared statement. Steps, binds and reads never throw; errors are
// SQLite result codes (the connection's message says more).
class Stmt {
public:
    Stmt() = default;
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    Stmt(Stmt&& o) noexcept : st_(o.st_) { o.st_ = nullptr; }
    Stmt& operator=(Stmt&& o) noexcept {
        if (this != &o) {
            sqlite3_finalize(st_);
            st_ = o.st_;
            o.st_ = nullptr;
        }
        return *this;
    }

    int prepare(sqlite3* db, std::string_view text) {
        sqlite3_finalize(st_);
        st_ = nullptr;
        return sqlite3_prepare_v3(db, text.data(), static_cast<int>(text.size()), SQLITE_PREPARE_PERSISTENT, &st_,
                                  nullptr);
    }
    bool ok() const { return st_ != nullptr; }
    sqlite3_stmt* get() const { return st_; }
    void finalize() {
        sqlite3_finalize(st_);
        st_ = nullptr;
    }

    // Parameters count from 1, as in SQLite.
    void bind(int i, int64_t v) { sqlite3_bind_int64(st_, i, v); }
    void bind(int i, double v) { sqlite3_bind_double(st_, i, v); }
    // Text (SQLite would bind NULL for a null pointer: an empty view is "").
    void bind(int i, std::string_view v) {
        sqlite3_bind_text64(st_, i, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    }
    // Bound without a copy: `v` must outlive the step.
    void bind_static(int i, std::string_view v) {
        sqlite3_bind_text64(st_, i, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_STATIC, SQLITE_UTF8);
    }
    void bind_null(int i) { sqlite3_bind_null(st_, i); }
    // A blob bound without a copy: `v` must outlive the step.
    void bind_blob_static(int i, std::string_view v) {
        sqlite3_bind_blob64(st_, i, v.data() != nullptr ? v.data() : "", v.size(), SQLITE_STATIC);
    }
    // -1 (unknown) as NULL.
    void bind_known(int i, int64_t v) {
        if (v < 0)
            bind_null(i);
        else
            bind(i, v);
    }

    int step() { return sqlite3_step(st_); }
    void reset() {
        sqlite3_reset(st_);
        sqlite3_clear_bindings(st_);
    }
    // For a statement whose every parameter is bound again before each step.
    void rewind() { sqlite3_reset(st_); }

    // Columns count from 0.
    bool is_null(int i) const { return sqlite3_column_type(st_, i) == SQLITE_NULL; }
    int64_t i64(int i) const { return sqlite3_column_int64(st_, i); }
    int64_t i64_or(int i, int64_t unknown) const { return is_null(i) ? unknown : i64(i); }
    double real(int i) const { return sqlite3_column_double(st_, i); }
    std::string text(int i) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
        if (p == nullptr) return {};
        return std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, i)));
    }
    // A blob (or text) column's bytes, valid until the next step or reset.
    std::string_view blob(int i) const {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(st_, i));
        if (p == nullptr) return {};
        return std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(st_, i)));
    }

private:
    sqlite3_stmt* st_ = nullptr;
};

// Runs SQL text with no result rows. The SQLite result code.
// Once per process, before the first connection: no memory statistics
// (they take a global mutex around every allocation SQLite makes).
inline void init_once() {
    static const bool done = [] {
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        return true;
    }();
    (void)done;
}

inline int exec(sqlite3* db, const char* text) { return sqlite3_exec(db, text, nullptr, nullptr, nullptr); }

// The first column of the first row of a one-row query (a PRAGMA), or
// `fallback` when it fails or returns nothing.
inline int64_t query_int(sqlite3* db, const char* text, int64_t fallback = -1) {
    Stmt st;
    if (st.prepare(db, text) != SQLITE_OK) return fallback;
    if (st.step() != SQLITE_ROW) return fallback;
    return st.i64(0);
}

inline std::string message(sqlite3* db) {
    const char* m = db != nullptr ? sqlite3_errmsg(db) : nullptr;
    return m != nullptr ? std::string(m) : std::string("out of memory");
}

// A "file:" URI for `path` (SQLITE_OPEN_URI), with the characters a URI
// gives a meaning to percent-encoded.
inline std::string file_uri(std::string_view path) {
    // An absolute path gets the empty authority ("file:///var/..."), so that
    // one starting with "//" is not read as a host name.
    std::string out = path.starts_with('/') ? "file://" : "file:";
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : path) {
        auto u = static_cast<unsigned char>(c);
        if (c == '%' || c == '?' || c == '#' || u < 0x21 || u == 0x7f) {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace agd::store::sql
