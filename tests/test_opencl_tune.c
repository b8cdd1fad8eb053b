/* Per-device choices and CLBlast parameters: the most specific section of a
 * parameter file wins (device name, then type and vendor, then type, then
 * ANY), and one backend instance's CLBlast parameters never reach another
 * instance on the same device (CLBlast keeps them per device, process-wide). */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <string.h>

#include "cl_tune.h"
#include "op_desc.h"
#include "test_opencl_util.h"
#include "test_util.h"

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "FATAL cannot write %s\n", path);
    exit(1);
  }
}

/* The fallback order, on one device's real identity. */
static void test_choose(const phx_cl_dev *d, const char *path) {
  char text[2048];
  const char *type = d->cls == PHX_CL_CPU ? "CPU" : d->cls == PHX_CL_GPU ? "GPU" : "ANY";
  /* type and ANY only */
  snprintf(text, sizeof text,
           "match type=ANY\nphaxcl gemm=clblast gv=1 wg=16\n"
           "match type=%s\nphaxcl gv=8\n",
           type);
  write_file(path, text);
  phx_cl_tuning t;
  phx_cl_tune_choose(d, path, 0, &t);
  CHECKF(t.gv == (strcmp(type, "ANY") ? 8 : 1) && t.wg == 16 && t.gemm == 0,
         "%s: type over ANY: gv %d wg %d gemm %d", d->dname, t.gv, t.wg, t.gemm);
  phx_cl_tuning_free(&t);
  /* vendor beats type; the exact name beats both; other names are ignored */
  snprintf(text, sizeof text,
           "match type=ANY\nphaxcl gemm=clblast gv=1 wg=16\n"
           "device %s\nphaxcl wg=4\n"
           "match type=%s vendor=%.40s\nphaxcl gv=16 wg=8\n"
           "device not-this-device\nphaxcl wg=2 gemm=own\n",
           d->dname, type, d->dvendor);
  write_file(path, text);
  phx_cl_tune_choose(d, path, 0, &t);
  CHECKF(t.wg == 4 && t.gv == 16 && t.gemm == 0, "%s: device > vendor: gv %d wg %d gemm %d",
         d->dname, t.gv, t.wg, t.gemm);
  phx_cl_tuning_free(&t);
  /* CLBlast lines come from the most specific section that has any */
  snprintf(text, sizeof text,
           "match type=ANY\nXgemmDirect WGD=8 MDIMCD=8 NDIMCD=8 MDIMAD=8 NDIMBD=8 KWID=2 "
           "VWMD=1 VWND=1 PADA=1 PADB=1\n"
           "device %s\nXgemmDirect WGD=16 MDIMCD=8 NDIMCD=8 MDIMAD=8 NDIMBD=8 KWID=2 "
           "VWMD=1 VWND=1 PADA=1 PADB=1\n",
           d->dname);
  write_file(path, text);
  phx_cl_tune_choose(d, path, 0, &t);
  CHECKF(t.clblast && strstr(t.clblast, "WGD=16") && !strstr(t.clblast, "WGD=8 "),
         "%s: CLBlast lines of the device section: %s", d->dname, t.clblast ? t.clblast : "none");
  phx_cl_tuning_free(&t);
  phx_cl_tune_choose(d, "0", 0, &t);
  CHECKF(!t.clblast, "%s: \"0\" applies no CLBlast parameters", d->dname);
  phx_cl_tuning_free(&t);
}

/* A backend made with these options. */
static phx_backend *backend(const char *spec, const char *gemm, const char *params) {
  phx_backend_opts o;
  phx_backend_opts_default(&o);
  o.device = spec;
  o.gemm = gemm;
  o.clblast_params = params;
  phx_err err = {PHX_OK, ""};
  phx_backend *b = NULL;
  must(phx_backend_new_opts("opencl", &o, &b, &err), &err, spec);
  return b;
}

/* gemm NN (case 0 of the descriptor) on b: its status, C in *c. */
static phx_status gemm_on(phx_backend *b, double **c, size_t *count) {
  const phx_op_sizes sz = {20, 12, 9};
  phx_op_inst t;
  double *out[PHX_OP_MAXBUF] = {0};
  phx_err err = {PHX_OK, ""};
  must(phx_op_inst_init(&t, phx_op_descs[PHX_OP_gemm], 0, &sz, 3, &err), &err, "case");
  phx_status s = phx_op_inst_exec(&t, b, -1, 1, out, NULL, &err);
  *c = out[2];
  out[2] = NULL;
  *count = t.need[2];
  phx_op_outs_free(out);
  phx_op_inst_free(&t);
  return s;
}

