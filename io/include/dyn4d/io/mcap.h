#pragma once
/// \file
/// A small MCAP writer and reader (https://mcap.dev/spec), unchunked or with
/// uncompressed chunks + message indexes + chunk indexes, with data and
/// summary CRCs, a summary section (schemas, channels, statistics, chunk
/// indexes) and summary offsets. Enough to record dyn4d streams and replay them, and
/// readable by the reference readers (tests check with @mcap/core).
///
/// dyn4d messages are stored with message encoding "dyn4d-v1": the frames of
/// the multipart message (topic, header, payload parts) as
/// u32 frame count, then per frame u32 length + bytes (little-endian).

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::io {

/// The message encoding dyn4d records with.
inline constexpr const char* kDyn4dMessageEncoding = "dyn4d-v1";

class McapWriter {
 public:
  /// Writes to PATH.partial and renames it to PATH in Close(), so a crash
  /// never leaves a truncated file under the final name. Throws
  /// std::runtime_error naming the path.
  /// chunk_bytes > 0: messages go into chunks of about that size, each
  /// followed by its message indexes, with chunk indexes in the summary (what
  /// rosbag2 and indexed readers expect); 0: unchunked.
  McapWriter(const std::string& path, const std::string& profile = "",
             const std::string& library = "dyn4d", uint64_t chunk_bytes = 0);
  ~McapWriter();
  McapWriter(const McapWriter&) = delete;
  McapWriter& operator=(const McapWriter&) = delete;

  uint16_t AddSchema(const std::string& name, const std::string& encoding, const std::string& data);
  /// schema_id 0: no schema (self-describing encodings such as dyn4d-v1).
  uint16_t AddChannel(const std::string& topic, const std::string& message_encoding,
                      uint16_t schema_id = 0,
                      const std::map<std::string, std::string>& metadata = {});
  void WriteMessage(uint16_t channel_id, uint32_t sequence, uint64_t log_time_ns,
                    uint64_t publish_time_ns, const std::string& data);
  /// Encodes `message` with the wire codec and writes it as dyn4d-v1.
  void WriteDyn4d(uint16_t channel_id, const std::string& topic, const pipeline::Message& message,
                  uint64_t log_time_ns);
  /// Finishes the file (data end, summary, footer) and renames it into place.
  void Close();
  uint64_t message_count() const { return message_count_; }

 private:
  void Record(uint8_t opcode, const std::string& content, bool in_data_section);
  void FlushChunk();

  std::string path_, partial_;
  std::ofstream out_;
  bool closed_ = false;
  uint32_t data_crc_ = 0;
  uint64_t offset_ = 0;
  std::vector<std::string> schema_records_, channel_records_;
  std::map<uint16_t, uint64_t> channel_counts_;
  uint16_t next_schema_ = 1, next_channel_ = 0;
  uint64_t message_count_ = 0, start_time_ = UINT64_MAX, end_time_ = 0;
  uint64_t chunk_bytes_ = 0;
  std::string chunk_;  // the open chunk's records
  std::map<uint16_t, std::vector<std::pair<uint64_t, uint64_t>>> chunk_index_;  // time, offset
  uint64_t chunk_start_ = UINT64_MAX, chunk_end_ = 0;
  std::vector<std::string> chunk_index_records_;
};

struct McapChannel {
  uint16_t id = 0;
  std::string topic;
  std::string message_encoding;
  uint16_t schema_id = 0;
  std::string schema_name;  ///< of schema_id (e.g. sensor_msgs/msg/Image), empty without one
};

struct McapMessage {
  const McapChannel* channel = nullptr;
  uint32_t sequence = 0;
  uint64_t log_time_ns = 0, publish_time_ns = 0;
  std::string data;
};

/// Streams the messages of an unchunked MCAP file in file order. Throws
/// std::runtime_error naming the file and byte offset on malformed input.
class McapReader {
 public:
  explicit McapReader(const std::string& path);
  /// The next message, or nullopt at the end of the data section.
  std::optional<McapMessage> Next();
  const std::map<uint16_t, McapChannel>& channels() const { return channels_; }
  /// Reads the whole file once to list its channels (for replay ports).
  static std::vector<McapChannel> ListChannels(const std::string& path);

 private:
  std::string path_;
  std::ifstream in_;
  uint64_t offset_ = 0, file_size_ = 0;
  std::map<uint16_t, McapChannel> channels_;
  std::map<uint16_t, std::string> schema_names_;
  bool done_ = false;
  std::string chunk_;  // records of the chunk being read
  size_t chunk_pos_ = 0;
  uint64_t chunk_offset_ = 0;
};

/// Encodes / decodes the dyn4d-v1 message payload.
std::string PackFrames(const std::vector<pipeline::Buffer>& frames);
std::vector<pipeline::Buffer> UnpackFrames(const std::string& data);

}  // namespace dyn4d::io
