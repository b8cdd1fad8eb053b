/* phaxcl train: builds (or loads with --init or --resume) a model, trains
 * it on --data, prints one line (or JSON object) per epoch and saves it with
 * --save only after training succeeded. SIGINT/SIGTERM finish the current
 * step, write the --checkpoint and exit 130/143; a second one exits at once. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "par.h"

static const char USAGE[] =
    "usage: phaxcl train [OPTIONS]\n"
    "\n"
    "Trains a crossbar network and prints one line per epoch: loss, training\n"
    "and test accuracy, seconds. Defaults train the paper task (196-100-10 on\n"
    "the bundled data/mnist14) to 86-87 % test accuracy.\n"
    "\n"
    "data:\n"
    "  --data DIR|FILE    MNIST-layout IDX folder (default: bundled mnist14), or a\n"
    "                     table: .csv/.tsv/.txt (optionally .gz; header optional),\n"
    "                     .npz (arrays x and y) or .npy (features; --labels FILE\n"
    "                     the targets). Features are scaled to [0, 1] by their\n"
    "                     training ranges; regression targets map onto the\n"
    "                     outputs' voltage range; both are saved with the model\n"
    "  --target COLS      table target columns: names or 0-based indices, comma-\n"
    "                     separated, -1 the last (default: the last column)\n"
    "  --task T           auto (default: one column of integers 0, 1, ... is\n"
    "                     classification), classification or regression (loss mse,\n"
    "                     one output per target)\n"
    "  --test FILE        the test table (default: --split of --data)\n"
    "  --split P          fraction of --data held out for testing, drawn with\n"
    "                     --seed (default 0.2 without --test)\n"
    "  --labels FILE      the targets' .npy for a --data .npy of features\n"
    "  --header auto|yes|no  whether a table's first row names its columns\n"
    "                     (default auto: a row with a non-number is a header)\n"
    "  --pool N           average N x N pixel blocks (default 1)\n"
    "  --limit N          use only the first N training samples (0 = all)\n"
    "model:\n"
    "  --layers LIST      sizes input,hidden...,output (default inputs,100,classes);\n"
    "                     a single number is one hidden layer; an empty first or\n"
    "                     last entry (',100,' or '196,100,') comes from the data\n"
    "  --vdd V            supply voltage (default 0.5)\n"
    "  --ratio R          gmax/gmin conductance ratio (default 8.33)\n"
    "  --gmin G           smallest conductance in uS (default 0.12)\n"
    "  --vtc-c A1,A2,A3,A4  inverted-output fit A1 + A2 tanh(A4 (z - A3))\n"
    "                     (default -0.0012,-0.2483,-0.0235,31.7581)\n"
    "  --vtc-d A1,A2,A3,A4  non-inverted-output fit (default\n"
    "                     -0.0011,0.2490,-0.0203,193.0602)\n"
    "  --neuron FILE      fits and vdd of a neuron file from 'phaxcl vtc' (with its\n"
    "                     lr/epochs hint unless --lr/--epochs are given)\n"
    "  --curve tanh|table the neuron as the tanh fits (default) or as the\n"
    "                     --neuron file's sweep (monotone cubic, saved in the model)\n"
    "  --load-aware       hidden neurons sag under the next crossbar's rows, from\n"
    "                     the file's loaded sweeps (phaxcl vtc --loads)\n"
    "  --load-return      as --load-aware, each row's load returning to the next\n"
    "                     layer's column nodes (rows and columns solved together)\n"
    "  --loss ce|mse      cross-entropy (default) or squared error\n"
    "  --init FILE        start from a checkpoint; its model options win\n"
    "  --seed N           initialisation and shuffling seed (default 1)\n"
    "training:\n"
    "  --optimizer NAME   sgd, momentum, adam (default) or lbfgs (full batch)\n"
    "  --epochs N         epochs (default 50), or iterations for lbfgs (default\n"
    "                     400); 0 only initialises and saves\n"
    "  --batch N          mini-batch size (default 16)\n"
    "  --lr X             learning rate (default 0.1)\n"
    "  --backend NAME     auto (default), c, c64 or opencl\n"
    "  --device SPEC      OpenCL device: P:D or part of its name\n"
    "  --grad-blocks N    data-parallel gradients: each batch as N fixed blocks\n"
    "                     (a power of two, default 8) summed over one tree, so\n"
    "                     that `mpirun -np K` trains the same theta for any K <= N;\n"
    "                     on by itself under mpirun (rank 0 prints and saves)\n"
    "variation-aware training (each step on a drawn chip, as `phaxcl mc`):\n"
    "  --levels N  --levels-file FILE  --sigma PCT  --dist lognormal|gaussian\n"
    "  --read-noise PCT\n"
    "  --stuck-off F  --stuck-on F  --offset-sigma MV|NEURON-FILE\n"
    "  --vary-draws N     chips per step, their gradients averaged (default 1)\n"
    "retraining a chip with known stuck cells (needs --init):\n"
    "  --faults FILE      one cell a line: layer row column gmin|gmax|G (G in S,\n"
    "                     or with a unit: 0.5uS); the cells stay at their values\n"
    "output:\n"
    "  --save FILE        write the trained model (safetensors) when done\n"
    "  --checkpoint FILE  write a resumable checkpoint (a model file plus the\n"
    "                     optimizer state) at the end, every --checkpoint-every\n"
    "                     epochs, and on SIGINT/SIGTERM (which otherwise save nothing)\n"
    "  --checkpoint-every N  epochs between checkpoints (default 0: end and stop only)\n"
    "  --resume FILE      continue from a checkpoint with its model and options\n"
    "                     (give the same --data/--pool); bit-identical to an\n"
    "                     uninterrupted run, except lbfgs, which restarts its\n"
    "                     history; checkpoints go on to FILE unless --checkpoint\n"
    "  --json             one JSON object per epoch, then a summary object\n"
    "  --log FILE         write the run as JSON lines to FILE as it goes: the\n"
    "                     settings, one object per epoch (as --json), a summary\n"
    "                     (for 'phaxcl plot curves')\n"
    "  --verbose          report the set-up and backend details on stderr\n"
    "  --help             this text\n";

static const phx_cli_spec SPEC = {
    "train",
    PHX_O_DATA | PHX_O_POOL | PHX_O_LAYERS | PHX_O_EPOCHS | PHX_O_BATCH | PHX_O_LR |
        PHX_O_OPTIMIZER | PHX_O_LOSS | PHX_O_SEED | PHX_O_MODEL |
        PHX_O_BACKEND | PHX_O_DEVICE | PHX_O_SAVE | PHX_O_INIT | PHX_O_LIMIT |
        PHX_O_JSON | PHX_O_VERBOSE | PHX_O_CHECKPOINT | PHX_O_CHECKPOINT_EVERY |
        PHX_O_RESUME | PHX_O_TABLE,
    0, 0, USAGE};

/* What the epoch hooks need. */
typedef struct report {
  int json;
  int tty;      /* stdout is a terminal: draw a progress bar */
  int bar_shown;
  int last_pct;  /* percentage last drawn: redraw only when it moves */
  double last_test;
  FILE *log;     /* --log: JSON lines, flushed after each */
  const char *log_path;
  int log_failed;
  int regression; /* no accuracies: losses only */
} report;

