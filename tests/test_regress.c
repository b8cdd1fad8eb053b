/* Regression models: the scaling fitted on a training set (features onto
 * [0, 1], targets onto the o- swing), training that lowers the error, a
 * save/load round trip that evaluates to the same numbers, the scaling's
 * metadata read strictly, and a classification model saved by an earlier
 * phaxcl loading unchanged and saving back byte for byte.
 * usage: test_regress OLD_MODEL.st */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>

#include "phaxcl.h"
#include "test_util.h"

#define NS 400

/* A model saved before tables existed: no scaling, and the same bytes. */
static void old_model(const char *path) {
  phx_model *m = NULL;
  phx_err err = {0};
  must(phx_model_load(path, &m, &err), &err, path);
  CHECK(!phx_model_scaled(m) && phx_model_targets(m) == 0);
  CHECK(phx_model_scale_feature(m, 0, 0.3) == 0.3);
  must(phx_model_save(m, in_dir("old.st"), &err), &err, "resave");
  size_t a, b;
  unsigned char *x = test_slurp(path, &a), *y = test_slurp(in_dir("old.st"), &b);
  CHECKF(a == b && !memcmp(x, y, a), "%s saved back differs (%zu vs %zu bytes)", path, a, b);
  free(x);
  free(y);
  phx_model_free(m);
}

/* y0 = x0 x1 * 100 + 7, y1 = sin(3 x0) - 2 on features in odd ranges. */
static phx_dataset *make_set(uint64_t seed) {
  float x[NS * 2], y[NS * 2];
  uint64_t s = seed;
  for (int i = 0; i < NS; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = (double)(s >> 11) / 9007199254740992.0;
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double v = (double)(s >> 11) / 9007199254740992.0;
    x[2 * i] = (float)(-5 + 10 * u);
    x[2 * i + 1] = (float)(1000 + 500 * v);
    y[2 * i] = (float)(u * v * 100 + 7);
    y[2 * i + 1] = (float)(sin(3 * u) - 2);
  }
  phx_dataset *d = NULL;
  phx_err err = {0};
  must(phx_dataset_new_regression(NS, 2, 2, x, y, &d, &err), &err, "dataset");
  return d;
}

static void round_trip(void) {
  phx_err err = {0};
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 2;
  o.sizes[0] = 2;
  o.sizes[1] = 8;
  o.sizes[2] = 2;
  o.loss = PHX_LOSS_MSE;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, 3);
  phx_dataset *raw = make_set(1), *rawt = make_set(2), *tr = NULL, *te = NULL;
  must(phx_model_fit_scaling(m, raw, &err), &err, "fit");
  CHECK(phx_model_scaled(m) && phx_model_targets(m) == 2);
  must(phx_model_scale_data(m, raw, &tr, &err), &err, "scale train");
  must(phx_model_scale_data(m, rawt, &te, &err), &err, "scale test");
  /* the training set spans [0, 1] per feature and c1 -+ 0.8 |c2| per target */
  double lo[2] = {1e9, 1e9}, hi[2] = {-1e9, -1e9}, vlo = 1e9, vhi = -1e9;
  for (int i = 0; i < NS; i++)
    for (int j = 0; j < 2; j++) {
      lo[j] = fmin(lo[j], phx_dataset_x(tr)[2 * i + j]);
      hi[j] = fmax(hi[j], phx_dataset_x(tr)[2 * i + j]);
      vlo = fmin(vlo, phx_dataset_y(tr)[2 * i + j]);
      vhi = fmax(vhi, phx_dataset_y(tr)[2 * i + j]);
    }
  CHECK(fabs(lo[0]) < 1e-6 && fabs(hi[0] - 1) < 1e-6 && fabs(lo[1]) < 1e-6 &&
        fabs(hi[1] - 1) < 1e-6);
  CHECKF(fabs(vlo - (o.c[0] - 0.8 * fabs(o.c[1]))) < 1e-6 &&
             fabs(vhi - (o.c[0] + 0.8 * fabs(o.c[1]))) < 1e-6,
         "target volts %g..%g", vlo, vhi);
  for (int i = 0; i < 4; i++) /* unscale inverts scale */
    CHECK(fabs(phx_model_unscale_target(m, i % 2, phx_dataset_y(tr)[i]) - phx_dataset_y(raw)[i]) <
          1e-4 * (1 + fabs(phx_dataset_y(raw)[i])));

  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "backend");
  phx_regress_result r0, r1, r2;
  must(phx_evaluate_regression(b, m, te, &r0, NULL, &err), &err, "eval untrained");
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 15;
  t.lr = 0.05;
  must(phx_train(b, m, tr, te, &t, NULL, &err), &err, "train");
  double pred[NS * 2];
  must(phx_evaluate_regression(b, m, te, &r1, pred, &err), &err, "eval");
  CHECKF(r1.mse < 0.25 * r0.mse, "training did not lower the mse: %g -> %g", r0.mse, r1.mse);
  CHECK(r1.count == NS && r1.targets == 2 && isfinite(r1.mre) && r1.max_err > 0);
  CHECK(fabs(r1.rmse * r1.rmse - r1.mse) < 1e-9 * (1 + r1.mse));
  /* the mean loss phx_evaluate reports is the per-sample sum over targets, in V^2 */
  phx_eval_result e;
  must(phx_evaluate(b, m, te, &e, NULL, &err), &err, "evaluate");
  CHECKF(fabs(e.loss - 2 * r1.mse_v) < 1e-5 * e.loss, "loss %g vs 2 x mse_v %g", e.loss,
         2 * r1.mse_v);

  /* the table's record: set, then kept by save/load and by a drawn chip */
  phx_data_spec ds = {"t_a,t_b", "x,y,t_a,t_b", 0.25, 18446744073709551615ULL, 4000};
  must(phx_model_set_data_spec(m, &ds, &err), &err, "data spec");

  /* saved and loaded: the same scaling, the same predictions */
  must(phx_model_save(m, in_dir("reg.st"), &err), &err, "save");
  phx_model *m2 = NULL;
  must(phx_model_load(in_dir("reg.st"), &m2, &err), &err, "load");
  CHECK(phx_model_targets(m2) == 2 && phx_model_scaled(m2));
  phx_data_spec d2;
  CHECK(phx_model_get_data_spec(m2, &d2) && !strcmp(d2.target, "t_a,t_b") &&
        !strcmp(d2.header, "x,y,t_a,t_b") && d2.split == 0.25 &&
        d2.seed == 18446744073709551615ULL && d2.rows == 4000);
  ds.split = 1;
  CHECK(phx_model_set_data_spec(m, &ds, &err) == PHX_EINVAL);
  phx_dataset *te2 = NULL;
  must(phx_model_scale_data(m2, rawt, &te2, &err), &err, "scale with the loaded model");
  CHECK(!memcmp(phx_dataset_x(te), phx_dataset_x(te2), sizeof(float) * NS * 2));
  CHECK(!memcmp(phx_dataset_y(te), phx_dataset_y(te2), sizeof(float) * NS * 2));
  double pred2[NS * 2];
  must(phx_evaluate_regression(b, m2, te2, &r2, pred2, &err), &err, "eval loaded");
  CHECK(r2.mse == r1.mse && r2.mre == r1.mre && !memcmp(pred, pred2, sizeof pred));

  /* the wrong kind of data for the model is refused */
  int32_t lab[NS] = {0};
  phx_dataset *cls = NULL, *out = NULL;
  must(phx_dataset_new(NS, 2, 2, phx_dataset_x(raw), lab, &cls, &err), &err, "classes");
  CHECK(phx_model_scale_data(m2, cls, &out, &err) == PHX_ESHAPE && !out);
  CHECKF(strstr(err.msg, "class labels") != NULL, "%s", err.msg);
  phx_dataset_free(cls);

  /* a drawn chip keeps the scaling */
  phx_variation v;
  phx_variation_default(&v);
  v.sigma = 0.05;
  phx_model *dm = NULL;
  must(phx_model_draw(m2, &v, 1, 0, &dm, &err), &err, "draw");
  CHECK(phx_model_targets(dm) == 2 &&
        phx_model_unscale_target(dm, 1, 0.1) == phx_model_unscale_target(m2, 1, 0.1));
  CHECK(phx_model_get_data_spec(dm, &d2) && !strcmp(d2.target, "t_a,t_b") && d2.rows == 4000);
  must(phx_model_set_data_spec(dm, NULL, &err), &err, "clear");
  CHECK(!phx_model_get_data_spec(dm, &d2) && !d2.target);
  phx_model_free(dm);

  phx_backend_free(b);
  phx_model_free(m);
  phx_model_free(m2);
  phx_dataset_free(raw);
  phx_dataset_free(rawt);
  phx_dataset_free(tr);
  phx_dataset_free(te);
  phx_dataset_free(te2);
}

