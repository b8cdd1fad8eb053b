/* OpenCL device enumeration and selection (see cl_device.h). */
#include "cl_device.h"
#include "cl_probe.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

const char *phx_cl_errname(cl_int e) {
  switch (e) {
#define PHX_CLE(x) case x: return #x;
    PHX_CLE(CL_SUCCESS) PHX_CLE(CL_DEVICE_NOT_FOUND)
    PHX_CLE(CL_DEVICE_NOT_AVAILABLE) PHX_CLE(CL_COMPILER_NOT_AVAILABLE)
    PHX_CLE(CL_MEM_OBJECT_ALLOCATION_FAILURE) PHX_CLE(CL_OUT_OF_RESOURCES)
    PHX_CLE(CL_OUT_OF_HOST_MEMORY) PHX_CLE(CL_PROFILING_INFO_NOT_AVAILABLE)
    PHX_CLE(CL_MEM_COPY_OVERLAP) PHX_CLE(CL_IMAGE_FORMAT_MISMATCH)
    PHX_CLE(CL_IMAGE_FORMAT_NOT_SUPPORTED) PHX_CLE(CL_BUILD_PROGRAM_FAILURE)
    PHX_CLE(CL_MAP_FAILURE) PHX_CLE(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    PHX_CLE(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    PHX_CLE(CL_COMPILE_PROGRAM_FAILURE) PHX_CLE(CL_LINKER_NOT_AVAILABLE)
    PHX_CLE(CL_LINK_PROGRAM_FAILURE) PHX_CLE(CL_DEVICE_PARTITION_FAILED)
    PHX_CLE(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) PHX_CLE(CL_INVALID_VALUE)
    PHX_CLE(CL_INVALID_DEVICE_TYPE) PHX_CLE(CL_INVALID_PLATFORM)
    PHX_CLE(CL_INVALID_DEVICE) PHX_CLE(CL_INVALID_CONTEXT)
    PHX_CLE(CL_INVALID_QUEUE_PROPERTIES) PHX_CLE(CL_INVALID_COMMAND_QUEUE)
    PHX_CLE(CL_INVALID_HOST_PTR) PHX_CLE(CL_INVALID_MEM_OBJECT)
    PHX_CLE(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) PHX_CLE(CL_INVALID_IMAGE_SIZE)
    PHX_CLE(CL_INVALID_SAMPLER) PHX_CLE(CL_INVALID_BINARY)
    PHX_CLE(CL_INVALID_BUILD_OPTIONS) PHX_CLE(CL_INVALID_PROGRAM)
    PHX_CLE(CL_INVALID_PROGRAM_EXECUTABLE) PHX_CLE(CL_INVALID_KERNEL_NAME)
    PHX_CLE(CL_INVALID_KERNEL_DEFINITION) PHX_CLE(CL_INVALID_KERNEL)
    PHX_CLE(CL_INVALID_ARG_INDEX) PHX_CLE(CL_INVALID_ARG_VALUE)
    PHX_CLE(CL_INVALID_ARG_SIZE) PHX_CLE(CL_INVALID_KERNEL_ARGS)
    PHX_CLE(CL_INVALID_WORK_DIMENSION) PHX_CLE(CL_INVALID_WORK_GROUP_SIZE)
    PHX_CLE(CL_INVALID_WORK_ITEM_SIZE) PHX_CLE(CL_INVALID_GLOBAL_OFFSET)
    PHX_CLE(CL_INVALID_EVENT_WAIT_LIST) PHX_CLE(CL_INVALID_EVENT)
    PHX_CLE(CL_INVALID_OPERATION) PHX_CLE(CL_INVALID_GL_OBJECT)
    PHX_CLE(CL_INVALID_BUFFER_SIZE) PHX_CLE(CL_INVALID_MIP_LEVEL)
    PHX_CLE(CL_INVALID_GLOBAL_WORK_SIZE) PHX_CLE(CL_INVALID_PROPERTY)
    PHX_CLE(CL_INVALID_IMAGE_DESCRIPTOR) PHX_CLE(CL_INVALID_COMPILER_OPTIONS)
    PHX_CLE(CL_INVALID_LINKER_OPTIONS) PHX_CLE(CL_INVALID_DEVICE_PARTITION_COUNT)
    PHX_CLE(CL_PLATFORM_NOT_FOUND_KHR)
#undef PHX_CLE
    default: return "unknown OpenCL error";
  }
}

/* Ends a queried string: empty when the query failed, always
 * NUL-terminated, trailing spaces cut. */
static void finish_str(cl_int rc, char *buf, size_t size) {
  if (rc != CL_SUCCESS) buf[0] = 0;
  buf[size - 1] = 0;
  for (size_t l = strlen(buf); l > 0 && isspace((unsigned char)buf[l - 1]);)
    buf[--l] = 0;
}

/* A platform / device string property (see finish_str). */
static void plat_str(cl_platform_id p, cl_platform_info what, char *buf,
                     size_t size) {
  buf[0] = 0;
  finish_str(clGetPlatformInfo(p, what, size - 1, buf, NULL), buf, size);
}

static void dev_str(cl_device_id d, cl_device_info what, char *buf,
                    size_t size) {
  buf[0] = 0;
  finish_str(clGetDeviceInfo(d, what, size - 1, buf, NULL), buf, size);
}

/* Software rasterisers whose OpenCL device is a CPU fallback (Mesa's
 * llvmpipe and softpipe under rusticl or Clover, SwiftShader): slower at
 * this work than a native CPU runtime, so never chosen ahead of one. */
static int is_software(const phx_cl_dev *d) {
  static const char *const names[] = {"llvmpipe", "softpipe", "lavapipe", "SwiftShader"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strstr(d->dname, names[i])) return 1;
  return 0;
}

static phx_cl_class classify(const phx_cl_dev *d) {
  if (strstr(d->pname, "Oclgrind") || strstr(d->dname, "Oclgrind"))
    return PHX_CL_SIMULATOR;
  if (d->type & CL_DEVICE_TYPE_CPU) return PHX_CL_CPU;
  if (d->type & CL_DEVICE_TYPE_GPU) return PHX_CL_GPU;
  if (d->type & CL_DEVICE_TYPE_ACCELERATOR) return PHX_CL_ACCEL;
  return PHX_CL_OTHER;
}

/* Fills one entry from its handles. */
static void describe_device(phx_cl_dev *e, cl_platform_id p, cl_device_id d,
                            int pi, int di) {
  memset(e, 0, sizeof *e);
  e->platform = p;
  e->device = d;
  e->pidx = pi;
  e->didx = di;
  plat_str(p, CL_PLATFORM_NAME, e->pname, sizeof e->pname);
  plat_str(p, CL_PLATFORM_VENDOR, e->pvendor, sizeof e->pvendor);
  plat_str(p, CL_PLATFORM_VERSION, e->pversion, sizeof e->pversion);
  dev_str(d, CL_DEVICE_NAME, e->dname, sizeof e->dname);
  dev_str(d, CL_DEVICE_VENDOR, e->dvendor, sizeof e->dvendor);
  dev_str(d, CL_DEVICE_VERSION, e->dversion, sizeof e->dversion);
  dev_str(d, CL_DRIVER_VERSION, e->driver, sizeof e->driver);
  dev_str(d, CL_DEVICE_OPENCL_C_VERSION, e->cversion, sizeof e->cversion);
  clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof e->type, &e->type, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof e->compute_units,
                  &e->compute_units, NULL);
  clGetDeviceInfo(d, CL_DEVICE_VENDOR_ID, sizeof e->vendor_id, &e->vendor_id,
                  NULL);
  if (clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof e->native_float,
                      &e->native_float, NULL) != CL_SUCCESS)
    e->native_float = 0;
  clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof e->global_mem,
                  &e->global_mem, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof e->max_wg,
                  &e->max_wg, NULL);
  cl_device_fp_config fp = 0;
  if (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL) !=
      CL_SUCCESS)
    fp = 0;
  e->fp64 = fp != 0;
  e->cls = classify(e);
  e->software = is_software(e);
}

