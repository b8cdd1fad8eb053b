/* Neuron characterisation: DC sweeps of the neuron exactly as the netlist
 * builds it (first inverter o-, second o+), the four-parameter tanh fits of
 * docs/model.md by Levenberg-Marquardt, output resistance and supply
 * current along the sweep, and the neuron file (JSON) that carries them to
 * train, export, spice and the power estimate. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "circuit.h"
#include "file.h"

struct phx_neuron {
  phx_inverter inv;
  double vdd, load, c[4], d[4], rms[2];
  double lr;
  int epochs;
  int n;                                  /* sweep points */
  double *z, *om, *op, *rom, *rop, *isup; /* one allocation, 6 x n */
  char engine[32];
  int mc_n;            /* vtc --mc: instances measured (0 = none), their */
  double off_mean, off_sigma; /* switching points' mean and sigma (V) */
  int nl;              /* loaded single-inverter sweeps (vtc --loads) */
  double *loads, *lv;  /* nl loads (S), nl x n outputs on the grid z */
};

/* ---- the fitter ---- */

/* Residual sum of squares of a fit. */
static double fit_sse(const double *z, const double *v, int n, const double a[4]) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    double r = a[0] + a[1] * tanh(a[3] * (z[i] - a[2])) - v[i];
    s += r * r;
  }
  return s;
}

/* Solves the 4 x 4 system A x = b by elimination with partial pivoting;
 * returns -1 when singular. */
static int solve4(double A[4][4], double b[4], double x[4]) {
  for (int c = 0; c < 4; c++) {
    int p = c;
    for (int r = c + 1; r < 4; r++)
      if (fabs(A[r][c]) > fabs(A[p][c])) p = r;
    if (!(fabs(A[p][c]) > 1e-300)) return -1;
    for (int k = 0; k < 4; k++) {
      double t = A[c][k];
      A[c][k] = A[p][k];
      A[p][k] = t;
    }
    double t = b[c];
    b[c] = b[p];
    b[p] = t;
    for (int r = c + 1; r < 4; r++) {
      double f = A[r][c] / A[c][c];
      for (int k = c; k < 4; k++) A[r][k] -= f * A[c][k];
      b[r] -= f * b[c];
    }
  }
  for (int c = 3; c >= 0; c--) {
    double s = b[c];
    for (int k = c + 1; k < 4; k++) s -= A[c][k] * x[k];
    x[c] = s / A[c][c];
  }
  return 0;
}

/* A start the iteration converges from: the mid level, half the swing, the
 * crossing of the mid level and the steepest slope seen. */
static void fit_guess(const double *z, const double *v, int n, double a[4]) {
  a[0] = (v[0] + v[n - 1]) / 2;
  a[1] = (v[n - 1] - v[0]) / 2;
  a[2] = z[n / 2];
  double best = 0;
  for (int i = 1; i < n; i++) {
    double dz = z[i] - z[i - 1];
    if (dz == 0) continue;
    double s = fabs((v[i] - v[i - 1]) / dz);
    if (s > best) {
      best = s;
      a[2] = (z[i] + z[i - 1]) / 2;
    }
  }
  a[3] = fabs(a[1]) > 0 ? best / fabs(a[1]) : 1;
  if (!(a[3] > 0)) a[3] = 1;
}

