/* Checkpoint and resume: a run stopped through hooks->stop (mid-epoch and
 * at an epoch's end) writes a checkpoint, leaves the caller's model as it
 * was and returns PHX_EINTR; resuming from the checkpoint ends with the
 * same parameters, bit for bit, and the same per-epoch reports as the run
 * that was never stopped. For sgd, momentum and adam; L-BFGS resumes with
 * a fresh history. Checkpoints load as plain models; a checkpoint from
 * other options or other data is refused.
 * usage: test_resume [BACKEND [DEVICE]] (default c). */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "phaxcl.h"
#include "phx_config.h"
#include "test_util.h"

#define EPOCHS 4
static phx_dataset *train_set, *test_set;
static phx_backend *backend;

static phx_model *make_model(void) {
  phx_model_opts o;
  phx_err err = {0};
  phx_model_opts_default(&o);
  o.sizes[0] = phx_dataset_dim(train_set);
  o.sizes[1] = 20;
  o.sizes[2] = 10;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, 5);
  return m;
}

static int same_theta(const phx_model *a, const phx_model *b) {
  for (int l = 0; l < phx_model_get_opts(a)->nlayers; l++) {
    size_t n = (size_t)phx_model_rows(a, l) * (size_t)phx_model_cols(a, l);
    if (memcmp(phx_model_theta_const(a, l), phx_model_theta_const(b, l), n * sizeof(float)))
      return 0;
  }
  return 1;
}

/* Hook state: reports per epoch, and when to raise the stop flag. */
typedef struct watch {
  volatile sig_atomic_t stop;
  long stop_at_sample;  /* raise stop once progress passes this in stop_epoch */
  int stop_epoch, epoch_now;
  int stop_after_epoch; /* raise stop at the end of this epoch */
  double loss[EPOCHS + 1], acc[EPOCHS + 1], test[EPOCHS + 1];
  int reports;
} watch;

static int on_epoch(const phx_epoch_stats *s, void *user) {
  watch *w = user;
  if (s->epoch >= 1 && s->epoch <= EPOCHS) {
    w->loss[s->epoch] = s->loss;
    w->acc[s->epoch] = s->train_acc;
    w->test[s->epoch] = s->test_acc;
  }
  w->reports++;
  w->epoch_now = s->epoch + 1;
  if (s->epoch == w->stop_after_epoch) w->stop = 1;
  return 0;
}

static void on_progress(long done, long total, void *user) {
  watch *w = user;
  (void)total;
  if (w->epoch_now == w->stop_epoch && done >= w->stop_at_sample) w->stop = 1;
}

/* where: 1 stop mid-epoch, 0 after an epoch's end, 2 during an epoch's
 * last batch (which must end the epoch, not checkpoint at offset n). */
