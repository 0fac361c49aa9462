// The completion hook: one place where a finished request's record is
// handed to every consumer (access log, store, metrics, limits).
//
// Consumers are registered before the workers start and live until they
// stop (the hook does not own them). complete() runs on the worker that
// served the request, once per request; a consumer must not block (no I/O,
// no lock held across I/O) and must copy what it keeps.
#pragma once

#include <vector>

#include "record/record.h"

namespace agd::record {

class Consumer {
public:
    virtual ~Consumer() = default;
    // Whether this consumer has anything to do with requests served under
    // `cfg` (the access log when it is off, the client charge without
    // clients: no). When none wants it, no record is built.
    virtual bool wants(const config::Config& /*cfg*/) const { return true; }
    virtual void on_complete(const RequestRecord& rec) = 0;
};

class Hook {
public:
    void add(Consumer* c) { consumers_.push_back(c); }
    bool wanted(const config::Config& cfg) const {
        for (const Consumer* c : consumers_)
            if (c->wants(cfg)) return true;
        return false;
    }
    // rec.config is set.
    void complete(const RequestRecord& rec) const {
        for (Consumer* c : consumers_)
            if (c->wants(*rec.config)) c->on_complete(rec);
    }
    bool empty() const { return consumers_.empty(); }

private:
    std::vector<Consumer*> consumers_;
};

}  // namespace agd::record