phx_status phx_fit_tanh(const double *z, const double *v, int n, double a[4], double *rms,
                        phx_err *err) {
  if (n < 5) return phx_fail(err, PHX_EINVAL, "fit: need at least 5 points, got %d", n);
  for (int i = 0; i < n; i++)
    if (!isfinite(z[i]) || !isfinite(v[i]))
      return phx_fail(err, PHX_ENAN, "fit: point %d is not finite", i);
  if (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0) fit_guess(z, v, n, a);
  double sse = fit_sse(z, v, n, a), lambda = 1e-3;
  for (int it = 0; it < 1000 && lambda < 1e15; it++) {
    double JtJ[4][4] = {{0}}, g[4] = {0};
    for (int i = 0; i < n; i++) {
      double t = tanh(a[3] * (z[i] - a[2])), s = 1 - t * t;
      double J[4] = {1, t, -a[1] * a[3] * s, a[1] * (z[i] - a[2]) * s};
      double r = a[0] + a[1] * t - v[i];
      for (int p = 0; p < 4; p++) {
        g[p] -= J[p] * r;
        for (int q = 0; q < 4; q++) JtJ[p][q] += J[p] * J[q];
      }
    }
    /* Marquardt's scaling: damping proportional to each diagonal */
    for (;;) {
      double A[4][4], b[4], step[4], trial[4];
      memcpy(A, JtJ, sizeof A);
      memcpy(b, g, sizeof b);
      for (int p = 0; p < 4; p++) A[p][p] += lambda * (JtJ[p][p] > 0 ? JtJ[p][p] : 1e-30);
      if (solve4(A, b, step)) {
        lambda *= 10;
        if (lambda > 1e15) break;
        continue;
      }
      for (int p = 0; p < 4; p++) trial[p] = a[p] + step[p];
      double s2 = fit_sse(z, v, n, trial);
      if (isfinite(s2) && s2 <= sse) {
        double gain = sse - s2;
        memcpy(a, trial, sizeof trial);
        sse = s2;
        lambda = lambda / 10 > 1e-12 ? lambda / 10 : 1e-12;
        if (gain <= 1e-14 * sse + 1e-30) it = 1 << 20; /* converged */
        break;
      }
      lambda *= 10;
      if (lambda > 1e15) break;
    }
  }
  /* tanh is odd: keep the slope positive, the sign in a2 */
  if (a[3] < 0) {
    a[3] = -a[3];
    a[1] = -a[1];
  }
  if (rms) *rms = sqrt(sse / n);
  return PHX_OK;
}

/* ---- characterisation ---- */

void phx_vtc_opts_default(phx_vtc_opts *o) {
  memset(o, 0, sizeof *o);
  phx_inverter_sky130(&o->inv);
  o->vdd = 0.5;
  o->step = 0.25e-3;
}

static phx_status neuron_alloc(phx_neuron **out, int n, phx_err *err) {
  phx_neuron *nr = calloc(1, sizeof *nr);
  double *mem = n > 0 ? calloc((size_t)n * 6, sizeof *mem) : NULL;
  if (!nr || (n > 0 && !mem)) {
    free(nr);
    free(mem);
    return phx_fail(err, PHX_ENOMEM, "out of memory for the neuron");
  }
  nr->n = n;
  if (mem) { /* no sweep: every column stays NULL (no offsets from NULL) */
    nr->z = mem;
    nr->om = mem + n;
    nr->op = mem + 2 * (size_t)n;
    nr->rom = mem + 3 * (size_t)n;
    nr->rop = mem + 4 * (size_t)n;
    nr->isup = mem + 5 * (size_t)n;
  }
  *out = nr;
  return PHX_OK;
}

void phx_neuron_free(phx_neuron *n) {
  if (!n) return;
  free(n->z);
  free(n->loads);
  free(n);
}

/* Room for nl loaded sweeps of n points (loads then values, one block). */
static phx_status neuron_alloc_loads(phx_neuron *nr, int nl, phx_err *err) {
  double *m = malloc(((size_t)nl + (size_t)nl * nr->n) * sizeof *m);
  if (!m) return phx_fail(err, PHX_ENOMEM, "out of memory for the loaded sweeps");
  free(nr->loads);
  nr->loads = m;
  nr->lv = m + nl;
  nr->nl = nl;
  return PHX_OK;
}

/* Test current for the output resistance: small against what a row load
 * draws, large against the solver's tolerances. */
#define RTEST_A 1e-9

/* Three copies of the neuron on one input: A as is (supply current), B and
 * C with a test current into o- and o+. Each on its own supplies. */
