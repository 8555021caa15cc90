#include "dyn4d/reasoning/openai_backend.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "dyn4d/reasoning/questions.h"

namespace dyn4d::reasoning {

std::vector<std::string> OpenAiConfig::Validate() const {
  std::vector<std::string> p;
  if (!std::regex_match(url, std::regex("https?://[^/]+(/.*)?")))
    p.push_back("url: '" + url + "' is not http(s)://host[:port][/path]");
  if (model.empty()) p.push_back("model: required");
  if (!(timeout_s > 0)) p.push_back("timeout_s: must be positive");
  if (retries < 0) p.push_back("retries: must be >= 0");
  if (!(backoff_s >= 0)) p.push_back("backoff_s: must be >= 0");
  if (max_tokens < 1) p.push_back("max_tokens: must be >= 1");
  return p;
}

struct OpenAiBackend::Impl {
  OpenAiConfig c;
  std::string origin, path;  // "http://host:port", "/v1/chat/completions"
};

OpenAiBackend::OpenAiBackend(OpenAiConfig config) : impl_(std::make_unique<Impl>()) {
  const auto problems = config.Validate();
  if (!problems.empty()) throw std::invalid_argument("OpenAiConfig: " + problems.front());
  impl_->c = std::move(config);
  std::smatch m;
  std::regex_match(impl_->c.url, m, std::regex("(https?://[^/]+)(/.*)?"));
  impl_->origin = m[1];
  std::string base = m[2];
  while (!base.empty() && base.back() == '/') base.pop_back();
  impl_->path = base + "/chat/completions";
}
OpenAiBackend::~OpenAiBackend() = default;

std::string OpenAiBackend::BuildPrompt(const std::string& map_text, const std::string& question,
                                       const std::vector<std::string>& options) {
  std::string p = map_text;
  if (!p.empty() && p.back() != '\n') p += "\n";
  p += question + "\n";
  for (const auto& o : options) p += o + "\n";
  if (!options.empty()) p += "Answer with the option's letter from the given choices directly.";
  return p;
}

LlmAnswer OpenAiBackend::Ask(const std::string& map_text, const std::string& question,
                             const std::vector<std::string>& options,
                             const std::vector<std::string>& images) {
  const Impl& s = *impl_;
  nlohmann::json body = {
      {"model", s.c.model},
      {"temperature", 0},
      {"max_tokens", s.c.max_tokens},
      {"messages",
       {{{"role", "system"},
         {"content",
          "You answer questions about a video from its spatio-temporal cognitive map: objects, "
          "their positions over time, motion, relations, events and the camera's motion."}},
        {{"role", "user"}, {"content", BuildPrompt(map_text, question, options)}}}}};
  if (!images.empty()) {  // multimodal: the text part, then the key frames
    nlohmann::json parts = nlohmann::json::array();
    parts.push_back({{"type", "text"}, {"text", BuildPrompt(map_text, question, options)}});
    for (const auto& url : images)
      parts.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
    body["messages"][1]["content"] = std::move(parts);
  }
  httplib::Headers headers;
  if (const char* key = std::getenv(s.c.api_key_env.c_str()); key && *key)
    headers.emplace("Authorization", std::string("Bearer ") + key);
  const std::string where = s.origin + s.path;
  double wait = s.c.backoff_s;
  std::string last_error;
  for (int attempt = 1; attempt <= s.c.retries + 1; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(std::chrono::duration<double>(wait));
      wait *= 2;
    }
    httplib::Client client(s.origin);
    const auto secs = static_cast<time_t>(s.c.timeout_s);
    const auto usecs = static_cast<time_t>((s.c.timeout_s - secs) * 1e6);
    client.set_connection_timeout(secs, usecs);
    client.set_read_timeout(secs, usecs);
    client.set_write_timeout(secs, usecs);
    const auto res = client.Post(s.path, headers, body.dump(), "application/json");
    if (!res) {
      last_error = where + ": " + httplib::to_string(res.error()) + " (attempt " +
                   std::to_string(attempt) + ")";
      continue;  // connection failure or timeout: retry
    }
    if (res->status >= 500 || res->status == 429) {
      last_error =
          where + ": HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 200);
      continue;
    }
    if (res->status != 200)
      throw BackendError(where + ": HTTP " + std::to_string(res->status) + ": " +
                         res->body.substr(0, 200));
    std::string reply;
    try {
      const auto j = nlohmann::json::parse(res->body);
      reply = j.at("choices").at(0).at("message").at("content").get<std::string>();
    } catch (const std::exception& e) {
      throw BackendError(where + ": unparsable reply (" + std::string(e.what()) +
                         "): " + res->body.substr(0, 200));
    }
    LlmAnswer a;
    a.reply = reply;
    a.attempts = attempt;
    if (!options.empty()) {
      a.answer = FirstWordLetter(reply);
    } else {
      a.answer = reply.substr(0, reply.find('\n'));
    }
    return a;
  }
  throw BackendError("no answer after " + std::to_string(s.c.retries + 1) +
                     " attempts; last: " + last_error);
}

}  // namespace dyn4d::reasoning