/* One JSON object as a line of the --log file, freed; a failed write is
 * reported once and training goes on (the log is a record, not a result). */
static void log_line(report *r, cJSON *o) {
  if (!r->log || r->log_failed) {
    cJSON_Delete(o);
    return;
  }
  char *txt = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!txt || fputs(txt, r->log) < 0 || fputc('\n', r->log) < 0 || fflush(r->log)) {
    phx_cli_fail(0, "--log %s: write failed; the log stops here", r->log_path);
    r->log_failed = 1;
  }
  free(txt);
}

/* Progress bar on a terminal, redrawn in place. */
static void on_progress(long done, long total, void *user) {
  report *r = user;
  if (!r->tty || r->json || total <= 0) return;
  int pct = (int)(100 * done / total);
  if (r->bar_shown && pct == r->last_pct) return;
  r->last_pct = pct;
  int width = 30, fill = (int)(width * done / total);
  printf("\r  [%.*s%*s] %ld/%ld", fill, "==============================", width - fill,
         "", done, total);
  fflush(stdout);
  r->bar_shown = 1;
}

/* One line or JSON object per epoch. */
static int on_epoch(const phx_epoch_stats *s, void *user) {
  report *r = user;
  r->last_test = s->test_acc;
  if (r->bar_shown) {
    printf("\r\033[K");
    r->bar_shown = 0;
  }
  if (r->json || r->log) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "epoch", s->epoch);
    cJSON_AddNumberToObject(o, "epochs", s->epochs);
    cJSON_AddNumberToObject(o, "loss", s->loss);
    if (!r->regression) cJSON_AddNumberToObject(o, "train_acc", s->train_acc);
    if (s->test_acc >= 0 && r->regression) {
      cJSON_AddNumberToObject(o, "test_loss", s->test_loss);
    } else if (s->test_acc >= 0) {
      cJSON_AddNumberToObject(o, "test_loss", s->test_loss);
      cJSON_AddNumberToObject(o, "test_acc", s->test_acc);
    } else {
      cJSON_AddNullToObject(o, "test_loss");
      cJSON_AddNullToObject(o, "test_acc");
    }
    cJSON_AddNumberToObject(o, "seconds", s->seconds);
    if (r->log) log_line(r, cJSON_Duplicate(o, 1));
    if (r->json) phx_cli_print_json(o);
    else cJSON_Delete(o);
  }
  if (!r->json && r->regression) {
    char test[32] = "-";
    if (s->test_acc >= 0) snprintf(test, sizeof test, "%.6g", s->test_loss);
    printf("epoch %*d/%d  loss %.6g V^2  test loss %s  %.2f s\n", s->epochs >= 100 ? 3 : 2,
           s->epoch, s->epochs, s->loss, test, s->seconds);
  } else if (!r->json) {
    char test[32] = "     -";
    if (s->test_acc >= 0) snprintf(test, sizeof test, "%6.2f %%", 100.0 * s->test_acc);
    printf("epoch %*d/%d  loss %.6f  train %6.2f %%  test %s  %.2f s\n",
           s->epochs >= 100 ? 3 : 2, s->epoch, s->epochs, s->loss, 100.0 * s->train_acc,
           test, s->seconds);
  }
  fflush(stdout);
  return 0;
}

