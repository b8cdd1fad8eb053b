#!/usr/bin/env bash
# The python suite: a virtual environment under the build tree with the
# pinned requirements (tests/python/requirements.txt), the package installed
# by `pip install` from the source tree (meson-python; its build folder stays
# under the build tree, so a rerun rebuilds only what changed), then pytest
# on tests/python against the installed package and the CLI.
# Usage: test_python.sh SOURCE_ROOT BUILD_ROOT PHAXCL_EXE
# Exits 77 (skip) only when no virtual environment or no PyPI is at hand.
set -euo pipefail
src=$1 build=$2 cli=$3
venv=$build/python-venv
if [ ! -x "$venv/bin/python" ]; then
  "${PHX_TEST_PYTHON:-python3}" -m venv "$venv" || {
    echo "python: cannot create a virtual environment (Debian: apt-get install python3-venv)"
    rm -rf "$venv"
    exit 77
  }
fi
req=$src/tests/python/requirements.txt
if ! cmp -s "$req" "$venv/.requirements"; then
  "$venv/bin/pip" install -q -r "$req" || {
    echo "python: cannot install the pinned requirements (is PyPI reachable?)"
    exit 77
  }
  cp "$req" "$venv/.requirements"
fi
# The wheel's library is configured like this build (its C compiler and its
# feature options), so that the CLI and the package it is compared with are
# one configuration: a clang build without BLAS rounds otherwise.
mapfile -t like < <("$venv/bin/python" - "$build" <<'PY'
import json, os, sys
info = os.path.join(sys.argv[1], "meson-info")
opts = json.load(open(os.path.join(info, "intro-buildoptions.json")))
for o in opts:
    # meson's introspection calls a feature option a combo of these three
    if o["section"] == "user" and o.get("choices") == ["enabled", "disabled", "auto"]:
        print(f"--config-settings=setup-args=-D{o['name']}={o['value']}")
for t in json.load(open(os.path.join(info, "intro-targets.json"))):
    for s in t["target_sources"]:
        if s.get("language") == "c":
            print("CC=" + " ".join(s["compiler"]))  # ccache cc, say
            sys.exit(0)
PY
)
cc=() args=()
for a in "${like[@]}"; do
  case $a in CC=*) cc=(env "$a") ;; *) args+=("$a") ;; esac
done
# meson keeps a build folder's compiler: a new configuration starts afresh
wheel=$build/python-wheel
if ! printf '%s\n' "${like[@]}" | cmp -s - "$wheel.like"; then
  rm -rf "$wheel"
  mkdir -p "$wheel"
  printf '%s\n' "${like[@]}" >"$wheel.like"
fi
"${cc[@]}" "$venv/bin/pip" install -q --no-build-isolation --no-deps --force-reinstall \
  --config-settings=build-dir="$wheel" "${args[@]}" "$src"
# The installed package and its own library, not the source tree's.
unset PHAXCL_LIBRARY PYTHONPATH
cd "$build"
PHAXCL_CLI=$cli exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$src/tests/python"
