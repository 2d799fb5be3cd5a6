#!/usr/bin/env bash
# One short check of Harvis's speech engines on a machine with an NVIDIA GPU and no network:
# Chatterbox (random-weights test checkpoint: time to first audio, real-time factor of a
# two-sentence answer), faster-whisper and Piper on CUDA where their wheels can run there. Prints
# one table; an engine that cannot run says why. Its Python must already have torch (CUDA build).
#
#   on a machine with PyPI:   scripts/gpu-check.sh --prepare .gpu-wheels     (≤ 64 MiB of wheels)
#   on the GPU machine:       scripts/gpu-check.sh --wheels .gpu-wheels [--out results.json]
#   here, without a GPU:      make gpu-check   (= --device cpu with .venv-gpu: the same code on the CPU)
#
# The GPU figures it prints are the only ones Harvis publishes; nothing here runs in `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
device=cuda wheels="" prepare="" out="" only="chatterbox,whisper,piper"
limit_s=${GPU_CHECK_LIMIT_S:-480}   # the whole check stays under 8 minutes
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --wheels) wheels=$2; shift 2 ;;
    --prepare) prepare=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--device cuda|cpu] [--wheels DIR] [--prepare DIR] [--out FILE] [--only LIST]" >&2; exit 2 ;;
  esac
done

if [ -n "$prepare" ]; then
  # What a GPU machine with torch (and numpy, scipy, numba, onnx, einops, safetensors, huggingface-hub:
  # the device image's list) lacks for chatterbox-tts, for its Python (3.12), without dependencies,
  # at the versions the CUDA image resolves (deploy/docker/requirements-cuda*.txt; tokenizers: what
  # transformers 5.2 accepts).
  # CTranslate2 (42 MB) and onnxruntime-gpu (256 MB) do not fit the 64 MiB carry, and the Piper
  # voice and Whisper model are over it too: those rows then say why they were not measured.
  mkdir -p "$prepare"
  pins=$(grep -hE '^(chatterbox-tts|diffusers|s3tokenizer|resemble-perth|conformer|omegaconf|pyloudnorm|transformers)==' \
    deploy/docker/requirements-cuda.txt deploy/docker/requirements-cuda-nodeps.txt)
  # shellcheck disable=SC2086
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any -d "$prepare" \
    $pins librosa==0.11.0 soxr==1.1.0 audioread==3.1.0 pooch==1.9.0 soundfile==0.14.0 decorator==5.3.1 \
    tokenizers==0.22.2 typer-slim==0.24.0 importlib-metadata==10.2.0 lazy-importer==0.1.0
  size=$(du -sm "$prepare" | cut -f1)
  echo "wheels for the GPU machine: $(ls "$prepare" | wc -l) files, ${size} MiB in $prepare"
  [ "$size" -le 64 ] || { echo "over the 64 MiB carry" >&2; exit 1; }
  exit 0
fi

if [ -n "$wheels" ]; then
  # Into a folder of our own, first on the path: the machine's Python stays as it was.
  site=$(mktemp -d /tmp/harvis-gpu-check-site.XXXXXX)
  "$PYTHON" -m pip install --quiet --no-index --no-deps --target "$site" "$wheels"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ "$device" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
"$PYTHON" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device available: {torch.cuda.is_available()}")' 2>/dev/null \
  || echo "torch: not importable by $PYTHON (the Chatterbox row will say so)"
export OMP_WAIT_POLICY=PASSIVE
args=(--device "$device" --only "$only")
[ -n "$out" ] && args+=(--out "$out")
exec timeout "$limit_s" "$PYTHON" scripts/gpu_check.py "${args[@]}"
