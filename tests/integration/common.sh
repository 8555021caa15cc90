# Sourced by the integration scripts (bash SCRIPT DYN4D_BIN SOURCE_DIR): the
# binary and source folder from the arguments, a scratch folder $work removed
# at exit, and fail().
set -uo pipefail
BIN=$1
SRC=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
