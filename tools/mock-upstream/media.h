// Images and audio: OpenAI's POST /v1/images/generations (JSON),
// /v1/images/edits, /v1/audio/transcriptions, /v1/audio/translations
// (multipart/form-data) and /v1/audio/speech (JSON in, audio bytes out),
// and Gemini's generateContent when generationConfig.responseModalities
// asks for IMAGE. Images are one 1x1 PNG (kPngBase64); a transcription
// echoes what it was sent ("mock transcript of NAME (N bytes)"); speech is
// `size=` bytes (4096 by default) starting with "ID3". The model's
// `status=` directive answers with that error in OpenAI's (or Gemini's) form.
#pragma once

#include <string>
#include <string_view>

#include <evhtp.h>

#include "introspect.h"

namespace mock {

inline constexpr std::string_view kPngBase64 =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

enum class MediaApi { image_generation, image_edit, transcription, translation, speech };

// Serves one of OpenAI's media endpoints.
void media(evhtp_request_t* req, const RecordedRequest& in, MediaApi api);

// Gemini generateContent: true when the body asks for image output (and
// it was answered here), false to leave it to the text path.
bool gemini_image(evhtp_request_t* req, const RecordedRequest& in, const std::string& model);

}  // namespace mock
