/* A trained model as files a circuit designer reads: CSV tables of the
 * crosspoints and ngspice netlists whose nodes follow docs/model.md
 * (rails vdd/vss at +-Vdd/2, input rows xp/xn, columns z, neurons as the
 * subcircuit phx_neuron in om op vdd vss). */
#define _XOPEN_SOURCE 700 /* realpath */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend.h"
#include "circuit.h"

void phx_inverter_default(phx_inverter *inv) {
  memset(inv, 0, sizeof *inv);
  inv->kind = PHX_INV_BEHAVIOURAL;
  phx_inverter_sky130(inv);
  inv->kind = PHX_INV_BEHAVIOURAL;
}

/* CIRCUIT-NOTES sizing: a p device 8x weaker per square than the n one at
 * this bias, so p w=5 l=1 against n w=40 l=0.35 centres the switching point
 * near 0 V and drives a 100 kOhm row load. */
void phx_inverter_sky130(phx_inverter *inv) {
  inv->kind = PHX_INV_SKY130;
  snprintf(inv->corner, sizeof inv->corner, "tt");
  inv->wp = 5;
  inv->lp = 1;
  inv->wn = 40;
  inv->ln = 0.35;
  snprintf(inv->pmodel, sizeof inv->pmodel, "sky130_fd_pr__pfet_01v8_lvt");
  snprintf(inv->nmodel, sizeof inv->nmodel, "sky130_fd_pr__nfet_01v8_lvt");
  inv->mult = 1;
}

double phx_inverter_mult(const phx_inverter *inv) {
  return inv->mult > 0 ? inv->mult : 1;
}

/* whole devices in parallel: the library's bins hold w, m only copies */
int phx_inverter_mult_valid(double m) { return m >= 1 && m <= 1000 && m == floor(m); }

static int readable(const char *p) { return p && *p && access(p, R_OK) == 0; }

phx_status phx_circ_sky130_lib(const char *given, char *path, size_t len, phx_err *err) {
  static const char rel[] = "sky130_fd_pr/combined_models/sky130.lib.spice";
  if (given && *given) {
    if (!readable(given))
      return phx_fail(err, PHX_EIO, "--models %s: cannot read the model library", given);
    snprintf(path, len, "%s", given);
    return PHX_OK;
  }
  const char *env = getenv("PHAXCL_SKY130_LIB");
  if (env && *env) {
    if (!readable(env))
      return phx_fail(err, PHX_EIO, "PHAXCL_SKY130_LIB=%s: cannot read the model library", env);
    snprintf(path, len, "%s", env);
    return PHX_OK;
  }
  const char *cache = getenv("PHAXCL_CACHE_DIR"), *home = getenv("HOME");
  char tried[1024];
  if (cache && *cache) snprintf(tried, sizeof tried, "%s/sky130/%s", cache, rel);
  else snprintf(tried, sizeof tried, "%s/.cache/phaxcl/sky130/%s", home ? home : "", rel);
  if (readable(tried)) {
    snprintf(path, len, "%s", tried);
    return PHX_OK;
  }
  return phx_fail(err, PHX_EIO,
                  "sky130 models not found at %s (run tools/fetch_sky130.sh, or set "
                  "PHAXCL_SKY130_LIB or --models to sky130.lib.spice)", tried);
}