/* Set by the first SIGINT/SIGTERM; training polls it after every step. The
 * library keeps no global state, so the flag lives here. */
static volatile sig_atomic_t stop_signal;

/* First signal: ask training to stop after this step. Second: leave now,
 * touching no file (a save in progress leaves only an unnamed temp file,
 * which vanishes, or a named one the next save removes). */
static void on_signal(int sig) {
  if (stop_signal) _exit(128 + sig);
  stop_signal = sig;
}

/* The exit status of a stopped run: 128 + the signal, SIGTERM's when the
 * signal came to another rank. */
static int stop_status(void) { return 128 + (stop_signal ? (int)stop_signal : SIGTERM); }

/* How to go on after a stop; data-parallel runs (blocks > 0) name their
 * blocks, which give the same theta at any rank count. */
static void resume_hint(const phx_cli *c, const char *checkpoint, int blocks) {
  if (!checkpoint) {
    fprintf(stderr, "phaxcl: run with --checkpoint FILE to be able to resume\n");
    return;
  }
  char b[32] = "";
  if (blocks) snprintf(b, sizeof b, " --grad-blocks %d", blocks);
  fprintf(stderr, "phaxcl: resume with: phaxcl train --resume %s%s%s%s (and the same "
          "--data/--pool/--backend)\n", checkpoint, b, c->save ? " --save " : "",
          c->save ? c->save : "");
}

/* Installs (on) or removes the handlers for SIGINT and SIGTERM. */
static void catch_signals(int on) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on ? on_signal : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

/* --resume: the checkpoint's options, overridden by those given (which
 * the library then checks against it). Returns 0 or an exit status. */
static int resume_opts(const phx_cli *c, phx_train_opts *t) {
  phx_err err = {0};
  phx_train_opts k;
  if (c->init)
    return phx_cli_fail(PHX_EXIT_USAGE, "--resume and --init exclude each other");
  if (phx_checkpoint_info(c->resume, &k, NULL, &err)) return phx_cli_err(&err);
  if (c->given & PHX_O_OPTIMIZER) k.optimizer = c->optimizer;
  if (c->given & PHX_O_EPOCHS) k.epochs = c->epochs;
  if (c->given & PHX_O_BATCH) k.batch = c->batch;
  if (c->given & PHX_O_LR) k.lr = c->lr;
  if (c->given & PHX_O_SEED) k.seed = c->seed;
  if (c->given & PHX_O_LIMIT) k.limit = c->limit;
  *t = k;
  return 0;
}