static void vtc_deck(FILE *f, const phx_vtc_opts *o, const phx_inverter *inv) {
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  mo.vdd = o->vdd;
  fprintf(f, "* phaxcl vtc: neuron at vdd %g V, load %g S\n", o->vdd, o->load);
  phx_circ_write_options(f, inv, 1);
  phx_circ_write_neuron(f, inv, &mo);
  fprintf(f, "VIN in 0 DC 0\n");
  static const char copies[3] = {'a', 'b', 'c'};
  for (int k = 0; k < 3; k++) {
    char c = copies[k];
    fprintf(f, "VDD%c vdd%c 0 DC %.17g\nVSS%c vss%c 0 DC %.17g\n", c, c, o->vdd / 2, c, c,
            -o->vdd / 2);
    fprintf(f, "X%c in om%c op%c vdd%c vss%c phx_neuron\n", c, c, c, c, c);
    if (o->load > 0)
      fprintf(f, "RLM%c om%c 0 %.10e\nRLP%c op%c 0 %.10e\n", c, c, 1 / o->load, c, c,
              1 / o->load);
  }
  fprintf(f, "ITB 0 omb DC %g\nITC 0 opc DC %g\n", RTEST_A, RTEST_A);
  /* one inverter per load, its output to 0 V through 1/G (table neurons) */
  if (o->nloads > 0) {
    const char *inv_name = inv->kind == PHX_INV_FILE ? inv->subckt_name : "phx_inv";
    fprintf(f, "VDDL vddl 0 DC %.17g\nVSSL vssl 0 DC %.17g\n", o->vdd / 2, -o->vdd / 2);
    for (int k = 0; k < o->nloads; k++) {
      fprintf(f, "XL%d in ol%d vddl vssl %s\n", k, k, inv_name);
      if (o->loads[k] > 0) fprintf(f, "RL%d ol%d 0 %.10e\n", k, k, 1 / o->loads[k]);
    }
  }
}

phx_status phx_vtc_sweep(const phx_vtc_opts *o, phx_deck_fn write, const void *ctx,
                         phx_engine **out, phx_err *err) {
  *out = NULL;
  char *deck = NULL;
  size_t dlen = 0;
  FILE *f = open_memstream(&deck, &dlen);
  if (!f) return phx_fail(err, PHX_ENOMEM, "out of memory");
  write(f, ctx);
  if (fclose(f)) {
    free(deck);
    return phx_fail(err, PHX_ENOMEM, "out of memory");
  }
  phx_engine *e = NULL;
  phx_status s = phx_engine_open(o->engine, 0, &e, err);
  if (!s) s = phx_engine_load(e, deck, err);
  free(deck);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "dc vin %.17g %.17g %.17g", -o->vdd / 2, o->vdd / 2, o->step);
  if (!s) s = phx_engine_run(e, cmd, err);
  *out = e;
  return s;
}

typedef struct vtc_ctx {
  const phx_vtc_opts *o;
  const phx_inverter *inv;
} vtc_ctx;

static void vtc_write(FILE *f, const void *ctx) {
  const vtc_ctx *c = ctx;
  vtc_deck(f, c->o, c->inv);
}

