// LedgerKeeper: the credential ledger's state file, on the main thread.
// Loaded at start (before the first snapshot takes its credentials), written
// (a temporary file renamed over it, 0640) within two seconds of a change
// and at exit. A directory or file that cannot be read or written is logged
// once per kind of trouble; the ledger goes on in memory.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <string>

#include "config/config.h"

namespace agd {

class Runtime;

class LedgerKeeper {
public:
    explicit LedgerKeeper(Runtime& runtime) : runtime_(runtime) {}
    ~LedgerKeeper();  // the timer must be gone already (stop() or drop_timer())
    LedgerKeeper(const LedgerKeeper&) = delete;
    LedgerKeeper& operator=(const LedgerKeeper&) = delete;

    // Reads the state file of cfg.server.state_dir ("" = none: nothing is
    // read or written).
    void load(const config::Config& cfg);
    // Starts the timer that writes it on change.
    void start(event_base* base);
    // A reload: the new state_dir is followed from now on.
    void reconfigure(const config::Config& cfg);
    // Writes it one last time (at exit).
    void stop();
    // Writes it now (a successor is about to read it).
    void flush() { save(); }
    // A successor owns the file from now on: never written here again.
    void hand_over() {
        drop_timer();
        path_.clear();
    }
    // Frees the timer without writing (a start that failed), before the
    // event base it was made on is freed.
    void drop_timer();

    const std::string& path() const { return path_; }

private:
    static void on_tick(evutil_socket_t, short, void* arg);
    void save();

    Runtime& runtime_;
    std::string path_;
    event* timer_ = nullptr;
    uint64_t saved_changes_ = 0;
    bool warned_ = false;
};

}  // namespace agd
