/* A model with one huge but finite parameter (3e38) loads, but its loss and
 * gradient overflow: evaluate and gradient must fail with PHX_ENAN instead
 * of returning NaN, and no file of non-finite values may be written. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

int main(void) {
  if (tmpdir_make("nonfinite")) return 99;
  phx_err err = {0};
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 2;
  o.sizes[0] = 4;
  o.sizes[1] = 3;
  o.sizes[2] = 2;
  phx_model *m = NULL, *g = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  must(phx_model_new(&o, &g, &err), &err, "grad holder");
  phx_model_init(m, 3);
  phx_model_theta(m, 0)[5] = 3e38f;
  /* Finite, so it saves and loads as the reporter found. */
  must(phx_model_save(m, in_dir("huge.st"), &err), &err, "save of a finite model");
  phx_model *back = NULL;
  must(phx_model_load(in_dir("huge.st"), &back, &err), &err, "load");
  phx_model_free(back);

  float x[8 * 4];
  int32_t y[8];
  for (int i = 0; i < 8; i++) {
    for (int j = 0; j < 4; j++) x[i * 4 + j] = (float)((i * 7 + j * 3) % 5) / 4.0f;
    y[i] = i % 2;
  }
  phx_dataset *d = NULL;
  must(phx_dataset_new(8, 4, 2, x, y, &d, &err), &err, "dataset");
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "backend c");

  phx_eval_result r = {0};
  memset(&err, 0, sizeof err);
  phx_status s = phx_evaluate(b, m, d, &r, NULL, &err);
  CHECKF(s == PHX_ENAN, "evaluate: %s (%s), loss %g", phx_status_name(s), err.msg, r.loss);
  double loss = 0;
  s = phx_gradient(b, m, d, 0, &loss, g, &err);
  CHECKF(s == PHX_ENAN, "gradient: %s (%s), loss %g", phx_status_name(s), err.msg, loss);

  /* A NaN parameter is never written; the previous file stays. */
  struct stat before, after;
  CHECK(stat(in_dir("huge.st"), &before) == 0);
  phx_model_theta(g, 1)[2] = NAN;
  s = phx_model_save(g, in_dir("huge.st"), &err);
  CHECKF(s == PHX_ENAN && strstr(err.msg, "layers.1.theta"), "save of NaN: %s (%s)",
         phx_status_name(s), err.msg);
  CHECK(stat(in_dir("huge.st"), &after) == 0 && after.st_size == before.st_size &&
        after.st_ino == before.st_ino);
  phx_model_theta(g, 1)[2] = INFINITY;
  s = phx_model_save(g, in_dir("new.st"), &err);
  CHECKF(s == PHX_ENAN && access(in_dir("new.st"), F_OK) != 0, "save of inf: %s",
         phx_status_name(s));

  phx_backend_free(b);
  phx_dataset_free(d);
  phx_model_free(m);
  phx_model_free(g);
  tmpdir_remove();
  return finish("nonfinite");
}
