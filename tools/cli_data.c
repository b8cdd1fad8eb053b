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
 * classification), *task then set to the decision. targets > 0: without
 * --target, the last `targets` columns (a regression model's). */
static int load_table(const phx_cli *c, const char *path, const char *labels, int *task,
                      int targets, char *header, size_t hsize, phx_dataset **out) {
  phx_table_opts o;
  phx_table_opts_default(&o);
  o.header_out = header;
  o.header_size = hsize;
  char last[4096] = "";
  for (int j = targets; j > 0 && strlen(last) < sizeof last - 16; j--)
    snprintf(last + strlen(last), sizeof last - strlen(last), "%s-%d", j < targets ? "," : "", j);
  o.target = c->target ? c->target : targets > 0 ? last : NULL;
  o.header = c->header;
  o.regression = *task != 1;
  phx_err err = {0};
  if (phx_dataset_load_table(path, labels, &o, out, &err)) return phx_cli_err(&err);
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

int phx_cli_load_data(const phx_cli *c, phx_dataset **train, phx_dataset **test) {
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
    int rc = load_table(c, c->data, c->labels, &task, 0, head[0], sizeof head[0], &all);
    if (rc) return rc;
    if (c->test) {
      tr = all;
      if ((rc = load_table(c, c->test, NULL, &task, 0, head[1], sizeof head[1], &te))) {
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
      phx_status s = phx_dataset_split(all, split_fraction(c), c->seed, &tr, &te, &err);
      phx_dataset_free(all);
      if (s) return phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", c->data, err.msg);
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
  phx_dataset *s = NULL;
  if (phx_model_scale_data(m, *d, &s, &err))
    return phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", src, err.msg);
  phx_dataset_free(*d);
  *d = s;
  return 0;
}

int phx_cli_model_data(const phx_cli *c, const phx_model *m, int want_train,
                       phx_dataset **out) {
  phx_dataset *d = NULL;
  int rc = 0;
  if (!phx_cli_is_table(c)) {
    rc = phx_cli_load_data(c, want_train ? &d : NULL, want_train ? NULL : &d);
  } else {
    /* the task is the model's; the rows: --test, a --split part, or all */
    const int T = phx_model_targets(m);
    int task = T ? 2 : 1;
    if (c->test && !want_train) {
      rc = load_table(c, c->test, NULL, &task, T, NULL, 0, &d);
    } else if (c->split > 0) {
      phx_dataset *all = NULL, *tr = NULL, *te = NULL;
      phx_err err = {0};
      rc = load_table(c, c->data, c->labels, &task, T, NULL, 0, &all);
      if (!rc && phx_dataset_split(all, c->split, c->seed, &tr, &te, &err))
        rc = phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", c->data, err.msg);
      phx_dataset_free(all);
      d = want_train ? tr : te;
      phx_dataset_free(want_train ? te : tr);
    } else {
      rc = load_table(c, c->data, c->labels, &task, T, NULL, 0, &d);
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
