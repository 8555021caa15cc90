#pragma once
/// \file
/// ROS 2 topics over DDS without a ROS install: a CycloneDDS participant
/// whose writers and readers carry CDR bytes made by dyn4d's one serializer
/// (cdr.h) under ROS 2's names (topic `rt/<name>`, type
/// `pkg::msg::dds_::Type_`), keyless, XCDR1, with ROS 2's QoS profiles and
/// the type hash in USER_DATA where it is known. CycloneDDS stays behind
/// this header.
#include <memory>
#include <optional>
#include <string>

namespace dyn4d::ros2 {

/// ROS 2 QoS, as rmw maps it to DDS.
struct Qos {
  bool reliable = true;                ///< RELIABLE, else BEST_EFFORT
  bool transient_local = false;        ///< TRANSIENT_LOCAL (latched), else VOLATILE
  int depth = 10;                      ///< KEEP_LAST depth
  static Qos Default() { return {}; }  ///< rmw_qos_profile_default
  static Qos SensorData() { return {false, false, 5}; }  ///< rmw_qos_profile_sensor_data
  static Qos Latched() { return {true, true, 1}; }       ///< maps, static info
};

struct DdsReceived {
  std::string cdr;         ///< encapsulation header + payload
  int64_t source_time_ns;  ///< the writer's timestamp
};

class DdsParticipant {
 public:
  /// Joins ROS 2 domain `domain_id` (ROS_DOMAIN_ID). Network settings come
  /// from CYCLONEDDS_URI as for any CycloneDDS program. Throws
  /// std::runtime_error with CycloneDDS's reason.
  explicit DdsParticipant(int domain_id);
  ~DdsParticipant();
  DdsParticipant(const DdsParticipant&) = delete;
  DdsParticipant& operator=(const DdsParticipant&) = delete;

  class Writer {
   public:
    virtual ~Writer() = default;
    /// Publishes one encoded message (Encode(message)); false when DDS
    /// refused it (the reason is logged once per writer).
    virtual bool Write(const std::string& cdr, int64_t source_time_ns) = 0;
    /// Readers matched now (ROS 2 nodes, Foxglove, ...).
    virtual int MatchedReaders() const = 0;
  };
  class Reader {
   public:
    virtual ~Reader() = default;
    /// The next sample, waiting up to timeout_ms; nullopt when none came.
    virtual std::optional<DdsReceived> Take(int timeout_ms) = 0;
    virtual int MatchedWriters() const = 0;
  };

  /// `ros_topic` as in ROS ("/dyn4d/cloud"), `ros_type` "pkg/msg/Type".
  std::unique_ptr<Writer> CreateWriter(const std::string& ros_topic, const std::string& ros_type,
                                       const Qos& qos);
  std::unique_ptr<Reader> CreateReader(const std::string& ros_topic, const std::string& ros_type,
                                       const Qos& qos);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dyn4d::ros2
