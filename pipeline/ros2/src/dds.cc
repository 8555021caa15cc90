// CycloneDDS with raw CDR samples: a sertype whose serdata is the CDR bytes
// themselves (what rmw_cyclonedds does for ROS 2's own type support), so
// dyn4d's serializer makes every byte on the wire and CycloneDDS only
// carries them. Keyless, XCDR1, ROS 2 names and QoS.
#include "dyn4d/ros2/dds.h"

#include <dds/dds.h>
#include <dds/ddsi/ddsi_serdata.h>
#include <dds/ddsi/ddsi_sertype.h>
#include <dds/ddsi/q_radmin.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

#include "dyn4d/ros2/definitions.h"

namespace dyn4d::ros2 {
namespace {

struct RawType : ddsi_sertype {};

struct RawSample : ddsi_serdata {
  std::string bytes;  // encapsulation header + payload, padded to a multiple of 4
  RawSample(const ddsi_sertype* type, ddsi_serdata_kind kind) {
    ddsi_serdata_init(this, type, kind);
    hash = type ? type->serdata_basehash : 0;  // keyless: one instance
  }
};

// ---- serdata ops ------------------------------------------------------------
bool EqKey(const ddsi_serdata*, const ddsi_serdata*) { return true; }
uint32_t GetSize(const ddsi_serdata* d) {
  return static_cast<uint32_t>(static_cast<const RawSample*>(d)->bytes.size());
}
void PadTo4(std::string& s) { s.resize((s.size() + 3) & ~size_t{3}, '\0'); }

ddsi_serdata* FromSer(const ddsi_sertype* type, ddsi_serdata_kind kind, const nn_rdata* frag,
                      size_t size) {
  auto* s = new RawSample(type, kind);
  s->bytes.resize(size);
  uint32_t off = 0;
  // The fragments may overlap; copy what each adds (rmw_cyclonedds does the same).
  for (; frag; frag = frag->nextfrag) {
    if (frag->maxp1 > off) {
      const unsigned char* payload =
          NN_RMSG_PAYLOADOFF(frag->rmsg, NN_RDATA_PAYLOAD_OFF(frag)) + (off - frag->min);
      const size_t n = std::min<size_t>(frag->maxp1 - off, size - off);
      std::memcpy(&s->bytes[off], payload, n);
      off = frag->maxp1;
    }
  }
  PadTo4(s->bytes);
  return s;
}
ddsi_serdata* FromSerIov(const ddsi_sertype* type, ddsi_serdata_kind kind, ddsrt_msg_iovlen_t niov,
                         const ddsrt_iovec_t* iov, size_t size) {
  auto* s = new RawSample(type, kind);
  s->bytes.reserve(size);
  for (ddsrt_msg_iovlen_t i = 0; i < niov && s->bytes.size() < size; ++i)
    s->bytes.append(static_cast<const char*>(iov[i].iov_base),
                    std::min<size_t>(iov[i].iov_len, size - s->bytes.size()));
  PadTo4(s->bytes);
  return s;
}
ddsi_serdata* FromKeyhash(const ddsi_sertype* type, const ddsi_keyhash*) {
  return new RawSample(type, SDK_KEY);
}
// Samples of this type are the CDR bytes in a std::string.
ddsi_serdata* FromSample(const ddsi_sertype* type, ddsi_serdata_kind kind, const void* sample) {
  auto* s = new RawSample(type, kind);
  if (kind == SDK_DATA) s->bytes = *static_cast<const std::string*>(sample);
  PadTo4(s->bytes);
  return s;
}
void ToSer(const ddsi_serdata* d, size_t off, size_t sz, void* buf) {
  const std::string& b = static_cast<const RawSample*>(d)->bytes;
  const size_t n = off < b.size() ? std::min(sz, b.size() - off) : 0;
  std::memcpy(buf, b.data() + off, n);
  if (n < sz) std::memset(static_cast<char*>(buf) + n, 0, sz - n);
}
ddsi_serdata* ToSerRef(const ddsi_serdata* d, size_t off, size_t sz, ddsrt_iovec_t* ref) {
  const std::string& b = static_cast<const RawSample*>(d)->bytes;
  ref->iov_base = const_cast<char*>(b.data()) + off;
  ref->iov_len = static_cast<ddsrt_iov_len_t>(std::min(sz, b.size() - std::min(off, b.size())));
  return ddsi_serdata_ref(d);
}
void ToSerUnref(ddsi_serdata* d, const ddsrt_iovec_t*) { ddsi_serdata_unref(d); }
bool ToSample(const ddsi_serdata* d, void* sample, void**, void*) {
  *static_cast<std::string*>(sample) = static_cast<const RawSample*>(d)->bytes;
  return true;
}
ddsi_serdata* ToUntyped(const ddsi_serdata* d) {
  auto* s = new RawSample(d->type, SDK_KEY);
  s->type = nullptr;
  return s;
}
bool UntypedToSample(const ddsi_sertype*, const ddsi_serdata*, void*, void**, void*) {
  return true;
}
void FreeSample(ddsi_serdata* d) { delete static_cast<RawSample*>(d); }
size_t Print(const ddsi_sertype*, const ddsi_serdata* d, char* buf, size_t size) {
  return static_cast<size_t>(std::snprintf(buf, size, "(%zu bytes of CDR)",
                                           static_cast<const RawSample*>(d)->bytes.size()));
}
void GetKeyhash(const ddsi_serdata*, ddsi_keyhash* buf, bool) { std::memset(buf, 0, sizeof(*buf)); }

const ddsi_serdata_ops kSerdataOps = {
    EqKey,      GetSize,  FromSer,   FromSerIov,      FromKeyhash, FromSample, ToSer,      ToSerRef,
    ToSerUnref, ToSample, ToUntyped, UntypedToSample, FreeSample,  Print,      GetKeyhash,
#ifdef DDS_HAS_SHM
    nullptr,    nullptr,
#endif
};

// ---- sertype ops ------------------------------------------------------------
void FreeType(ddsi_sertype* t) {
  ddsi_sertype_fini(t);
  delete static_cast<RawType*>(t);
}
void ZeroSamples(const ddsi_sertype*, void* samples, size_t count) {
  auto* s = static_cast<std::string*>(samples);
  for (size_t i = 0; i < count; ++i) s[i].clear();
}
void ReallocSamples(void** ptrs, const ddsi_sertype*, void* old, size_t old_count, size_t count) {
  auto* fresh = static_cast<std::string*>(::operator new(count * sizeof(std::string)));
  auto* previous = static_cast<std::string*>(old);
  for (size_t i = 0; i < count; ++i)
    new (&fresh[i]) std::string(i < old_count ? std::move(previous[i]) : std::string());
  for (size_t i = 0; i < old_count; ++i) previous[i].~basic_string();
  ::operator delete(old);
  for (size_t i = 0; i < count; ++i) ptrs[i] = &fresh[i];
}
void FreeSamples(const ddsi_sertype*, void** ptrs, size_t count, dds_free_op_t op) {
  if (count == 0) return;
  auto* s = static_cast<std::string*>(ptrs[0]);
  for (size_t i = 0; i < count; ++i) s[i].clear();
  if (op & DDS_FREE_ALL_BIT) {
    for (size_t i = 0; i < count; ++i) s[i].~basic_string();
    ::operator delete(s);
  }
}
bool EqualTypes(const ddsi_sertype*, const ddsi_sertype*) { return true; }
uint32_t HashType(const ddsi_sertype*) { return 0x64796e34; }
size_t SerializedSize(const ddsi_sertype*, const void* sample) {
  return static_cast<const std::string*>(sample)->size();
}
bool SerializeInto(const ddsi_sertype*, const void* sample, void* dst, size_t size) {
  const std::string& s = *static_cast<const std::string*>(sample);
  std::memcpy(dst, s.data(), std::min(size, s.size()));
  return true;
}

const ddsi_sertype_ops kSertypeOps = {
    ddsi_sertype_v0, nullptr, FreeType, ZeroSamples, ReallocSamples, FreeSamples,    EqualTypes,
    HashType,        nullptr, nullptr,  nullptr,     nullptr,        SerializedSize, SerializeInto,
};

dds_qos_t* MakeQos(const Qos& q, const std::string& ros_type) {
  dds_qos_t* qos = dds_create_qos();
  dds_qset_reliability(qos, q.reliable ? DDS_RELIABILITY_RELIABLE : DDS_RELIABILITY_BEST_EFFORT,
                       DDS_INFINITY);
  dds_qset_durability(qos,
                      q.transient_local ? DDS_DURABILITY_TRANSIENT_LOCAL : DDS_DURABILITY_VOLATILE);
  dds_qset_history(qos, DDS_HISTORY_KEEP_LAST, q.depth);
  if (q.transient_local)
    dds_qset_durability_service(qos, 0, DDS_HISTORY_KEEP_LAST, q.depth, DDS_LENGTH_UNLIMITED,
                                DDS_LENGTH_UNLIMITED, DDS_LENGTH_UNLIMITED);
  const dds_data_representation_id_t xcdr1 = DDS_DATA_REPRESENTATION_XCDR1;
  dds_qset_data_representation(qos, 1, &xcdr1);
  dds_qset_writer_data_lifecycle(qos, false);
  // Jazzy reads the type hash from USER_DATA; without one it warns per topic.
  const std::string hash = TypeHash(ros_type);
  const std::string user = hash.empty() ? "dyn4d=1;" : "typehash=" + hash + ";";
  dds_qset_userdata(qos, user.data(), user.size());
  return qos;
}

std::string Why(dds_return_t rc) { return dds_strretcode(rc); }

}  // namespace

struct DdsParticipant::Impl {
  dds_entity_t participant = 0;
  std::mutex mutex;
  // The topic and the sertype it uses (ours, or an equal one registered
  // before: dds_create_topic_sertype swaps it in).
  std::pair<dds_entity_t, const ddsi_sertype*> Topic(const std::string& ros_topic,
                                                     const std::string& ros_type) {
    auto* type = new RawType();
    ddsi_sertype_init(type, DdsTypeName(ros_type).c_str(), &kSertypeOps, &kSerdataOps, true);
    type->allowed_data_representation = DDS_DATA_REPRESENTATION_FLAG_XCDR1;
    ddsi_sertype* st = type;
    const std::string name = DdsTopicName(ros_topic);
    const dds_entity_t topic =
        dds_create_topic_sertype(participant, name.c_str(), &st, nullptr, nullptr, nullptr);
    if (topic < 0) {
      ddsi_sertype_unref(type);
      throw std::runtime_error("DDS topic " + name + " (" + DdsTypeName(ros_type) +
                               "): " + Why(topic));
    }
    return {topic, st};
  }
};

namespace {

class WriterImpl : public DdsParticipant::Writer {
 public:
  WriterImpl(dds_entity_t participant, std::pair<dds_entity_t, const ddsi_sertype*> topic,
             const Qos& q, const std::string& ros_topic, const std::string& ros_type)
      : type_(topic.second), topic_name_(ros_topic) {
    dds_qos_t* qos = MakeQos(q, ros_type);
    writer_ = dds_create_writer(participant, topic.first, qos, nullptr);
    dds_delete_qos(qos);
    if (writer_ < 0) throw std::runtime_error("DDS writer for " + ros_topic + ": " + Why(writer_));
  }
  ~WriterImpl() override { dds_delete(writer_); }
  bool Write(const std::string& cdr, int64_t source_time_ns) override {
    auto* s = new RawSample(type_, SDK_DATA);
    s->bytes = cdr;
    PadTo4(s->bytes);
    s->timestamp.v = source_time_ns;
    const dds_return_t rc = dds_writecdr(writer_, s);  // takes the sample
    return rc >= 0 || Fail(Why(rc));
  }
  int MatchedReaders() const override {
    dds_publication_matched_status_t st{};
    return dds_get_publication_matched_status(writer_, &st) < 0 ? 0 : int(st.current_count);
  }

