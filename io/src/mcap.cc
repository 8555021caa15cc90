#include "dyn4d/io/mcap.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "dyn4d/pipeline/codec.h"
#include "source_internal.h"

namespace dyn4d::io {
namespace {

constexpr char kMagic[8] = {'\x89', 'M', 'C', 'A', 'P', '0', '\r', '\n'};
enum Opcode : uint8_t {
  kHeader = 0x01,
  kFooter = 0x02,
  kSchema = 0x03,
  kChannel = 0x04,
  kMessage = 0x05,
  kChunk = 0x06,
  kMessageIndex = 0x07,
  kChunkIndex = 0x08,
  kStatistics = 0x0B,
  kSummaryOffset = 0x0E,
  kDataEnd = 0x0F,
};

// Little-endian field writers.
void PutU8(std::string& s, uint8_t v) { s.push_back(static_cast<char>(v)); }
void PutU16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
void PutU32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
void PutString(std::string& s, const std::string& v) {
  PutU32(s, static_cast<uint32_t>(v.size()));
  s += v;
}
void PutStringMap(std::string& s, const std::map<std::string, std::string>& m) {
  std::string body;
  for (const auto& [k, v] : m) PutString(body, k), PutString(body, v);
  PutString(s, body);  // a map is its byte length, then the entries
}

uint32_t Crc(uint32_t crc, const std::string& bytes) {
  return static_cast<uint32_t>(
      crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// Bounds-checked little-endian reader over one record's content.
class Cursor {
 public:
  Cursor(const std::string& s, const std::string& where) : s_(s), where_(where) {}
  template <typename T>
  T Get() {
    Need(sizeof(T));
    T v;
    std::memcpy(&v, s_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string String() {
    const uint32_t n = Get<uint32_t>();
    Need(n);
    std::string v = s_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::string Rest() { return s_.substr(pos_); }

 private:
  void Need(size_t n) const {
    if (pos_ + n > s_.size()) throw std::runtime_error(where_ + ": record shorter than its fields");
  }
  const std::string& s_;
  std::string where_;
  size_t pos_ = 0;
};

}  // namespace

// ---- writer ---------------------------------------------------------------------

McapWriter::McapWriter(const std::string& path, const std::string& profile,
                       const std::string& library, uint64_t chunk_bytes)
    : path_(path), partial_(path + ".partial"), chunk_bytes_(chunk_bytes) {
  out_.open(partial_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot open '" + partial_ + "' for writing");
  const std::string magic(kMagic, 8);
  out_.write(magic.data(), 8);
  data_crc_ = Crc(0, magic);
  offset_ = 8;
  std::string header;
  PutString(header, profile);
  PutString(header, library);
  Record(kHeader, header, true);
}

McapWriter::~McapWriter() {
  if (!closed_) {
    try {
      Close();
    } catch (...) {
      // Destructors must not throw; the .partial file stays for inspection.
    }
  }
}

void McapWriter::Record(uint8_t opcode, const std::string& content, bool in_data_section) {
  std::string head;
  PutU8(head, opcode);
  PutU64(head, content.size());
  out_.write(head.data(), static_cast<std::streamsize>(head.size()));
  out_.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out_) throw std::runtime_error("write to '" + partial_ + "' failed (disk full?)");
  if (in_data_section) data_crc_ = Crc(Crc(data_crc_, head), content);
  offset_ += head.size() + content.size();
}

uint16_t McapWriter::AddSchema(const std::string& name, const std::string& encoding,
                               const std::string& data) {
  const uint16_t id = next_schema_++;
  std::string r;
  PutU16(r, id);
  PutString(r, name);
  PutString(r, encoding);
  PutString(r, data);
  Record(kSchema, r, true);
  schema_records_.push_back(r);
  return id;
}

uint16_t McapWriter::AddChannel(const std::string& topic, const std::string& message_encoding,
                                uint16_t schema_id,
                                const std::map<std::string, std::string>& metadata) {
  const uint16_t id = next_channel_++;
  std::string r;
  PutU16(r, id);
  PutU16(r, schema_id);
  PutString(r, topic);
  PutString(r, message_encoding);
  PutStringMap(r, metadata);
  Record(kChannel, r, true);
  channel_records_.push_back(r);
  channel_counts_[id] = 0;
  return id;
}

void McapWriter::WriteMessage(uint16_t channel_id, uint32_t sequence, uint64_t log_time_ns,
                              uint64_t publish_time_ns, const std::string& data) {
  if (!channel_counts_.count(channel_id))
    throw std::invalid_argument("MCAP: message on unknown channel " + std::to_string(channel_id));
  std::string r;
  r.reserve(22 + data.size());
  PutU16(r, channel_id);
  PutU32(r, sequence);
  PutU64(r, log_time_ns);
  PutU64(r, publish_time_ns);
  r += data;
  if (chunk_bytes_ > 0) {
    // Into the open chunk; its message index remembers where.
    chunk_index_[channel_id].push_back({log_time_ns, chunk_.size()});
    PutU8(chunk_, kMessage);
    PutU64(chunk_, r.size());
    chunk_ += r;
    chunk_start_ = std::min(chunk_start_, log_time_ns);
    chunk_end_ = std::max(chunk_end_, log_time_ns);
    if (chunk_.size() >= chunk_bytes_) FlushChunk();
  } else {
    Record(kMessage, r, true);
  }
  ++channel_counts_[channel_id];
  ++message_count_;
  start_time_ = std::min(start_time_, log_time_ns);
  end_time_ = std::max(end_time_, log_time_ns);
}

void McapWriter::WriteDyn4d(uint16_t channel_id, const std::string& topic,
                            const pipeline::Message& message, uint64_t log_time_ns) {
  pipeline::WireMessage w = pipeline::Encode(topic, message);
  std::vector<pipeline::Buffer> frames = {
      pipeline::Buffer::CopyOf(w.topic),
      pipeline::Buffer::CopyOf(w.header.data(), w.header.size())};
  frames.insert(frames.end(), w.payload.begin(), w.payload.end());
  const uint64_t stamp =
      static_cast<uint64_t>(std::max<int64_t>(0, pipeline::Meta(message).stamp_ns));
  WriteMessage(channel_id, static_cast<uint32_t>(pipeline::Meta(message).seq), log_time_ns, stamp,
               PackFrames(frames));
}

void McapWriter::FlushChunk() {
  if (chunk_.empty()) return;
  const uint64_t chunk_start_offset = offset_;
  std::string content;
  PutU64(content, chunk_start_);
  PutU64(content, chunk_end_);
  PutU64(content, chunk_.size());
  PutU32(content, Crc(0, chunk_));
  PutString(content, "");  // uncompressed (Debian has no MCAP library; zstd would need one)
  PutU64(content, chunk_.size());
  content += chunk_;
  Record(kChunk, content, true);
  const uint64_t chunk_length = offset_ - chunk_start_offset;
  std::map<uint16_t, uint64_t> index_offsets;
  for (const auto& [channel, entries] : chunk_index_) {
    index_offsets[channel] = offset_;
    std::string r;
    PutU16(r, channel);
    PutU32(r, static_cast<uint32_t>(entries.size() * 16));
    for (const auto& [time, at] : entries) PutU64(r, time), PutU64(r, at);
    Record(kMessageIndex, r, true);
  }
  std::string index;
  PutU64(index, chunk_start_);
  PutU64(index, chunk_end_);
  PutU64(index, chunk_start_offset);
  PutU64(index, chunk_length);
  PutU32(index, static_cast<uint32_t>(index_offsets.size() * 10));
  for (const auto& [channel, at] : index_offsets) PutU16(index, channel), PutU64(index, at);
  PutU64(index, offset_ - chunk_start_offset - chunk_length);
  PutString(index, "");
  PutU64(index, chunk_.size());
  PutU64(index, chunk_.size());
  chunk_index_records_.push_back(index);
  chunk_.clear();
  chunk_index_.clear();
  chunk_start_ = UINT64_MAX, chunk_end_ = 0;
}

void McapWriter::Close() {
  if (closed_) return;
  closed_ = true;
  FlushChunk();
  std::string data_end;
  PutU32(data_end, data_crc_);
  Record(kDataEnd, data_end, false);

  // Summary: schemas, channels, statistics; then one offset per group.
  const uint64_t summary_start = offset_;
  uint32_t summary_crc = 0;
  struct Group {
    uint8_t opcode;
    uint64_t start, length;
  };
  std::vector<Group> groups;
  auto write_group = [&](uint8_t opcode, const std::vector<std::string>& records) {
    if (records.empty()) return;
    const uint64_t start = offset_;
    for (const std::string& r : records) {
      std::string head;
      PutU8(head, opcode);
      PutU64(head, r.size());
      summary_crc = Crc(Crc(summary_crc, head), r);
      Record(opcode, r, false);
    }
    groups.push_back({opcode, start, offset_ - start});
  };
  write_group(kSchema, schema_records_);
  write_group(kChannel, channel_records_);
  std::string stats;
  PutU64(stats, message_count_);
  PutU16(stats, static_cast<uint16_t>(schema_records_.size()));
  PutU32(stats, static_cast<uint32_t>(channel_records_.size()));
  PutU32(stats, 0);  // attachments
  PutU32(stats, 0);  // metadata
  PutU32(stats, static_cast<uint32_t>(chunk_index_records_.size()));
  PutU64(stats, message_count_ ? start_time_ : 0);
  PutU64(stats, end_time_);
  std::string counts;
  for (const auto& [id, n] : channel_counts_) PutU16(counts, id), PutU64(counts, n);
  PutString(stats, counts);
  write_group(kStatistics, {stats});
  write_group(kChunkIndex, chunk_index_records_);

  const uint64_t summary_offset_start = offset_;
  std::vector<std::string> offsets;
  for (const Group& g : groups) {
    std::string r;
    PutU8(r, g.opcode);
    PutU64(r, g.start);
    PutU64(r, g.length);
    offsets.push_back(r);
  }
  for (const std::string& r : offsets) {
    std::string head;
    PutU8(head, kSummaryOffset);
    PutU64(head, r.size());
    summary_crc = Crc(Crc(summary_crc, head), r);
    Record(kSummaryOffset, r, false);
  }
  // The summary CRC runs up to and including the footer's summary_offset_start.
  std::string footer_head;
  PutU8(footer_head, kFooter);
  PutU64(footer_head, 8 + 8 + 4);
  std::string footer_fields;
  PutU64(footer_fields, summary_start);
  PutU64(footer_fields, summary_offset_start);
  summary_crc = Crc(Crc(summary_crc, footer_head), footer_fields);
  std::string footer = footer_fields;
  PutU32(footer, summary_crc);
  Record(kFooter, footer, false);
  out_.write(kMagic, 8);
  out_.close();
  if (!out_) throw std::runtime_error("write to '" + partial_ + "' failed (disk full?)");
  std::filesystem::rename(partial_, path_);
}

std::string PackFrames(const std::vector<pipeline::Buffer>& frames) {
  std::string out;
  size_t total = 4;
  for (const auto& f : frames) total += 4 + f.size();
  out.reserve(total);
  PutU32(out, static_cast<uint32_t>(frames.size()));
  for (const auto& f : frames) {
    PutU32(out, static_cast<uint32_t>(f.size()));
    out.append(reinterpret_cast<const char*>(f.data()), f.size());
  }
  return out;
}

std::vector<pipeline::Buffer> UnpackFrames(const std::string& data) {
  Cursor c(data, "dyn4d-v1 payload");
  const uint32_t n = c.Get<uint32_t>();
  if (n > 4096)
    throw std::runtime_error("dyn4d-v1 payload: implausible frame count " + std::to_string(n));
  std::vector<pipeline::Buffer> frames;
  for (uint32_t i = 0; i < n; ++i) frames.push_back(pipeline::Buffer::CopyOf(c.String()));
  return frames;
}

// ---- reader ---------------------------------------------------------------------

McapReader::McapReader(const std::string& path) : path_(path), in_(path, std::ios::binary) {
  if (!in_) throw std::runtime_error("cannot open recording '" + path + "'");
  char magic[8];
  in_.read(magic, 8);
  if (!in_ || std::memcmp(magic, kMagic, 8) != 0)
    throw std::runtime_error("'" + path + "' is not an MCAP file (bad magic)");
  offset_ = 8;
  std::error_code ec;
  file_size_ = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("cannot read the size of '" + path + "': " + ec.message());
}

std::optional<McapMessage> McapReader::Next() {
  while (!done_ || chunk_pos_ < chunk_.size()) {
    uint8_t opcode;
    uint64_t length;
    std::string where, content;
    if (chunk_pos_ < chunk_.size()) {  // the records inside the current chunk first
      where = "'" + path_ + "' chunk at byte " + std::to_string(chunk_offset_) + ", record at " +
              std::to_string(chunk_pos_);
      if (chunk_.size() - chunk_pos_ < 9) throw std::runtime_error(where + ": truncated");
      opcode = static_cast<uint8_t>(chunk_[chunk_pos_]);
      std::memcpy(&length, chunk_.data() + chunk_pos_ + 1, 8);
      if (length > chunk_.size() - chunk_pos_ - 9)
        throw std::runtime_error(where + ": record longer than its chunk");
      content = chunk_.substr(chunk_pos_ + 9, length);
      chunk_pos_ += 9 + length;
    } else {
      where = "'" + path_ + "' at byte " + std::to_string(offset_);
      in_.read(reinterpret_cast<char*>(&opcode), 1);
      in_.read(reinterpret_cast<char*>(&length), 8);
      if (!in_) throw std::runtime_error(where + ": truncated (no Data End record)");
      // A damaged length must not make us allocate (and zero) gigabytes.
      if (length > file_size_ - std::min(file_size_, offset_ + 9))
        throw std::runtime_error(where + ": truncated record (" + std::to_string(length) +
                                 " bytes said, the file ends before)");
      content.assign(length, '\0');
      in_.read(content.data(), static_cast<std::streamsize>(length));
      if (!in_) throw std::runtime_error(where + ": truncated record");
      offset_ += 9 + length;
    }
    Cursor c(content, where);
    switch (opcode) {
      case kSchema: {
        const uint16_t id = c.Get<uint16_t>();
        schema_names_[id] = c.String();
        break;
      }
      case kChannel: {
        McapChannel ch;
        ch.id = c.Get<uint16_t>();
        ch.schema_id = c.Get<uint16_t>();
        ch.topic = c.String();
        ch.message_encoding = c.String();
        if (auto it = schema_names_.find(ch.schema_id); it != schema_names_.end())
          ch.schema_name = it->second;
        channels_[ch.id] = ch;
        break;
      }
      case kMessage: {
        McapMessage m;
        const uint16_t id = c.Get<uint16_t>();
        auto it = channels_.find(id);
        if (it == channels_.end())
          throw std::runtime_error(where + ": message on undeclared channel " + std::to_string(id));
        m.channel = &it->second;
        m.sequence = c.Get<uint32_t>();
        m.log_time_ns = c.Get<uint64_t>();
        m.publish_time_ns = c.Get<uint64_t>();
        m.data = c.Rest();
        return m;
      }
      case kChunk: {
        c.Get<uint64_t>(), c.Get<uint64_t>();  // message start and end time
        const uint64_t uncompressed = c.Get<uint64_t>();
        const uint32_t crc = c.Get<uint32_t>();
        const std::string compression = c.String();
        if (!compression.empty())
          throw std::runtime_error(where + ": chunk compressed with " + compression +
                                   " (dyn4d reads uncompressed chunks; `mcap convert "
                                   "--compression none` rewrites the file)");
        const uint64_t n = c.Get<uint64_t>();
        std::string records = c.Rest();
        if (records.size() != n || n != uncompressed)
          throw std::runtime_error(where + ": chunk sizes disagree");
        if (crc != 0 && Crc(0, records) != crc)
          throw std::runtime_error(where + ": chunk CRC mismatch (damaged file)");
        chunk_ = std::move(records);
        chunk_pos_ = 0;
        chunk_offset_ = offset_ - 9 - length;
        break;
      }
      case kDataEnd:
      case kFooter:
        done_ = true;
        break;
      default:
        break;  // header, schema, statistics, ...: nothing to do
    }
  }
  return std::nullopt;
}

std::vector<McapChannel> McapReader::ListChannels(const std::string& path) {
  McapReader r(path);
  while (r.Next()) {
  }
  std::vector<McapChannel> out;
  for (const auto& kv : r.channels()) out.push_back(kv.second);
  return out;
}

// ---- recording as a frame source ----------------------------------------------------

namespace {
class RecordingSource : public FrameSource {
 public:
  explicit RecordingSource(const SourceConfig& c) : path_(c.path), max_frames_(c.max_frames) {
    try {
      // Ground-truth poses first (small), frames are then streamed.
      McapReader scan(path_);
      while (auto m = scan.Next()) {
        if (m->channel->message_encoding != kDyn4dMessageEncoding) continue;
        pipeline::DecodeResult d = pipeline::Decode(UnpackFrames(m->data));
        if (!d.ok()) continue;
        if (auto* p = std::get_if<pipeline::CameraPose>(&d.message)) poses_[p->meta.seq] = *p;
        if (std::holds_alternative<pipeline::RgbdFrame>(d.message)) ++frames_;
      }
      reader_ = std::make_unique<McapReader>(path_);
    } catch (const std::runtime_error& e) {
      throw SourceError(e.what());
    }
    if (frames_ == 0) throw SourceError("recording '" + path_ + "' holds no RgbdFrame messages");
  }

  SourceRead Next() override {
    if (max_frames_ > 0 && emitted_ >= max_frames_) return {};
    while (true) {
      std::optional<McapMessage> m;
      try {
        m = reader_->Next();
      } catch (const std::runtime_error& e) {
        SourceRead r;  // a damaged tail ends the stream, with a reason
        r.message = e.what();
        return r;
      }
      if (!m) return {};
      if (m->channel->message_encoding != kDyn4dMessageEncoding) continue;
      pipeline::DecodeResult d = pipeline::Decode(UnpackFrames(m->data));
      if (!d.ok()) {
        SourceRead r;
        r.status = SourceRead::Status::kSkipped;
        r.message = "'" + path_ + "': recorded message rejected: " + d.error;
        return r;
      }
      auto* f = std::get_if<pipeline::RgbdFrame>(&d.message);
      if (!f) continue;
      SourceRead r;
      r.status = SourceRead::Status::kFrame;
      r.frame = *f;
      if (auto it = poses_.find(f->meta.seq); it != poses_.end()) r.ground_truth = it->second;
      ++emitted_;
      return r;
    }
  }
  std::string Describe() const override {
    return "recording " + path_ + " (" + std::to_string(frames_) + " frames)";
  }
  int64_t SizeHint() const override { return frames_; }

 private:
  std::string path_;
  int max_frames_;
  std::unique_ptr<McapReader> reader_;
  std::map<uint64_t, pipeline::CameraPose> poses_;
  int64_t frames_ = 0;
  int emitted_ = 0;
};
}  // namespace

namespace internal {
std::unique_ptr<FrameSource> OpenRecordingSource(const SourceConfig& config) {
  // A rosbag2 MCAP (CDR messages, no dyn4d-v1 channel) is read as a ROS 2 bag.
  bool dyn4d = false, cdr = false;
  try {
    McapReader probe(config.path);
    for (int i = 0; i < 64; ++i) {  // channels come before (or with) the first messages
      if (!probe.Next()) break;
    }
    for (const auto& [id, ch] : probe.channels()) {
      dyn4d = dyn4d || ch.message_encoding == kDyn4dMessageEncoding;
      cdr = cdr || ch.message_encoding == "cdr";
    }
  } catch (const std::runtime_error& e) {
    throw SourceError(e.what());
  }
  if (cdr && !dyn4d) return OpenRos2BagSource(config);
  return std::make_unique<RecordingSource>(config);
}
}  // namespace internal

}  // namespace dyn4d::io
