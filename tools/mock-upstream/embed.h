// Embeddings: OpenAI's POST /v1/embeddings and Gemini's :embedContent and
// :batchEmbedContents. Each text gets a vector of `dimensions` values (8
// unless the request says: OpenAI `dimensions`, Gemini
// `outputDimensionality`), a function of the text alone, each value a
// multiple of 1/256 in [0, 1) so that it survives float32 exactly.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mock {

enum class EmbedApi { openai, gemini_one, gemini_batch };

// {status, body}: the answer, or the API's own 400 for a request the real
// API refuses. `model`: Gemini's, from the URL.
std::pair<int, std::string> embed_answer(EmbedApi api, const std::string& body, const std::string& model);

// The vector the mock gives `text`.
std::vector<double> embed_vector(const std::string& text, int dimensions);

}  // namespace mock
