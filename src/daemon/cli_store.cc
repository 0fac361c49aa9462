// `log` and `usage`: queries of the request store and their rendering
// (daemon/cli_store.h).
#include "daemon/cli_store.h"

#include <sysexits.h>

#include <algorithm>
#include <ctime>
#include <iterator>

#include <fmt/core.h>

#include "common/json.h"
#include "store/since.h"

namespace agd::daemon {

// Text from the store came from clients and upstreams: invalid UTF-8 becomes
// U+FFFD and control characters (C0, DEL, C1: terminal escapes) are shown
// as \xNN, so that nothing a client sent can drive the reader's terminal.
// `multiline` keeps newlines and tabs (bodies).
std::string clean(std::string_view s, bool multiline) {
    std::string v = valid_utf8(s);
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        auto c = static_cast<unsigned char>(v[i]);
        if (multiline && (c == '\n' || c == '\t')) {
            out += v[i];
        } else if (c < 0x20 || c == 0x7f) {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
        } else if (c == 0xc2 && i + 1 < v.size() && static_cast<unsigned char>(v[i + 1]) < 0xa0) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(v[i + 1]));  // C1
            ++i;
        } else {
            out += v[i];
        }
    }
    return out;
}

namespace {

constexpr int64_t kDefaultUsageSince = 24 * 3600;

// Characters (code points), what a terminal column roughly is.
size_t width(std::string_view s) {
    size_t n = 0;
    for (char c : s)
        if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
    return n;
}

// At most `max` characters, the last one "~" when cut.
std::string fit(std::string s, size_t max) {
    if (width(s) <= max) return s;
    size_t n = 0, i = 0;
    for (; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (n == max - 1) break;
            ++n;
        }
    }
    s.resize(i);
    return s + "~";
}

std::string dash_or(std::string_view s) { return s.empty() ? std::string("-") : clean(s); }

std::string count_or_dash(int64_t v) { return v < 0 ? std::string("-") : std::to_string(v); }

std::string duration_text(double ms) {
    if (ms < 0) return "-";
    if (ms < 1000) return fmt::format("{:.0f}ms", ms);
    return fmt::format("{:.2f}s", ms / 1000);
}

std::string local_time(int64_t unix_s, const char* format) {
    std::tm tm{};
    auto t = static_cast<std::time_t>(unix_s);
    localtime_r(&t, &tm);
    char buf[64];
    size_t n = std::strftime(buf, sizeof buf, format, &tm);
    return std::string(buf, n);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }

std::string utc_iso_ms(int64_t ms) {
    std::tm tm{};
    auto t = static_cast<std::time_t>(floor_div(ms, 1000));
    gmtime_r(&t, &tm);
    char buf[32];
    size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", std::string_view(buf, n), ms - floor_div(ms, 1000) * 1000);
}

// An aligned table: every column padded to its widest cell (numbers on the
// right), the last column left as it is.
struct Table {
    std::vector<bool> right;
    std::vector<std::vector<std::string>> rows;

    std::string str() const {
        std::vector<size_t> w(right.size(), 0);
        for (const auto& r : rows)
            for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
        std::string out;
        for (const auto& r : rows) {
            std::string line;
            for (size_t i = 0; i < r.size(); ++i) {
                if (i > 0) line += "  ";
                size_t pad = w[i] - width(r[i]);
                bool last = i + 1 == r.size();
                if (right[i]) line.append(pad, ' ');
                line += r[i];
                if (!right[i] && !last) line.append(pad, ' ');
            }
            while (!line.empty() && line.back() == ' ') line.pop_back();
            out += line;
            out += '\n';
        }
        return out;
    }
};

