#pragma once
/// \file
/// The .msg definitions of the ROS 2 types dyn4d speaks, as data (the files
/// in pipeline/ros2/msg/, compiled in), and the names and schemas other
/// tools expect.
#include <string>
#include <vector>

namespace dyn4d::ros2 {

/// Every type with a definition, as "pkg/msg/Type", sorted.
std::vector<std::string> KnownTypes();
/// The .msg text of "pkg/msg/Type" (or "pkg/Type"); throws
/// std::invalid_argument naming the type when it is not known.
const std::string& MsgDefinition(const std::string& type);
/// The `ros2msg` schema MCAP and Foxglove read: the type's own text, then
/// every type it uses (transitively, each once, in order of first use) as
/// a line of 80 '=', a line "MSG: pkg/Type" and its text.
std::string Ros2MsgSchema(const std::string& type);
/// The DDS type name ROS 2 RMWs register: "pkg::msg::dds_::Type_".
std::string DdsTypeName(const std::string& type);
/// The DDS topic of a ROS topic: "/a/b" -> "rt/a/b" (a missing leading
/// slash is added).
std::string DdsTopicName(const std::string& ros_topic);
/// The type hash ROS 2 Iron+ advertises in USER_DATA ("RIHS01_<hex>"), for
/// the types whose hash is published; empty otherwise.
std::string TypeHash(const std::string& type);

}  // namespace dyn4d::ros2