/* Instance A sets CLBlast parameters that cannot run (a work-group far
 * beyond any device's limit), so any CLBlast product with them fails:
 * instance B, made without parameters, must still compute, with its own
 * kernels, exactly what they give. */
static void test_no_leak(const phx_cl_dev *d, const char *path) {
  char spec[32], text[1024];
  snprintf(spec, sizeof spec, "%d:%d", d->pidx, d->didx);
  snprintf(text, sizeof text,
           "device %s\nXgemmDirect WGD=256 MDIMCD=256 NDIMCD=256 MDIMAD=256 NDIMBD=256 "
           "KWID=2 VWMD=1 VWND=1 PADA=1 PADB=1\n",
           d->dname);
  write_file(path, text);
  size_t n = 0;
  double *own = NULL, *plain = NULL, *bad = NULL;
  phx_backend *o = backend(spec, "own", "0");
  CHECKF(gemm_on(o, &own, &n) == PHX_OK, "%s: own kernels", d->dname);
  phx_backend_free(o);
  phx_backend *a = backend(spec, "clblast", path); /* stays alive */
  const phx_status sa = gemm_on(a, &bad, &n);
  CHECKF(sa != PHX_OK, "%s: A's broken CLBlast parameters were not applied", d->dname);
  phx_backend *b = backend(spec, "clblast", "0");
  const phx_status sb = gemm_on(b, &plain, &n);
  CHECKF(sb == PHX_OK, "%s: B ran CLBlast with A's parameters: %s", d->dname,
         phx_status_name(sb));
  int same = sb == PHX_OK && own && plain;
  for (size_t i = 0; same && i < n; i++) same &= plain[i] == own[i];
  CHECKF(same, "%s: B's product differs from the own kernels'", d->dname);
  printf("  %s: choices by device/vendor/type/ANY; no CLBlast parameter leak\n", d->dname);
  phx_backend_free(b);
  phx_backend_free(a);
  free(own);
  free(plain);
  free(bad);
}
/* The shared constants (tile sizes) set per device: the own products stay
 * right at other sizes than the defaults, every gemm case against the
 * float64 reference. */
static void test_tiles(const phx_cl_dev *d, const char *path) {
  static const int tiles[][2] = {{2, 3}, {1, 16}, {8, 1}};
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", d->pidx, d->didx);
  const phx_op_desc *g = phx_op_descs[PHX_OP_gemm];
  const phx_op_sizes sz = {9, 11, 7};
  for (size_t k = 0; k < sizeof tiles / sizeof tiles[0]; k++) {
    char text[256];
    snprintf(text, sizeof text, "match type=ANY\nphaxcl nt_tile=%d xn_rows=%d\n", tiles[k][0],
             tiles[k][1]);
    write_file(path, text);
    phx_backend *b = backend(spec, "own", path);
    for (int i = 0; i < g->ncases; i++) {
      if (i % 4 == 3) continue; /* TT runs on CLBlast */
      phx_op_inst t;
      double *got[PHX_OP_MAXBUF], *ref[PHX_OP_MAXBUF];
      phx_err err = {PHX_OK, ""};
      must(phx_op_inst_init(&t, g, i, &sz, 5, &err), &err, "case");
      must(phx_op_inst_ref(&t, ref, &err), &err, "ref");
      must(phx_op_inst_exec(&t, b, -1, 1, got, NULL, &err), &err, "gemm");
      int bad = 0;
      for (size_t e = 0; e < t.need[2]; e++)
        bad += !(fabs(got[2][e] - ref[2][e]) <= 1e-4 + 1e-4 * fabs(ref[2][e]));
      CHECKF(!bad, "%s: nt_tile %d xn_rows %d, gemm(%s): %d wrong elements", d->dname,
             tiles[k][0], tiles[k][1], t.c.label, bad);
      phx_op_outs_free(got);
      phx_op_outs_free(ref);
      phx_op_inst_free(&t);
    }
    phx_backend_free(b);
  }
}

int main(void) {
  int n = 0;
  phx_cl_dev *devs = tcl_devices(&n);
  if (tmpdir_make("tune")) return 1;
  char path[512];
  snprintf(path, sizeof path, "%s", in_dir("params.txt"));
  for (int i = 0; i < n; i++) {
    test_choose(&devs[i], path);
    test_tiles(&devs[i], path);
    if (!tcl_is_simulator(&devs[i])) test_no_leak(&devs[i], path);
  }
  tmpdir_remove();
  free(devs);
  return finish("opencl_tune") || tcl_failures;
}
