#include "daemon/accounting.h"

#include <string.h>
#include <time.h>

#include "clients/client_state.h"
#include "common/json.h"
#include "common/log.h"
#include "config/config.h"
#include "server/runtime.h"
#include "store/reader.h"
#include "store/writer.h"

namespace agd::daemon {

Accounting::Accounting(Runtime& runtime) : runtime_(runtime) {}

Accounting::~Accounting() { stop(); }

void Accounting::apply_access_log(const config::Config& cfg) {
    const std::string& where = cfg.log.access_log;
    bool file = where != "stderr" && where != "off";
    if (int err = log::set_access_file(file ? where : std::string()); err != 0) {
        log::warning("log.access_log: cannot open {}: {}; access lines go to the daemon's log", where, strerror(err));
        log::set_access_file("");
    }
}

void Accounting::seed(const config::Config& cfg, const std::vector<std::string>& names) {
    if (database_.empty() || names.empty()) return;
    auto now = static_cast<int64_t>(time(nullptr));
    clients::Calendar cal = clients::calendar_at(now);
    auto sums = store::client_tokens(database_, cal.day_start, cal.month_start);
    if (!sums) {
        log::warning("cannot read today's and this month's client usage from {}: {}; those counts start at zero",
                     database_, sums.error().message);
        return;
    }
    for (const auto& name : names) {
        auto it = sums.value().find(name);
        if (it == sums.value().end()) continue;
        bool configured = false;
        for (const auto& c : cfg.clients) configured |= c.name == name;
        if (!configured) continue;
        runtime_.clients().get(name)->seed(cal, it->second.day, it->second.month);
        log::info("client {}: {} token(s) used today, {} this month (from the request store)", name, it->second.day,
                  it->second.month);
    }
}

void Accounting::start(const config::Config& cfg, unsigned workers) {
    apply_access_log(cfg);
    if (!cfg.log.database.empty()) {
        store::WriterOptions opts;
        opts.workers = workers;
        writer_ = std::make_unique<store::Writer>(cfg.log, opts);
        if (writer_->start()) {
            database_ = cfg.log.database;
            runtime_.hook().add(writer_.get());
        } else {
            log::error("log.database: cannot start the request store's thread; no requests are stored");
            writer_.reset();
        }
    }
    runtime_.hook().add(&charge_);
    runtime_.hook().add(&access_log_);
    std::vector<std::string> names;
    for (const auto& c : cfg.clients) names.push_back(c.name);
    seed(cfg, names);
}

void Accounting::reload(const config::Config& old_cfg, const config::Config& cfg,
                        const std::vector<std::string>& new_clients) {
    if (old_cfg.log.access_log != cfg.log.access_log) apply_access_log(cfg);
    if (writer_) {
        if (std::string w = writer_->reconfigure(cfg.log); !w.empty()) log::warning("{}", w);
    } else if (!cfg.log.database.empty() && cfg.log.database != old_cfg.log.database) {
        log::warning("log.database changed: the request store opens at the next restart");
    }
    seed(cfg, new_clients);
}

void Accounting::stop() {
    if (writer_) writer_->stop();
}

std::string Accounting::status_json() const {
    if (!writer_) return "null";
    store::WriterStats s = writer_->stats();
    std::string b = "{\"database\":" + json_string(database_);
    b += ",\"ok\":";
    b += s.db_ok ? "true" : "false";
    b += ",\"written\":" + std::to_string(s.written);
    b += ",\"dropped\":" + std::to_string(s.dropped);
    b += ",\"lost\":" + std::to_string(s.lost);
    b += ",\"errors\":" + std::to_string(s.errors);
    b += ",\"bodies_dropped\":" + std::to_string(s.bodies_dropped);
    b += ",\"queue\":" + std::to_string(s.queue_depth);
    b += ",\"bytes\":" + std::to_string(s.db_bytes) + "}";
    return b;
}

uint64_t Accounting::dropped() const {
    if (!writer_) return 0;
    store::WriterStats s = writer_->stats();
    return s.dropped + s.lost;
}

}  // namespace agd::daemon