 private:
  bool Fail(const std::string& why) {
    if (failures_++ == 0) spdlog::warn("ros2: writing {} failed: {}", topic_name_, why);
    return false;
  }
  dds_entity_t writer_ = 0;
  const ddsi_sertype* type_;
  std::string topic_name_;
  uint64_t failures_ = 0;
};

class ReaderImpl : public DdsParticipant::Reader {
 public:
  ReaderImpl(dds_entity_t participant, std::pair<dds_entity_t, const ddsi_sertype*> topic,
             const Qos& q, const std::string& ros_topic, const std::string& ros_type) {
    dds_qos_t* qos = MakeQos(q, ros_type);
    reader_ = dds_create_reader(participant, topic.first, qos, nullptr);
    dds_delete_qos(qos);
    if (reader_ < 0) throw std::runtime_error("DDS reader for " + ros_topic + ": " + Why(reader_));
    waitset_ = dds_create_waitset(participant);
    condition_ = dds_create_readcondition(reader_, DDS_ANY_STATE);
    dds_waitset_attach(waitset_, condition_, 0);
  }
  ~ReaderImpl() override {
    dds_delete(waitset_);
    dds_delete(reader_);
  }
  std::optional<DdsReceived> Take(int timeout_ms) override {
    for (int attempt = 0; attempt < 2; ++attempt) {
      ddsi_serdata* sd = nullptr;
      dds_sample_info_t info;
      const dds_return_t n = dds_takecdr(reader_, &sd, 1, &info, DDS_ANY_STATE);
      if (n > 0) {
        DdsReceived r;
        const bool valid = info.valid_data;
        if (valid) {
          r.cdr.resize(ddsi_serdata_size(sd));
          ddsi_serdata_to_ser(sd, 0, r.cdr.size(), r.cdr.data());
          r.source_time_ns = info.source_timestamp;
        }
        ddsi_serdata_unref(sd);
        if (valid) return r;
        continue;
      }
      if (attempt == 0 && timeout_ms > 0)
        dds_waitset_wait(waitset_, nullptr, 0, DDS_MSECS(timeout_ms));
    }
    return std::nullopt;
  }
  int MatchedWriters() const override {
    dds_subscription_matched_status_t st{};
    return dds_get_subscription_matched_status(reader_, &st) < 0 ? 0 : int(st.current_count);
  }

