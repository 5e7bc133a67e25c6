#!/usr/bin/env bash
# The knowledge corpus of benchmarks/moe_vs_dense.py and benchmarks/experts_sweep.py:
# installs the Debian packages that ship the three reference works, then writes
# them as JSON Lines into DIR (default /work/corpora/knowledge). About a minute.
set -euo pipefail
out="${1:-/work/corpora/knowledge}"
packages=(dict-gcide wordnet-base dict-foldoc)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi
python "$(dirname "$0")/knowledge.py" "$out"