/* Lower-cased copy of a token. */
static void lower(char *s) {
  for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

/* The first .subckt of a user file: its name and port list (joined over
 * '+' continuation lines); parameters (a=b) are not ports. */
static phx_status read_subckt(const char *file, char *name, size_t nlen, phx_err *err) {
  FILE *f = fopen(file, "r");
  if (!f) return phx_fail(err, PHX_EIO, "--inverter %s: %s", file, strerror(errno));
  char line[4096], hdr[8192] = "";
  int found = 0;
  while (fgets(line, sizeof line, f)) {
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (found) {
      if (*p != '+') break;
      strncat(hdr, p + 1, sizeof hdr - strlen(hdr) - 1);
      continue;
    }
    if (!strncasecmp(p, ".subckt", 7) && isspace((unsigned char)p[7])) {
      snprintf(hdr, sizeof hdr, "%s", p + 7);
      found = 1;
    }
  }
  fclose(f);
  if (!found)
    return phx_fail(err, PHX_EFORMAT, "--inverter %s: no .subckt line", file);
  char *tok[64];
  int nt = 0;
  for (char *t = strtok(hdr, " \t\r\n"); t && nt < 64; t = strtok(NULL, " \t\r\n")) {
    if (strchr(t, '=') || !strcasecmp(t, "params:")) break;
    tok[nt++] = t;
  }
  if (nt < 1) return phx_fail(err, PHX_EFORMAT, "--inverter %s: .subckt without a name", file);
  snprintf(name, nlen, "%s", tok[0]);
  char ports[512] = "";
  for (int i = 1; i < nt; i++) {
    lower(tok[i]);
    strncat(ports, i > 1 ? " " : "", sizeof ports - strlen(ports) - 1);
    strncat(ports, tok[i], sizeof ports - strlen(ports) - 1);
  }
  if (nt != 5)
    return phx_fail(err, PHX_EFORMAT,
                    "--inverter %s: subcircuit %s has %d ports (%s), expected 4: in out vdd vss",
                    file, name, nt - 1, ports);
  /* Named like ours but in another order is a wiring mistake, not a choice. */
  static const char *const want[4] = {"in", "out", "vdd", "vss"};
  int ours = 0, same = 1;
  for (int i = 0; i < 4; i++) {
    for (int k = 0; k < 4; k++) ours += !strcmp(tok[1 + i], want[k]);
    same &= !strcmp(tok[1 + i], want[i]);
  }
  if (ours == 4 && !same)
    return phx_fail(err, PHX_EFORMAT,
                    "--inverter %s: subcircuit %s has ports (%s), expected the order in out vdd vss",
                    file, name, ports);
  return PHX_OK;
}

/* path made absolute in place when it fits. */
static void absolute(char *path, size_t len) {
  char *abs = realpath(path, NULL);
  if (abs && strlen(abs) < len) snprintf(path, len, "%s", abs);
  free(abs);
}

phx_status phx_inverter_check(phx_inverter *inv, phx_err *err) {
  static const char *const corners[] = {"tt", "ff", "ss", "sf", "fs"};
  if (inv->kind == PHX_INV_BEHAVIOURAL) return PHX_OK;
  if (inv->kind == PHX_INV_SKY130) {
    int ok = 0;
    for (int i = 0; i < 5; i++) ok |= !strcmp(inv->corner, corners[i]);
    if (!ok)
      return phx_fail(err, PHX_EINVAL, "--corner: expected tt, ff, ss, sf or fs, got '%s'",
                      inv->corner);
    if (!(inv->wp > 0 && inv->lp > 0 && inv->wn > 0 && inv->ln > 0))
      return phx_fail(err, PHX_EINVAL, "sky130 sizing: w and l must be positive");
    if (!phx_inverter_mult_valid(phx_inverter_mult(inv)))
      return phx_fail(err, PHX_EINVAL, "--drive %g: expected a whole number from 1 to 1000",
                      inv->mult);
    char path[1024];
    phx_status s = phx_circ_sky130_lib(inv->models_file, path, sizeof path, err);
    if (s) return s;
    snprintf(inv->models_file, sizeof inv->models_file, "%s", path);
    absolute(inv->models_file, sizeof inv->models_file);
    return PHX_OK;
  }
  if (inv->kind != PHX_INV_FILE) return phx_fail(err, PHX_EINVAL, "inverter: unknown kind");
  if (inv->models_file[0] && !readable(inv->models_file))
    return phx_fail(err, PHX_EIO, "--models %s: cannot read the model library",
                    inv->models_file);
  phx_status s = read_subckt(inv->subckt_file, inv->subckt_name, sizeof inv->subckt_name, err);
  /* a deck written elsewhere must still find them */
  if (!s) absolute(inv->subckt_file, sizeof inv->subckt_file);
  if (!s && inv->models_file[0]) absolute(inv->models_file, sizeof inv->models_file);
  return s;
}

void phx_circ_out_node(char *buf, size_t len, int layer, int j, int plus) {
  snprintf(buf, len, "o%c%d_%d", plus ? 'p' : 'm', layer, j);
}

/* A fit as an ngspice expression of the neuron input. */
static void write_fit(FILE *f, const char *name, const char *node, const double a[4]) {
  fprintf(f, "%s %s 0 V=%.17g+(%.17g)*tanh(%.17g*(V(in)-(%.17g)))\n", name, node, a[0], a[1],
          a[3], a[2]);
}

void phx_circ_write_neuron(FILE *f, const phx_inverter *inv, const phx_model_opts *o) {
  if (inv->kind == PHX_INV_BEHAVIOURAL) {
    fprintf(f, "* neuron: the model's fits; o+ is a function of z as the model has it\n"
               ".subckt phx_neuron in om op vdd vss\n");
    write_fit(f, "Bm", "om", o->c);
    write_fit(f, "Bp", "op", o->d);
    fprintf(f, ".ends phx_neuron\n");
    return;
  }
  const char *inv_name = "phx_inv";
  if (inv->kind == PHX_INV_SKY130) {
    /* a comment to ngspice; phaxcl's engine loads only these two devices
     * and their bins for these sizes (in m: the library scales um by 1e-6) */
    fprintf(f, "%s %s w=%.9g l=%.9g %s w=%.9g l=%.9g\n", PHX_TRIM_MARK, inv->pmodel,
            inv->wp * 1e-6, inv->lp * 1e-6, inv->nmodel, inv->wn * 1e-6, inv->ln * 1e-6);
    fprintf(f, ".lib \"%s\" %s\n", inv->models_file, inv->corner);
    const double m = phx_inverter_mult(inv);
    char ms[32] = "";
    if (m != 1) snprintf(ms, sizeof ms, " m=%g", m);
    fprintf(f, ".subckt phx_inv in out vdd vss\n"
               "XP out in vdd vdd %s w=%g l=%g%s\n"
               "XN out in vss vss %s w=%g l=%g%s\n"
               ".ends phx_inv\n",
            inv->pmodel, inv->wp, inv->lp, ms, inv->nmodel, inv->wn, inv->ln, ms);
  } else {
    if (inv->models_file[0]) {
      if (inv->corner[0]) fprintf(f, ".lib \"%s\" %s\n", inv->models_file, inv->corner);
      else fprintf(f, ".include \"%s\"\n", inv->models_file);
    }
    fprintf(f, ".include \"%s\"\n", inv->subckt_file);
    inv_name = inv->subckt_name;
  }
  fprintf(f, "* neuron: two inverters in series, the first gives o-, the second o+\n"
             ".subckt phx_neuron in om op vdd vss\n"
             "X1 in om vdd vss %s\nX2 om op vdd vss %s\n.ends phx_neuron\n",
          inv_name, inv_name);
}

/* Behavioural decks must match the model to microvolts, and a fit wants
 * its sweep exact, so there the solver's stopping rule is set far below
 * that; transistor networks differ from the model by millivolts and take
 * ngspice's defaults, several times faster (20 uV apart on the paper task). */
void phx_circ_write_options(FILE *f, const phx_inverter *inv, int tight) {
  if (tight || inv->kind == PHX_INV_BEHAVIOURAL)
    fprintf(f, ".options reltol=1e-7 vntol=1e-10 abstol=1e-15\n");
}

/* Row r of layer l as a node name. */
static void row_node(char *buf, size_t len, int l, int n, int r) {
  if (r == 0) snprintf(buf, len, "vdd");
  else if (r == 1) snprintf(buf, len, "vss");
  else if (l == 0) snprintf(buf, len, "x%c%d", r < 2 + n ? 'p' : 'n', (r - 2) % n + 1);
  else phx_circ_out_node(buf, len, l - 1, (r - 2) % n, r >= 2 + n);
}

/* Rails, crossbars and neurons: everything but the inputs and analysis. */
static void write_network(FILE *f, const phx_model *m, const phx_inverter *inv) {
  const phx_model_opts *o = phx_model_get_opts(m);
  fprintf(f, "VDD vdd 0 DC %.17g\nVSS vss 0 DC %.17g\n", o->vdd / 2, -o->vdd / 2);
  phx_circ_write_neuron(f, inv, o);
  for (int l = 0; l < o->nlayers; l++) {
    int M = o->sizes[l + 1], n = o->sizes[l], R = 2 * n + 2;
    const float *t = phx_model_theta_const(m, l);
    fprintf(f, "* layer %d: %d x %d crossbar, R = 1/g\n", l, R, M);
    for (int j = 0; j < M; j++) {
      char node[64], out_m[32], out_p[32];
      for (int r = 0; r < R; r++) {
        row_node(node, sizeof node, l, n, r);
        fprintf(f, "R%d_%d_%d %s z%d_%d %.10e\n", l, j, r, node, l, j,
                1.0 / phx_circ_g(o, t[(size_t)j * R + r]));
      }
      phx_circ_out_node(out_m, sizeof out_m, l, j, 0);
      phx_circ_out_node(out_p, sizeof out_p, l, j, 1);
      const double *off = phx_model_offsets(m, l);
      if (off) { /* a drawn chip's neuron offset: the neuron sees z - delta */
        fprintf(f, "VOFF%d_%d z%d_%d zo%d_%d DC %.17g\n", l, j, l, j, l, j, off[j]);
        fprintf(f, "XN%d_%d zo%d_%d %s %s vdd vss phx_neuron\n", l, j, l, j, out_m, out_p);
      } else {
        fprintf(f, "XN%d_%d z%d_%d %s %s vdd vss phx_neuron\n", l, j, l, j, out_m, out_p);
      }
    }
  }
}

/* The deck: title, tolerances, inputs (fixed, or pwl of the swept node idx
 * for count > 1), network. */
phx_status phx_circ_deck(FILE *f, const phx_model *m, const phx_inverter *inv,
                         const float *xs, int count, int sweep, int base, const char *title) {
  const phx_model_opts *o = phx_model_get_opts(m);
  int n = o->sizes[0];
  char sz[160] = "";
  for (int l = 0; l <= o->nlayers; l++) {
    char b[16];
    snprintf(b, sizeof b, l ? "-%d" : "%d", o->sizes[l]);
    strncat(sz, b, sizeof sz - strlen(sz) - 1);
  }
  static const char *const kinds[] = {"behavioural", "sky130", "file"};
  fprintf(f, "* %s: phaxcl network %s, vdd %g V, inverter %s\n", title, sz, o->vdd,
          kinds[inv->kind]);
  phx_circ_write_options(f, inv, 0);
  if (xs && !sweep) {
    for (int i = 0; i < n; i++) {
      double v = ((double)xs[i] - 0.5) * o->vdd;
      fprintf(f, "VXP%d xp%d 0 DC %.17g\nVXN%d xn%d 0 DC %.17g\n", i + 1, i + 1, v, i + 1,
              i + 1, -v);
    }
  } else if (xs) {
    /* One DC sweep of idx over base..base+count-1 solves every sample, each warm
     * started from the previous one; 0 V ammeters give the drivers' power. */
    fprintf(f, "VIDX idx 0 DC 0\n");
    for (int i = 0; i < n; i++) {
      fprintf(f, "BXP%d xpd%d 0 V=pwl(V(idx)", i + 1, i + 1);
      /* the last sample once more at index count: a sweep needs two
       * points (ngspice does not end a dc sweep of one) */
      for (int k = 0; k <= count; k++) {
        if (k % 8 == 0) fprintf(f, "\n+");
        int at = k < count ? k : count - 1;
        fprintf(f, ", %d,%.17g", base + k, ((double)xs[(size_t)at * n + i] - 0.5) * o->vdd);
      }
      fprintf(f, ")\nVAP%d xpd%d xp%d DC 0\n", i + 1, i + 1, i + 1);
      fprintf(f, "EXN%d xnd%d 0 xp%d 0 -1\nVAN%d xnd%d xn%d DC 0\n", i + 1, i + 1, i + 1,
              i + 1, i + 1, i + 1);
    }
  } else {
    for (int i = 0; i < n; i++)
      fprintf(f, "VXP%d xp%d 0 DC 0\nVXN%d xn%d 0 DC 0\n", i + 1, i + 1, i + 1, i + 1);
  }
  write_network(f, m, inv);
  return ferror(f) ? PHX_EIO : PHX_OK;
}

phx_status phx_circ_check_neuron(const phx_model *m, const phx_inverter *inv, phx_err *err) {
  if (inv->kind == PHX_INV_BEHAVIOURAL && phx_model_table(m, NULL, NULL, NULL, NULL, NULL))
    return phx_fail(err, PHX_EINVAL, "the model's neurons are a table (--curve table): "
                    "behavioural neurons are tanh fits; use --inverter sky130 or FILE");
  return PHX_OK;
}

phx_status phx_export_spice(const phx_model *m, const phx_inverter *inv_in, const float *x,
                            const char *path, phx_err *err) {
  phx_inverter inv = *inv_in;
  phx_status s = phx_circ_check_neuron(m, &inv, err);
  if (!s) s = phx_inverter_check(&inv, err);
  if (s) return s;
  FILE *f = path ? fopen(path, "w") : stdout;
  if (!f) return phx_fail(err, PHX_EIO, "--out %s: %s", path, strerror(errno));
  const phx_model_opts *o = phx_model_get_opts(m);
  int K = o->sizes[o->nlayers], L = o->nlayers - 1;
  s = phx_circ_deck(f, m, &inv, x, x ? 1 : 0, 0, 0, x ? "standalone deck" : "netlist");
  if (!s && x) {
    double *ref = malloc((size_t)K * sizeof *ref);
    if (!ref) s = PHX_ENOMEM;
    else {
      phx_model_forward64(m, x, ref);
      fprintf(f, "* the model's outputs for this sample:\n");
      /* a regression model's outputs also in target units (docs/model.md) */
      const int reg = phx_model_targets(m) > 0;
      for (int j = 0; j < K; j++) {
        fprintf(f, "*   v(om%d_%d) = %.9f", L, j, ref[j]);
        if (reg) {
          const double a = phx_model_unscale_target(m, j, 0);
          fprintf(f, "  target %d = %.9g (target = %.9g + %.9g v)", j,
                  phx_model_unscale_target(m, j, ref[j]), a,
                  phx_model_unscale_target(m, j, 1) - a);
        }
        fputc('\n', f);
      }
      free(ref);
      fprintf(f, ".control\nop\nprint");
      for (int j = 0; j < K; j++) fprintf(f, " v(om%d_%d)", L, j);
      /* without a quit, ngspice -b ends with status 1 after a .control run */
      fprintf(f, "\nquit 0\n.endc\n");
    }
  }
  if (!s) fprintf(f, ".end\n");
  if (path) {
    if (fclose(f) && !s) s = PHX_EIO;
  } else if (fflush(f) && !s) {
    s = PHX_EIO;
  }
  if (s == PHX_ENOMEM) return phx_fail(err, s, "out of memory writing the deck");
  if (s) return phx_fail(err, s, "--out %s: write failed", path ? path : "(stdout)");
  return PHX_OK;
}

/* Row names for the CSV: what a person programming the chip reads. */
static void row_name(char *buf, size_t len, int l, int n, int r) {
  if (r < 2) snprintf(buf, len, r ? "bias-" : "bias+");
  else snprintf(buf, len, "%c%d%c", l ? 'h' : 'x', (r - 2) % n + 1, r < 2 + n ? (l ? '-' : '+')
                                                                                : (l ? '+' : '-'));
}

phx_status phx_export_csv(const phx_model *m, int layer, int what, const char *path,
                          phx_err *err) {
  const phx_model_opts *o = phx_model_get_opts(m);
  if (layer < 0 || layer >= o->nlayers)
    return phx_fail(err, PHX_EINVAL, "export: layer %d out of range (model has %d)", layer,
                    o->nlayers);
  FILE *f = path ? fopen(path, "w") : stdout;
  if (!f) return phx_fail(err, PHX_EIO, "--out %s: %s", path, strerror(errno));
  int M = o->sizes[layer + 1], n = o->sizes[layer], R = 2 * n + 2;
  const float *t = phx_model_theta_const(m, layer);
  fprintf(f, "%s", what ? "row\\neuron [Ohm]" : "row\\neuron [S]");
  for (int j = 0; j < M; j++) fprintf(f, ",n%d", j + 1);
  fputc('\n', f);
  for (int r = 0; r < R; r++) {
    char name[32];
    row_name(name, sizeof name, layer, n, r);
    fputs(name, f);
    for (int j = 0; j < M; j++) {
      double g = phx_circ_g(o, t[(size_t)j * R + r]);
      fprintf(f, ",%.10e", what ? 1.0 / g : g);
    }
    fputc('\n', f);
  }
  int bad = ferror(f);
  if (path) bad |= fclose(f) != 0;
  else bad |= fflush(f) != 0;
  if (bad) return phx_fail(err, PHX_EIO, "--out %s: write failed", path ? path : "(stdout)");
  return PHX_OK;
}