// A JSON object written field by field.
class JsonObject {
public:
    explicit JsonObject(std::string& out) : out_(out) { out_ += '{'; }
    void close() { out_ += '}'; }
    void str(std::string_view k, std::string_view v) {
        key(k);
        append_json_string(out_, v);
    }
    void str_or_null(std::string_view k, std::string_view v) {
        if (v.empty())
            null(k);
        else
            str(k, v);
    }
    void num(std::string_view k, int64_t v) {
        key(k);
        out_ += std::to_string(v);
    }
    void unum(std::string_view k, uint64_t v) {
        key(k);
        out_ += std::to_string(v);
    }
    void known(std::string_view k, int64_t v) {  // -1: null
        if (v < 0)
            null(k);
        else
            num(k, v);
    }
    void real(std::string_view k, double v) {
        key(k);
        fmt::format_to(std::back_inserter(out_), "{:.3f}", v);
    }
    void real_or_null(std::string_view k, double v) {
        if (v < 0)
            null(k);
        else
            real(k, v);
    }
    void boolean(std::string_view k, bool v) {
        key(k);
        out_ += v ? "true" : "false";
    }
    void null(std::string_view k) {
        key(k);
        out_ += "null";
    }
    // The caller writes the value (an object or array) next.
    void key(std::string_view k) {
        if (!first_) out_ += ',';
        first_ = false;
        append_json_string(out_, k);
        out_ += ':';
    }

private:
    std::string& out_;
    bool first_ = true;
};

void row_json(std::string& out, const store::LogRow& r) {
    JsonObject o(out);
    o.str("id", format_request_id(r.request_id));
    o.num("row", r.row);
    o.str("time", utc_iso_ms(r.ts_ms));
    o.num("ts_ms", r.ts_ms);
    o.str("client", r.client);
    o.str("addr", r.addr);
    o.str("method", r.method);
    o.str("path", r.path);
    o.str("operation", r.op);
    o.str_or_null("protocol", r.protocol);
    o.boolean("stream", r.stream);
    o.str("model", r.model);
    o.str("model_sent", r.model_sent);
    o.str("provider", r.provider);
    o.str("credential", r.credential);
    o.num("attempts", r.attempts);
    o.str("attempt_detail", r.attempt_detail);
    o.num("status", r.status);
    o.num("upstream_status", r.upstream_status);
    o.str("error", r.error);
    o.str("limit", r.limit);
    o.key("usage");
    {
        JsonObject u(out);
        u.known("input", r.input);
        u.known("output", r.output);
        u.known("cache_read", r.cache_read);
        u.known("cache_write", r.cache_write);
        u.known("reasoning", r.reasoning);
        u.close();
    }
    o.str("usage_state", r.usage_state);
    o.real_or_null("ttfb_ms", r.ttfb_ms);
    o.real_or_null("ttft_ms", r.ttft_ms);
    o.real("total_ms", r.total_ms);
    o.num("bytes_in", r.bytes_in);
    o.num("bytes_out", r.bytes_out);
    o.close();
}

std::string usage_key_title(store::GroupBy by) {
    switch (by) {
        case store::GroupBy::Client: return "CLIENT";
        case store::GroupBy::Model: return "MODEL";
        case store::GroupBy::Provider: return "PROVIDER";
        case store::GroupBy::Credential: return "CREDENTIAL";
        case store::GroupBy::Hour: return "HOUR";
        case store::GroupBy::Day: return "DAY";
    }
    return "KEY";
}

std::string usage_key(const store::UsageRow& r, store::GroupBy by) {
    switch (by) {
        case store::GroupBy::Hour: return local_time(r.start_s, "%Y-%m-%d %H:%M");
        case store::GroupBy::Day: return local_time(r.start_s, "%Y-%m-%d");
        case store::GroupBy::Model: return r.key.empty() ? "(unrouted)" : clean(r.key);
        default: return r.key.empty() ? "(none)" : clean(r.key);
    }
}

std::string ratio_text(uint64_t cache_read, uint64_t input) {
    if (input == 0) return "-";
    return fmt::format("{:.1f}%", 100.0 * static_cast<double>(cache_read) / static_cast<double>(input));
}

store::UsageRow total_of(const std::vector<store::UsageRow>& rows) {
    store::UsageRow t;
    for (const auto& r : rows) {
        t.requests += r.requests;
        t.errors += r.errors;
        t.input += r.input;
        t.output += r.output;
        t.cache_read += r.cache_read;
        t.cache_write += r.cache_write;
        t.reasoning += r.reasoning;
        t.total_ms += r.total_ms;
    }
    return t;
}

int64_t bucket_start(int64_t s) { return s - ((s % 3600) + 3600) % 3600; }

}  // namespace

