// Usage: the tokens one answer cost, normalized across the four wire
// protocols. -1 means the answer did not say.
//
// input counts every input token, cache reads and writes included (OpenAI
// and Gemini report it so; Anthropic's input_tokens leaves the cache out and
// is added up). output counts every output token, reasoning included
// (Gemini's candidatesTokenCount leaves thoughts out and is added up).
// cache_read, cache_write and reasoning are the parts of those the upstream
// named.
#pragma once

#include <cstdint>

namespace agd::record {

struct Usage {
    int64_t input = -1;
    int64_t output = -1;
    int64_t cache_read = -1;
    int64_t cache_write = -1;
    int64_t reasoning = -1;

    bool known() const { return input >= 0 || output >= 0; }
    // input + output, the figure token limits count (unknown parts as 0).
    int64_t total() const { return (input > 0 ? input : 0) + (output > 0 ? output : 0); }
};

// How the usage of an answer was found.
enum class UsageState : uint8_t {
    None,      // no usage to expect: a local answer, an error, a request never sent upstream
    Reported,  // the upstream's complete answer said
    Missing,   // a complete answer that carried no usage
    Cut,       // the answer ended early (a failed stream, the client left): the figures are what it had sent
    Estimated, // the upstream reports none for this kind of call (Gemini's embeddings): the daemon's
               // estimate of the input (its text's bytes / 4)
};

const char* usage_state_name(UsageState s);  // "none", "reported", "missing", "cut", "estimated"

}  // namespace agd::record
