/* Option parsing shared by the subcommands: one table of options, strict
 * number parsing with messages that quote the bad value, and helpers to
 * find the data, open backends and resolve --layers against the data. */
#include "cli.h"
#include "par.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phx_config.h"

/* The option table: name, bit, whether a value follows. */
typedef struct opt_def {
  const char *name;
  unsigned bit;
  int has_value;
} opt_def;

static const opt_def OPTS[] = {
    {"data", PHX_O_DATA, 1},       {"pool", PHX_O_POOL, 1},
    {"layers", PHX_O_LAYERS, 1},   {"epochs", PHX_O_EPOCHS, 1},
    {"batch", PHX_O_BATCH, 1},     {"lr", PHX_O_LR, 1},
    {"optimizer", PHX_O_OPTIMIZER, 1}, {"loss", PHX_O_LOSS, 1},
    {"seed", PHX_O_SEED, 1},       {"vdd", PHX_O_VDD, 1},
    {"ratio", PHX_O_RATIO, 1},     {"backend", PHX_O_BACKEND, 1},
    {"device", PHX_O_DEVICE, 1},   {"save", PHX_O_SAVE, 1},
    {"init", PHX_O_INIT, 1},       {"limit", PHX_O_LIMIT, 1},
    {"out", PHX_O_OUT, 1},         {"json", PHX_O_JSON, 0},
    {"verbose", PHX_O_VERBOSE, 0}, {"fashion", PHX_O_FASHION, 1},
    {"gmin", PHX_O_GMIN, 1},       {"vtc-c", PHX_O_VTC_C, 1},
    {"vtc-d", PHX_O_VTC_D, 1},
    {"checkpoint", PHX_O_CHECKPOINT, 1}, {"checkpoint-every", PHX_O_CHECKPOINT_EVERY, 1},
    {"resume", PHX_O_RESUME, 1},
    {"target", PHX_O_TARGET, 1},   {"test", PHX_O_TEST, 1},
    {"split", PHX_O_SPLIT, 1},     {"labels", PHX_O_LABELS, 1},
    {"task", PHX_O_TASK, 1},       {"header", PHX_O_HEADER, 1},
};
/* The circuit commands' options: bits of the second set (PHX_O2_*). */
static const opt_def OPTS2[] = {
    {"format", PHX_O2_FORMAT, 1},   {"inverter", PHX_O2_INVERTER, 1},
    {"corner", PHX_O2_CORNER, 1},   {"models", PHX_O2_MODELS, 1},
    {"sample", PHX_O2_SAMPLE, 1},   {"n", PHX_O2_N, 1},
    {"neuron", PHX_O2_NEURON, 1},   {"load", PHX_O2_LOAD, 1},
    {"power", PHX_O2_POWER, 0},     {"engine", PHX_O2_ENGINE, 1},
    {"step", PHX_O2_STEP, 1},       {"loads", PHX_O2_LOADS, 1},
    {"curve", PHX_O2_CURVE, 1},     {"load-aware", PHX_O2_LOAD_AWARE, 0},
    {"log", PHX_O2_LOG, 1},
    {"predictions", PHX_O2_PREDICTIONS, 1}, {"drive", PHX_O2_DRIVE, 1},
    {"load-return", PHX_O2_LOAD_RETURN, 0},
};

int phx_cli_fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("phaxcl: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return status;
}

int phx_cli_err(const phx_err *err) {
  return phx_cli_fail(PHX_EXIT_RUN, "%s", err->msg[0] ? err->msg : phx_strerror(err->status));
}

int phx_cli_print_json(cJSON *j) {
  char *txt = j ? cJSON_PrintUnformatted(j) : NULL;
  cJSON_Delete(j);
  if (!txt) return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  puts(txt);
  free(txt);
  return PHX_EXIT_OK;
}