std::optional<uint64_t> parse_request_id(std::string_view t) {
    if (t.starts_with("0x") || t.starts_with("0X")) t.remove_prefix(2);
    if (t.empty() || t.size() > 16) return std::nullopt;
    uint64_t v = 0;
    for (char c : t) {
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return std::nullopt;
        v = v << 4 | static_cast<uint64_t>(d);
    }
    return v;
}

std::string format_request_id(uint64_t id) { return fmt::format("{:016x}", id); }

Result<store::LogQuery> log_query(const CliOptions& opts, int64_t now_s) {
    store::LogQuery q;
    if (!opts.since.empty()) {
        auto since = store::parse_since(opts.since, now_s);
        if (!since) return Result<store::LogQuery>::fail(EX_USAGE, fmt::format("--since: cannot read '{}'", opts.since));
        q.since_ms = *since * 1000;
    }
    if (!opts.status.empty()) {
        auto f = store::parse_status_filter(opts.status);
        if (!f) return Result<store::LogQuery>::fail(EX_USAGE, fmt::format("--status: cannot read '{}'", opts.status));
        q.status = *f;
    }
    q.client = opts.client;
    q.model = opts.model;
    q.provider = opts.provider;
    q.limit = opts.limit;
    return q;
}

Result<store::UsageQuery> usage_query(const CliOptions& opts, int64_t now_s) {
    store::UsageQuery q;
    q.since_s = now_s - kDefaultUsageSince;
    if (!opts.since.empty()) {
        auto since = store::parse_since(opts.since, now_s);
        if (!since)
            return Result<store::UsageQuery>::fail(EX_USAGE, fmt::format("--since: cannot read '{}'", opts.since));
        q.since_s = *since;
    }
    auto by = store::parse_group_by(opts.by);
    if (!by) return Result<store::UsageQuery>::fail(EX_USAGE, fmt::format("--by: cannot read '{}'", opts.by));
    q.by = *by;
    return q;
}

std::string render_log(const std::vector<store::LogRow>& rows) {
    if (rows.empty()) return "no requests found\n";
    Table t;
    t.right = {false, false, false, true, false, false, true, true, true, true, true, false};
    t.rows.push_back({"TIME", "ID", "CLIENT", "STATUS", "MODEL", "PROVIDER", "IN", "OUT", "CACHED", "TTFT", "TOTAL",
                      "ERROR"});
    for (const auto& r : rows) {
        std::string provider = r.provider.empty() ? std::string("-")
                                                  : clean(r.credential.empty() ? r.provider
                                                                               : r.provider + "/" + r.credential);
        std::string error = clean(r.error);
        if (!r.limit.empty()) error = "limit " + clean(r.limit) + (error.empty() ? "" : ": " + error);
        t.rows.push_back({local_time(r.ts_ms / 1000, "%Y-%m-%d %H:%M:%S"), format_request_id(r.request_id),
                          fit(dash_or(r.client), 24), std::to_string(r.status), fit(dash_or(r.model), 40),
                          fit(provider, 32), count_or_dash(r.input), count_or_dash(r.output),
                          count_or_dash(r.cache_read), duration_text(r.ttft_ms), duration_text(r.total_ms),
                          fit(error, 120)});
    }
    return t.str();
}

std::string render_log_json(const std::vector<store::LogRow>& rows) {
    std::string out = "[";
    for (size_t i = 0; i < rows.size(); ++i) {
        if (i > 0) out += ",\n";
        row_json(out, rows[i]);
    }
    out += "]\n";
    return out;
}

