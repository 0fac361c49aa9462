#include <doctest/doctest.h>

#include <string>

#include "config/config.h"

using namespace agd::config;

TEST_CASE("config: enum names match the config file words") {
    CHECK(std::string(to_string(ProviderType::OpenAI)) == "openai");
    CHECK(std::string(to_string(ProviderType::Anthropic)) == "anthropic");
    CHECK(std::string(to_string(ProviderType::Gemini)) == "gemini");
    CHECK(std::string(to_string(OpenAIApi::Chat)) == "chat");
    CHECK(std::string(to_string(OpenAIApi::Responses)) == "responses");
    CHECK(std::string(to_string(AuthMode::Off)) == "off");
    CHECK(std::string(to_string(AuthMode::Strict)) == "strict");
    CHECK(std::string(to_string(AuthMode::AllExceptHealth)) == "all_except_health");
    CHECK(std::string(to_string(AuthMode::Auto)) == "auto");
    CHECK(std::string(to_string(Strategy::RoundRobin)) == "round-robin");
    CHECK(std::string(to_string(Strategy::FillFirst)) == "fill-first");
    CHECK(std::string(to_string(LogLevel::Error)) == "error");
    CHECK(std::string(to_string(LogLevel::Warning)) == "warning");
    CHECK(std::string(to_string(LogLevel::Notice)) == "notice");
    CHECK(std::string(to_string(LogLevel::Info)) == "info");
    CHECK(std::string(to_string(LogLevel::Debug)) == "debug");
}
