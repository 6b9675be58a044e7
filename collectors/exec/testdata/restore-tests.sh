#!/bin/sh
# Test fixture for the exec collector's conformance suite: a stand-in for a
# script that reads a backup tool's restore-test log ($1, one test a line:
# "ID TIME DATABASE RESTORED") and prints the exec protocol. It prints the
# tests after TICKMARK_CURSOR, two to an artifact, each followed by a cursor
# line. It needs EXEC_TEST_TOKEN (passed through with exec.env) and never
# prints it.
set -eu
log="$1"
if [ "${EXEC_TEST_TOKEN:-}" != "exec-test-token-77" ]; then
  echo "backup API refused the token (set EXEC_TEST_TOKEN)" >&2
  exit 3
fi
if [ -e "$log.down" ]; then
  echo "backup API unavailable: 503" >&2
  exit 4
fi
last="${TICKMARK_CURSOR:-0}"
batch="" first="" prev_at="" prev_id="" n=0
flush() {
  [ "$n" -gt 0 ] || return 0
  printf '{"type":"exec_test.restore","subject":"backups","window_start":"%s","window_end":"%s","body":{"tests":[%s]},"source":{"system":"backup-tool","endpoint":"restore-tests.log","items":%d}}\n' \
    "$first" "$prev_at" "$batch" "$n"
  printf '{"cursor":"%s"}\n' "$prev_id"
  batch="" first="" n=0
}
while read -r id at db ok; do
  [ "$id" -gt "$last" ] || continue
  item=$(printf '{"id":%s,"at":"%s","database":"%s","restored":%s}' "$id" "$at" "$db" "$ok")
  if [ "$n" -eq 0 ]; then
    batch="$item" first="$at"
  else
    batch="$batch,$item"
  fi
  n=$((n + 1)) prev_at="$at" prev_id="$id"
  if [ "$n" -eq 2 ]; then
    flush
  fi
done < "$log"
flush
