#!/usr/bin/env bash
# Builds the anchor environment for benchmarks/run_all.py (idempotent).
#
# The anchors are other projects' MoE layers, installed as packages:
#   keras-hub            MixtralSparseMoeBlock (Keras 3; routes top-2, runs every expert)
#   tf-models-official   official.nlp.modeling.layers.moe.MoeLayer (tf_keras; expert choice)
# tf-models-official 2.20.0 pins tensorflow~=2.20.0 and tensorflow-text~=2.20.0 and
# needs tf-keras, while this project runs on TensorFlow 2.21: so they live in their own
# venv. keras-hub 0.32 needs keras>=3.15 and tensorflow-text>=2.20.1, which TF 2.20 meets.
# glam_tf is not installed there: the anchor scripts put the repo on sys.path, so our
# layer can also be timed under the anchors' TensorFlow in the same process.
#
#   bash benchmarks/anchors/setup_env.sh [VENV_DIR]    # default /work/venvs/anchors
set -euo pipefail

VENV="${1:-${GLAM_ANCHOR_VENV:-/work/venvs/anchors}}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# One resolve with every pin, so pip cannot move TensorFlow away from 2.20.
"${PIP[@]}" \
    "tensorflow==2.20.0" "tensorflow-text==2.20.1" "tf-keras==2.20.*" \
    "keras==3.15.1" "keras-hub==0.32.0" "tf-models-official==2.20.0" "numpy<2.5"

"$VENV/bin/python" - <<'PY'
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras, tensorflow as tf, tf_keras
from keras_hub.src.models.mixtral.mixtral_decoder import MixtralSparseMoeBlock  # noqa: F401
from official.nlp.modeling.layers import moe  # noqa: F401
print(f"anchor env ok: tensorflow {tf.__version__}, keras {keras.__version__}, "
      f"tf_keras {tf_keras.__version__}")
PY