phx_status phx_vtc_run(const phx_vtc_opts *o, phx_neuron **out, phx_err *err) {
  if (!(o->vdd > 0) || !(o->step > 0) || !(o->step < o->vdd) || !(o->load >= 0))
    return phx_fail(err, PHX_EINVAL, "vtc: need vdd > 0, 0 < step < vdd, load >= 0");
  if (o->nloads < 0 || o->nloads > 4096 || (o->nloads > 0 && !o->loads))
    return phx_fail(err, PHX_EINVAL, "--loads: 1 to 4096 loads");
  for (int k = 0; k < o->nloads; k++)
    if (!isfinite(o->loads[k]) || (k == 0 ? o->loads[k] != 0 : !(o->loads[k] > o->loads[k - 1])))
      return phx_fail(err, PHX_EINVAL, "--loads: must start at 0 and increase (load %d: %g S)",
                      k + 1, o->loads[k]);
  if (o->nloads > 0 && o->inv.kind == PHX_INV_BEHAVIOURAL)
    return phx_fail(err, PHX_EINVAL, "--loads: a behavioural neuron has no inverter to load; "
                    "use --inverter sky130 or file");
  phx_inverter inv = o->inv;
  phx_status s = phx_inverter_check(&inv, err);
  if (s) return s;
  phx_engine *e = NULL;
  const vtc_ctx ctx = {o, &inv};
  s = phx_vtc_sweep(o, vtc_write, &ctx, &e, err);
  static const char *const names[] = {"v-sweep", "oma", "opa", "omb", "opc", "vdda#branch",
                                      "vssa#branch"};
  const double *v[7];
  int n = -1;
  for (int i = 0; !s && i < 7; i++) {
    int len = 0;
    v[i] = phx_engine_vec(e, names[i], &len);
    /* the binary's raw file names the sweep after the source */
    if (!v[i] && i == 0) v[i] = phx_engine_vec(e, "vin", &len);
    if (!v[i]) s = phx_fail(err, PHX_ESIM, "vtc: ngspice gave no vector %s", names[i]);
    else if (n < 0 || len < n) n = len;
  }
  phx_neuron *nr = NULL;
  if (!s && n < 5) s = phx_fail(err, PHX_ESIM, "vtc: the sweep stopped after %d points", n);
  if (!s) s = neuron_alloc(&nr, n, err);
  if (!s) {
    nr->inv = inv;
    nr->vdd = o->vdd;
    nr->load = o->load;
    snprintf(nr->engine, sizeof nr->engine, "%s", phx_engine_name(e));
    for (int i = 0; i < n; i++) {
      nr->z[i] = v[0][i];
      nr->om[i] = v[1][i];
      nr->op[i] = v[2][i];
      nr->rom[i] = (v[3][i] - v[1][i]) / RTEST_A;
      nr->rop[i] = (v[4][i] - v[2][i]) / RTEST_A;
      /* what the rails deliver less what the loads take: the neuron's own */
      double p = -(o->vdd / 2) * v[5][i] + (o->vdd / 2) * v[6][i];
      p -= o->load * (v[1][i] * v[1][i] + v[2][i] * v[2][i]);
      nr->isup[i] = p / o->vdd;
    }
  }
  if (!s && o->nloads > 0) s = neuron_alloc_loads(nr, o->nloads, err);
  for (int k = 0; !s && k < o->nloads; k++) {
    char name[32];
    int len = 0;
    snprintf(name, sizeof name, "ol%d", k);
    const double *v = phx_engine_vec(e, name, &len);
    if (!v || len < n) s = phx_fail(err, PHX_ESIM, "vtc: ngspice gave no vector %s", name);
    else memcpy(nr->lv + (size_t)k * n, v, (size_t)n * sizeof *v);
    nr->loads[k] = o->loads[k];
  }
  phx_engine_close(e);
  if (!s) s = phx_fit_tanh(nr->z, nr->om, n, nr->c, &nr->rms[0], err);
  if (!s) s = phx_fit_tanh(nr->z, nr->op, n, nr->d, &nr->rms[1], err);
  if (s) {
    phx_neuron_free(nr);
    return s;
  }
  /* CIRCUIT-NOTES: curves much steeper than the 90 nm defaults keep Adam at
   * lr 0.1 at chance on the paper task; lr 0.01 for 100 epochs trains. */
  if (nr->c[3] > 2 * 31.7581 || nr->d[3] > 5 * 193.0602) {
    nr->lr = 0.01;
    nr->epochs = 100;
  }
  *out = nr;
  return PHX_OK;
}

/* ---- the neuron file ---- */

void phx_neuron_fits(const phx_neuron *n, double c[4], double d[4], double rms[2],
                     double *vdd) {
  if (c) memcpy(c, n->c, sizeof n->c);
  if (d) memcpy(d, n->d, sizeof n->d);
  if (rms) memcpy(rms, n->rms, sizeof n->rms);
  if (vdd) *vdd = n->vdd;
}

const phx_inverter *phx_neuron_inverter(const phx_neuron *n) { return &n->inv; }

int phx_neuron_sweep(const phx_neuron *n, const double **z, const double **om,
                     const double **op, const double **rout_m, const double **rout_p,
                     const double **isup) {
  if (z) *z = n->z;
  if (om) *om = n->om;
  if (op) *op = n->op;
  if (rout_m) *rout_m = n->rom;
  if (rout_p) *rout_p = n->rop;
  if (isup) *isup = n->isup;
  return n->n;
}

void phx_neuron_train_hint(const phx_neuron *n, double *lr, int *epochs) {
  if (lr) *lr = n->lr;
  if (epochs) *epochs = n->epochs;
}