/* The model: loaded from --init (its options win, --layers must agree) or
 * new from the options and the data. Returns 0 or an exit status. */
int phx_cli_make_model(const phx_cli *c, const phx_dataset *train, phx_model **out) {
  phx_err err = {0};
  const int T = phx_dataset_targets(train);
  int inputs = phx_dataset_dim(train), classes = T ? T : phx_dataset_classes(train);
  phx_model_opts want;
  phx_model_opts_default(&want);
  int rc = phx_cli_layers(c, inputs, classes, &want);
  if (rc) return rc;
  const char *from = c->resume ? c->resume : c->init;
  if (from) {
    phx_model *m = NULL;
    if (phx_model_load(from, &m, &err)) return phx_cli_err(&err);
    const phx_model_opts *mo = phx_model_get_opts(m);
    if (c->given & PHX_O_LAYERS) {
      int same = want.nlayers == mo->nlayers;
      for (int l = 0; same && l <= mo->nlayers; l++) same = want.sizes[l] == mo->sizes[l];
      if (!same) {
        char a[128], b[128];
        phx_cli_sizes_str(&want, a, sizeof a);
        phx_cli_sizes_str(mo, b, sizeof b);
        phx_model_free(m);
        return phx_cli_fail(PHX_EXIT_USAGE, "--layers %s conflicts with --%s %s (%s)", a,
                            c->resume ? "resume" : "init", from, b);
      }
    }
    if (c->given & (PHX_O_MODEL & ~PHX_O_LAYERS))
      fprintf(stderr, "phaxcl: note: --vdd/--ratio/--gmin/--vtc-c/--vtc-d/--loss ignored: "
                      "--%s %s sets the model options\n", c->resume ? "resume" : "init", from);
    *out = m;
    return 0;
  }
  want.vdd = c->vdd;
  want.ratio = c->ratio;
  want.gmin = c->gmin;
  memcpy(want.c, c->vtc_c, sizeof want.c);
  memcpy(want.d, c->vtc_d, sizeof want.d);
  want.loss = c->loss;
  if (T && (c->given & PHX_O_LOSS) && c->loss != PHX_LOSS_MSE)
    return phx_cli_fail(PHX_EXIT_USAGE, "--loss ce: regression trains with squared error");
  if (T) want.loss = PHX_LOSS_MSE;
  want.load_aware = c->load_aware;
  if (c->load_aware && (!c->curve || strcmp(c->curve, "table")))
    return phx_cli_fail(PHX_EXIT_USAGE, "%s needs --curve table (and --neuron FILE)",
                        c->load_aware == 2 ? "--load-return" : "--load-aware");
  if (phx_model_opts_check(&want, &err))
    return phx_cli_fail(PHX_EXIT_USAGE, "%s", err.msg);
  phx_model *m = NULL;
  if (phx_model_new(&want, &m, &err)) return phx_cli_err(&err);
  if ((rc = phx_cli_neuron_table(c, m))) {
    phx_model_free(m);
    return rc;
  }
  phx_model_init(m, c->seed);
  *out = m;
  return 0;
}

/* Tables: the model's scaling (fitted on train unless the model from
 * --init/--resume has one) with the record of this table (info), then
 * both sets in the circuit's units. */
static int scale_sets(const phx_cli *c, phx_model *m, const phx_cli_table_info *info,
                      phx_dataset **train, phx_dataset **test) {
  phx_err err = {0};
  if (!phx_cli_is_table(c)) return 0;
  const int T = phx_dataset_targets(*train);
  if (T && phx_model_targets(m) == 0 && (c->init || c->resume) &&
      phx_model_get_opts(m)->loss != PHX_LOSS_MSE)
    return phx_cli_fail(PHX_EXIT_USAGE, "--%s: a classifier (loss ce) cannot train on "
                        "regression targets", c->resume ? "resume" : "init");
  if (!(c->init || c->resume) || !phx_model_scaled(m)) {
    if (phx_model_fit_scaling(m, *train, &err))
      return phx_cli_fail(PHX_EXIT_RUN, "--data %s: %s", c->data, err.msg);
  }
  if (phx_model_set_data_spec(m, &info->spec, &err)) return phx_cli_err(&err);
  int rc = phx_cli_scale(m, c->data, train);
  if (!rc) rc = phx_cli_scale(m, c->test ? c->test : c->data, test);
  return rc;
}

