#!/bin/sh
# Writes one OpenCL vendor folder per implementation the suite covers,
# OUT/NAME/NAME.icd, so that each OpenCL test loads that implementation
# alone (OCL_ICD_VENDORS=OUT/NAME): two LLVM-based runtimes in one process
# can crash the ICD loader (ocl-icd issue 24, pocl issue 46). The library
# is the one a registered .icd names, else the Debian package's; a library
# that is not installed leaves its tests with no device, so they skip.
# Also OUT/others (GPU drivers) and OUT/pocl-oclgrind (see the end).
# Usage: icd_dirs.sh OUT
set -eu
out=$1
vendors=${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}
[ -d "$vendors" ] || vendors=/etc/OpenCL/vendors
for spec in pocl:libpocl:libpocl.so.2 \
            oclgrind:oclgrind:/usr/lib/oclgrind/liboclgrind-rt-icd.so \
            rusticl:rusticl:libRusticlOpenCL.so.1; do
  name=${spec%%:*}
  rest=${spec#*:}
  pattern=${rest%%:*}
  lib=${rest#*:}
  for f in "$vendors"/*.icd; do
    [ -r "$f" ] || continue
    l=$(head -n 1 "$f")
    case $(printf '%s' "$l" | tr '[:upper:]' '[:lower:]') in *"$pattern"*) lib=$l; break ;; esac
  done
  mkdir -p "$out/$name"
  printf '%s\n' "$lib" > "$out/$name/$name.icd.tmp"
  mv "$out/$name/$name.icd.tmp" "$out/$name/$name.icd"
done
# Every other registered implementation (a GPU's driver: NVIDIA, AMD,
# Intel), for the same tests on a machine that has one (tools/device-check.sh);
# empty here, so those tests skip. Clover (libMesaOpenCL) is left out: it
# drives the same Mesa devices as rusticl, older.
mkdir -p "$out/others"
rm -f "$out/others/"*.icd
for f in "$vendors"/*.icd; do
  [ -r "$f" ] || continue
  case $(head -n 1 "$f" | tr '[:upper:]' '[:lower:]') in
    *libpocl*|*oclgrind*|*rusticl*|*mesaopencl*) ;;
    *) cp "$f" "$out/others/" ;;
  esac
done
# meson registers the 'others' tests only when there is one (no skips for
# a GPU this machine does not have)
ls "$out/others/"*.icd >/dev/null 2>&1 && echo others
# The pair the command-line tests use (PoCL by default, Oclgrind by name):
# these two coexist in one process.
mkdir -p "$out/pocl-oclgrind"
cp "$out/pocl/pocl.icd" "$out/oclgrind/oclgrind.icd" "$out/pocl-oclgrind/"
