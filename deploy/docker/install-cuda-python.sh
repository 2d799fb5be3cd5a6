#!/usr/bin/env bash
# Installs Harvis with the CUDA speech stack into one Python environment: the image's build stage
# and `make test-gpu-stack` (.venv-gpu) both run this, so the set they get is the same.
#   install-cuda-python.sh PIP TARGET     e.g.  /opt/harvis/bin/pip .      or  .venv-gpu/bin/pip '-e .[dev]'
set -euo pipefail
pip=$1
target=$2
here=$(cd "$(dirname "$0")" && pwd)
# The CUDA set first, then Harvis held to it (-c): nothing may move torch or numpy afterwards.
"$pip" install -r "$here/requirements-cuda.txt"
"$pip" install --no-deps -r "$here/requirements-cuda-nodeps.txt"
# shellcheck disable=SC2086  # TARGET may be "-e .[dev]"
"$pip" install -c "$here/requirements-cuda.txt" $target
# onnxruntime (CPU) and onnxruntime-gpu share one package directory: drop both, put the GPU
# build back alone. piper-tts and open-voicefilter-lite then run on onnxruntime-gpu.
gpu=$(grep -E '^onnxruntime-gpu==' "$here/requirements-cuda.txt")
"$pip" uninstall -y onnxruntime onnxruntime-gpu
"$pip" install --no-deps "$gpu"
"$(dirname "$pip")/python" - <<'PY'
import onnxruntime, torch, chatterbox.tts, ctranslate2, faster_whisper, piper  # noqa: F401  every one imports
assert "CUDAExecutionProvider" in onnxruntime.get_available_providers(), onnxruntime.get_available_providers()
print(f"cuda stack ok: torch {torch.__version__} (CUDA {torch.version.cuda}), onnxruntime {onnxruntime.__version__}, "
      f"ctranslate2 {ctranslate2.__version__}")
PY
