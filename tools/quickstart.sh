#!/usr/bin/env bash
# Sets up as needed (packages, build) and trains the paper's network
# (196-100-10) on the bundled data set on the best device found: an OpenCL
# GPU or accelerator when there is one, the C path otherwise.
# Extra arguments go to `phaxcl train` (e.g. --epochs 5, --backend opencl).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh build
exec build/tools/phaxcl train --backend auto --save paper.safetensors "$@"
