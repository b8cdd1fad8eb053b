/* Suite 'spice': the circuit library. The tanh fitter on curves with known
 * parameters; every exported resistor equal to 1/g of theta and wired to
 * the right rows; the closed loop through ngspice on small random nets
 * (behavioural: within 10 uV of the model, both engines agreeing, the
 * measured power equal to the crossbar dissipation); user subcircuits with
 * the wrong ports and missing simulators or models refused with a message
 * naming the file. Exits 77 only when no ngspice can be had. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* v = a1 + a2 tanh(a4 (z - a3)) at n points over [-0.25, 0.25], plus a
 * deterministic uniform noise of +-amp. */
static void curve(const double a[4], int n, double amp, double *z, double *v) {
  uint64_t s = 0x9e3779b97f4a7c15u;
  for (int i = 0; i < n; i++) {
    z[i] = -0.25 + 0.5 * i / (n - 1);
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double u = (double)(s >> 11) / 9007199254740992.0 * 2 - 1;
    v[i] = a[0] + a[1] * tanh(a[3] * (z[i] - a[2])) + amp * u;
  }
}

static void test_fit(void) {
  /* the 90 nm default, the sky130 o- and o+ shapes */
  static const double truth[3][4] = {{-0.0012, -0.2483, -0.0235, 31.7581},
                                     {-0.0008, -0.2479, -0.0224, 118.4},
                                     {0.0000, 0.2500, -0.0215, 2930}};
  enum { N = 2001 };
  static double z[N], v[N];
  phx_err err = {0};
  for (int t = 0; t < 3; t++) {
    double a[4] = {0}, rms = -1;
    curve(truth[t], N, 0, z, v);
    must(phx_fit_tanh(z, v, N, a, &rms, &err), &err, "fit exact curve");
    for (int k = 0; k < 4; k++)
      CHECKF(fabs(a[k] - truth[t][k]) <= 1e-6 * fabs(truth[t][k]) + 1e-9,
             "curve %d: a%d = %.9g, expected %.9g", t, k + 1, a[k], truth[t][k]);
    CHECKF(rms < 1e-9, "curve %d: rms %g V on an exact curve", t, rms);
    /* +-1 mV uniform noise: rms 0.577 mV; the parameters barely move */
    memset(a, 0, sizeof a);
    curve(truth[t], N, 1e-3, z, v);
    must(phx_fit_tanh(z, v, N, a, &rms, &err), &err, "fit noisy curve");
    CHECKF(fabs(rms - 1e-3 / sqrt(3)) < 0.05e-3, "curve %d: rms %g V with 0.577 mV noise", t,
           rms);
    CHECKF(fabs(a[2] - truth[t][2]) < 0.2e-3 && fabs(a[3] / truth[t][3] - 1) < 0.1 &&
               fabs(a[1] / truth[t][1] - 1) < 0.01,
           "curve %d: noisy fit %g %g %g %g", t, a[0], a[1], a[2], a[3]);
  }
  double a[4] = {0};
  CHECK(phx_fit_tanh(z, v, 3, a, NULL, &err) == PHX_EINVAL);
  v[7] = NAN;
  CHECK(phx_fit_tanh(z, v, N, a, NULL, &err) == PHX_ENAN);
}

/* A random net with conductances over the whole range. */
static phx_model *net(int nl, const int *sizes, uint64_t seed) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = nl;
  for (int l = 0; l <= nl; l++) o.sizes[l] = sizes[l];
  phx_model *m = NULL;
  phx_err err = {0};
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, seed);
  for (int l = 0; l < nl; l++) {
    float *t = phx_model_theta(m, l);
    size_t n = (size_t)phx_model_rows(m, l) * phx_model_cols(m, l);
    for (size_t i = 0; i < n; i++) t[i] *= 8;
  }
  return m;
}

static double g_of(const phx_model *m, float th) {
  const phx_model_opts *o = phx_model_get_opts(m);
  return o->gmin * (1 + (o->ratio - 1) / (1 + exp(-(double)th)));
}

/* Every R line of the netlist: value 1/g to 1e-6 and the row node the
 * model's row order says (bias pair, p rows, n rows; hidden rows o-, o+). */
