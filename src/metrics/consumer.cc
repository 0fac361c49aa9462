#include "metrics/consumer.h"

#include "record/record.h"

namespace agd::metrics {

Consumer::Consumer(unsigned workers) {
    shards_.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) shards_.push_back(std::make_unique<Shard>());
}

void Consumer::on_complete(const record::RequestRecord& rec) {
    if (rec.worker < shards_.size()) shards_[rec.worker]->add(rec);
}

}  // namespace agd::metrics
