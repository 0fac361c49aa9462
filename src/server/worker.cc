#include "server/worker.h"

namespace agd {

namespace {
thread_local Worker* t_current = nullptr;
}

Worker::Worker(unsigned index, event_base* base, Runtime& runtime)
    : index_(index), base_(base), runtime_(runtime), upstream_(std::make_unique<upstream::Client>(base)), linger_(base), mailbox_(base) {}

Worker::~Worker() = default;

Worker* Worker::current() { return t_current; }
void Worker::set_current(Worker* w) { t_current = w; }

}  // namespace agd