phx_status phx_cl_devices(phx_cl_dev **out, int *n, phx_err *err) {
  *out = NULL;
  *n = 0;
  cl_uint np = 0;
  cl_int e = clGetPlatformIDs(0, NULL, &np);
  if (e == CL_PLATFORM_NOT_FOUND_KHR || (e == CL_SUCCESS && np == 0))
    return phx_fail(err, PHX_ENODEV,
                    "opencl: no OpenCL platform found (no ICD registered in "
                    "/etc/OpenCL/vendors, or no driver installed)");
  if (e != CL_SUCCESS)
    return phx_fail(err, PHX_ENODEV, "opencl: clGetPlatformIDs failed: %s",
                    phx_cl_errname(e));
  cl_platform_id *plats = calloc(np, sizeof *plats);
  if (!plats) return phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
  clGetPlatformIDs(np, plats, NULL);
  phx_cl_dev *list = NULL;
  int count = 0;
  for (cl_uint p = 0; p < np; p++) {
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS ||
        nd == 0)
      continue;
    cl_device_id *devs = calloc(nd, sizeof *devs);
    phx_cl_dev *grown = realloc(list, (size_t)(count + (int)nd) * sizeof *list);
    if (!devs || !grown) {
      free(devs);
      free(grown ? grown : list);
      free(plats);
      return phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
    }
    list = grown;
    clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
    for (cl_uint d = 0; d < nd; d++)
      describe_device(&list[count++], plats[p], devs[d], (int)p, (int)d);
    free(devs);
  }
  free(plats);
  if (count == 0) {
    free(list);
    return phx_fail(err, PHX_ENODEV,
                    "opencl: %u OpenCL platform(s) found but no device", np);
  }
  *out = list;
  *n = count;
  return PHX_OK;
}