/* A whole-string decimal integer in [lo, hi]; no signs, no spaces. */
static int parse_int(const char *opt, const char *s, long lo, long hi,
                     const char *what, int *out) {
  char *end = NULL;
  long v = 0;
  errno = 0;
  if (*s >= '0' && *s <= '9') v = strtol(s, &end, 10);
  if (!end || errno || *end || v < lo || v > hi)
    return phx_cli_fail(PHX_EXIT_USAGE, "--%s: expected %s, got '%s'", opt, what, s);
  *out = (int)v;
  return 0;
}

/* A whole-string finite number strictly above `above`. */
static int parse_double(const char *opt, const char *s, double above,
                        const char *what, double *out) {
  char *end = NULL;
  errno = 0;
  double v = (!*s || *s == ' ') ? (errno = EINVAL, 0.0) : strtod(s, &end);
  if (errno || !end || *end || !isfinite(v) || !(v > above))
    return phx_cli_fail(PHX_EXIT_USAGE, "--%s: expected %s, got '%s'", opt, what, s);
  *out = v;
  return 0;
}

/* --vtc-c / --vtc-d: four comma-separated finite numbers a1,a2,a3,a4 of
 * the fit a1 + a2 tanh(a4 (z - a3)). */
static int parse_fit(const char *opt, const char *s, double out[4]) {
  const char *p = s;
  for (int i = 0; i < 4; i++) {
    char *end = NULL;
    errno = 0;
    double v = (*p && *p != ' ' && *p != ',') ? strtod(p, &end) : (errno = EINVAL, 0.0);
    if (errno || !end || !isfinite(v) || *end != (i < 3 ? ',' : '\0'))
      return phx_cli_fail(PHX_EXIT_USAGE,
                          "--%s: expected four numbers a1,a2,a3,a4 (V, V, V, 1/V), got '%s'",
                          opt, s);
    out[i] = v;
    p = end + 1;
  }
  return 0;
}

/* --seed: any unsigned 64-bit integer. */
static int parse_seed(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : (errno = EINVAL, 0);
  if (errno || !end || *end)
    return phx_cli_fail(PHX_EXIT_USAGE, "--seed: expected a non-negative integer, got '%s'", s);
  *out = (uint64_t)v;
  return 0;
}

/* --layers: comma-separated positive sizes; the first or last may be empty
 * (taken from the data); a single number is one hidden layer. */
static int parse_layers(const char *s, phx_cli *c) {
  char buf[512];
  if (strlen(s) >= sizeof buf)
    return phx_cli_fail(PHX_EXIT_USAGE, "--layers: list too long");
  strcpy(buf, s);
  int n = 0, fields = 0;
  char *p = buf;
  c->layers_skip_first = c->layers_skip_last = 0;
  for (;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    int last = comma == NULL;
    if (*p == '\0') {
      if (fields == 0 && !last) c->layers_skip_first = 1;
      else if (last && fields > 0) c->layers_skip_last = 1;
      else
        return phx_cli_fail(PHX_EXIT_USAGE,
                            "--layers: expected sizes like 196,100,10, got '%s'", s);
    } else {
      if (n >= PHX_MAX_LAYERS + 1)
        return phx_cli_fail(PHX_EXIT_USAGE, "--layers: at most %d sizes, got '%s'",
                            PHX_MAX_LAYERS + 1, s);
      char *end;
      errno = 0;
      long v = (*p >= '0' && *p <= '9') ? strtol(p, &end, 10) : (errno = EINVAL, 0);
      if (errno || *end || v < 1 || v > 1000000)
        return phx_cli_fail(PHX_EXIT_USAGE,
                            "--layers: expected positive sizes like 196,100,10, got '%s'", s);
      c->layers[n++] = (int)v;
    }
    fields++;
    if (last) break;
    p = comma + 1;
  }
  if (n == 0)
    return phx_cli_fail(PHX_EXIT_USAGE, "--layers: expected sizes like 196,100,10, got '%s'", s);
  if (n == 1 && !c->layers_skip_first && !c->layers_skip_last)
    c->layers_skip_first = c->layers_skip_last = 1; /* one hidden layer */
  c->nlayers = n;
  return 0;
}

