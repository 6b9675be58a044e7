#!/bin/sh
# Emits $N artifacts (default 10) of about $SIZE bytes (default 1024) of
# type test.item under control $CONTROL (default CC7.2), with a cursor line
# every $EVERY artifacts (default 1000). Resumes after TICKMARK_CURSOR.
# Used by tests and benchmarks; exits with $FAIL_AT's status after emitting
# that many artifacts when FAIL_AT is set.
exec awk -v n="${N:-10}" -v size="${SIZE:-1024}" -v ctl="${CONTROL:-CC7.2}" -v every="${EVERY:-1000}" \
  -v start="${TICKMARK_CURSOR:-0}" -v failat="${FAIL_AT:-0}" -v malformedat="${MALFORMED_AT:-0}" 'BEGIN {
  pad = ""; for (i = 0; i < size - 120; i++) pad = pad "x"
  for (i = start + 0; i < n; i++) {
    if (malformedat > 0 && i == malformedat) { print "{not json"; fflush(); exit 0 }
    if (failat > 0 && i == failat) { fflush(); exit 3 }
    printf "{\"type\":\"test.item\",\"subject\":\"item-%d\",\"controls\":[\"%s\"],\"body\":{\"i\":%d,\"pad\":\"%s\"}}\n", i, ctl, i, pad
    if ((i + 1) % every == 0) printf "{\"cursor\":\"%d\"}\n", i + 1
  }
  printf "{\"cursor\":\"%d\"}\n", n
}'