int phx_neuron_table(const phx_neuron *n, int *nv, double *v0, double *dv,
                     const double **loads, const double **values, phx_err *err) {
  static const double zero = 0;
  if (n->n < 5) {
    phx_fail(err, PHX_EINVAL, "neuron table: the file has no sweep");
    return 0;
  }
  /* the cubic needs an even grid: what `dc` sweeps, up to rounding */
  const double step = (n->z[n->n - 1] - n->z[0]) / (n->n - 1);
  for (int i = 1; i < n->n; i++)
    if (fabs(n->z[i] - n->z[i - 1] - step) > 1e-3 * step) {
      phx_fail(err, PHX_EINVAL, "neuron table: sweep point %d is off the even grid of "
               "step %g V", i, step);
      return 0;
    }
  *nv = n->n;
  *v0 = n->z[0];
  *dv = step;
  *loads = n->nl ? n->loads : &zero;
  *values = n->nl ? n->lv : n->om;
  return n->nl ? n->nl : 1;
}

double phx_neuron_supply_current(const phx_neuron *n, double z) {
  if (n->n < 1) return 0;
  if (z <= n->z[0]) return n->isup[0];
  if (z >= n->z[n->n - 1]) return n->isup[n->n - 1];
  int lo = 0, hi = n->n - 1;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (n->z[mid] <= z) lo = mid;
    else hi = mid;
  }
  double t = (z - n->z[lo]) / (n->z[hi] - n->z[lo]);
  return n->isup[lo] + t * (n->isup[hi] - n->isup[lo]);
}

static const char *const KINDS[] = {"behavioural", "sky130", "file"};

/* A sweep array at 9 significant digits: far below what ngspice resolves
 * here, and half the file. */
static cJSON *sweep_json(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  char buf[32];
  for (int i = 0; a && i < n; i++) {
    snprintf(buf, sizeof buf, "%.9g", v[i]);
    cJSON_AddItemToArray(a, cJSON_CreateNumber(strtod(buf, NULL)));
  }
  return a;
}

static cJSON *device_json(const char *model, double w, double l) {
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "model", model);
  cJSON_AddNumberToObject(d, "w_um", w);
  cJSON_AddNumberToObject(d, "l_um", l);
  return d;
}

/* The fits exactly (cJSON prints numbers that read back within an ulp
 * only): training from a saved neuron must use the same curves. */
static cJSON *exact_json(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  char buf[40];
  for (int i = 0; a && i < n; i++) {
    snprintf(buf, sizeof buf, "%.17g", v[i]);
    cJSON_AddItemToArray(a, cJSON_CreateRaw(buf));
  }
  return a;
}

/* The file's text and a newline (phx_file_save_atomic's writer). */
static int write_text(FILE *f, const void *ctx) {
  return fputs(ctx, f) < 0 || fputc('\n', f) < 0 ? EIO : 0;
}

