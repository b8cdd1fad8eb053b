/* The training loss and accuracy an epoch reports agree with a separate
 * evaluation of the same model on the training samples. The model is
 * first trained to well above chance, then run one more epoch with a
 * learning rate too small to change a float parameter, so the model
 * during that epoch is the model evaluated afterwards. Catches metrics
 * taken against unshuffled labels (about chance accuracy then). */
#include <math.h>
#include <string.h>

#include "phaxcl.h"
#include "phx_config.h"
#include "test_util.h"

typedef struct last {
  double loss, acc;
} last;

static int on_epoch(const phx_epoch_stats *s, void *user) {
  last *l = user;
  l->loss = s->loss;
  l->acc = s->train_acc;
  return 0;
}

int main(void) {
  phx_err err = {0};
  phx_dataset *train = NULL, *test = NULL, *sub = NULL;
  must(phx_dataset_load_dir(PHX_SOURCE_DATADIR "/mnist14", 1, &train, &test, &err), &err,
       "data");
  const int n = 300, dim = phx_dataset_dim(train);
  must(phx_dataset_new(n, dim, phx_dataset_classes(train), phx_dataset_x(train),
                       phx_dataset_labels(train), &sub, &err), &err, "subset");
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "backend");
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.sizes[0] = dim;
  o.sizes[1] = 30;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, 2);
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 15;
  must(phx_train(b, m, sub, NULL, &t, NULL, &err), &err, "training");

  float *before = malloc(sizeof(float) * (size_t)phx_model_rows(m, 0) * phx_model_cols(m, 0));
  memcpy(before, phx_model_theta_const(m, 0),
         sizeof(float) * (size_t)phx_model_rows(m, 0) * phx_model_cols(m, 0));
  last l = {0};
  phx_train_hooks h = {.on_epoch = on_epoch, .user = &l};
  t.epochs = 1;
  t.lr = 1e-30;
  t.seed = 9;
  must(phx_train(b, m, sub, NULL, &t, &h, &err), &err, "frozen epoch");
  CHECKF(!memcmp(before, phx_model_theta_const(m, 0),
                 sizeof(float) * (size_t)phx_model_rows(m, 0) * phx_model_cols(m, 0)),
         "lr 1e-30 changed the parameters: the comparison below would not hold");
  phx_eval_result r;
  must(phx_evaluate(b, m, sub, &r, NULL, &err), &err, "evaluate");
  printf("epoch report: loss %.9f, train accuracy %.4f; evaluation: loss %.9f, accuracy "
         "%.4f\n", l.loss, l.acc, r.loss, r.accuracy);
  CHECKF(r.accuracy > 0.5, "the model did not learn (%.3f): the test cannot discriminate",
         r.accuracy);
  /* Training runs batches of 16, evaluation of 256: the products round
   * differently, so losses agree to float precision and a prediction at a
   * near-tie may flip; unshuffled labels cost about 70 points. */
  CHECKF(fabs(l.acc - r.accuracy) <= 1.0 / n + 1e-12,
         "reported train accuracy %.4f != evaluated %.4f", l.acc, r.accuracy);
  CHECKF(fabs(l.loss - r.loss) <= 1e-6 * fabs(r.loss), "reported loss %.12g != evaluated %.12g",
         l.loss, r.loss);
  free(before);
  phx_model_free(m);
  phx_backend_free(b);
  phx_dataset_free(sub);
  phx_dataset_free(train);
  phx_dataset_free(test);
  return finish("train_metrics");
}
