// Sizes and counts a streamed answer may make the daemon hold, per request.
// A stream's memory is bounded by these whatever the upstream sends; a
// stream that needs more fails with the client protocol's error (never a
// fake clean end). See docs/DESIGN.md, "Stream memory".
#pragma once

#include <cstddef>

namespace agd::stream_limits {

// One upstream SSE event held until its blank line arrives (translated and
// relayed streams alike): the same bound as a whole translated answer.
inline constexpr size_t kMaxEvent = size_t{64} << 20;

// Bytes the stream codecs hold for later, per stream: tool-call arguments
// that must be sent whole (a Gemini client's functionCall, a Responses
// client's closing events) or that wait for an earlier call to finish, and
// content that waits for a tool block to close (Anthropic client).
inline constexpr size_t kMaxHeld = size_t{16} << 20;

// Text (message and reasoning) a Responses client stream repeats in its
// closing events (`*.done`, `response.output_item.done`, the `output` of
// `response.completed`). Past it the deltas still carry everything; the
// closing events carry the first kMaxKeptText bytes.
inline constexpr size_t kMaxKeptText = size_t{2} << 20;

// Tool calls, content blocks or output items one streamed answer may open.
inline constexpr size_t kMaxItems = 4096;

}  // namespace agd::stream_limits
