/* The data a command works on: an IDX folder or a table (CSV, NumPy), its
 * train/test split, the task (classification or regression) and, for a
 * saved model, the model's scaling into the circuit's units. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* s ends with suffix (ASCII, case-insensitive). */
static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  if (n < k) return 0;
  for (size_t i = 0; i < k; i++) {
    char a = s[n - k + i];
    if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
    if (a != suffix[i]) return 0;
  }
  return 1;
}

int phx_cli_is_table(const phx_cli *c) {
  if (!c->data) return 0;
  static const char *const ext[] = {".csv", ".tsv", ".txt", ".dat", ".csv.gz", ".tsv.gz",
                                    ".txt.gz", ".dat.gz", ".npz", ".npy"};
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
    if (ends_with(c->data, ext[i])) return 1;
  struct stat st;
  return stat(c->data, &st) == 0 && S_ISREG(st.st_mode);
}

/* One regression target of non-negative integers reads as class labels. */
static int integer_labels(const phx_dataset *d) {
  if (phx_dataset_targets(d) != 1) return 0;
  const float *y = phx_dataset_y(d);
  for (int i = 0; i < phx_dataset_count(d); i++)
    if (!(y[i] >= 0 && y[i] <= 65535 && y[i] == (float)(int)y[i])) return 0;
  return 1;
}

/* *d (one integer target) as a dataset of class labels. */
static int to_classes(const char *path, phx_dataset **d) {
  const int n = phx_dataset_count(*d);
  const float *y = phx_dataset_y(*d);
  int32_t *lab = malloc((size_t)n * sizeof *lab), maxc = 0;
  if (!lab) return phx_cli_fail(PHX_EXIT_RUN, "out of memory");
  for (int i = 0; i < n; i++) {
    lab[i] = (int32_t)y[i];
    maxc = lab[i] > maxc ? lab[i] : maxc;
  }
  phx_err err = {0};
  phx_dataset *c = NULL;
  phx_status s = phx_dataset_new(n, phx_dataset_dim(*d), maxc + 1, phx_dataset_x(*d), lab, &c,
                                 &err);
  free(lab);
  if (s) return phx_cli_fail(PHX_EXIT_RUN, "%s: %s", path, err.msg);
  phx_dataset_free(*d);
  *d = c;
  return 0;
}

/* A table file with the --target/--header options; task 1 classification,
 * 2 regression, 0 decided here (one column of integers 0..65535 is
 * classification), *task then set to the decision. Without --target: the
 * columns `model_target` names (a saved model's, from file `model`), else
 * for targets > 0 the last `targets` columns, else the last column. */
static int load_table(const phx_cli *c, const char *path, const char *labels, int *task,
                      int targets, const char *model_target, const char *model,
                      char *header, size_t hsize, phx_dataset **out) {
  phx_table_opts o;
  phx_table_opts_default(&o);
  o.header_out = header;
  o.header_size = hsize;
  char last[4096] = "";
  for (int j = targets; j > 0 && strlen(last) < sizeof last - 16; j--)
    snprintf(last + strlen(last), sizeof last - strlen(last), "%s-%d", j < targets ? "," : "", j);
  o.target = c->target ? c->target : model_target ? model_target : targets > 0 ? last : NULL;
  o.header = c->header;
  o.regression = *task != 1;
  phx_err err = {0};
  if (phx_dataset_load_table(path, labels, &o, out, &err)) {
    if (c->target || !model_target || err.status != PHX_EINVAL) return phx_cli_err(&err);
    return phx_cli_fail(PHX_EXIT_RUN, "%s (the target %s was trained with; --target to "
                        "choose)", err.msg, model);
  }
  if (*task == 0) {
    *task = integer_labels(*out) ? 1 : 2;
    if (c->verbose)
      fprintf(stderr, "phaxcl: %s: %s (--task to choose)\n", path,
              *task == 1 ? "integer targets 0, 1, ...: classification"
                         : "continuous targets: regression");
  }
  if (*task == 1 && phx_dataset_targets(*out)) return to_classes(path, out);
  return 0;
}

/* --split's fraction, or 0.2 for train without --test. */
static double split_fraction(const phx_cli *c) { return c->split > 0 ? c->split : 0.2; }

/* The --target spec as column names where the header names them (an index
 * n, or -n from the end, becomes the name of that column), so the model
 * finds its targets in a table of the same columns in another order. */