/* 0 native (GPU, accelerator, CPU runtime), 1 software rasteriser, 2
 * other, 3 simulator. */
static int tier(const phx_cl_dev *d) {
  if (d->cls == PHX_CL_SIMULATOR) return 3;
  if (d->cls == PHX_CL_OTHER) return 2;
  return d->software ? 1 : 0;
}

int phx_cl_needs_probe(const phx_cl_dev *d, int n) {
  int native = 0;
  for (int i = 0; i < n; i++) native += tier(&d[i]) == 0;
  return native > 1;
}

/* Negative when a should be chosen before b. */
static int rank_cmp(const phx_cl_dev *a, const phx_cl_dev *b) {
  if (tier(a) != tier(b)) return tier(a) - tier(b);
  if (tier(a) == 0 && a->probe > 0 && b->probe > 0 &&
      fabs(a->probe - b->probe) > PHX_CL_PROBE_TIE * fmax(a->probe, b->probe))
    return a->probe > b->probe ? -1 : 1;
  if (a->cls != b->cls) return (int)a->cls - (int)b->cls;
  if (a->compute_units != b->compute_units)
    return a->compute_units > b->compute_units ? -1 : 1;
  if (a->pidx != b->pidx) return a->pidx - b->pidx;
  return a->didx - b->didx;
}

int phx_cl_default(const phx_cl_dev *d, int n, int gpu_only) {
  int best = -1;
  for (int i = 0; i < n; i++)
    if (best < 0 || rank_cmp(&d[i], &d[best]) < 0) best = i;
  if (best >= 0 && gpu_only && d[best].cls != PHX_CL_GPU &&
      d[best].cls != PHX_CL_ACCEL)
    return -1;
  return best;
}

static int contains_ci(const char *hay, const char *needle) {
  size_t ln = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < ln && hay[i] &&
           tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == ln) return 1;
  }
  return ln == 0;
}

/* Insertion into idx keeping default-choice order. */
static void add_sorted(const phx_cl_dev *d, int *idx, int *count, int i) {
  int k = *count;
  while (k > 0 && rank_cmp(&d[i], &d[idx[k - 1]]) < 0) {
    idx[k] = idx[k - 1];
    k--;
  }
  idx[k] = i;
  (*count)++;
}

void phx_cl_describe(const phx_cl_dev *d, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s", d->pname, d->dname);
}

