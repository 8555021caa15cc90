// Catch2's main, after one rule for every test binary: DDS (the ROS 2
// bridge) stays on loopback, with no multicast, so no test sends a packet
// off the machine even where a test builds a graph with a ros2_bridge node.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdlib>

int main(int argc, char* argv[]) {
  setenv("CYCLONEDDS_URI",
         "<CycloneDDS><Domain><General><Interfaces><NetworkInterface name=\"lo\"/></Interfaces>"
         "<AllowMulticast>false</AllowMulticast></General><Discovery><ParticipantIndex>auto"
         "</ParticipantIndex><MaxAutoParticipantIndex>60</MaxAutoParticipantIndex><Peers>"
         "<Peer address=\"127.0.0.1\"/></Peers></Discovery></Domain></CycloneDDS>",
         1);
  return Catch::Session().run(argc, argv);
}