/* Value of one circuit option into c. */
static int set_option2(const opt_def *d, const char *v, phx_cli *c) {
  switch (d->bit) {
    case PHX_O2_FORMAT:
      if (strcmp(v, "csv") && strcmp(v, "spice"))
        return phx_cli_fail(PHX_EXIT_USAGE, "--format: expected csv or spice, got '%s'", v);
      c->format = v;
      return 0;
    case PHX_O2_INVERTER: c->inverter = v; return 0;
    case PHX_O2_CORNER: c->corner = v; return 0;
    case PHX_O2_MODELS: c->models = v; return 0;
    case PHX_O2_NEURON: c->neuron = v; return 0;
    case PHX_O2_LOADS: c->loads = v; return 0;
    case PHX_O2_CURVE:
      if (strcmp(v, "tanh") && strcmp(v, "table"))
        return phx_cli_fail(PHX_EXIT_USAGE, "--curve: expected tanh or table, got '%s'", v);
      c->curve = v;
      return 0;
    case PHX_O2_LOAD_AWARE: c->load_aware = c->load_aware ? c->load_aware : 1; return 0;
    case PHX_O2_LOAD_RETURN: c->load_aware = 2; return 0;
    case PHX_O2_LOG: c->log = v; return 0;
    case PHX_O2_SAMPLE:
      return parse_int(d->name, v, 0, 2000000000, "a non-negative sample index", &c->sample);
    case PHX_O2_N: return parse_int(d->name, v, 1, 2000000000, "a positive integer", &c->n);
    case PHX_O2_LOAD: {
      double us = 0;
      if (strcmp(v, "0") &&
          parse_double(d->name, v, 0.0, "a conductance in uS (0 for none)", &us))
        return 1;
      c->load = us * 1e-6;
      return 0;
    }
    case PHX_O2_STEP: {
      double mv = 0;
      if (parse_double(d->name, v, 0.0, "a positive step in mV", &mv)) return 1;
      c->step = mv * 1e-3;
      return 0;
    }
    case PHX_O2_DRIVE:
      return parse_int(d->name, v, 1, 1000, "a whole number of devices from 1 to 1000",
                       &c->drive);
    case PHX_O2_POWER: c->power = 1; return 0;
    case PHX_O2_PREDICTIONS: c->predictions = v; return 0;
    case PHX_O2_ENGINE:
      if (strcmp(v, "auto") && strcmp(v, "lib") && strcmp(v, "binary"))
        return phx_cli_fail(PHX_EXIT_USAGE, "--engine: expected auto, lib or binary, got '%s'", v);
      c->engine = v;
      return 0;
    default: return phx_cli_fail(PHX_EXIT_USAGE, "--%s: not handled", d->name);
  }
}

