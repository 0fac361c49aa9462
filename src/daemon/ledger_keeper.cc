// The ledger's state file (daemon/ledger_keeper.h).
#include "daemon/ledger_keeper.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fingerprint.h"
#include "common/log.h"
#include "credentials/ledger.h"
#include "credentials/ledger_file.h"
#include "daemon/parent_dir.h"
#include "daemon/state_file.h"
#include "server/runtime.h"

namespace agd {

namespace {

std::string file_in(const std::string& dir) { return dir.empty() ? std::string() : dir + "/" + credentials::kLedgerFileName; }

}  // namespace

LedgerKeeper::~LedgerKeeper() { drop_timer(); }

void LedgerKeeper::drop_timer() {
    if (timer_) {
        event_free(timer_);
        timer_ = nullptr;
    }
}

void LedgerKeeper::load(const config::Config& cfg) {
    path_ = file_in(cfg.server.state_dir);
    if (path_.empty()) return;
    std::string body;
    if (!daemon::read_small_file(path_, body, credentials::kMaxLedgerFile)) {
        if (errno != ENOENT)
            log::warning("credential ledger {}: cannot read it ({}); starting without the cooldowns it held", path_,
                         std::strerror(errno));
        return;
    }
    auto& ledger = runtime_.ledger();
    std::unordered_set<std::string> configured;
    for (const auto& p : cfg.providers)
    {
        for (const auto& k : p.keys) configured.insert(credentials::Ledger::id(p.name, fingerprint(k)));
        for (const auto& f : p.token_files) configured.insert(credentials::Ledger::id(p.name, fingerprint(f)));
    }
    auto restored =
        credentials::load_ledger_json(ledger, body, credentials::steady_ms(), credentials::wall_ms(), &configured);
    if (!restored) {
        log::warning("credential ledger {}: {}; starting without the cooldowns it held", path_, restored.error().message);
        return;
    }
    saved_changes_ = ledger.changes();
    if (*restored > 0) log::info("credential ledger {}: {} credential(s) resting or out, as before", path_, *restored);
}

void LedgerKeeper::start(event_base* base) {
    if (timer_) return;
    timer_ = event_new(base, -1, EV_PERSIST, &LedgerKeeper::on_tick, this);
    timeval every{2, 0};
    if (timer_ == nullptr || event_add(timer_, &every) != 0)
        log::warning("credential ledger: cannot start its timer; it is written at exit only");
}

void LedgerKeeper::reconfigure(const config::Config& cfg) {
    std::string next = file_in(cfg.server.state_dir);
    if (next == path_) return;
    path_ = next;
    warned_ = false;
    saved_changes_ = runtime_.ledger().changes() - 1;  // written at the next tick where it now goes
}

void LedgerKeeper::stop() {
    drop_timer();
    save();
}

void LedgerKeeper::on_tick(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<LedgerKeeper*>(arg);
    if (self->runtime_.ledger().changes() != self->saved_changes_) self->save();
}

void LedgerKeeper::save() {
    if (path_.empty()) return;
    auto& ledger = runtime_.ledger();
    uint64_t changes = ledger.changes();
    std::string body = credentials::ledger_json(ledger, credentials::steady_ms(), credentials::wall_ms());
    if (Status st = daemon::write_file_atomic(path_, body, 0640); !st) {
        if (!warned_) {
            log::warning("credential ledger {}: {}; cooldowns are kept in memory only", path_, st.error().message);
            warned_ = true;
        }
        return;
    }
    if (warned_) log::notice("credential ledger {}: written again", path_);
    warned_ = false;
    saved_changes_ = changes;
}

}  // namespace agd
