#!/bin/sh
# Emits $N artifacts of type test.blob (subject "$PREFIX-<i>") whose body is
# a JSON string of $SIZE bytes, with a cursor line every $EVERY artifacts.
# Resumes after TICKMARK_CURSOR. Used by the fault-injection suite.
set -eu
i=${TICKMARK_CURSOR:-0}
while [ "$i" -lt "$N" ]; do
  printf '{"type":"test.blob","subject":"%s-%d","controls":["CC7.2"],"body":"' "$PREFIX" "$i"
  head -c "$SIZE" /dev/zero | tr '\0' x
  printf '"}\n'
  i=$((i + 1))
  if [ $((i % EVERY)) -eq 0 ]; then printf '{"cursor":"%d"}\n' "$i"; fi
done
printf '{"cursor":"%d"}\n' "$N"