phx_status phx_neuron_save(const phx_neuron *n, const char *path, phx_err *err) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "format", "phaxcl-neuron");
  cJSON_AddNumberToObject(j, "version", 1);
  cJSON_AddStringToObject(j, "inverter", KINDS[n->inv.kind]);
  cJSON_AddStringToObject(j, "corner", n->inv.corner);
  if (n->inv.kind == PHX_INV_SKY130) {
    cJSON *sz = cJSON_AddObjectToObject(j, "sizing");
    cJSON_AddItemToObject(sz, "p", device_json(n->inv.pmodel, n->inv.wp, n->inv.lp));
    cJSON_AddItemToObject(sz, "n", device_json(n->inv.nmodel, n->inv.wn, n->inv.ln));
    cJSON_AddNumberToObject(sz, "mult", phx_inverter_mult(&n->inv));
  } else if (n->inv.kind == PHX_INV_FILE) {
    cJSON_AddStringToObject(j, "subckt_file", n->inv.subckt_file);
    cJSON_AddStringToObject(j, "models_file", n->inv.models_file);
  }
  cJSON_AddNumberToObject(j, "vdd", n->vdd);
  cJSON_AddNumberToObject(j, "load_S", n->load);
  cJSON_AddItemToObject(j, "c", exact_json(n->c, 4));
  cJSON_AddItemToObject(j, "d", exact_json(n->d, 4));
  cJSON *rms = cJSON_AddObjectToObject(j, "rms_mV");
  cJSON_AddNumberToObject(rms, "c", n->rms[0] * 1e3);
  cJSON_AddNumberToObject(rms, "d", n->rms[1] * 1e3);
  if (n->lr > 0) {
    cJSON *t = cJSON_AddObjectToObject(j, "train");
    cJSON_AddNumberToObject(t, "lr", n->lr);
    cJSON_AddNumberToObject(t, "epochs", n->epochs);
  }
  cJSON_AddStringToObject(j, "engine", n->engine);
  if (n->mc_n > 0) { /* vtc --mc: the first inverter's switching point */
    cJSON *of = cJSON_AddObjectToObject(j, "offset");
    cJSON_AddNumberToObject(of, "instances", n->mc_n);
    cJSON_AddNumberToObject(of, "mean_mV", n->off_mean * 1e3);
    cJSON_AddNumberToObject(of, "sigma_mV", n->off_sigma * 1e3);
  }
  cJSON *sw = cJSON_AddObjectToObject(j, "sweep");
  cJSON_AddItemToObject(sw, "z_V", sweep_json(n->z, n->n));
  cJSON_AddItemToObject(sw, "om_V", sweep_json(n->om, n->n));
  cJSON_AddItemToObject(sw, "op_V", sweep_json(n->op, n->n));
  cJSON_AddItemToObject(sw, "rout_om_Ohm", sweep_json(n->rom, n->n));
  cJSON_AddItemToObject(sw, "rout_op_Ohm", sweep_json(n->rop, n->n));
  cJSON_AddItemToObject(sw, "i_supply_A", sweep_json(n->isup, n->n));
  if (n->nl > 0) { /* vtc --loads: one inverter per load, outputs on sweep.z_V */
    cJSON *ls = cJSON_AddObjectToObject(j, "loaded");
    cJSON_AddItemToObject(ls, "loads_S", exact_json(n->loads, n->nl));
    cJSON *outs = cJSON_AddArrayToObject(ls, "out_V");
    for (int k = 0; k < n->nl; k++)
      cJSON_AddItemToArray(outs, sweep_json(n->lv + (size_t)k * n->n, n->n));
  }
  char *txt = cJSON_Print(j);
  cJSON_Delete(j);
  if (!txt) return phx_fail(err, PHX_ENOMEM, "out of memory writing %s", path);
  /* atomic, no temp left behind even when killed (io/file.c) */
  phx_status st = phx_file_save_atomic(path, write_text, txt, err);
  free(txt);
  return st;
}

/* n finite numbers from a JSON array into out; -1 when not. */
static int get_doubles(const cJSON *j, const char *name, double *out, int n) {
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, name);
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return -1;
  int i = 0;
  const cJSON *x;
  cJSON_ArrayForEach(x, a) {
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) return -1;
    out[i++] = x->valuedouble;
  }
  return 0;
}

static int get_device(const cJSON *sz, const char *which, char *model, size_t mlen, double *w,
                      double *l) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(sz, which);
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, "model");
  const cJSON *jw = cJSON_GetObjectItemCaseSensitive(d, "w_um");
  const cJSON *jl = cJSON_GetObjectItemCaseSensitive(d, "l_um");
  if (!cJSON_IsString(m) || !cJSON_IsNumber(jw) || !cJSON_IsNumber(jl)) return -1;
  snprintf(model, mlen, "%s", m->valuestring);
  *w = jw->valuedouble;
  *l = jl->valuedouble;
  return *w > 0 && *l > 0 ? 0 : -1;
}

