// The metrics consumer of the completion hook (record/hook.h): counts each
// finished request in the shard of the worker that served it. No lock, no
// atomic, no allocation once a request's series exist (see shard.h).
#pragma once

#include <memory>
#include <vector>

#include "metrics/shard.h"
#include "record/hook.h"

namespace agd::metrics {

class Consumer final : public record::Consumer {
public:
    // One shard per worker; `workers` must be the number of workers the
    // hook's records come from (rec.worker < workers; others are ignored).
    explicit Consumer(unsigned workers);

    // On worker rec.worker's thread.
    void on_complete(const record::RequestRecord& rec) override;

    unsigned shards() const { return static_cast<unsigned>(shards_.size()); }
    // Shard i: touched by worker i's thread only (read it there, e.g. from
    // a message posted to that worker's mailbox).
    Shard& shard(unsigned i) { return *shards_[i]; }

private:
    std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace agd::metrics
