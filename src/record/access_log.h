// The access log: one line per finished request, a consumer of the
// completion hook. [log] access_log says where: "stderr" (Info lines of the
// daemon's log), "off", or a file of its own (log::set_access_file, set by
// the daemon at start and on reload, reopened on SIGUSR1).
//
//   access id=0001000000000003 addr=127.0.0.1 client=team-a method=POST
//     path=/v1/messages status=200 proto=anthropic model=claude-x
//     model_sent=claude-x provider=main cred=1a2b3c4d attempts=1
//     upstream_status=200 bytes_in=312 bytes_out=2048 ttfb_ms=41.2
//     ttft_ms=41.9 total_ms=380.0 in=120 out=33 cache_read=0 cache_write=-
//     reasoning=- usage=reported
// Values are bare when safe, quoted (with \" and \\) otherwise; "-" is none.
#pragma once

#include <string>

#include "record/hook.h"

namespace agd::record {

// The line for a record (without the logger's timestamp).
std::string access_line(const RequestRecord& rec);

class AccessLog final : public Consumer {
public:
    bool wants(const config::Config& cfg) const override;
    void on_complete(const RequestRecord& rec) override;
};

}  // namespace agd::record
