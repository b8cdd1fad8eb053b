#!/usr/bin/env bash
# The shared library exports the public API and nothing else: every defined
# dynamic symbol starts with phx_ and is declared in include/phaxcl.h, and
# every function the header declares is exported.
# usage: test_exports.sh LIBPHAXCL.so SOURCE_ROOT
set -euo pipefail
lib=${1:?usage: test_exports.sh LIB SOURCE_ROOT}
hdr=${2:?usage: test_exports.sh LIB SOURCE_ROOT}/include/phaxcl.h
command -v nm >/dev/null || { echo "SKIP: no nm"; exit 77; }
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u)
declared=$(grep -o 'PHX_API[^(]*(' "$hdr" | grep -o 'phx_[a-z0-9_]*(' | tr -d '(' | sort -u)
bad=0
for s in $exported; do
  if ! grep -qx "$s" <<<"$declared"; then echo "FAIL: $lib exports $s, not in phaxcl.h"; bad=1; fi
done
for s in $declared; do
  if ! grep -qx "$s" <<<"$exported"; then echo "FAIL: phaxcl.h declares $s, $lib lacks it"; bad=1; fi
done
[ $bad = 0 ] && echo "exports: $(wc -w <<<"$exported") symbols, all phx_ and declared"
exit $bad