/* Value of one option into c. */
static int set_option(const opt_def *d, const char *v, phx_cli *c) {
  if (d >= OPTS2 && d < OPTS2 + sizeof OPTS2 / sizeof *OPTS2) return set_option2(d, v, c);
  switch (d->bit) {
    case PHX_O_DATA: c->data = v; return 0;
    case PHX_O_POOL: return parse_int(d->name, v, 1, 64, "an integer from 1 to 64", &c->pool);
    case PHX_O_LAYERS: return parse_layers(v, c);
    case PHX_O_EPOCHS:
      return parse_int(d->name, v, 0, 1000000000, "a non-negative integer", &c->epochs);
    case PHX_O_BATCH:
      return parse_int(d->name, v, 1, 1000000000, "a positive integer", &c->batch);
    case PHX_O_LIMIT:
      return parse_int(d->name, v, 0, 2000000000, "a non-negative integer", &c->limit);
    case PHX_O_LR: return parse_double(d->name, v, 0.0, "a positive number", &c->lr);
    case PHX_O_VDD: return parse_double(d->name, v, 0.0, "a positive number (volts)", &c->vdd);
    case PHX_O_RATIO:
      return parse_double(d->name, v, 1.0, "a number greater than 1 (gmax/gmin)", &c->ratio);
    case PHX_O_GMIN: {
      double us = 0;
      if (parse_double(d->name, v, 0.0, "a positive conductance in uS", &us)) return 1;
      c->gmin = us * 1e-6;
      return 0;
    }
    case PHX_O_VTC_C: return parse_fit(d->name, v, c->vtc_c);
    case PHX_O_VTC_D: return parse_fit(d->name, v, c->vtc_d);
    case PHX_O_SEED: return parse_seed(v, &c->seed);
    case PHX_O_OPTIMIZER:
      if (!strcmp(v, "sgd")) c->optimizer = PHX_OPT_SGD;
      else if (!strcmp(v, "momentum")) c->optimizer = PHX_OPT_MOMENTUM;
      else if (!strcmp(v, "adam")) c->optimizer = PHX_OPT_ADAM;
      else if (!strcmp(v, "lbfgs")) c->optimizer = PHX_OPT_LBFGS;
      else
        return phx_cli_fail(PHX_EXIT_USAGE,
                            "--optimizer: expected sgd, momentum, adam or lbfgs, got '%s'", v);
      return 0;
    case PHX_O_LOSS:
      if (!strcmp(v, "ce")) c->loss = PHX_LOSS_CE;
      else if (!strcmp(v, "mse")) c->loss = PHX_LOSS_MSE;
      else return phx_cli_fail(PHX_EXIT_USAGE, "--loss: expected ce or mse, got '%s'", v);
      return 0;
    case PHX_O_BACKEND: {
      /* repeatable and comma-separated: "c,opencl" */
      static const char *const names[] = {"auto", "c", "c64", "opencl"};
      const char *p = v;
      while (*p) {
        size_t len = strcspn(p, ",");
        int ok = 0;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
          if (strlen(names[i]) == len && !strncmp(names[i], p, len)) {
            if (c->nbackends >= PHX_CLI_MAX_BACKENDS)
              return phx_cli_fail(PHX_EXIT_USAGE, "--backend: too many backends");
            c->backends[c->nbackends++] = names[i];
            ok = 1;
          }
        if (!ok)
          return phx_cli_fail(PHX_EXIT_USAGE,
                              "--backend: expected auto, c, c64 or opencl, got '%s'", v);
        p += len;
        if (*p == ',') p++;
      }
      if (!*v)
        return phx_cli_fail(PHX_EXIT_USAGE,
                            "--backend: expected auto, c, c64 or opencl, got ''");
      return 0;
    }
    case PHX_O_DEVICE: c->device = v; return 0;
    case PHX_O_SAVE: c->save = v; return 0;
    case PHX_O_INIT: c->init = v; return 0;
    case PHX_O_OUT: c->out = v; return 0;
    case PHX_O_FASHION: c->fashion = v; return 0;
    case PHX_O_CHECKPOINT: c->checkpoint = v; return 0;
    case PHX_O_RESUME: c->resume = v; return 0;
    case PHX_O_CHECKPOINT_EVERY:
      return parse_int(d->name, v, 0, 1000000000, "a non-negative integer",
                       &c->checkpoint_every);
    case PHX_O_TARGET: c->target = v; return 0;
    case PHX_O_TEST: c->test = v; return 0;
    case PHX_O_LABELS: c->labels = v; return 0;
    case PHX_O_SPLIT:
      /* 0 (every row) for commands on a saved model; train refuses it */
      if (parse_double(d->name, v, -1.0, "a test fraction in [0, 1)", &c->split)) return 1;
      if (!(c->split >= 0 && c->split < 1))
        return phx_cli_fail(PHX_EXIT_USAGE, "--split: expected a test fraction in [0, 1), "
                            "got '%s'", v);
      return 0;
    case PHX_O_TASK:
      if (!strcmp(v, "auto")) c->task = 0;
      else if (!strcmp(v, "classification")) c->task = 1;
      else if (!strcmp(v, "regression")) c->task = 2;
      else
        return phx_cli_fail(PHX_EXIT_USAGE,
                            "--task: expected auto, classification or regression, got '%s'", v);
      return 0;
    case PHX_O_HEADER:
      if (!strcmp(v, "auto")) c->header = -1;
      else if (!strcmp(v, "yes")) c->header = 1;
      else if (!strcmp(v, "no")) c->header = 0;
      else return phx_cli_fail(PHX_EXIT_USAGE, "--header: expected auto, yes or no, got '%s'", v);
      return 0;
    case PHX_O_JSON: c->json = 1; return 0;
    case PHX_O_VERBOSE: c->verbose++; return 0;
    default: return phx_cli_fail(PHX_EXIT_USAGE, "--%s: not handled", d->name);
  }
}

