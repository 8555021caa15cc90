#pragma once
/// \file
/// Wire encoding of messages: frame 0 topic, frame 1 a msgpack header, then raw
/// payload frames (image and cloud bytes, never re-encoded). Independent of
/// ZeroMQ so it can be fuzzed and unit-tested alone. Format: docs/PROTOCOL.md.

#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::pipeline {

/// A message as the frames of one multipart ZeroMQ message.
struct WireMessage {
  std::string topic;
  std::vector<uint8_t> header;  ///< msgpack map
  std::vector<Buffer> payload;  ///< raw parts, shared with the message (no copy)
};

/// Encodes `msg` for `topic`. Never fails for a well-formed message; throws
/// std::invalid_argument if an image buffer does not match its declared size.
WireMessage Encode(const std::string& topic, const Message& msg);

struct DecodeResult {
  enum class Status { kOk, kMalformed, kTruncated, kWrongVersion, kUnknownType };
  Status status = Status::kMalformed;
  std::string error;  ///< why it was rejected; empty when kOk
  std::string topic;
  Message message;  ///< valid only when status == kOk

  bool ok() const { return status == Status::kOk; }
};
std::string ToString(DecodeResult::Status s);

/// Decodes the frames [topic, header, payload...]. Never throws; every
/// rejection names what was wrong. Payload buffers are shared, not copied.
DecodeResult Decode(const std::vector<Buffer>& frames);

/// Standard base64 (RFC 4648, with padding): JPEG data URLs for MLLM
/// requests and the run report.
std::string Base64(const void* data, size_t size);

}  // namespace dyn4d::pipeline