/* A regression run's closing figures on the test set, in target units. */
static int regress_summary(phx_backend *b, const phx_model *m, const phx_dataset *test,
                           cJSON *o) {
  phx_err err = {0};
  phx_regress_result r;
  if (phx_evaluate_regression(b, m, test, &r, NULL, &err)) return phx_cli_err(&err);
  if (o) {
    cJSON_AddStringToObject(o, "task", "regression");
    phx_cli_regress_json(o, &r, "test_");
  } else {
    printf("test (%d samples): mse %.6g  rmse %.6g  mean relative error %.4f %%  max error "
           "%.6g (target units)\n", r.count, r.mse, r.rmse, 100 * r.mre, r.max_err);
  }
  return 0;
}

/* Fails early when --save cannot be written, instead of after training. */
static int check_save_dir(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return phx_cli_fail(PHX_EXIT_USAGE, "--save: path too long");
  const char *dir = dirname(buf);
  if (access(dir, W_OK | X_OK) != 0)
    return phx_cli_fail(PHX_EXIT_RUN, "--save %s: cannot write to folder %s", path, dir);
  return 0;
}

/* Saves with the library's atomic save; prints the error on failure. */
static int save_model(const phx_model *m, const char *path) {
  phx_err err = {0};
  if (phx_model_save(m, path, &err)) return phx_cli_err(&err);
  return 0;
}

/* The closing summary as JSON: model, backend, device, saved file. */
static cJSON *summary_json(const phx_cli *c, const phx_backend *b, const char *sz,
                           const report *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddTrueToObject(o, "done");
  cJSON_AddStringToObject(o, "model", sz);
  if (b) {
    cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
    cJSON_AddStringToObject(o, "device", phx_backend_device(b));
  }
  if (r && r->last_test >= 0 && !r->regression)
    cJSON_AddNumberToObject(o, "test_acc", r->last_test);
  if (c->save) cJSON_AddStringToObject(o, "saved", c->save);
  else cJSON_AddNullToObject(o, "saved");
  return o;
}

/* The closing summary: backend, device, saved file, a regression model's
 * test errors (and the log's last line). */
static int summary(const phx_cli *c, phx_backend *b, const phx_model *m, report *r,
                   const phx_dataset *test) {
  char sz[128];
  int rc = 0;
  phx_cli_sizes_str(phx_model_get_opts(m), sz, sizeof sz);
  if (r && r->log) log_line(r, summary_json(c, b, sz, r));
  if (c->json) {
    cJSON *o = summary_json(c, b, sz, r);
    if (b && test && phx_model_targets(m) && (rc = regress_summary(b, m, test, o))) {
      cJSON_Delete(o);
      return rc;
    }
    phx_cli_print_json(o);
  } else {
    if (b && test && phx_model_targets(m) && (rc = regress_summary(b, m, test, NULL)))
      return rc;
    if (b) printf("model %s on backend %s: %s\n", sz, phx_backend_name(b), phx_backend_device(b));
    else printf("model %s initialised (seed %llu)\n", sz, (unsigned long long)c->seed);
    if (c->save) printf("saved %s\n", c->save);
  }
  return 0;
}

/* The --log file's first line: what this run is, so runs can be told apart
 * on one figure. */