/* Option values must not be empty for names of files and devices. */
static int check_nonempty(const opt_def *d, int second, const char *v) {
  unsigned names = second ? (PHX_O2_INVERTER | PHX_O2_CORNER | PHX_O2_MODELS | PHX_O2_NEURON |
                             PHX_O2_LOG | PHX_O2_PREDICTIONS)
                          : (PHX_O_DATA | PHX_O_DEVICE | PHX_O_SAVE | PHX_O_INIT | PHX_O_OUT |
                             PHX_O_FASHION | PHX_O_CHECKPOINT | PHX_O_RESUME | PHX_O_TEST |
                             PHX_O_LABELS | PHX_O_TARGET);
  if (d->has_value && *v == '\0' && (d->bit & names))
    return phx_cli_fail(PHX_EXIT_USAGE, "--%s: expected a value, got ''", d->name);
  return 0;
}

int phx_cli_parse(const phx_cli_spec *spec, int argc, char **argv, phx_cli *c) {
  return phx_cli_parse2(spec, 0, argc, argv, c);
}

int phx_cli_parse2(const phx_cli_spec *spec, unsigned allowed2, int argc, char **argv,
                   phx_cli *c) {
  phx_train_opts t;
  phx_model_opts mo;
  phx_train_opts_default(&t);
  phx_model_opts_default(&mo);
  memset(c, 0, sizeof *c);
  c->pool = 1;
  c->epochs = t.epochs;
  c->batch = t.batch;
  c->lr = t.lr;
  c->optimizer = t.optimizer;
  c->seed = t.seed;
  c->limit = t.limit;
  c->vdd = mo.vdd;
  c->ratio = mo.ratio;
  c->gmin = mo.gmin;
  memcpy(c->vtc_c, mo.c, sizeof c->vtc_c);
  memcpy(c->vtc_d, mo.d, sizeof c->vtc_d);
  c->loss = mo.loss;
  c->header = -1;
  int only_args = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!only_args && !strcmp(a, "--")) {
      only_args = 1;
      continue;
    }
    if (!only_args && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
      fputs(spec->usage, stdout);
      return PHX_EXIT_OK;
    }
    if (!only_args && a[0] == '-' && a[1] != '\0') {
      if (a[1] != '-')
        return phx_cli_fail(PHX_EXIT_USAGE, "%s: unknown option '%s' (see 'phaxcl %s --help')",
                            spec->name, a, spec->name);
      const char *name = a + 2, *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      const opt_def *d = NULL;
      int second = 0;
      for (size_t k = 0; k < sizeof OPTS / sizeof *OPTS; k++)
        if (strlen(OPTS[k].name) == len && !strncmp(OPTS[k].name, name, len)) d = &OPTS[k];
      for (size_t k = 0; k < sizeof OPTS2 / sizeof *OPTS2; k++)
        if (strlen(OPTS2[k].name) == len && !strncmp(OPTS2[k].name, name, len)) {
          d = &OPTS2[k];
          second = 1;
        }
      if (!d || !((second ? allowed2 : spec->allowed) & d->bit))
        return phx_cli_fail(PHX_EXIT_USAGE, "%s: unknown option '%.*s' (see 'phaxcl %s --help')",
                            spec->name, (int)(len + 2), a, spec->name);
      const char *v = NULL;
      if (d->has_value) {
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        else return phx_cli_fail(PHX_EXIT_USAGE, "--%s: missing value", d->name);
      } else if (eq) {
        return phx_cli_fail(PHX_EXIT_USAGE, "--%s: takes no value", d->name);
      }
      if (d->has_value && check_nonempty(d, second, v)) return PHX_EXIT_USAGE;
      if (set_option(d, v, c)) return PHX_EXIT_USAGE;
      if (second) c->given2 |= d->bit;
      else c->given |= d->bit;
      continue;
    }
    if (c->nargs >= spec->max_args || c->nargs >= PHX_CLI_MAX_ARGS)
      return phx_cli_fail(PHX_EXIT_USAGE, "%s: unexpected argument '%s' (see 'phaxcl %s --help')",
                          spec->name, a, spec->name);
    c->args[c->nargs++] = a;
  }
  if (c->nargs < spec->min_args)
    return phx_cli_fail(PHX_EXIT_USAGE, "%s: missing argument (see 'phaxcl %s --help')",
                        spec->name, spec->name);
  return -1;
}