static phx_status parse_neuron(const cJSON *j, const char *path, phx_neuron **out,
                               phx_err *err) {
#define BAD(what) phx_fail(err, PHX_EFORMAT, "%s: %s", path, what)
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
  if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "phaxcl-neuron"))
    return BAD("not a phaxcl neuron file (format != \"phaxcl-neuron\")");
  const cJSON *sw = cJSON_GetObjectItemCaseSensitive(j, "sweep");
  const cJSON *z = cJSON_GetObjectItemCaseSensitive(sw, "z_V");
  int n = cJSON_IsArray(z) ? cJSON_GetArraySize(z) : 0;
  phx_neuron *nr = NULL;
  phx_status s = neuron_alloc(&nr, n, err);
  if (s) return s;
  const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "inverter");
  const cJSON *corner = cJSON_GetObjectItemCaseSensitive(j, "corner");
  const cJSON *vdd = cJSON_GetObjectItemCaseSensitive(j, "vdd");
  const cJSON *load = cJSON_GetObjectItemCaseSensitive(j, "load_S");
  const char *why = NULL;
  int k = -1;
  for (int i = 0; i < 3; i++)
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, KINDS[i])) k = i;
  if (k < 0) why = "inverter must be behavioural, sky130 or file";
  else if (!cJSON_IsNumber(vdd) || !(vdd->valuedouble > 0)) why = "vdd must be a positive number";
  else if (get_doubles(j, "c", nr->c, 4) || get_doubles(j, "d", nr->d, 4))
    why = "c and d must be four finite numbers each";
  else if (n < 2) why = "sweep.z_V needs at least 2 points";
  else if (get_doubles(sw, "z_V", nr->z, n) || get_doubles(sw, "i_supply_A", nr->isup, n) ||
           get_doubles(sw, "om_V", nr->om, n) || get_doubles(sw, "op_V", nr->op, n))
    why = "sweep needs z_V, om_V, op_V and i_supply_A of equal length";
  if (!why) {
    for (int i = 1; i < n && !why; i++)
      if (!(nr->z[i] > nr->z[i - 1])) why = "sweep.z_V must increase";
    get_doubles(sw, "rout_om_Ohm", nr->rom, n);
    get_doubles(sw, "rout_op_Ohm", nr->rop, n);
  }
  if (!why) {
    phx_inverter_default(&nr->inv);
    nr->inv.kind = (phx_inverter_kind)k;
    nr->vdd = vdd->valuedouble;
    nr->load = cJSON_IsNumber(load) ? load->valuedouble : 0;
    if (cJSON_IsString(corner)) snprintf(nr->inv.corner, sizeof nr->inv.corner, "%s", corner->valuestring);
    const cJSON *rms = cJSON_GetObjectItemCaseSensitive(j, "rms_mV");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(rms, "c");
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(rms, "d");
    if (cJSON_IsNumber(rc)) nr->rms[0] = rc->valuedouble * 1e-3;
    if (cJSON_IsNumber(rd)) nr->rms[1] = rd->valuedouble * 1e-3;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "train");
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(t, "lr");
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(t, "epochs");
    if (cJSON_IsNumber(lr) && lr->valuedouble > 0) nr->lr = lr->valuedouble;
    if (cJSON_IsNumber(ep) && ep->valuedouble >= 1) nr->epochs = ep->valueint;
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(j, "offset");
    const cJSON *oi = cJSON_GetObjectItemCaseSensitive(of, "instances");
    const cJSON *om = cJSON_GetObjectItemCaseSensitive(of, "mean_mV");
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(of, "sigma_mV");
    if (of && !(cJSON_IsNumber(oi) && oi->valuedouble >= 2 && oi->valuedouble <= 1e6 &&
                cJSON_IsNumber(om) && isfinite(om->valuedouble) && cJSON_IsNumber(os) &&
                os->valuedouble >= 0 && os->valuedouble <= 1e3))
      why = "offset needs instances (2 or more), mean_mV and sigma_mV (0 to 1000)";
    else if (of) {
      nr->mc_n = oi->valueint;
      nr->off_mean = om->valuedouble * 1e-3;
      nr->off_sigma = os->valuedouble * 1e-3;
    }
    const cJSON *eng = cJSON_GetObjectItemCaseSensitive(j, "engine");
    if (cJSON_IsString(eng)) snprintf(nr->engine, sizeof nr->engine, "%s", eng->valuestring);
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(j, "sizing");
    if (k == PHX_INV_SKY130 &&
        (get_device(sz, "p", nr->inv.pmodel, sizeof nr->inv.pmodel, &nr->inv.wp, &nr->inv.lp) ||
         get_device(sz, "n", nr->inv.nmodel, sizeof nr->inv.nmodel, &nr->inv.wn, &nr->inv.ln)))
      why = "sizing needs p and n, each with model, w_um and l_um";
    /* files from before --drive have one device each */
    const cJSON *mu = cJSON_GetObjectItemCaseSensitive(sz, "mult");
    if (!why && k == PHX_INV_SKY130 && mu) {
      if (!cJSON_IsNumber(mu) || !phx_inverter_mult_valid(mu->valuedouble))
        why = "sizing.mult must be a whole number from 1 to 1000";
      else nr->inv.mult = mu->valuedouble;
    }
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(j, "subckt_file");
    const cJSON *mf = cJSON_GetObjectItemCaseSensitive(j, "models_file");
    if (k == PHX_INV_FILE && !cJSON_IsString(sf)) why = "inverter file needs subckt_file";
    if (k == PHX_INV_FILE && !why) {
      snprintf(nr->inv.subckt_file, sizeof nr->inv.subckt_file, "%s", sf->valuestring);
      if (cJSON_IsString(mf))
        snprintf(nr->inv.models_file, sizeof nr->inv.models_file, "%s", mf->valuestring);
    }
  }
  const cJSON *ls = cJSON_GetObjectItemCaseSensitive(j, "loaded");
  if (!why && ls) {
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(ls, "loads_S");
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(ls, "out_V");
    int nl = cJSON_IsArray(jl) ? cJSON_GetArraySize(jl) : 0;
    if (nl < 1 || nl > 4096 || !cJSON_IsArray(outs) || cJSON_GetArraySize(outs) != nl)
      why = "loaded needs loads_S (1 to 4096) and as many out_V sweeps";
    else if ((s = neuron_alloc_loads(nr, nl, err))) {
      phx_neuron_free(nr);
      return s;
    } else if (get_doubles(ls, "loads_S", nr->loads, nl))
      why = "loaded.loads_S must be finite numbers";
    for (int k = 0; !why && k < nl; k++) {
      const cJSON *a = cJSON_GetArrayItem(outs, k);
      if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) {
        why = "loaded.out_V sweeps must have sweep.z_V's length";
        break;
      }
      int i = 0;
      const cJSON *x;
      cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) {
          why = "loaded.out_V holds a non-finite value";
          break;
        }
        nr->lv[(size_t)k * n + i++] = x->valuedouble;
      }
      if (!why && (k == 0 ? nr->loads[0] != 0 : !(nr->loads[k] > nr->loads[k - 1])))
        why = "loaded.loads_S must start at 0 and increase";
    }
  }
  if (why) {
    phx_neuron_free(nr);
    return BAD(why);
  }