static void run_case(phx_optimizer opt, const char *name, int where) {
  int mid_epoch = where == 1;
  char ck[512];
  snprintf(ck, sizeof ck, "%s", in_dir("ck.st"));
  unlink(ck);
  phx_err err = {0};
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.optimizer = opt;
  t.epochs = EPOCHS;
  t.limit = 200;
  t.batch = 16;
  t.seed = 11;
  if (opt == PHX_OPT_SGD || opt == PHX_OPT_MOMENTUM) t.lr = 0.5;
  /* Uninterrupted. */
  phx_model *ref = make_model();
  watch wr = {.epoch_now = 1};
  phx_train_hooks hr = {.on_epoch = on_epoch, .user = &wr};
  must(phx_train(backend, ref, train_set, test_set, &t, &hr, &err), &err, "uninterrupted");

  /* Stopped: mid-epoch (after 88 of 200 samples of epoch 2) or after epoch 2. */
  phx_model *m = make_model(), *init = make_model();
  watch w = {.epoch_now = 1, .stop_epoch = where ? 2 : 0,
             .stop_at_sample = where == 2 ? 200 : 88, .stop_after_epoch = where ? 0 : 2};
  phx_train_hooks h = {.on_epoch = on_epoch, .on_progress = on_progress, .user = &w,
                       .stop = &w.stop};
  t.checkpoint = ck;
  phx_status s = phx_train(backend, m, train_set, test_set, &t, &h, &err);
  CHECKF(s == PHX_EINTR && strstr(err.msg, ck), "%s: stop gave %s: %s", name,
         phx_status_name(s), err.msg);
  CHECKF(same_theta(m, init), "%s: an interrupted run changed the caller's model", name);

  /* The checkpoint is a model file too. */
  phx_model *cm = NULL;
  must(phx_model_load(ck, &cm, &err), &err, "checkpoint as a model");
  phx_eval_result er;
  must(phx_evaluate(backend, cm, test_set, &er, NULL, &err), &err, "evaluate a checkpoint");
  phx_train_opts info;
  int done = -1;
  must(phx_checkpoint_info(ck, &info, &done, &err), &err, "checkpoint info");
  CHECKF(done == (mid_epoch ? 1 : 2) && info.optimizer == opt && info.lr == t.lr &&
             info.seed == 11 && info.limit == 200 && info.epochs == EPOCHS,
         "%s: info: %d epochs done, optimizer %d", name, done, (int)info.optimizer);

  /* Resumed with the checkpoint's model. */
  watch w2 = {.epoch_now = 1};
  phx_train_hooks h2 = {.on_epoch = on_epoch, .user = &w2};
  t.resume = ck;
  t.checkpoint = NULL;
  must(phx_train(backend, cm, train_set, test_set, &t, &h2, &err), &err, "resume");
  if (opt == PHX_OPT_LBFGS) {
    /* History restarts: not bitwise, but it continues from the checkpoint. */
    CHECKF(w2.reports >= 1 && w2.loss[EPOCHS] <= wr.loss[2] + 1e-9,
           "%s: resumed loss %g above the loss at the checkpoint %g", name, w2.loss[EPOCHS],
           wr.loss[2]);
  } else {
    CHECKF(same_theta(cm, ref), "%s (%s): resumed parameters differ from the "
           "uninterrupted run", name, mid_epoch ? "mid-epoch" : "epoch end");
    CHECKF(w2.reports == EPOCHS - done, "%s: %d epochs reported after resume", name,
           w2.reports);
    for (int e = done + 1; e <= EPOCHS; e++)
      CHECKF(w2.loss[e] == wr.loss[e] && w2.acc[e] == wr.acc[e] && w2.test[e] == wr.test[e],
             "%s: epoch %d report after resume (loss %.9g, train %.4f) differs from the "
             "uninterrupted run (%.9g, %.4f)", name, e, w2.loss[e], w2.acc[e], wr.loss[e],
             wr.acc[e]);
  }
  printf("%s, stopped %s: resumed run %s the uninterrupted one\n", name,
         where == 1 ? "mid-epoch" : where == 2 ? "in an epoch's last batch" : "at an epoch's end",
         same_theta(cm, ref) ? "bit-identical to" : "differs from");

  /* A checkpoint of other options or data is refused, naming what. */
  phx_model *again = NULL;
  must(phx_model_load(ck, &again, &err), &err, "reload");
  if (opt != PHX_OPT_LBFGS) {
    t.lr *= 2;
    s = phx_train(backend, again, train_set, test_set, &t, NULL, &err);
    CHECKF(s == PHX_EINVAL && strstr(err.msg, "--lr"), "%s: other lr: %s: %s", name,
           phx_status_name(s), err.msg);
    t.lr /= 2;
  }
  t.limit = 150;
  s = phx_train(backend, again, train_set, test_set, &t, NULL, &err);
  CHECKF(s == PHX_EINVAL && strstr(err.msg, "--limit"), "%s: other limit: %s: %s", name,
         phx_status_name(s), err.msg);
  phx_model_free(again);
  phx_model_free(cm);
  phx_model_free(m);
  phx_model_free(init);
  phx_model_free(ref);
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "c", *device = argc > 2 ? argv[2] : NULL;
  phx_err err = {0};
  phx_status s = phx_backend_new(name, device, 0, &backend, &err);
  if (s == PHX_ENODEV || s == PHX_ENOBACKEND) {
    printf("resume: no backend %s %s: %s\n", name, device ? device : "", err.msg);
    return 77;
  }
  must(s, &err, "backend");
  if (tmpdir_make("resume")) return 99;
  must(phx_dataset_load_dir(PHX_SOURCE_DATADIR "/mnist14", 1, &train_set, &test_set, &err),
       &err, "data");
  printf("backend %s: %s\n", phx_backend_name(backend), phx_backend_device(backend));
  run_case(PHX_OPT_ADAM, "adam", 1);
  run_case(PHX_OPT_ADAM, "adam", 0);
  run_case(PHX_OPT_ADAM, "adam", 2);
  run_case(PHX_OPT_MOMENTUM, "momentum", 1);
  run_case(PHX_OPT_SGD, "sgd", 1);
  run_case(PHX_OPT_LBFGS, "lbfgs", 0);

  /* A plain model is not a checkpoint. */
  phx_model *m = make_model();
  must(phx_model_save(m, in_dir("plain.st"), &err), &err, "save");
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 1;
  t.resume = in_dir("plain.st");
  s = phx_train(backend, m, train_set, NULL, &t, NULL, &err);
  CHECKF(s == PHX_EFORMAT && strstr(err.msg, "not a checkpoint"), "plain model: %s: %s",
         phx_status_name(s), err.msg);
  phx_model_free(m);
  phx_dataset_free(train_set);
  phx_dataset_free(test_set);
  phx_backend_free(backend);
  tmpdir_remove();
  return finish("resume");
}