/* A directory that exists. */
static int is_dir(const char *p) { return access(p, R_OK | X_OK) == 0; }

const char *phx_cli_data_dir(const phx_cli *c) {
  if (c->data) return c->data;
  if (is_dir(PHX_INSTALL_DATADIR "/mnist14")) return PHX_INSTALL_DATADIR "/mnist14";
  return PHX_SOURCE_DATADIR "/mnist14";
}


int phx_cli_backend(const phx_cli *c, const char *name, phx_backend **b) {
  phx_err err = {0};
  if (!name) name = c->nbackends ? c->backends[0] : "auto";
  char spec[32];
  const char *device = c->device;
  if (strcmp(name, "c") != 0 && strcmp(name, "c64") != 0)
    device = phx_par_device(c->device, spec, sizeof spec); /* one device per rank */
  if (phx_backend_new(name, device, c->verbose, b, &err)) return phx_cli_err(&err);
  return 0;
}

const char *phx_cli_sizes_str(const phx_model_opts *o, char *buf, size_t len) {
  size_t at = 0;
  buf[0] = '\0';
  for (int l = 0; l <= o->nlayers && at < len; l++) {
    int w = snprintf(buf + at, len - at, l ? "-%d" : "%d", o->sizes[l]);
    if (w < 0) break;
    at += (size_t)w;
  }
  return buf;
}

int phx_cli_layers(const phx_cli *c, int inputs, int classes, phx_model_opts *o) {
  int sizes[PHX_MAX_LAYERS + 3], n = 0;
  if (!(c->given & PHX_O_LAYERS)) {
    sizes[n++] = inputs;
    sizes[n++] = 100;
    sizes[n++] = classes;
  } else {
    if (c->layers_skip_first) sizes[n++] = inputs;
    for (int i = 0; i < c->nlayers; i++) sizes[n++] = c->layers[i];
    if (c->layers_skip_last) sizes[n++] = classes;
  }
  if (n < 2)
    return phx_cli_fail(PHX_EXIT_USAGE, "--layers: need at least an input and an output size");
  if (n - 1 > PHX_MAX_LAYERS)
    return phx_cli_fail(PHX_EXIT_USAGE, "--layers: at most %d layers", PHX_MAX_LAYERS);
  o->nlayers = n - 1;
  for (int i = 0; i < n; i++) o->sizes[i] = sizes[i];
  return 0;
}

int phx_cli_check_data(const phx_model_opts *o, const phx_dataset *d,
                       const char *data_dir, const char *what) {
  char sz[128];
  phx_cli_sizes_str(o, sz, sizeof sz);
  if (phx_dataset_dim(d) != o->sizes[0])
    return phx_cli_fail(PHX_EXIT_RUN,
                        "--data %s: samples have %d inputs but %s (%s) expects %d",
                        data_dir, phx_dataset_dim(d), what, sz, o->sizes[0]);
  if (phx_dataset_classes(d) > o->sizes[o->nlayers])
    return phx_cli_fail(PHX_EXIT_RUN,
                        "--data %s: labels go up to class %d but %s (%s) has only %d outputs",
                        data_dir, phx_dataset_classes(d) - 1, what, sz,
                        o->sizes[o->nlayers]);
  return 0;
}