static void log_header(report *r, const phx_cli *c, const phx_train_opts *t,
                       const phx_model *m, const phx_backend *b, const char *dir) {
  static const char *const names[] = {"sgd", "momentum", "adam", "lbfgs"};
  char sz[128];
  phx_cli_sizes_str(phx_model_get_opts(m), sz, sizeof sz);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "run", c->save ? c->save : sz);
  cJSON_AddStringToObject(o, "model", sz);
  cJSON_AddStringToObject(o, "data", dir);
  cJSON_AddStringToObject(o, "optimizer", names[t->optimizer]);
  cJSON_AddNumberToObject(o, "epochs", t->epochs);
  cJSON_AddNumberToObject(o, "batch", t->batch);
  cJSON_AddNumberToObject(o, "lr", t->lr);
  cJSON_AddNumberToObject(o, "seed", (double)t->seed);
  cJSON_AddStringToObject(o, "backend", phx_backend_name(b));
  cJSON_AddStringToObject(o, "device", phx_backend_device(b));
  log_line(r, o);
}

/* --vary-draws N out of argv into *draws (0 when not given). Returns -1
 * or an exit status. */
static int vary_draws_option(int *argc, char **argv, int *draws) {
  int n = 1;
  *draws = 0;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--vary-draws") != 0) {
      argv[n++] = argv[i];
      continue;
    }
    const char *val = i + 1 < *argc ? argv[++i] : "";
    char *end = NULL;
    const long k = strtol(val, &end, 10);
    if (!*val || *end || k < 1 || k > 1024)
      return phx_cli_fail(PHX_EXIT_USAGE, "--vary-draws: expected a whole number from 1 to "
                          "1024, got '%s'", val);
    *draws = (int)k;
  }
  *argc = n;
  return -1;
}

/* phaxcl train once the variation options and --faults are out of argv
 * (given: which variation options the command line set). */
