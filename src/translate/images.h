// Image generation across APIs: OpenAI's POST /v1/images/generations
// toward a Gemini image model, through generateContent with image output
// (docs/TRANSLATION.md, "Images"). The prompt becomes the user's text,
// `n` the candidate count, `size` the nearest aspect ratio Gemini knows;
// the answer's inline images come back as `b64_json` entries, in order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "translate/json_util.h"

namespace agd::translate {

struct ImageRequest {
    std::string prompt;
    int64_t n = 1;
    std::string aspect_ratio;  // Gemini imageConfig.aspectRatio ("" = the model's default)
    bool url = false;          // response_format "url": answered as data: URLs
};

struct ImageAnswer {
    struct Image {
        std::string mime;  // "image/png", ...
        std::string b64;   // as the upstream sent it (standard base64)
        std::string text;  // what the model wrote beside it, in its candidate (revised_prompt)
    };
    std::vector<Image> images;
    std::string text;          // the model's words when it drew nothing (for the error)
    int64_t input_tokens = -1;   // -1: not reported
    int64_t output_tokens = -1;
};

// OpenAI's limit of images per request.
inline constexpr int64_t kMaxImages = 10;

// The client's body; a 400 message when it cannot be read or asks for
// what the Gemini wire cannot give (a stream).
Result<ImageRequest> decode_image_request(const JsonValue& body);

// The generateContent body for a Gemini image model.
std::string encode_gemini_image_request(const ImageRequest& r);

// The nearest of Gemini's aspect ratios to a "WxH" size; "" for "auto";
// nothing (a 400) when `size` is neither.
Result<std::string> aspect_ratio_of(std::string_view size);

// Gemini's answer; a 502 message when it cannot be read or holds no image.
Result<ImageAnswer> decode_gemini_image_response(std::string_view body);

// The client's answer: {"created", "data": [{"b64_json"|"url", "revised_prompt"?}], "usage"?}.
std::string encode_image_response(const ImageRequest& r, const ImageAnswer& a, int64_t created);

}  // namespace agd::translate
