# Sourced by the tests that listen on loopback TCP. free_ports N prints the
# first of N consecutive ports that are free now, below the kernel's
# ephemeral range: tests running alongside take their outgoing ports from
# that range, and a node that cannot bind fails while its peers wait for it
# (a port taken that way once hung a multi-process test until its timeout).
free_ports() {
  local n=$1 lo=32768 hi base
  read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  local top=$((lo > 21000 + n ? lo - n : 32000))
  for _ in $(seq 50); do
    base=$((20000 + RANDOM % (top - 20000)))
    if /usr/bin/python3 - "$base" "$n" <<'PY'; then
import socket, sys
first, count = int(sys.argv[1]), int(sys.argv[2])
held = []
try:
    for port in range(first, first + count):
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        held.append(s)
except OSError:
    sys.exit(1)
PY
      echo "$base"
      return 0
    fi
  done
  echo "no $n free consecutive ports below $lo" >&2
  return 1
}
