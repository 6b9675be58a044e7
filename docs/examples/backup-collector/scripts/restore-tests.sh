#!/bin/sh
# Acme's restore-test collector as an exec script: the same evidence as the
# backupdb Go collector, in any language tickmark can run. It prints the exec
# protocol (docs/exec-protocol.md): one artifact per restore test after
# TICKMARK_CURSOR, each followed by a cursor line that commits it.
# Usage: restore-tests.sh LOGFILE   (one compact JSON object per line)
set -eu
log="${1:?usage: restore-tests.sh LOGFILE}"
if [ ! -r "$log" ]; then
  echo "restore-test log $log does not exist or is not readable" >&2
  exit 2
fi
exec awk -v after="${TICKMARK_CURSOR:-0}" -v now="${TICKMARK_NOW:-9999}" -v src="$log" '
function field(name,   v) {
  if (!match($0, "\"" name "\": *(\"[^\"]*\"|[0-9]+)")) return ""
  v = substr($0, RSTART, RLENGTH)
  sub(/^"[^"]*": */, "", v)
  gsub(/"/, "", v)
  return v
}
NF == 0 { next }
{
  id = field("id"); fin = field("finished_at")
  if (id == "" || fin == "") {
    printf "%s line %d is not a restore test (want a JSON object with id and finished_at)\n", src, NR > "/dev/stderr"
    exit 3
  }
  if (id + 0 <= after + 0) next    # collected by an earlier run
  if (fin > now) exit 0            # after this run'"'"'s clock (UTC RFC 3339 times sort as text)
  printf "{\"type\":\"backupdb.restore_tests\",\"subject\":\"restore tests\",\"window_start\":\"%s\",\"window_end\":\"%s\",\"body\":%s,\"source\":{\"system\":\"backupdb\",\"endpoint\":\"%s\",\"query\":\"test %s\",\"items\":1}}\n", fin, fin, $0, src, id
  printf "{\"cursor\":\"%s\"}\n", id
}' "$log"
