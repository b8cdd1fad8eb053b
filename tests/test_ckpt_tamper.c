/* A checkpoint whose float model and exact parameters disagree (the file
 * was edited, or two writers mixed) is refused as a checkpoint, naming the
 * tensors, while it still loads as a plain model; the element changed is
 * the last of the layer, so a check of only the first would miss it. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>

#include "phaxcl.h"
#include "test_util.h"

int main(void) {
  if (tmpdir_make("tamper")) return 99;
  phx_err err = {0};
  float x[6 * 4];
  int32_t y[6];
  for (int i = 0; i < 24; i++) x[i] = (float)(i % 5) / 5.0f;
  for (int i = 0; i < 6; i++) y[i] = i % 2;
  phx_dataset *d = NULL;
  must(phx_dataset_new(6, 4, 2, x, y, &d, &err), &err, "dataset");
  phx_backend *b = NULL;
  must(phx_backend_new("c", NULL, 0, &b, &err), &err, "backend");
  phx_model *m = tiny_model(4, 2);
  phx_model_init(m, 1);
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 2;
  t.batch = 4;
  t.checkpoint = in_dir("ck.st");
  must(phx_train(b, m, d, NULL, &t, NULL, &err), &err, "train");
  phx_train_opts info;
  must(phx_checkpoint_info(t.checkpoint, &info, NULL, &err), &err, "intact checkpoint");

  /* layers.0.theta comes first in the data section: change its last float. */
  FILE *f = fopen(t.checkpoint, "r+b");
  unsigned char h[8];
  if (!f || fread(h, 1, 8, f) != 8) return 99;
  unsigned long long hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | h[i];
  long last = (long)(8 + hlen) + 4L * (2 * 10) - 4; /* M 2 x R 10 */
  float v;
  if (fseek(f, last, SEEK_SET) || fread(&v, 4, 1, f) != 1) return 99;
  v = v * 0.5f + 0.25f;
  if (fseek(f, last, SEEK_SET) || fwrite(&v, 4, 1, f) != 1 || fclose(f)) return 99;

  phx_status s = phx_checkpoint_info(t.checkpoint, &info, NULL, &err);
  CHECKF(s == PHX_EFORMAT && strstr(err.msg, "train.theta.0") &&
             strstr(err.msg, t.checkpoint), "tampered checkpoint: %s: %s",
         phx_status_name(s), err.msg);
  phx_model *back = NULL;
  must(phx_model_load(t.checkpoint, &back, &err), &err, "tampered file as a plain model");
  CHECK(phx_model_theta_const(back, 0)[19] == v);
  phx_model_free(back);
  phx_model_free(m);
  phx_backend_free(b);
  phx_dataset_free(d);
  tmpdir_remove();
  return finish("ckpt_tamper");
}
