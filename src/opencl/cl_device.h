/* OpenCL platforms and devices: enumeration, the default choice, selection
 * by spec ("P:D", a case-insensitive substring of platform name, platform
 * vendor or device name, "all"), and the names of OpenCL error codes. */
#ifndef PHX_CL_DEVICE_H
#define PHX_CL_DEVICE_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include "backend.h"

/* Device classes in default-choice order. A device reporting several type
 * bits including CPU counts as CPU; a simulator (Oclgrind) comes last. */
typedef enum {
  PHX_CL_GPU = 0,
  PHX_CL_ACCEL = 1,
  PHX_CL_CPU = 2,
  PHX_CL_OTHER = 3,
  PHX_CL_SIMULATOR = 4
} phx_cl_class;

typedef struct phx_cl_dev {
  cl_platform_id platform;
  cl_device_id device;
  int pidx, didx; /* the "P:D" of this device */
  phx_cl_class cls;
  cl_device_type type;
  cl_uint compute_units;
  cl_uint vendor_id;
  cl_ulong global_mem;
  cl_uint native_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT */
  size_t max_wg;
  int fp64;
  int software; /* a rasteriser's CPU fallback (llvmpipe, ...), see classify */
  double probe; /* samples/s of the training probe (cl_probe.c), 0 = not run */
  char pname[128], pvendor[128], pversion[256];
  char dname[256], dvendor[128], dversion[128], driver[128], cversion[128];
} phx_cl_dev;

/* Every device of every platform, in P:D order (caller frees *out). No ICD
 * or no platform: PHX_ENODEV with a message saying so. */
phx_status phx_cl_devices(phx_cl_dev **out, int *n, phx_err *err);

/* Index of the device used when none is named. Native devices (GPU,
 * accelerator, CPU runtime) come first, then software rasterisers'
 * fallbacks, other devices, simulators. Among native devices the higher
 * probe figure wins (cl_probe.c); figures within PHX_CL_PROBE_TIE of each
 * other, or none, fall back to GPU > accelerator > CPU, then most compute
 * units, then P:D order. With gpu_only, -1 unless the best is a GPU or
 * accelerator. -1 when n == 0. */
int phx_cl_default(const phx_cl_dev *d, int n, int gpu_only);

/* Relative difference under which two probe figures count as a tie. */
#define PHX_CL_PROBE_TIE 0.10

/* 1 when the choice among d needs probe figures: two or more native
 * devices. */
int phx_cl_needs_probe(const phx_cl_dev *d, int n);

/* Resolves spec into indices (in default-choice order), at most n of them:
 * "all" (only when allow_all), "P:D", or a substring. NULL or "" is the
 * default (gpu_only applies only then). A spec that matches nothing:
 * PHX_ENODEV listing the devices that exist; `from` names where the spec
 * came from in messages ("--device", "PHAXCL_DEVICE"). */
phx_status phx_cl_select(const phx_cl_dev *d, int n, const char *spec, const char *from,
                         int allow_all, int gpu_only, int *idx, int *count,
                         phx_err *err);

/* "Platform name: device name", the description backends show. */
void phx_cl_describe(const phx_cl_dev *d, char *buf, size_t size);

/* Short names: "GPU", "CPU", "accelerator", ...; "CL_OUT_OF_RESOURCES". */
const char *phx_cl_type_name(const phx_cl_dev *d);
const char *phx_cl_errname(cl_int e);

#endif /* PHX_CL_DEVICE_H */
