#!/usr/bin/env bash
# demo.sh : what `make demo` runs after building.
#
# Kiseki is being built part by part. This script runs what exists today
# and says plainly what does not exist yet; it grows as the parts land.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
data="$root/build/demo"
mkdir -p "$data"

echo "Kiseki demo"
echo
echo "Built so far: the record model, the wire format and the batch frame"
echo "(common/), kiseki-gen (synthetic frames) and kiseki-dump (frames as text)."
echo
echo "1. kiseki-gen writes 3 frames of realistic spans and logs from 5 services:"
"$bin/kiseki-gen" --out "$data/sample.frames" --frames 3 --spans 12 --logs 4 --seed 7
ls -l "$data/sample.frames"
echo
echo "2. kiseki-dump checks each frame (CRC, zstd, every record) and prints it:"
"$bin/kiseki-dump" "$data/sample.frames" | head -n 40
echo "   ... ($("$bin/kiseki-dump" --headers "$data/sample.frames" | wc -l) frames in all)"
echo
echo "3. A damaged frame is refused with a precise reason:"
cp "$data/sample.frames" "$data/damaged.frames"
printf '\xff' | dd of="$data/damaged.frames" bs=1 seek=100 conv=notrunc status=none
"$bin/kiseki-dump" --headers "$data/damaged.frames" || true
echo
for part in kiseki-collector kiseki-agent kiseki-query kiseki; do
  if [ ! -x "$bin/$part" ]; then
    echo "Not built yet: $part."
  fi
done
echo "The full demo (collector + agent + query + instrumented services, the UI"
echo "address and a 'kiseki trace <id>' command) arrives with the demo issue."