static void test_export(void) {
  static const int sizes[] = {5, 4, 3};
  phx_model *m = net(2, sizes, 3);
  phx_inverter inv;
  phx_inverter_default(&inv);
  phx_err err = {0};
  const char *path = in_dir("net.cir");
  must(phx_export_spice(m, &inv, NULL, path, &err), &err, "export spice");
  FILE *f = fopen(path, "r");
  char line[4096];
  int seen = 0;
  while (f && fgets(line, sizeof line, f)) {
    int l, j, r;
    char node[64], col[64];
    double R;
    if (line[0] != 'R' || sscanf(line, "R%d_%d_%d %63s %63s %lf", &l, &j, &r, node, col, &R) != 6)
      continue;
    seen++;
    int n = sizes[l], Rn = 2 * n + 2;
    double want = 1 / g_of(m, phx_model_theta_const(m, l)[j * Rn + r]);
    CHECKF(fabs(R / want - 1) <= 1e-6, "R%d_%d_%d = %.10g, 1/g = %.10g", l, j, r, R, want);
    char expect[64];
    if (r < 2) snprintf(expect, sizeof expect, r ? "vss" : "vdd");
    else if (l == 0) snprintf(expect, sizeof expect, "x%c%d", r < 2 + n ? 'p' : 'n', (r - 2) % n + 1);
    else snprintf(expect, sizeof expect, "o%c%d_%d", r < 2 + n ? 'm' : 'p', l - 1, (r - 2) % n);
    CHECKF(!strcmp(node, expect), "R%d_%d_%d on %s, expected %s", l, j, r, node, expect);
    snprintf(expect, sizeof expect, "z%d_%d", l, j);
    CHECKF(!strcmp(col, expect), "R%d_%d_%d into %s, expected %s", l, j, r, col, expect);
  }
  if (f) fclose(f);
  CHECKF(seen == 4 * 12 + 3 * 10, "netlist has %d resistors, expected 78", seen);

  /* CSV of layer 1: hidden rows named after the previous neurons */
  path = in_dir("l1.csv");
  must(phx_export_csv(m, 1, 0, path, &err), &err, "export csv");
  f = fopen(path, "r");
  int row = 0;
  while (f && fgets(line, sizeof line, f)) {
    char *save = NULL, *name = strtok_r(line, ",\n", &save);
    if (row == 0) {
      CHECK(!strcmp(name, "row\\neuron [S]"));
    } else {
      static const char *const names[] = {"bias+", "bias-", "h1-", "h2-", "h3-", "h4-",
                                          "h1+", "h2+", "h3+", "h4+"};
      CHECKF(row <= 10 && !strcmp(name, names[row - 1]), "csv row %d named %s", row, name);
      for (int j = 0; j < 3; j++) {
        char *c = strtok_r(NULL, ",\n", &save);
        double g = c ? strtod(c, NULL) : 0;
        double want = g_of(m, phx_model_theta_const(m, 1)[j * 10 + row - 1]);
        CHECKF(fabs(g / want - 1) <= 1e-6, "csv row %d col %d: %g, expected %g", row, j, g, want);
      }
    }
    row++;
  }
  if (f) fclose(f);
  CHECKF(row == 11, "csv has %d lines, expected 11", row);
  CHECK(phx_export_csv(m, 2, 0, path, &err) == PHX_EINVAL);
  phx_model_free(m);
}

static phx_dataset *samples(int count, int dim, uint64_t seed) {
  float *x = malloc((size_t)count * dim * sizeof *x);
  int32_t *y = malloc((size_t)count * sizeof *y);
  uint64_t s = seed;
  for (int i = 0; i < count * dim; i++) {
    s = s * 6364136223846793005u + 1442695040888963407u;
    x[i] = (float)((s >> 40) % 256) / 255.0f;
  }
  for (int i = 0; i < count; i++) y[i] = i % 3;
  phx_dataset *d = NULL;
  phx_err err = {0};
  must(phx_dataset_new(count, dim, 3, x, y, &d, &err), &err, "dataset");
  free(x);
  free(y);
  return d;
}