std::string render_entry(const store::LogEntry& e, size_t others) {
    const store::LogRow& r = e.row;
    std::string out;
    auto field = [&](std::string_view label, const std::string& value) {
        fmt::format_to(std::back_inserter(out), "{:<13}{}\n", fmt::format("{}:", label), value);
    };
    field("request", fmt::format("{}", format_request_id(r.request_id)));
    field("time", fmt::format("{}.{:03} (local), {}", local_time(r.ts_ms / 1000, "%Y-%m-%d %H:%M:%S"),
                              r.ts_ms % 1000, utc_iso_ms(r.ts_ms)));
    field("client", fmt::format("{} from {}", r.client.empty() ? std::string("(none)") : clean(r.client),
                                dash_or(r.addr)));
    std::string what = fmt::format("{} {}", clean(r.method), clean(r.path));
    std::vector<std::string> how;
    if (!r.op.empty()) how.push_back(clean(r.op));
    if (!r.protocol.empty()) how.push_back(clean(r.protocol));
    if (r.stream) how.push_back("stream");
    if (!how.empty()) {
        what += " (";
        for (size_t i = 0; i < how.size(); ++i) what += (i > 0 ? ", " : "") + how[i];
        what += ")";
    }
    field("call", what);
    if (!r.model.empty() || !r.model_sent.empty()) {
        std::string model = dash_or(r.model);
        if (!r.model_sent.empty() && r.model_sent != r.model) model += ", sent as " + clean(r.model_sent);
        field("model", model);
    }
    if (!r.provider.empty())
        field("provider", clean(r.provider) + (r.credential.empty() ? "" : ", credential " + clean(r.credential)));
    if (r.attempts > 0) {
        std::string detail = clean(r.attempt_detail);
        for (size_t p = 0; (p = detail.find(',', p)) != std::string::npos; p += 2) detail.replace(p, 1, ", ");
        field("attempts", fmt::format("{}: {}", r.attempts, detail));
    }
    field("status", r.upstream_status > 0 && r.upstream_status != r.status
                        ? fmt::format("{} (upstream {})", r.status, r.upstream_status)
                        : std::to_string(r.status));
    if (!r.error.empty()) field("error", clean(r.error));
    if (!r.limit.empty()) field("limit", clean(r.limit));
    field("usage", fmt::format("input {}, output {}, cache read {}, cache write {}, reasoning {} ({})",
                               count_or_dash(r.input), count_or_dash(r.output), count_or_dash(r.cache_read),
                               count_or_dash(r.cache_write), count_or_dash(r.reasoning), dash_or(r.usage_state)));
    field("timing", fmt::format("first byte {}, first token {}, total {}", duration_text(r.ttfb_ms),
                                duration_text(r.ttft_ms), duration_text(r.total_ms)));
    field("bytes", fmt::format("{} in, {} out", r.bytes_in, r.bytes_out));
    if (e.has_bodies) {
        fmt::format_to(std::back_inserter(out), "\nrequest body{}:\n{}\n", e.request_truncated ? " (truncated)" : "",
                       clean(e.request_body, true));
        fmt::format_to(std::back_inserter(out), "\nresponse body{}:\n{}\n", e.response_truncated ? " (truncated)" : "",
                       clean(e.response_body, true));
    } else {
        out += "bodies:      not kept\n";
    }
    if (others > 0)
        fmt::format_to(std::back_inserter(out),
                       "\n(and {} older request{} with this id, from earlier runs of the daemon: "
                       "use --json to see them all)\n",
                       others, others == 1 ? "" : "s");
    return out;
}

std::string render_entry_json(const store::LogEntry& e) {
    std::string out;
    row_json(out, e.row);
    out.pop_back();  // reopen the object for the bodies
    if (e.has_bodies) {
        out += ",\"request_body\":";
        append_json_string(out, e.request_body);
        out += ",\"response_body\":";
        append_json_string(out, e.response_body);
    } else {
        out += ",\"request_body\":null,\"response_body\":null";
    }
    fmt::format_to(std::back_inserter(out), ",\"request_truncated\":{},\"response_truncated\":{}}}",
                   e.request_truncated, e.response_truncated);
    return out;
}

std::string render_usage(const std::vector<store::UsageRow>& rows, const store::UsageQuery& q) {
    std::string since = local_time(bucket_start(q.since_s), "%Y-%m-%d %H:%M");
    if (rows.empty()) return fmt::format("no requests since {} (local)\n", since);
    std::string out = fmt::format("since {} (local), by {}\n", since, store::group_by_name(q.by));
    Table t;
    t.right = {false, true, true, true, true, true, true, true, true};
    t.rows.push_back({usage_key_title(q.by), "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "CACHE_READ", "CACHE_WRITE",
                      "REASONING", "CACHE_HIT"});
    auto line = [&](std::string key, const store::UsageRow& r) {
        t.rows.push_back({fit(std::move(key), 48), std::to_string(r.requests), std::to_string(r.errors),
                          std::to_string(r.input), std::to_string(r.output), std::to_string(r.cache_read),
                          std::to_string(r.cache_write), std::to_string(r.reasoning),
                          ratio_text(r.cache_read, r.input)});
    };
    for (const auto& r : rows) line(usage_key(r, q.by), r);
    line("TOTAL", total_of(rows));
    return out + t.str();
}

