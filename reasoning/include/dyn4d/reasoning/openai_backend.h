#pragma once
/// \file
/// An MLLM reasoning backend over any OpenAI-compatible chat-completions
/// endpoint (llama.cpp server, vLLM, Ollama, hosted APIs). The prompt is the
/// cognitive map's text, the question, its options and Dyn-Bench's
/// instruction; the answer is the reply's first word (the option letter) as
/// Dyn-Bench scores it. HTTP stays inside the .cc file (cpp-httplib).
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dyn4d::reasoning {

struct OpenAiConfig {
  /// Base URL; requests go to URL + "/chat/completions" (http or https).
  std::string url = "http://127.0.0.1:8080/v1";
  std::string model = "default";
  /// Environment variable holding the API key; unset or empty: no
  /// Authorization header (local servers).
  std::string api_key_env = "OPENAI_API_KEY";
  double timeout_s = 60;   ///< per attempt (connect, read, write)
  int retries = 2;         ///< further attempts after a timeout, a 5xx or a 429
  double backoff_s = 0.5;  ///< wait before the first retry; doubles each time
  int max_tokens = 32;
  std::vector<std::string> Validate() const;
};

/// HTTP failures, timeouts and unparsable replies; the message names the
/// URL, the status and an excerpt of the body.
class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LlmAnswer {
  std::string answer;  ///< the option letter (multiple choice) or the reply's first line
  std::string reply;   ///< the model's whole reply
  int attempts = 0;
};

class OpenAiBackend {
 public:
  explicit OpenAiBackend(OpenAiConfig config);
  ~OpenAiBackend();
  /// Throws BackendError once every attempt failed.
  /// `images`: data or http(s) URLs of key frames, sent as image parts of
  /// the user message after the text (for vision models); may be empty.
  LlmAnswer Ask(const std::string& map_text, const std::string& question,
                const std::vector<std::string>& options,
                const std::vector<std::string>& images = {});
  /// The user message: map text, question, options, and (with options)
  /// "Answer with the option's letter from the given choices directly."
  static std::string BuildPrompt(const std::string& map_text, const std::string& question,
                                 const std::vector<std::string>& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::reasoning