/* Runs the loop; returns 77 when no ngspice exists, else 0. */
static int test_loop(void) {
  static const int sizes[] = {6, 5, 3};
  phx_model *m = net(2, sizes, 5);
  phx_dataset *d = samples(9, 6, 11);
  phx_spice_opts o;
  phx_spice_opts_default(&o);
  phx_spice_result r[2];
  double sim[2][27];
  phx_spice_sample smp[9];
  phx_err err = {0};
  for (int e = 0; e < 2; e++) {
    o.engine = e ? 2 : 0; /* auto (the library where built), then the binary */
    phx_status s = phx_spice_run(m, d, &o, &r[e], smp, sim[e], &err);
    if (s == PHX_ENOBACKEND) {
      printf("no ngspice: %s\n", err.msg);
      phx_model_free(m);
      phx_dataset_free(d);
      return 77;
    }
    must(s, &err, "spice run");
    CHECKF(r[e].count == 9 && r[e].converged == 9, "%s: %d/%d converged", r[e].engine,
           r[e].converged, r[e].count);
    CHECKF(r[e].max_dv <= 10e-6, "%s: max |dV| %g V", r[e].engine, r[e].max_dv);
    CHECKF(r[e].agreement == 1.0, "%s: agreement %g", r[e].engine, r[e].agreement);
    for (int k = 0; k < 9; k++)
      CHECKF(smp[k].converged && smp[k].sim_class == smp[k].model_class,
             "%s: sample %d class %d vs %d", r[e].engine, k, smp[k].sim_class, smp[k].model_class);
  }
  for (int i = 0; i < 27; i++)
    CHECKF(fabs(sim[0][i] - sim[1][i]) < 1e-9, "engines disagree at %d: %.12g %.12g", i,
           sim[0][i], sim[1][i]);
  phx_model_free(m);

  /* One layer: every watt comes from the rails and the input drivers and
   * goes into the crossbar, so measurement and estimate must agree. */
  static const int one[] = {6, 3};
  m = net(1, one, 7);
  must(phx_spice_run(m, d, &o, &r[0], NULL, NULL, &err), &err, "spice one layer");
  phx_power p;
  must(phx_power_estimate(m, d, 0, NULL, &p, &err), &err, "power estimate");
  CHECKF(fabs(r[0].power_mean_W / p.crossbar_W - 1) < 1e-6, "power: measured %.9g W, estimated %.9g W",
         r[0].power_mean_W, p.crossbar_W);
  CHECK(p.crossbar_W > 0 && p.neuron_W == 0 && p.total_W == p.crossbar_W);

  /* a user inverter from a file: two tanh stages built of B-sources */
  FILE *f = fopen(in_dir("inv.sub"), "w");
  fprintf(f, "* my inverter\n.subckt myinv in out vdd vss\nB1 out 0 V=-0.25*tanh(40*V(in))\n.ends\n");
  fclose(f);
  phx_inverter_default(&o.inv);
  o.inv.kind = PHX_INV_FILE;
  snprintf(o.inv.subckt_file, sizeof o.inv.subckt_file, "%s", in_dir("inv.sub"));
  must(phx_spice_run(m, d, &o, &r[0], NULL, NULL, &err), &err, "spice with a user inverter");
  CHECK(r[0].converged == 9 && isfinite(r[0].mean_dv));
  phx_model_free(m);
  phx_dataset_free(d);
  return 0;
}

/* Wrong ports, missing files, missing simulator: refused, the culprit named. */
static void test_errors(void) {
  phx_err err = {0};
  phx_inverter inv;
  phx_inverter_default(&inv);
  inv.kind = PHX_INV_FILE;
  struct {
    const char *text, *msg;
  } cases[] = {
      {".subckt three in out vdd\n.ends\n", "has 3 ports (in out vdd), expected 4"},
      {".SUBCKT swapped OUT in vdd vss\n.ends\n", "expected the order in out vdd vss"},
      {"* nothing here\n", "no .subckt line"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *p = in_dir("bad.sub");
    FILE *f = fopen(p, "w");
    fputs(cases[i].text, f);
    fclose(f);
    snprintf(inv.subckt_file, sizeof inv.subckt_file, "%s", p);
    CHECK(phx_inverter_check(&inv, &err) == PHX_EFORMAT);
    CHECKF(strstr(err.msg, p) && strstr(err.msg, cases[i].msg), "message: %s", err.msg);
  }
  FILE *f = fopen(in_dir("ok.sub"), "w");
  fputs(".subckt ok a b c d w=1\n.ends\n", f);
  fclose(f);
  snprintf(inv.subckt_file, sizeof inv.subckt_file, "%s", in_dir("ok.sub"));
  CHECKF(phx_inverter_check(&inv, &err) == PHX_OK && !strcmp(inv.subckt_name, "ok"), "%s",
         err.msg);
  snprintf(inv.subckt_file, sizeof inv.subckt_file, "%s", in_dir("none.sub"));
  CHECK(phx_inverter_check(&inv, &err) == PHX_EIO && strstr(err.msg, "none.sub"));

  phx_inverter_sky130(&inv);
  setenv("PHAXCL_SKY130_LIB", in_dir("no.lib.spice"), 1);
  CHECK(phx_inverter_check(&inv, &err) == PHX_EIO && strstr(err.msg, "no.lib.spice"));
  snprintf(inv.corner, sizeof inv.corner, "xx");
  CHECK(phx_inverter_check(&inv, &err) == PHX_EINVAL && strstr(err.msg, "--corner"));
  unsetenv("PHAXCL_SKY130_LIB");

  /* the binary engine without a binary */
  static const int sizes[] = {2, 2};
  phx_model *m = net(1, sizes, 1);
  phx_dataset *d = samples(2, 2, 1);
  phx_spice_opts o;
  phx_spice_opts_default(&o);
  o.engine = 2;
  phx_spice_result r;
  setenv("PHAXCL_NGSPICE", in_dir("no-ngspice"), 1);
  CHECK(phx_spice_run(m, d, &o, &r, NULL, NULL, &err) == PHX_ENOBACKEND &&
        strstr(err.msg, "ngspice"));
  unsetenv("PHAXCL_NGSPICE");
  phx_model_free(m);
  phx_dataset_free(d);
}

int main(void) {
  if (tmpdir_make("circuit")) return 1;
  test_fit();
  test_export();
  test_errors();
  int rc = test_loop();
  tmpdir_remove();
  if (rc == 77 && !failures) return 77;
  return finish("circuit");
}
