#!/bin/sh
# SAMPLE DATA. A stand-in for a script that reads a backup system's
# restore-test log and prints tickmark's exec protocol: one JSON object per
# line, then a cursor line that checkpoints everything before it.
#
# TICKMARK_CURSOR holds the cursor of the last committed run ("" at first).
set -eu
now="${TICKMARK_NOW:-2026-11-30T12:00:00Z}"
last="${TICKMARK_CURSOR:-0}"
n=$((last + 1))
for db in orders-db billing-db users-db; do
  printf '{"type":"custom.backup_restore_test","subject":"%s","observed_at":"%s","body":{"sample_data":true,"database":"%s","test_number":%d,"restored":true,"rows_verified":%d,"duration_seconds":%d,"performed_by":"backup-operator@example.com"},"source":{"system":"sample-backup-tool","endpoint":"restore-tests.log","query":"tests after #%s","items":1}}\n' \
    "$db" "$now" "$db" "$n" $((1000 * n + 17)) $((40 + n))
done
printf '{"cursor":"%d"}\n' "$n"