#undef BAD
  *out = nr;
  return PHX_OK;
}

phx_status phx_neuron_load(const char *path, phx_neuron **out, phx_err *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return phx_fail(err, PHX_EIO, "--neuron %s: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len + 65536 > cap) {
      cap = cap ? 2 * cap : 1 << 20;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return phx_fail(err, PHX_ENOMEM, "out of memory reading %s", path);
      }
      buf = nb;
    }
    size_t got = fread(buf + len, 1, cap - len - 1, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return phx_fail(err, PHX_EIO, "--neuron %s: read error", path);
  }
  buf[len] = '\0';
  cJSON *j = cJSON_Parse(buf);
  free(buf);
  if (!j) return phx_fail(err, PHX_EFORMAT, "%s: not valid JSON", path);
  phx_status s = parse_neuron(j, path, out, err);
  cJSON_Delete(j);
  return s;
}

int phx_neuron_offset(const phx_neuron *n, double *mean, double *sigma) {
  if (mean) *mean = n->mc_n > 0 ? n->off_mean : 0;
  if (sigma) *sigma = n->mc_n > 0 ? n->off_sigma : 0;
  return n->mc_n;
}

phx_status phx_neuron_set_offset(phx_neuron *n, int instances, double mean, double sigma,
                                 phx_err *err) {
  if (instances < 2 || !isfinite(mean) || !(sigma >= 0 && sigma <= 1))
    return phx_fail(err, PHX_EINVAL, "neuron offset: %d instances, mean %g V, sigma %g V",
                    instances, mean, sigma);
  n->mc_n = instances;
  n->off_mean = mean;
  n->off_sigma = sigma;
  return PHX_OK;
}