static int train_with(int argc, char **argv, phx_variation *v, unsigned given,
                      const phx_faults *faults) {
  int draws;
  int rc0 = vary_draws_option(&argc, argv, &draws);
  if (rc0 >= 0) return rc0;
  phx_train_parallel par;
  int parallel;
  int rc = phx_par_train_options(&argc, argv, &par, &parallel);
  if (rc >= 0) return rc;
  const int saver = phx_par_rank() == 0; /* only rank 0 writes files */
  int aware = phx_vary_any(v);
  phx_cli c;
  rc = phx_cli_parse2(&SPEC, PHX_O2_NEURON | PHX_O2_CURVE | PHX_O2_LOAD_AWARE |
                                         PHX_O2_LOAD_RETURN | PHX_O2_LOG,
                      argc, argv, &c);
  if (rc >= 0) return rc;
  if ((rc = phx_cli_apply_neuron(&c))) return rc;
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.faults = faults;
  if (faults && !c.init && !c.resume)
    return phx_cli_fail(PHX_EXIT_USAGE, "--faults needs --init MODEL (the chip's trained model)");
  t.optimizer = c.optimizer;
  t.epochs = c.epochs;
  t.batch = c.batch;
  t.lr = c.lr;
  t.seed = c.seed;
  t.limit = c.limit;
  if (t.optimizer == PHX_OPT_LBFGS && !(c.given & PHX_O_EPOCHS)) t.epochs = 400;
  if (c.resume && (rc = resume_opts(&c, &t))) return rc;
  if (draws) t.vary_draws = draws;
  t.checkpoint = c.checkpoint ? c.checkpoint : c.resume;
  t.checkpoint_every = c.checkpoint_every;
  t.resume = c.resume;
  if (t.optimizer == PHX_OPT_LBFGS && (c.given & (PHX_O_LR | PHX_O_BATCH)))
    fprintf(stderr, "phaxcl: note: --lr and --batch are ignored by lbfgs (full batch)\n");

  phx_dataset *train = NULL, *test = NULL;
  phx_model *m = NULL;
  phx_backend *b = NULL;
  const char *dir = phx_cli_data_dir(&c);
  rc = c.save ? check_save_dir(c.save) : 0;
  if (!rc && c.checkpoint) rc = check_save_dir(c.checkpoint);
  phx_cli_table_info info;
  if (!rc) rc = phx_cli_load_data_info(&c, &train, &test, &info);
  if (!rc) rc = phx_cli_make_model(&c, train, &m);
  if (!rc) rc = phx_cli_apply_faults(faults, m);
  /* a resumed run goes on training for the chip its checkpoint was
   * trained for, the options given overriding it; otherwise every
   * variation field comes from the command line */
  if (!rc && c.resume && phx_model_get_variation(m)) {
    rc = phx_cli_vary_merge(m, v, given);
    aware = 1;
  } else if (!rc && aware) {
    rc = phx_cli_vary_merge(m, v, ~0u);
  }
  t.vary = aware ? v : NULL;
  if (!rc && draws && !aware)
    rc = phx_cli_fail(PHX_EXIT_USAGE, "--vary-draws needs variation-aware training "
                      "(--sigma, --levels, --stuck-off ...)");
  char what[1100];
  if (c.resume) snprintf(what, sizeof what, "the model in %s", c.resume);
  else if (c.init) snprintf(what, sizeof what, "the model in %s", c.init);
  else snprintf(what, sizeof what, "%s", (c.given & PHX_O_LAYERS) ? "--layers" : "the model");
  if (!rc) rc = phx_cli_check_data(phx_model_get_opts(m), train, dir, what);
  if (!rc) rc = phx_cli_check_data(phx_model_get_opts(m), test, dir, what);
  if (!rc) rc = scale_sets(&c, m, &info, &train, &test);
  if (!rc && c.verbose) {
    char sz[128];
    phx_cli_sizes_str(phx_model_get_opts(m), sz, sizeof sz);
    static const char *const names[] = {"sgd", "momentum", "adam", "lbfgs"};
    fprintf(stderr,
            "phaxcl: model %s, data %s (%d train, %d test), %s lr %g batch %d, "
            "%d epochs, seed %llu\n",
            sz, dir, phx_dataset_count(train), phx_dataset_count(test),
            names[t.optimizer], t.lr, t.batch, t.epochs, (unsigned long long)t.seed);
  }
  /* no progress bar from ranks: their stdout is a tty of mpirun's, whatever its own is */
  report r = {.json = c.json, .tty = isatty(STDOUT_FILENO) && !phx_par_active(),
              .last_test = -1, .log_path = c.log,
              .regression = m && phx_model_targets(m) > 0};
  if (!rc && t.epochs == 0 && !c.resume) {
    if (c.save && saver) rc = save_model(m, c.save);
    if (!rc) rc = summary(&c, NULL, m, NULL, NULL);
  } else if (!rc) {
    rc = phx_cli_backend(&c, NULL, &b);
    if (!rc && c.log && saver && !(r.log = fopen(c.log, "w")))
      rc = phx_cli_fail(PHX_EXIT_RUN, "--log %s: cannot open for writing", c.log);
    if (!rc && r.log) log_header(&r, &c, &t, m, b, dir);
    if (!rc) {
      phx_err err = {0};
      phx_train_hooks hooks = {.on_epoch = on_epoch, .on_progress = on_progress, .user = &r,
                               .stop = &stop_signal, .parallel = parallel ? &par : NULL};
      catch_signals(1);
      phx_status s = phx_train(b, m, train, test, &t, &hooks, &err);
      if (r.bar_shown) printf("\r\033[K");
      fflush(stdout);
      if (s == PHX_EINTR && !saver) {
        rc = stop_status(); /* every rank stopped at this step: rank 0 says so */
      } else if (s == PHX_EINTR) {
        phx_cli_fail(PHX_EXIT_RUN, "%s", err.msg);
        resume_hint(&c, t.checkpoint, parallel ? par.blocks : 0);
        rc = stop_status();
      } else if (s) {
        rc = phx_cli_err(&err);
      }
      catch_signals(0);
    }
    if (!rc && c.save && saver) rc = save_model(m, c.save);
    if (!rc) rc = summary(&c, b, m, &r, test);
  }
  if (r.log && fclose(r.log) && !r.log_failed)
    phx_cli_fail(0, "--log %s: write failed", c.log);
  if (b) phx_backend_free(b);
  if (m) phx_model_free(m);
  if (train) phx_dataset_free(train);
  if (test) phx_dataset_free(test);
  return rc;
}

int phx_cmd_train(int argc, char **argv) {
  phx_variation v;
  phx_variation_default(&v);
  unsigned given = 0;
  int rc = phx_cli_variation(&argc, argv, &v, NULL, &given);
  if (rc >= 0) return rc;
  phx_faults *faults = NULL;
  if ((rc = phx_cli_faults(&argc, argv, &faults)) >= 0) return rc;
  rc = train_with(argc, argv, &v, given, faults);
  phx_faults_free(faults);
  return rc;
}
