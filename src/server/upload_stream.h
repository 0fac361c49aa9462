// UploadStream: a request body that goes upstream while it arrives (an
// audio upload longer than server.upload_buffer_size). The client's bytes
// are checked by the multipart scan as they come (pipeline/multipart.h);
// once its `model` field is whole the request is routed and the upstream
// transfer reads the body from here (upstream::BodySource), only ever bytes
// the scan has checked, the model renamed in place for the provider.
//
// Memory: until the model is known every byte is held (within
// server.max_body_size: a client that sends its file before the model, as
// curl -F does in that order, is held whole, as a buffered body would be); from
// then on what was sent is dropped and reading from the client stops while
// `buffer` bytes wait unsent (the upstream is slower than the client), so a
// 100 MB upload costs about `buffer` of memory.
//
// A retry on another credential needs the body again: it is possible only
// while no byte was dropped (`can_restart`). Bytes sent are dropped once
// `buffer / 2` of them have gone, so a body retried after a refused
// connection or an early error still has them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "pipeline/body.h"
#include "pipeline/multipart.h"
#include "upstream/client.h"

namespace agd {

class UploadStream final : public upstream::BodySource {
public:
    // Whether reading from the client should go on (`on`) or stop.
    using ReadSwitch = void (*)(void* arg, bool on);

    // `length`: the body's Content-Length. A 400 message for a Content-Type
    // without a usable boundary.
    static Result<std::unique_ptr<UploadStream>> open(std::string_view content_type, uint64_t length, size_t buffer,
                                                      ReadSwitch reading, void* arg);

    // The client's next bytes. A refusal (the scan's 400 message) is final.
    Status take(const char* data, size_t len);
    // The body has ended: the scan's last word.
    Status finish();

    bool model_known() const { return scan_.model_known(); }
    const BodyInfo& info() const { return scan_.info(); }
    uint64_t received() const { return received_; }

    // An attempt starts: the upstream body is sent from its first byte,
    // with the model field's value replaced by `model`; returns that body's
    // length. Only while can_restart().
    uint64_t begin(std::string_view model);
    bool can_restart() const { return base_ == 0; }
    // Nothing will send what is held or comes: it is dropped, and the
    // client read to its end (the request is answered meanwhile).
    void discard();
    bool discarding() const { return discard_; }

    // upstream::BodySource
    std::string_view ready() override;
    void sent(size_t n) override;
    bool rewind() override;

private:
    UploadStream(MultipartScan scan, uint64_t length, size_t buffer, ReadSwitch reading, void* arg);
    bool wants_input() const;
    void switch_reading();
    void drop_sent();

    MultipartScan scan_;
    uint64_t length_;
    size_t buffer_;
    ReadSwitch reading_;
    void* arg_;
    bool reading_on_ = true;
    bool discard_ = false;
    bool ended_ = false;     // the whole body came: reading is no longer this stream's
    std::string held_;       // the body's bytes from base_ on
    uint64_t base_ = 0;
    uint64_t received_ = 0;
    // The attempt's body: the held body up to the model's value, then
    // model_ (the provider's name for it), then the client's bytes from
    // cursor_ on; prefix_sent_ counts the first two (nothing is dropped
    // before they are sent).
    std::string model_;
    size_t prefix_sent_ = 0;
    uint64_t cursor_ = 0;
    bool begun_ = false;
};

}  // namespace agd
