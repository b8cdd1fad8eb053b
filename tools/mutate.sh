#!/usr/bin/env bash
# Mutation testing: plants each mutant of a list (default tests/mutants.txt;
# format in its header) one at a time in a scratch copy of the working
# tree, rebuilds, runs the fast suites (c, data, model, train, cli, or the
# mutant's own meson test arguments) and reports which mutants the tests
# caught. A mutant that survives marks a missing test. Run it before large
# changes land. The scratch copy (build without OpenCL unless
# PHX_MUTATE_OPENCL=1) lives under build-mutate/ and is reused.
# usage: tools/mutate.sh [LIST] [FIRST [LAST]]   (mutants by 1-based number)
set -uo pipefail
cd "$(dirname "$0")/.."
list=${1:-tests/mutants.txt}
first=${2:-1}
last=${3:-1000000}
root=$PWD/build-mutate
src=$root/src
mkdir -p "$src"
# A fresh copy of every tracked and untracked (not ignored) file; files
# that changed get the current time (tar -m), so the scratch build cannot
# mistake them for older than its objects.
git ls-files -co --exclude-standard -z | tar --null -cf - -T - | tar -xmf - -C "$src" || exit 1
opencl=disabled
[ "${PHX_MUTATE_OPENCL:-0}" = 1 ] && opencl=auto
if [ ! -f "$src/build/build.ninja" ]; then
  meson setup "$src/build" "$src" -Dopencl=$opencl >/dev/null || exit 1
fi
default_tests="--suite c --suite data --suite model --suite train --suite cli"
run_tests() { # $1: meson test arguments
  # shellcheck disable=SC2086
  timeout 900 meson test -C "$src/build" --num-processes 2 --no-rebuild $1 >/dev/null 2>&1
}
echo "mutate: baseline build and tests"
meson compile -C "$src/build" >/dev/null 2>&1 || { echo "mutate: baseline build fails"; exit 1; }
run_tests "$default_tests" || { echo "mutate: baseline tests fail; fix them first"; exit 1; }

# Applies or checks one mutant with Python (exact text, exactly once).
apply() { # file from to
  python3 - "$@" <<'PY'
import sys
path, a, b = sys.argv[1:4]
dec = lambda s: s.encode('ascii').decode('unicode_escape')
a, b = dec(a), dec(b)
text = open(path).read()
n = text.count(a)
if n != 1:
    print(f"occurs {n} times", end="")
    sys.exit(1)
open(path, 'w').write(text.replace(a, b))
PY
}

killed=0 survived=0 broken=0 invalid=0 n=0
survivors=()
while IFS=$'\t' read -r file from to tests || [ -n "${file:-}" ]; do
  case "$file" in ''|'#'*) continue ;; esac
  n=$((n + 1))
  [ "$n" -lt "$first" ] || [ "$n" -gt "$last" ] && continue
  what="#$n $file: ${from:0:60} -> ${to:0:60}"
  cp "$src/$file" "$root/original"
  if ! why=$(apply "$src/$file" "$from" "$to"); then
    echo "INVALID   $what ($why)"
    invalid=$((invalid + 1))
    continue
  fi
  if ! meson compile -C "$src/build" >/dev/null 2>&1; then
    echo "BROKEN    $what (does not compile: not counted)"
    broken=$((broken + 1))
  elif run_tests "${tests:-$default_tests}"; then
    echo "SURVIVED  $what"
    survived=$((survived + 1))
    survivors+=("#$n")
  else
    echo "KILLED    $what"
    killed=$((killed + 1))
  fi
  cp "$root/original" "$src/$file"
done <"$list"
meson compile -C "$src/build" >/dev/null 2>&1
total=$((killed + survived))
score=$(python3 -c "print(f'{100 * $killed / $total:.1f}' if $total else 'n/a')")
echo "mutate: $killed of $total mutants killed ($score %), $survived survived" \
  "${survivors[*]:-}, $broken did not compile, $invalid not applicable"
[ "$survived" = 0 ]