std::string render_usage_json(const std::vector<store::UsageRow>& rows, const store::UsageQuery& q) {
    std::string out;
    JsonObject o(out);
    int64_t since = bucket_start(q.since_s);
    o.str("since", utc_iso_ms(since * 1000));
    o.num("since_unix", since);
    o.str("by", store::group_by_name(q.by));
    auto fields = [&](JsonObject& obj, const store::UsageRow& r) {
        obj.unum("requests", r.requests);
        obj.unum("errors", r.errors);
        obj.unum("input", r.input);
        obj.unum("output", r.output);
        obj.unum("cache_read", r.cache_read);
        obj.unum("cache_write", r.cache_write);
        obj.unum("reasoning", r.reasoning);
        obj.real("total_ms", r.total_ms);
        if (r.input > 0) {
            obj.key("cache_hit_ratio");
            fmt::format_to(std::back_inserter(out), "{:.4f}",
                           static_cast<double>(r.cache_read) / static_cast<double>(r.input));
        } else {
            obj.null("cache_hit_ratio");
        }
    };
    o.key("rows");
    out += '[';
    for (size_t i = 0; i < rows.size(); ++i) {
        if (i > 0) out += ',';
        JsonObject row(out);
        const auto& r = rows[i];
        switch (q.by) {
            case store::GroupBy::Hour:
                row.str("hour", local_time(r.start_s, "%Y-%m-%d %H:%M"));
                row.num("start", r.start_s);
                break;
            case store::GroupBy::Day:
                row.str("day", local_time(r.start_s, "%Y-%m-%d"));
                row.num("start", r.start_s);
                break;
            default: row.str(store::group_by_name(q.by), r.key); break;
        }
        fields(row, r);
        row.close();
    }
    out += ']';
    o.key("total");
    {
        JsonObject total(out);
        fields(total, total_of(rows));
        total.close();
    }
    o.close();
    out += '\n';
    return out;
}

Outcome log_outcome(const store::Reader& reader, const CliOptions& opts, int64_t now_s) {
    Outcome o;
    auto fail = [&](const Error& e) {
        o.exit_code = e.code != 0 ? e.code : 1;
        o.err = fmt::format("antigravityd: {}\n", e.message);
        return o;
    };
    if (opts.id) {
        auto found = reader.entries(*opts.id);
        if (!found) return fail(found.error());
        if (found->empty()) return fail(Error{1, fmt::format("log: no request {} in the store", format_request_id(*opts.id))});
        if (opts.json) {
            // All of them: ids repeat across runs of the daemon.
            o.out = "[";
            for (size_t i = 0; i < found->size(); ++i) o.out += (i > 0 ? ",\n" : "") + render_entry_json((*found)[i]);
            o.out += "]\n";
        } else {
            o.out = render_entry(found->front(), found->size() - 1);
        }
        if (reader.damaged() != 0)
            o.err = fmt::format("antigravityd: warning: {} damaged row(s) in the request store were skipped\n",
                                reader.damaged());
        return o;
    }
    auto q = log_query(opts, now_s);
    if (!q) return fail(q.error());
    auto rows = reader.log(*q);
    if (!rows) return fail(rows.error());
    o.out = opts.json ? render_log_json(*rows) : render_log(*rows);
    if (reader.damaged() != 0)
        o.err = fmt::format("antigravityd: warning: {} damaged row(s) in the request store were skipped\n",
                            reader.damaged());
    return o;
}

Outcome usage_outcome(const store::Reader& reader, const CliOptions& opts, int64_t now_s) {
    Outcome o;
    auto fail = [&](const Error& e) {
        o.exit_code = e.code != 0 ? e.code : 1;
        o.err = fmt::format("antigravityd: {}\n", e.message);
        return o;
    };
    auto q = usage_query(opts, now_s);
    if (!q) return fail(q.error());
    auto rows = reader.usage(*q);
    if (!rows) return fail(rows.error());
    o.out = opts.json ? render_usage_json(*rows, *q) : render_usage(*rows, *q);
    return o;
}

}  // namespace agd::daemon
