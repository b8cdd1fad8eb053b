#!/usr/bin/env python3
"""Tunes CLBlast's direct GEMM kernel for one OpenCL device and writes the
best parameters to data/clblast/<device>.txt, the file the OpenCL backend
applies (embedded at build time; or at run time with
PHAXCL_CLBLAST_PARAMS=FILE, without rebuilding).

A developer action, not part of the tests: it runs clblast_tuner_xgemm_direct
(Debian package clblast-utils) on a random sample of the search space.

Usage: tools/tune_clblast.py --platform P --device D [--fraction F]
                             [--size N] [--out FILE]

P and D are the indices `phaxcl devices` shows as P:D. Then add the file to
clblast_params in cl/meson.build (new files only) and rebuild.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

# XgemmDirect's parameters (CLBlastOverrideParameters wants all of them;
# PRECISION is implied by the call).
DIRECT = ['WGD', 'MDIMCD', 'NDIMCD', 'MDIMAD', 'NDIMBD', 'KWID', 'VWMD', 'VWND',
          'PADA', 'PADB']


def slug(name):
    return re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--platform', type=int, required=True)
    ap.add_argument('--device', type=int, default=0)
    ap.add_argument('--fraction', type=float, default=0.01,
                    help='share of the search space to try (default 0.01)')
    ap.add_argument('--size', type=int, default=256, help='m = n = k (default 256)')
    ap.add_argument('--timeout', type=int, default=1200, help='seconds (default 1200)')
    ap.add_argument('--out', help='output file (default data/clblast/<device>.txt)')
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix='phaxcl-tune-')
    cmd = ['clblast_tuner_xgemm_direct', '-platform', str(a.platform), '-device',
           str(a.device), '-precision', '32', '-m', str(a.size), '-n', str(a.size),
           '-k', str(a.size), '-fraction', str(a.fraction)]
    print('running:', ' '.join(cmd), '(in %s)' % work, flush=True)
    try:
        subprocess.run(cmd, cwd=work, timeout=a.timeout, check=False)
    except FileNotFoundError:
        sys.exit('clblast_tuner_xgemm_direct not found (apt-get install clblast-utils)')
    except subprocess.TimeoutExpired:
        print('tuner stopped after %d s; using what it wrote' % a.timeout)
    best = None
    # the tuner writes one JSON per search phase (xgemm_direct_1, _2)
    for path in sorted(glob.glob(os.path.join(work, 'clblast_xgemm_direct*_32.json'))):
        with open(path) as f:
            d = json.load(f)
        for r in d.get('results', []):
            if best is None or float(r['time']) < float(best[1]['time']):
                best = (d, r)
    if best is None:
        sys.exit('the tuner wrote no results in %s' % work)
    d, r = best
    p = r['parameters']
    missing = [k for k in DIRECT if k not in p]
    if missing:
        sys.exit('tuner result lacks %s' % ', '.join(missing))
    n = a.size
    gflops = 2.0 * n * n * n / (float(r['time']) * 1e-3) * 1e-9
    dev = d['device']
    out = a.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data',
                                'clblast', slug(d.get('platform_vendor', '')[:4] + ' ' + dev) + '.txt')
    with open(out, 'w') as f:
        f.write('# CLBlast parameters for %s (%s).\n' % (dev, d.get('platform_version', '')))
        f.write('# tools/tune_clblast.py: clblast_tuner_xgemm_direct %dx%dx%d, fraction %g;\n'
                % (n, n, n, a.fraction))
        f.write('# best %s: %.3f ms, %.1f GFLOP/s.\n' % (r['kernel'], float(r['time']), gflops))
        f.write('device %s\n' % dev)
        f.write('XgemmDirect %s\n' % ' '.join('%s=%d' % (k, int(p[k])) for k in DIRECT))
    print('wrote %s (%.1f GFLOP/s at %d^3)' % (out, gflops, n))


if __name__ == '__main__':
    main()