static void target_names(const char *spec, const char *header, int ncol, char *out,
                         size_t n) {
  const char *names[1024];
  char hd[8192];
  int nh = 0;
  snprintf(hd, sizeof hd, "%s", header);
  for (char *p = hd; *hd && nh < 1024;) {
    names[nh++] = p;
    char *e = strchr(p, ',');
    if (!e) break;
    *e = 0;
    p = e + 1;
  }
  out[0] = 0;
  for (const char *p = spec;;) {
    const char *e = strchr(p, ',');
    char tok[256], *end;
    snprintf(tok, sizeof tok, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
    long i = strtol(tok, &end, 10);
    if (*end == 0 && end != tok && i < 0) i += ncol;
    /* names only when the header has a name per column and it reads as one */
    const char *name = tok;
    if (nh == ncol && *end == 0 && end != tok && i >= 0 && i < ncol) {
      strtol(names[i], &end, 10);
      if (*names[i] && *end) name = names[i];
    }
    const size_t at = strlen(out);
    snprintf(out + at, n - at, "%s%s", at ? "," : "", name);
    if (!e) break;
    p = e + 1;
  }
}

/* info's record of a table of `rows` rows: target names, header, split. */
static void table_info(const phx_cli *c, const phx_dataset *d, const char *header, long rows,
                       phx_cli_table_info *info) {
  const int T = phx_dataset_targets(d);
  const int ncol = phx_dataset_dim(d) + (T ? T : 1);
  char last[4096] = ""; /* the default: the last column, or a NumPy pair's T targets */
  for (int j = T > 1 ? T : 1; j > 0 && strlen(last) < sizeof last - 16; j--)
    snprintf(last + strlen(last), sizeof last - strlen(last), "%s-%d", strlen(last) ? "," : "",
             j);
  snprintf(info->header, sizeof info->header, "%s", header);
  target_names(c->target ? c->target : last, header, ncol, info->target, sizeof info->target);
  info->spec = (phx_data_spec){info->target, info->header, c->test ? 0 : split_fraction(c),
                               c->seed, rows};
}

int phx_cli_load_data(const phx_cli *c, phx_dataset **train, phx_dataset **test) {
  return phx_cli_load_data_info(c, train, test, NULL);
}

int phx_cli_load_data_info(const phx_cli *c, phx_dataset **train, phx_dataset **test,
                           phx_cli_table_info *info) {
  if (info) info->spec = (phx_data_spec){0};
  phx_err err = {0};
  phx_dataset *tr = NULL, *te = NULL;
  if (!phx_cli_is_table(c)) {
    if (c->given & (PHX_O_TABLE & ~PHX_O_SPLIT & ~PHX_O_TASK))
      return phx_cli_fail(PHX_EXIT_USAGE, "--target, --test, --labels and --header need "
                          "--data FILE (a table)");
    if (phx_dataset_load_dir(phx_cli_data_dir(c), c->pool, &tr, &te, &err))
      return phx_cli_err(&err);
  } else {
    int task = c->task;
    phx_dataset *all = NULL;
    char head[2][8192];
    if ((c->given & PHX_O_SPLIT) && c->split == 0 && !c->test)
      return phx_cli_fail(PHX_EXIT_USAGE, "--split 0: training holds out a test part; give a "
                          "fraction in (0, 1) or --test FILE");
    int rc = load_table(c, c->data, c->labels, &task, 0, NULL, NULL, head[0], sizeof head[0],
                        &all);
    if (rc) return rc;
    if (info) table_info(c, all, head[0], phx_dataset_count(all), info);
    if (c->test) {
      tr = all;
      if ((rc = load_table(c, c->test, NULL, &task, 0, NULL, NULL, head[1], sizeof head[1],
                           &te))) {
        phx_dataset_free(tr);
        return rc;
      }
      /* the same columns in the same order, when both name them */
      if (head[0][0] && head[1][0] && strcmp(head[0], head[1])) {
        phx_dataset_free(tr);
        phx_dataset_free(te);
        return phx_cli_fail(PHX_EXIT_RUN, "--test %s: line 1: the header (%.200s) does not "
                            "match --data's (%.200s)", c->test, head[1], head[0]);
      }
    } else {
      /* in place: the table is held once, plus its test part */
      if (phx_dataset_split_take(all, split_fraction(c), c->seed, &te, &err)) {
        phx_dataset_free(all);
        return phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", c->data, err.msg);
      }
      tr = all;
    }
  }
  if (train) *train = tr;
  else phx_dataset_free(tr);
  if (test) *test = te;
  else phx_dataset_free(te);
  return 0;
}

int phx_cli_scale(const phx_model *m, const char *src, phx_dataset **d) {
  phx_err err = {0};
  if (phx_model_scale_data_inplace(m, *d, &err))
    return phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", src, err.msg);
  return 0;
}

static int commas(const char *s) {
  int n = 0;
  for (; *s; s++) n += *s == ',';
  return n;
}

/* A table for a saved model m (file `model`): its target columns unless
 * --target, and the header it was trained on when both have one. */
static int model_table(const phx_cli *c, const phx_data_spec *spec, const char *model,
                       const char *path, const char *labels, int *task, int targets,
                       phx_dataset **out) {
  char head[8192];
  int rc = load_table(c, path, labels, task, targets, spec->target, model, head, sizeof head,
                      out);
  /* same column count, other names or order: the features would be mixed
   * up silently (other counts fail the shape checks) */
  if (!rc && spec->target && spec->header[0] && head[0] && strcmp(head, spec->header) &&
      commas(head) == commas(spec->header)) {
    phx_dataset_free(*out);
    *out = NULL;
    return phx_cli_fail(PHX_EXIT_RUN, "%s: line 1: the header (%.200s) is not the one %s was "
                        "trained on (%.200s)", path, head, model, spec->header);
  }
  return rc;
}

int phx_cli_model_data(const phx_cli *c, const phx_model *m, int want_train,
                       phx_dataset **out) {
  phx_dataset *d = NULL;
  int rc = 0;
  if (!phx_cli_is_table(c)) {
    rc = phx_cli_load_data(c, want_train ? &d : NULL, want_train ? NULL : &d);
  } else {
    /* the task is the model's; the rows: --test, a --split part, the
     * model's own split of its table, or all */
    const int T = phx_model_targets(m);
    int task = T ? 2 : 1;
    phx_data_spec spec;
    phx_model_get_data_spec(m, &spec);
    const char *model = c->args[0];
    if (c->test && !want_train) {
      rc = model_table(c, &spec, model, c->test, NULL, &task, T, &d);
    } else {
      phx_dataset *all = NULL;
      rc = model_table(c, &spec, model, c->data, c->labels, &task, T, &all);
      double frac = c->split;
      uint64_t seed = c->seed;
      if (!rc && !(c->given & PHX_O_SPLIT) && spec.target && spec.split > 0) {
        if (phx_dataset_count(all) == spec.rows) {
          frac = spec.split;
          seed = spec.seed;
        } else {
          fprintf(stderr, "phaxcl: note: %s has %d rows, not the %lld of the table %s was "
                  "trained on: using every row (--split P to hold out a part)\n", c->data,
                  phx_dataset_count(all), (long long)spec.rows, model);
        }
      }
      if (!rc && frac > 0) {
        phx_dataset *te = NULL;
        phx_err err = {0};
        if (phx_dataset_split_take(all, frac, seed, &te, &err))
          rc = phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", c->data, err.msg);
        d = want_train ? all : te;
        phx_dataset_free(want_train ? te : all);
      } else {
        d = all;
      }
    }
  }
  char what[1100];
  snprintf(what, sizeof what, "the model in %s", c->args[0]);
  if (!rc) rc = phx_cli_check_data(phx_model_get_opts(m), d, phx_cli_data_dir(c), what);
  if (!rc) rc = phx_cli_scale(m, phx_cli_data_dir(c), &d);
  if (rc) {
    phx_dataset_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

void phx_cli_regress_json(cJSON *o, const phx_regress_result *r, const char *prefix) {
  const struct {
    const char *name;
    double v;
  } f[] = {{"mse", r->mse}, {"rmse", r->rmse}, {"mre", r->mre}, {"max_err", r->max_err},
           {"mse_v", r->mse_v}};
  char key[64];
  for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
    snprintf(key, sizeof key, "%s%s", prefix, f[i].name);
    cJSON_AddNumberToObject(o, key, f[i].v);
  }
}
