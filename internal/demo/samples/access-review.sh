#!/bin/sh
# SAMPLE DATA. A quarterly access review exported as CSV, carried as raw
# bytes (body_base64) with the reviewer who approved it.
set -eu
now="${TICKMARK_NOW:-2026-11-30T12:00:00Z}"
csv='user,system,access,decision,reviewer
alice@example.com,production-db,read-write,keep,cto@example.com
bob@example.com,production-db,read-only,keep,cto@example.com
carol@example.com,production-db,read-write,revoke,cto@example.com
'
b64=$(printf '%s' "$csv" | base64 | tr -d '\n')
printf '{"type":"custom.access_review","subject":"production-db","controls":["CC6.2","CC6.3"],"observed_at":"%s","content_type":"text/csv","body_base64":"%s","source":{"system":"sample-access-review","endpoint":"reviews/2026-Q4.csv","items":3}}\n' "$now" "$b64"
