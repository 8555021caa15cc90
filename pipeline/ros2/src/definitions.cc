#include "dyn4d/ros2/definitions.h"

#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace dyn4d::ros2 {
namespace detail {
// pipeline/ros2/msg/<pkg>/<Type>.msg, compiled in by CMake (ros2_msg_table.cc).
extern const std::map<std::string, std::string> kMsgDefinitions;
}  // namespace detail

namespace {

// "pkg/Type" -> "pkg/msg/Type"; "pkg/msg/Type" stays.
std::string Canonical(const std::string& type) {
  const size_t slash = type.find('/');
  if (slash == std::string::npos || type.find('/', slash + 1) != std::string::npos) return type;
  return type.substr(0, slash) + "/msg/" + type.substr(slash + 1);
}

bool IsPrimitive(const std::string& t) {
  static const std::set<std::string> kPrimitives = {
      "bool",   "byte",  "char",   "int8",    "uint8",   "int16",  "uint16", "int32",
      "uint32", "int64", "uint64", "float32", "float64", "string", "wstring"};
  return kPrimitives.count(t) > 0;
}

// The non-primitive field types of a .msg text, as "pkg/msg/Type", in order.
// A bare name is a type of the same package (Header: std_msgs, by ROS's
// rule); constants ("TYPE NAME=VALUE") are not fields.
std::vector<std::string> FieldTypes(const std::string& type, const std::string& text) {
  const std::string package = type.substr(0, type.find('/'));
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string field_type, name;
    if (!(words >> field_type >> name)) continue;
    if (line.find('=') != std::string::npos) continue;  // a constant
    field_type = field_type.substr(0, field_type.find('['));
    field_type = field_type.substr(0, field_type.find("<="));  // bounded strings
    if (IsPrimitive(field_type)) continue;
    if (field_type == "Header") field_type = "std_msgs/Header";
    if (field_type.find('/') == std::string::npos) field_type = package + "/" + field_type;
    out.push_back(Canonical(field_type));
  }
  return out;
}

}  // namespace

std::vector<std::string> KnownTypes() {
  std::vector<std::string> out;
  for (const auto& [type, text] : detail::kMsgDefinitions) out.push_back(type);
  return out;
}

const std::string& MsgDefinition(const std::string& type) {
  const auto it = detail::kMsgDefinitions.find(Canonical(type));
  if (it == detail::kMsgDefinitions.end())
    throw std::invalid_argument("ROS 2 type '" + type + "' has no definition in dyn4d");
  return it->second;
}

std::string Ros2MsgSchema(const std::string& type) {
  const std::string root = Canonical(type);
  std::string schema = MsgDefinition(root);
  std::set<std::string> seen = {root};
  std::vector<std::string> order;
  // Depth-first in field order: each dependency once, where first used.
  std::vector<std::string> stack;
  const auto push_children = [&](const std::string& t) {
    const auto children = FieldTypes(t, MsgDefinition(t));
    for (auto it = children.rbegin(); it != children.rend(); ++it) stack.push_back(*it);
  };
  push_children(root);
  while (!stack.empty()) {
    const std::string t = stack.back();
    stack.pop_back();
    if (!seen.insert(t).second) continue;
    order.push_back(t);
    push_children(t);
  }
  for (const std::string& t : order) {
    const std::string short_name = t.substr(0, t.find('/')) + "/" + t.substr(t.rfind('/') + 1);
    if (!schema.empty() && schema.back() != '\n') schema += '\n';
    schema += std::string(80, '=') + "\nMSG: " + short_name + "\n" + MsgDefinition(t);
  }
  return schema;
}

std::string DdsTypeName(const std::string& type) {
  const std::string t = Canonical(type);
  const size_t first = t.find('/'), last = t.rfind('/');
  if (first == std::string::npos || first == last)
    throw std::invalid_argument("ROS 2 type '" + type + "' is not pkg/msg/Type");
  return t.substr(0, first) + "::" + t.substr(first + 1, last - first - 1) +
         "::dds_::" + t.substr(last + 1) + "_";
}

std::string DdsTopicName(const std::string& ros_topic) {
  return "rt" + (ros_topic.rfind('/', 0) == 0 ? ros_topic : "/" + ros_topic);
}

std::string TypeHash(const std::string& type) {
  // REP-2011 hashes pinned per message definition (as CARLA publishes them);
  // the others would need the canonical type description hashed here.
  static const std::map<std::string, std::string> kHashes = {
      {"sensor_msgs/msg/PointCloud2",
       "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5"},
      {"sensor_msgs/msg/Image",
       "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47"},
      {"sensor_msgs/msg/CameraInfo",
       "RIHS01_b3dfd68ff46c9d56c80fd3bd4ed22c7a4ddce8c8348f2f59c299e73118e7e275"},
      {"std_msgs/msg/Header",
       "RIHS01_f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01"},
      {"builtin_interfaces/msg/Time",
       "RIHS01_b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197"},
      {"tf2_msgs/msg/TFMessage",
       "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"},
      {"std_msgs/msg/String",
       "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"},
  };
  const auto it = kHashes.find(Canonical(type));
  return it == kHashes.end() ? "" : it->second;
}

}  // namespace dyn4d::ros2
