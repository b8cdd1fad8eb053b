/* Device selection and kernel-build failures: a spec that matches nothing
 * (argument or $PHAXCL_DEVICE) is PHX_ENODEV listing the devices; names
 * match case-insensitively; "auto" only takes a GPU or accelerator; kernels
 * from PHAXCL_KERNEL_DIR build, and a syntax error there is PHX_EBUILD with
 * the device name and the compiler's log. */
#include <ctype.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_source.h"
#include "test_opencl_util.h"

static void check_selection(const phx_cl_dev *devs, int n) {
  phx_backend *b = NULL;
  phx_err err = {0};
  phx_status s = phx_backend_new("opencl", "no-such-device-xyz", 0, &b, &err);
  TCL_EXPECT(s == PHX_ENODEV && !b, "bad spec: status %s", phx_status_name(s));
  TCL_EXPECT(strstr(err.msg, "no-such-device-xyz") != NULL, "message lacks the spec: %s",
             err.msg);
  for (int i = 0; i < n; i++)
    TCL_EXPECT(strstr(err.msg, devs[i].dname) != NULL, "message lacks device %s: %s",
               devs[i].dname, err.msg);
  printf("bad spec: %s\n", err.msg);
  s = phx_backend_new("opencl", "7:7", 0, &b, &err);
  TCL_EXPECT(s == PHX_ENODEV, "7:7: status %s", phx_status_name(s));
  s = phx_backend_new("opencl", "all", 0, &b, &err);
  TCL_EXPECT(s == PHX_EINVAL, "'all' as one backend: status %s", phx_status_name(s));
  setenv("PHAXCL_DEVICE", "bogus-env-device", 1);
  s = phx_backend_new("opencl", NULL, 0, &b, &err);
  TCL_EXPECT(s == PHX_ENODEV && strstr(err.msg, "PHAXCL_DEVICE"),
             "bad $PHAXCL_DEVICE: %s %s", phx_status_name(s), err.msg);
  unsetenv("PHAXCL_DEVICE");

  /* each device by P:D, and by its platform's first word in lower case */
  for (int i = 0; i < n; i++) {
    char spec[64], word[64];
    snprintf(spec, sizeof spec, "%d:%d", devs[i].pidx, devs[i].didx);
    s = phx_backend_new("opencl", spec, 0, &b, &err);
    TCL_EXPECT(s == PHX_OK && strstr(phx_backend_device(b), devs[i].dname),
               "%s: %s", spec, err.msg);
    phx_backend_free(b);
    b = NULL;
    size_t k = 0;
    for (; devs[i].pname[k] && devs[i].pname[k] != ' ' && k + 1 < sizeof word; k++)
      word[k] = (char)tolower((unsigned char)devs[i].pname[k]);
    word[k] = 0;
    s = phx_backend_new("opencl", word, 0, &b, &err);
    TCL_EXPECT(s == PHX_OK && strstr(phx_backend_device(b), devs[i].pname),
               "'%s' did not select platform %s: %s", word, devs[i].pname, err.msg);
    phx_backend_free(b);
    b = NULL;
  }

  /* auto: an OpenCL GPU/accelerator, else the C path */
  const int def = phx_cl_default(devs, n, 1);
  phx_backend_conf conf;
  s = phx_backend_conf_resolve(NULL, &conf, &err);
  if (!s) s = phx_backend_opencl_new(&conf, 1, &b, &err);
  TCL_EXPECT(def >= 0 ? s == PHX_OK : s == PHX_ENODEV, "gpu_only: %s", phx_status_name(s));
  phx_backend_free(b);
  b = NULL;
  s = phx_backend_new("auto", NULL, 0, &b, &err);
  TCL_EXPECT(s == PHX_OK && strcmp(phx_backend_name(b), def >= 0 ? "opencl" : "c") == 0,
             "auto chose %s", b ? phx_backend_name(b) : "nothing");
  phx_backend_free(b);
}

/* Writes the embedded kernels to dir; `broken` gets a syntax error. */
static void write_kernels(const char *dir, const char *broken) {
  for (int i = 0; i < phx_cl_nfiles; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, phx_cl_files[i].name);
    FILE *f = fopen(path, "w");
    if (!f) {
      tcl_fail("cannot write %s", path);
      continue;
    }
    fputs(phx_cl_files[i].text, f);
    if (broken && strcmp(broken, phx_cl_files[i].name) == 0)
      fputs("\n__kernel void phx_broken(void) { undeclared_thing = 1 }\n", f);
    fclose(f);
  }
}

static phx_status prepare_on(const phx_cl_dev *d, phx_err *err) {
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", d->pidx, d->didx);
  phx_backend *b = NULL;
  phx_status s = phx_backend_new("opencl", spec, 0, &b, err);
  if (!s) {
    phx_model_opts mo;
    phx_model_opts_default(&mo);
    phx_consts c;
    phx_consts_from_opts(&c, &mo);
    s = phx_backend_prepare(b, &c, err);
  }
  phx_backend_free(b);
  return s;
}

static void check_kernel_dir(const phx_cl_dev *devs, int n) {
  char dir[] = "/tmp/phaxcl-kernels-XXXXXX";
  if (!mkdtemp(dir)) {
    tcl_fail("mkdtemp");
    return;
  }
  setenv("PHAXCL_CACHE", "0", 1);
  setenv("PHAXCL_KERNEL_DIR", dir, 1);
  phx_err err = {0};
  write_kernels(dir, NULL);
  for (int i = 0; i < n; i++) {
    phx_status s = prepare_on(&devs[i], &err);
    TCL_EXPECT(s == PHX_OK, "%s: kernels from PHAXCL_KERNEL_DIR: %s", devs[i].dname, err.msg);
  }
  write_kernels(dir, "map.cl");
  for (int i = 0; i < n; i++) {
    phx_status s = prepare_on(&devs[i], &err);
    printf("syntax error on %s: %s\n", devs[i].dname, err.msg);
    TCL_EXPECT(s == PHX_EBUILD, "%s: broken kernel gave %s", devs[i].dname,
               phx_status_name(s));
    TCL_EXPECT(strstr(err.msg, devs[i].dname) != NULL, "message lacks the device: %s",
               err.msg);
    TCL_EXPECT(strstr(err.msg, "undeclared_thing") != NULL,
               "message lacks the build log: %s", err.msg);
  }
  char path[512];
  snprintf(path, sizeof path, "%s/optim.cl", dir);
  unlink(path);
  phx_status s = prepare_on(&devs[0], &err);
  TCL_EXPECT(s == PHX_EIO && strstr(err.msg, path), "missing kernel file: %s %s",
             phx_status_name(s), err.msg);
  unsetenv("PHAXCL_KERNEL_DIR");
  unsetenv("PHAXCL_CACHE");
  for (int i = 0; i < phx_cl_nfiles; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, phx_cl_files[i].name);
    unlink(path);
  }
  rmdir(dir);
}

int main(void) {
  int n = 0;
  phx_cl_dev *devs = tcl_devices(&n);
  unsetenv("PHAXCL_DEVICE");
  check_selection(devs, n);
  check_kernel_dir(devs, n);
  free(devs);
  return tcl_failures ? 1 : 0;
}