phx_status phx_cl_select(const phx_cl_dev *d, int n, const char *spec, const char *from,
                         int allow_all, int gpu_only, int *idx, int *count,
                         phx_err *err) {
  *count = 0;
  if (!from) from = "--device";
  if (!spec || !*spec) {
    int i = phx_cl_default(d, n, gpu_only);
    if (i < 0)
      return phx_fail(err, PHX_ENODEV, "opencl: no %sdevice found",
                      gpu_only ? "GPU or accelerator " : "");
    idx[(*count)++] = i;
    return PHX_OK;
  }
  if (strcmp(spec, "all") == 0) {
    if (!allow_all)
      return phx_fail(err, PHX_EINVAL,
                      "opencl: %s 'all' names several devices; this command "
                      "runs on one", from);
    for (int i = 0; i < n; i++) add_sorted(d, idx, count, i);
    return PHX_OK;
  }
  int p, q, used = 0;
  if (sscanf(spec, "%d:%d%n", &p, &q, &used) == 2 && spec[used] == 0) {
    for (int i = 0; i < n; i++)
      if (d[i].pidx == p && d[i].didx == q) {
        idx[(*count)++] = i;
        return PHX_OK;
      }
  } else {
    for (int i = 0; i < n; i++)
      if (contains_ci(d[i].pname, spec) || contains_ci(d[i].pvendor, spec) ||
          contains_ci(d[i].dname, spec))
        add_sorted(d, idx, count, i);
    if (*count > 0) return PHX_OK;
  }
  char list[400];
  size_t len = 0;
  list[0] = 0;
  for (int i = 0; i < n && len < sizeof list; i++) {
    int w = snprintf(list + len, sizeof list - len, "%s%d:%d %s (%s)",
                     i ? "; " : "", d[i].pidx, d[i].didx, d[i].dname,
                     d[i].pname);
    if (w < 0) break;
    len += (size_t)w;
  }
  return phx_fail(err, PHX_ENODEV,
                  "opencl: no device matches %s '%s'; devices: %s", from, spec,
                  list);
}

const char *phx_cl_type_name(const phx_cl_dev *d) {
  switch (d->cls) {
    case PHX_CL_GPU: return "GPU";
    case PHX_CL_ACCEL: return "accelerator";
    case PHX_CL_CPU: return "CPU";
    case PHX_CL_SIMULATOR: return "simulator";
    default: return "other";
  }
}

/* The public listing (phaxcl.h): the enumeration in plain types, with the
 * default device marked. */
phx_status phx_devices(phx_device_info **out, int *count, phx_err *err) {
  *out = NULL;
  *count = 0;
  phx_cl_dev *d = NULL;
  int n = 0;
  phx_status s = phx_cl_devices(&d, &n, err);
  if (s != PHX_OK) return s;
  phx_device_info *r = calloc((size_t)n, sizeof *r);
  if (!r) {
    free(d);
    return phx_fail(err, PHX_ENOMEM, "opencl: out of memory");
  }
  /* every device's probe figure (simulators' aside), as `devices` shows */
  phx_backend_conf conf;
  if (phx_backend_conf_resolve(NULL, &conf, NULL) == PHX_OK) phx_cl_probe_devices(d, n, &conf, 1);
  const int def = phx_cl_default(d, n, 0);
  for (int i = 0; i < n; i++) {
    phx_device_info *e = &r[i];
    e->platform = d[i].pidx;
    e->index = d[i].didx;
    snprintf(e->type, sizeof e->type, "%s", phx_cl_type_name(&d[i]));
    snprintf(e->platform_name, sizeof e->platform_name, "%s", d[i].pname);
    snprintf(e->platform_vendor, sizeof e->platform_vendor, "%s", d[i].pvendor);
    snprintf(e->platform_version, sizeof e->platform_version, "%s", d[i].pversion);
    snprintf(e->name, sizeof e->name, "%s", d[i].dname);
    snprintf(e->vendor, sizeof e->vendor, "%s", d[i].dvendor);
    snprintf(e->version, sizeof e->version, "%s", d[i].dversion);
    snprintf(e->driver, sizeof e->driver, "%s", d[i].driver);
    snprintf(e->c_version, sizeof e->c_version, "%s", d[i].cversion);
    e->compute_units = d[i].compute_units;
    e->global_mem = d[i].global_mem;
    e->max_work_group = d[i].max_wg;
    e->fp64 = d[i].fp64;
    e->is_default = i == def;
    e->software = d[i].software;
    e->probe = d[i].probe;
  }
  free(d);
  *out = r;
  *count = n;
  return PHX_OK;
}

void phx_devices_free(phx_device_info *d) { free(d); }
