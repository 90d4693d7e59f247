#!/usr/bin/env bash
# Runs the operator tests as linux-arm64 code under qemu-user, so the AdvSimd (NEON) kernels are checked
# against the scalar reference on an x64 machine. Speed under emulation means nothing; correctness does.
# Debian 12, as root: installs qemu-user-static and an arm64 C runtime into a cache folder on first use.
# Then, end to end: the arm64 CLI's perplexity on the embedded model (F16) and on Q4_K_M and Q4_0 copies of it
# must equal, to the printed digit, the x64 CLI's with AVX2 switched off (the scalar reference kernels): the NEON
# kernels give the scalar kernels' bits, so the whole forward pass must agree. And a short training run must
# write the same model bytes on both.
# Usage: scripts/test-arm64.sh [extra xunit v3 runner arguments, e.g. -class Name]
# Set LIAOYUAN_ARM64_NO_DOTPROD=1 to run with the SDOT extension switched off (the widening-multiply path),
# LIAOYUAN_ARM64_UNIT_ONLY=1 to skip the end-to-end comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${LIAOYUAN_ARM64_CACHE:-$HOME/.cache/liaoyuan-arm64}"
sysroot="$cache/sysroot"
qemu="$cache/qemu/usr/bin/qemu-aarch64-static"
mkdir -p "$cache"
if [ ! -x "$qemu" ] || [ ! -e "$sysroot/lib/ld-linux-aarch64.so.1" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  apt-get update -qq
  (cd "$cache" && rm -f ./*.deb && apt-get download -qq qemu-user-static \
    libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 zlib1g:arm64 libssl3:arm64 2>/dev/null)
  dpkg-deb -x "$cache"/qemu-user-static_*.deb "$cache/qemu"
  for deb in "$cache"/*_arm64.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  rm -f "$cache"/*.deb
fi
out="$cache/Liaoyuan.Operators.Tests"
dotnet publish tests/Liaoyuan.Operators.Tests -c Release -r linux-arm64 --self-contained -o "$out" -v quiet -nologo
export DOTNET_EnableWriteXorExecute=0
if [ "${LIAOYUAN_ARM64_NO_DOTPROD:-0}" = 1 ]; then export DOTNET_EnableArm64Dp=0; fi
"$qemu" -L "$sysroot" "$out/Liaoyuan.Operators.Tests" -noColor "$@"
[ "${LIAOYUAN_ARM64_UNIT_ONLY:-0}" = 1 ] && exit 0

cli="$cache/cli"
dotnet publish src/Liaoyuan.Cli -c Release -r linux-arm64 --self-contained -o "$cli" -v quiet -nologo
dotnet build src/Liaoyuan.Cli -c Release -v quiet -nologo
host() { DOTNET_EnableAVX2=0 dotnet src/Liaoyuan.Cli/bin/Release/net10.0/liaoyuan.dll "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 2000 README.md > "$work/text.txt"
cp models/liaoyuan-demo.gguf "$work/F16.gguf"
for type in Q4_K_M Q4_0; do host quantize "$work/F16.gguf" "$work/$type.gguf" "$type" >/dev/null 2>&1; done
status=0
for type in F16 Q4_K_M Q4_0; do
  expected=$(host perplexity "$work/$type.gguf" --file "$work/text.txt" --ctx 128 --chunks 3 | tail -n 1)
  actual=$("$qemu" -L "$sysroot" "$cli/liaoyuan" perplexity "$work/$type.gguf" --file "$work/text.txt" --ctx 128 --chunks 3 | tail -n 1)
  if [ "$expected" = "$actual" ]; then echo "arm64 $type: $actual (same as x64 scalar)"
  else echo "arm64 $type: $actual, but x64 scalar: $expected" >&2; status=1; fi
done
# Training: a few steps of a tiny model must write the same GGUF bytes on arm64 (the 4-lane GEMM kernel and the
# scalar fallbacks of the other ops) as on x64 with AVX2 switched off.
head -c 20000 README.md > "$work/corpus.txt"
train=(train --data "$work/corpus.txt" --vocab 300 --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 --ctx 64
  --batch 4 --steps 4 --lr 1e-3 --seed 1 --threads 2)
mkdir -p "$work/x64" "$work/arm64"
host "${train[@]}" --out "$work/x64/tiny.gguf" >/dev/null 2>&1
"$qemu" -L "$sysroot" "$cli/liaoyuan" "${train[@]}" --out "$work/arm64/tiny.gguf" >/dev/null 2>&1
if cmp -s "$work/x64/tiny.gguf" "$work/arm64/tiny.gguf"; then echo "arm64 training: the same model bytes as x64 scalar"
else echo "arm64 training wrote a different model than x64 scalar" >&2; status=1; fi
exit $status
