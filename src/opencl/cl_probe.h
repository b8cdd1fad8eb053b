/* The training probe that orders devices by measured speed (cl_probe.c). */
#ifndef PHX_CL_PROBE_H
#define PHX_CL_PROBE_H

#include "cl_device.h"

/* Samples/s of device d on the paper task's training step, from the cache
 * folder of conf when a figure is there, else measured (about 0.2 s after
 * the kernel builds) and stored. 0 when the device cannot run it. */
double phx_cl_probe(const phx_cl_dev *d, const phx_backend_conf *conf);

/* Sets d[i].probe: for every device but simulators when all, else only
 * where the default choice needs it (two or more native devices). */
void phx_cl_probe_devices(phx_cl_dev *d, int n, const phx_backend_conf *conf, int all);

#endif /* PHX_CL_PROBE_H */
