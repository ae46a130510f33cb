#!/usr/bin/env bash
# Runs ghostgrad's benchmarks on a lent GPU machine that has no Node, no npm
# and no network (the `device` tool of this workplace: an x86-64 Linux box
# with an NVIDIA driver and PyTorch, see docs/benchmarks.md).
#
#   scripts/gpu-kit.sh pack            here, after `npm ci`: builds dist/ and writes
#                                      .gpu-kit/ (node binary, the node_modules the
#                                      benchmarks import, Linux x64 only, xz-compressed)
#                                      and .gl/ (the Vulkan loader's .deb, as the
#                                      device README says); both are git-ignored.
#   scripts/gpu-kit.sh run [suite…]    there, from the repository root, with .gpu-kit,
#                                      .gl and dist carried: unpacks, finds the NVIDIA
#                                      Vulkan driver, checks that Dawn sees a hardware
#                                      adapter, and runs each suite (default: peak host
#                                      sparse uresnet matmul photon drift photon-mc) with
#                                      results written to $OUT (or bench/results).
#   scripts/gpu-kit.sh train          there, likewise: trains the U-ResNet with
#                                      examples/uresnet/train.mjs (default model, 'default'
#                                      events, batch 8, 8 minutes unless URESNET_* say
#                                      otherwise), resuming from .gpu-ckpt/uresnet.safetensors
#                                      when it exists; writes the new BF16 checkpoint there and,
#                                      in parts of at most 15 MiB, with the log (held-out
#                                      accuracy plain and with flips averaged), to $OUT.
#
# Suites and their environment are those of bench/*.bench.mjs; PyTorch (python3
# there) is the side-by-side peer of matmul, photon and uresnet.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.gpu-kit

pack() {
  [ -d node_modules/webgpu ] || { echo "gpu-kit pack: run npm ci first" >&2; exit 1; }
  for p in /.gpu-kit/ /.gl/; do grep -qxF "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude; done
  npm run build >/dev/null
  rm -rf "$KIT" && mkdir -p "$KIT"
  tar -C "$(dirname "$(command -v node)")" -cf - node | xz -T0 -6 >"$KIT/node.tar.xz"
  # Production dependencies plus what the benchmarks import (benchmark.js and
  # the tfjs peer), with Dawn for Linux x64 only.
  local mods
  mods=$(
    {
      npm ls --omit=dev --parseable --all 2>/dev/null
      for p in benchmark lodash platform @tensorflow/tfjs-core @tensorflow/tfjs-backend-webgpu @tensorflow/tfjs-backend-cpu \
        long seedrandom node-fetch whatwg-url tr46 webidl-conversions @types/long @types/offscreencanvas @types/seedrandom; do
        [ -d "node_modules/$p" ] && echo "$PWD/node_modules/$p"
      done
    } | sed "s|^$PWD/||" | grep '^node_modules/' | sort -u
  )
  # shellcheck disable=SC2086
  tar -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/win32-*' \
    --exclude='node_modules/webgpu/dist/linux-arm64' --exclude='*.map' $mods | xz -T0 -6 >"$KIT/modules.tar.xz"
  mkdir -p .gl /tmp/amd64/partial
  local o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 >/dev/null)
  du -sh "$KIT"/* .gl dist
  echo "carry: [\".gpu-kit\", \".gl\", \"dist\"]; command: bash scripts/gpu-kit.sh run [suite…]"
}

# Unpacks the kit, points Dawn at the NVIDIA driver and refuses a software adapter.
setup() {
  if [ "${GPU_KIT_NO_GL:-0}" != 1 ] && ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  local icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime}"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  local bin=/tmp/gpu-kit-node
  mkdir -p "$bin" && xz -dc "$KIT/node.tar.xz" | tar -C "$bin" -xf -
  export PATH="$bin:$PATH"
  [ -d node_modules/webgpu ] || xz -dc "$KIT/modules.tar.xz" | tar -xf -
  [ -f dist/index.js ] || { echo "gpu-kit: dist/ is missing; carry it (npm run build here)" >&2; exit 1; }
  # A software adapter (llvmpipe/SwiftShader) here means the NVIDIA driver was not
  # found: its figures would be worthless, so stop unless asked not to.
  node -e "import('./bench/harness.mjs').then(async (h) => {
    const { ctx } = await h.setupGpu();
    console.log('adapter:', JSON.stringify(h.machineInfo(ctx)));
    const soft = ctx.adapter.isSoftware;
    await ctx.dispose();
    process.exit(soft && process.env.GPU_KIT_ALLOW_SOFTWARE !== '1' ? 3 : 0);
  })" || { echo "gpu-kit: no hardware adapter (set GPU_KIT_ALLOW_SOFTWARE=1 to run anyway)" >&2; exit 3; }
}

run() {
  setup
  export TORCH_PYTHON="${TORCH_PYTHON:-python3}"
  [ -n "${OUT:-}" ] && export BENCH_RESULTS_DIR="$OUT"
  local suites=("$@")
  [ ${#suites[@]} -gt 0 ] || suites=(peak host sparse uresnet matmul photon drift photon-mc)
  for s in "${suites[@]}"; do
    echo "== $s"
    node "bench/$s.bench.mjs" || echo "== $s failed (exit $?)"
  done
}

# A GPU step can be shorter than generating a 'default' event on one core, hence
# the event workers; the checkpoint stays on the machine between calls while it
# is warm (.gpu-ckpt/ is git-ignored), and comes home in parts (the device tool
# returns files of at most 16 MiB; `cat uresnet.safetensors.part-* >x` joins them).
train() {
  setup
  local ckdir=.gpu-ckpt out="${OUT:-$ckdir/out}"
  mkdir -p "$ckdir" "$out"
  if [ ! -f "$ckdir/uresnet.safetensors" ] && ls "$ckdir"/uresnet.safetensors.part-* >/dev/null 2>&1; then
    cat "$ckdir"/uresnet.safetensors.part-* >"$ckdir/uresnet.safetensors"
  fi
  [ -f "$ckdir/uresnet.safetensors" ] && export URESNET_RESUME="${URESNET_RESUME:-$ckdir/uresnet.safetensors}"
  export URESNET_PRESET="${URESNET_PRESET:-default}" URESNET_BATCH="${URESNET_BATCH:-8}" \
    URESNET_STEPS="${URESNET_STEPS:-1000000}" URESNET_TIME_LIMIT_S="${URESNET_TIME_LIMIT_S:-480}" \
    URESNET_EVAL_EVENTS="${URESNET_EVAL_EVENTS:-64}" URESNET_SAVE_DTYPE="${URESNET_SAVE_DTYPE:-BF16}" URESNET_TTA="${URESNET_TTA:-flips}" \
    URESNET_CHECKPOINT="$ckdir/uresnet.next.safetensors"
  # (pipefail: a failing node fails the pipeline; the previous checkpoint then stays where it was.)
  if ! node examples/uresnet/train.mjs 2>&1 | { grep -v '^Warning: maxDynamic' || true; } | tee "$out/train.log"; then
    echo "gpu-kit train: training failed; the previous checkpoint is kept" >&2
    exit 1
  fi
  mv "$ckdir/uresnet.next.safetensors" "$ckdir/uresnet.safetensors"
  rm -f "$out"/uresnet.safetensors.part-*
  split -b 15M -d "$ckdir/uresnet.safetensors" "$out/uresnet.safetensors.part-"
  ls -l "$out"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  train) train ;;
  *) echo "usage: scripts/gpu-kit.sh pack | run [suite…] | train" >&2; exit 2 ;;
esac