/* reg.st with `from` in its header replaced by `to` (the header length
 * rewritten; tensor offsets count from the data section), loaded. */
static phx_status tampered(const char *from, const char *to, phx_err *err) {
  st_header_swap(in_dir("reg.st"), in_dir("t.st"), from, to);
  phx_model *m = NULL;
  phx_status s = phx_model_load(in_dir("t.st"), &m, err);
  phx_model_free(m);
  return s;
}

static void strict_meta(void) {
  phx_err err = {0};
  CHECK(tampered("\"scale.v\"", "\"scale.w\"", &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "t.st") && strstr(err.msg, "without its other end"), "%s", err.msg);
  CHECK(tampered("\"scale.x_hi\":\"", "\"scale.x_hi\":\"x", &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "scale.x_hi is not 2 finite numbers"), "%s", err.msg);
  CHECK(tampered("\"scale.y_lo\":\"", "\"scale.y_lo\":\"1,", &err) == PHX_EFORMAT);
  CHECK(tampered("\"scale.v\":\"", "\"scale.v\":\"nan,", &err) == PHX_EFORMAT);
  CHECK(tampered("\"scale.y_lo\"", "\"scale.y_lx\"", &err) == PHX_EFORMAT);
  /* data.*: all or none, a fraction, a seed and a count as written */
  CHECK(tampered("\"data.rows\"", "\"data.rowz\"", &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "t.st: metadata data.rows is missing"), "%s", err.msg);
  CHECK(tampered("\"data.split\":\"0.25\"", "\"data.split\":\"1.25\"", &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "data.split \"1.25\" is not a fraction"), "%s", err.msg);
  CHECK(tampered("\"data.seed\":\"1", "\"data.seed\":\"01", &err) == PHX_EFORMAT);
  CHECK(tampered("\"data.seed\":\"1", "\"data.seed\":\"91", &err) == PHX_EFORMAT);
  CHECK(tampered("\"data.rows\":\"4", "\"data.rows\":\"-4", &err) == PHX_EFORMAT);
  CHECK(tampered("\"data.target\":\"t_a,t_b\"", "\"data.target\":\"\"", &err) == PHX_EFORMAT);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_regress OLD_MODEL.st\n");
    return 99;
  }
  if (tmpdir_make("regress")) return 99;
  old_model(argv[1]);
  round_trip();
  strict_meta();
  tmpdir_remove();
  return finish("regress");
}