 private:
  dds_entity_t reader_ = 0, waitset_ = 0, condition_ = 0;
};

}  // namespace

DdsParticipant::DdsParticipant(int domain_id) : impl_(std::make_unique<Impl>()) {
  impl_->participant =
      dds_create_participant(static_cast<dds_domainid_t>(domain_id), nullptr, nullptr);
  if (impl_->participant < 0)
    throw std::runtime_error("DDS participant in domain " + std::to_string(domain_id) + ": " +
                             Why(impl_->participant) + " (check CYCLONEDDS_URI)");
}

DdsParticipant::~DdsParticipant() {
  if (impl_ && impl_->participant > 0) dds_delete(impl_->participant);
}

std::unique_ptr<DdsParticipant::Writer> DdsParticipant::CreateWriter(const std::string& ros_topic,
                                                                     const std::string& ros_type,
                                                                     const Qos& qos) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const auto topic = impl_->Topic(ros_topic, ros_type);
  return std::make_unique<WriterImpl>(impl_->participant, topic, qos, ros_topic, ros_type);
}

std::unique_ptr<DdsParticipant::Reader> DdsParticipant::CreateReader(const std::string& ros_topic,
                                                                     const std::string& ros_type,
                                                                     const Qos& qos) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const auto topic = impl_->Topic(ros_topic, ros_type);
  return std::make_unique<ReaderImpl>(impl_->participant, topic, qos, ros_topic, ros_type);
}

}  // namespace dyn4d::ros2
