/* Writes the seed corpus of the fuzz harnesses into corpus/ (run from
 * tests/fuzz after changing a format): small valid files of every kind,
 * a model, a checkpoint at an epoch's end and one mid-epoch. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "phaxcl.h"

static void put(const char *path, const void *b, size_t n, int gz) {
  gzFile g = gzopen(path, gz ? "wb9" : "wbT");
  if (!g || gzwrite(g, b, (unsigned)n) != (int)n || gzclose(g) != Z_OK) {
    perror(path);
    exit(1);
  }
}

static void must(phx_status s, const phx_err *e) {
  if (s) {
    fprintf(stderr, "gen_seeds: %s\n", e->msg);
    exit(1);
  }
}

/* Stops after `after` progress calls. */
typedef struct stopper {
  volatile sig_atomic_t stop;
  int after;
} stopper;

static void progress(long done, long total, void *user) {
  stopper *s = user;
  (void)done, (void)total;
  if (--s->after <= 0) s->stop = 1;
}

int main(void) {
  static const char *const dirs[] = {"corpus", "corpus/idx", "corpus/idx_gz", "corpus/model",
                                     "corpus/checkpoint"};
  for (int i = 0; i < 5; i++) mkdir(dirs[i], 0755);
  /* IDX: the harness's first byte picks images (0) or labels (1). */
  unsigned char img[1 + 16 + 3 * 16] = {0, 0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4};
  for (int i = 0; i < 48; i++) img[17 + i] = (unsigned char)(i * 5);
  unsigned char lab[1 + 8 + 3] = {1, 0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 1};
  put("corpus/idx/images", img, sizeof img, 0);
  put("corpus/idx/labels", lab, sizeof lab, 0);
  /* gzip harness: byte 0 bit 0 = compress in the harness, bit 1 = labels. */
  unsigned char gz[4096];
  size_t n = 0;
  put("corpus/idx_gz/tmp.gz", img + 1, sizeof img - 1, 1);
  FILE *f = fopen("corpus/idx_gz/tmp.gz", "rb");
  gz[0] = 0;
  n = 1 + fread(gz + 1, 1, sizeof gz - 1, f);
  fclose(f);
  remove("corpus/idx_gz/tmp.gz");
  put("corpus/idx_gz/images-gz", gz, n, 0);
  img[0] = 1;
  put("corpus/idx_gz/images-raw", img, sizeof img, 0);
  lab[0] = 3;
  put("corpus/idx_gz/labels-raw", lab, sizeof lab, 0);

  phx_err err = {0};
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 2;
  o.sizes[0] = 4, o.sizes[1] = 3, o.sizes[2] = 2;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err);
  phx_model_init(m, 1);
  must(phx_model_save(m, "corpus/model/4-3-2.st", &err), &err);
  float x[8 * 4];
  int32_t y[8];
  for (int i = 0; i < 32; i++) x[i] = (float)(i % 7) / 7.0f;
  for (int i = 0; i < 8; i++) y[i] = i % 2;
  phx_dataset *d = NULL;
  phx_backend *b = NULL;
  must(phx_dataset_new(8, 4, 2, x, y, &d, &err), &err);
  must(phx_backend_new("c", NULL, 0, &b, &err), &err);
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 2;
  t.batch = 3;
  t.checkpoint = "corpus/checkpoint/end.st";
  must(phx_train(b, m, d, NULL, &t, NULL, &err), &err);
  t.checkpoint = "corpus/checkpoint/mid.st";
  stopper s = {0, 4};
  phx_train_hooks h = {.on_progress = progress, .user = &s, .stop = &s.stop};
  if (phx_train(b, m, d, NULL, &t, &h, &err) != PHX_EINTR) {
    fprintf(stderr, "gen_seeds: no mid-epoch stop: %s\n", err.msg);
    return 1;
  }
  t.optimizer = PHX_OPT_LBFGS;
  t.checkpoint = "corpus/checkpoint/lbfgs.st";
  must(phx_train(b, m, d, NULL, &t, NULL, &err), &err);
  phx_backend_free(b);
  phx_dataset_free(d);
  phx_model_free(m);
  return 0;
}
