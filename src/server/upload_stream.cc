#include "server/upload_stream.h"

#include <algorithm>
#include <utility>

namespace agd {

namespace {

// Sent bytes are dropped in steps of at least this much (each drop moves
// what is held to the front).
constexpr size_t kMinDrop = 64 * 1024;

}  // namespace

Result<std::unique_ptr<UploadStream>> UploadStream::open(std::string_view content_type, uint64_t length,
                                                         size_t buffer, ReadSwitch reading, void* arg) {
    Result<MultipartScan> scan = MultipartScan::open(content_type);
    if (!scan) return scan.error();
    return std::unique_ptr<UploadStream>(new UploadStream(std::move(scan.value()), length, buffer, reading, arg));
}

UploadStream::UploadStream(MultipartScan scan, uint64_t length, size_t buffer, ReadSwitch reading, void* arg)
    : scan_(std::move(scan)), length_(length), buffer_(std::max<size_t>(buffer, 1)), reading_(reading), arg_(arg) {}

Status UploadStream::take(const char* data, size_t len) {
    received_ += len;
    if (discard_) return {};
    held_.append(data, len);
    Status st = scan_.advance(held_, base_, false);
    switch_reading();
    return st;
}

Status UploadStream::finish() {
    ended_ = true;
    switch_reading();  // the client's next request is read as usual
    if (discard_) return {};
    return scan_.advance(held_, base_, true);
}

uint64_t UploadStream::begin(std::string_view model) {
    const BodyInfo& b = info();
    begun_ = true;
    model_.assign(model);
    prefix_sent_ = 0;
    cursor_ = b.model_end;
    switch_reading();
    return length_ - (b.model_end - b.model_begin) + model.size();
}

bool UploadStream::rewind() {
    if (!can_restart() || !begun_) return false;
    prefix_sent_ = 0;
    cursor_ = info().model_end;
    return true;
}

void UploadStream::discard() {
    discard_ = true;
    std::string().swap(held_);
    std::string().swap(model_);
    base_ = cursor_ = received_;
    switch_reading();
}

std::string_view UploadStream::ready() {
    if (!begun_ || discard_) return {};
    size_t head = info().model_begin;  // held from offset 0 until the prefix is sent (base_ is 0)
    if (prefix_sent_ < head) return std::string_view(held_).substr(prefix_sent_, head - prefix_sent_);
    if (prefix_sent_ < head + model_.size()) return std::string_view(model_).substr(prefix_sent_ - head);
    uint64_t checked = scan_.checked();
    if (cursor_ >= checked) return {};
    return std::string_view(held_).substr(cursor_ - base_, checked - cursor_);
}

void UploadStream::sent(size_t n) {
    if (prefix_sent_ < info().model_begin + model_.size()) {
        prefix_sent_ += n;  // ready() gave a piece of the prefix alone
        return;
    }
    cursor_ += n;
    drop_sent();
    switch_reading();
}

void UploadStream::drop_sent() {
    size_t gone = cursor_ - base_;
    if (gone < std::max(buffer_ / 2, kMinDrop)) return;
    held_.erase(0, gone);
    base_ = cursor_;
}

bool UploadStream::wants_input() const {
    // Until the model is known the request cannot go anywhere: the body is
    // read (within server.max_body_size, like any body).
    // What waits to be sent is what the scan has cleared: the bytes it
    // still holds back (a header block, a delimiter's first bytes, at most
    // some KiB) need more input to be cleared, so they never stop reading.
    uint64_t checked = scan_.checked();
    return ended_ || discard_ || !scan_.model_known() || checked <= cursor_ || checked - cursor_ < buffer_;
}

void UploadStream::switch_reading() {
    bool want = wants_input();
    if (want == reading_on_) return;
    reading_on_ = want;
    if (reading_) reading_(arg_, want);
}

}  // namespace agd
