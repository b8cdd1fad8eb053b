/* Model and IDX files that are not regular files (a FIFO, a link to
 * /dev/zero, a folder) are refused at once with the file named, never
 * waited on or read without end. An alarm turns a hang into a failure. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

/* Expects status EIO with path and "regular file" in the message. */
static void expect_refused(phx_status s, const phx_err *err, const char *path) {
  CHECKF(s == PHX_EIO && strstr(err->msg, path) && strstr(err->msg, "regular file"),
         "%s: got %s: %s", path, phx_status_name(s), err->msg);
}

int main(void) {
  if (tmpdir_make("nonreg")) return 99;
  alarm(60); /* the old code blocked forever in open() of a FIFO */
  phx_err err = {0};
  phx_model *m = NULL;
  phx_dataset *d = NULL, *t = NULL;
  char fifo[512], zero[512], good[512];
  snprintf(fifo, sizeof fifo, "%s", in_dir("f.safetensors"));
  snprintf(zero, sizeof zero, "%s", in_dir("zero.safetensors"));
  if (mkfifo(fifo, 0600) != 0 || symlink("/dev/zero", zero) != 0) {
    perror("mkfifo/symlink");
    return 99;
  }
  expect_refused(phx_model_load(fifo, &m, &err), &err, fifo);
  expect_refused(phx_model_load(zero, &m, &err), &err, zero);
  expect_refused(phx_model_load(dir, &m, &err), &err, dir);
  CHECK(m == NULL);

  /* IDX: as images, as labels, and inside a --data folder. */
  snprintf(good, sizeof good, "%s", in_dir("labels"));
  FILE *f = fopen(good, "wb");
  static const unsigned char lab[9] = {0, 0, 8, 1, 0, 0, 0, 1, 3};
  if (!f || fwrite(lab, 1, 9, f) != 9 || fclose(f)) return 99;
  expect_refused(phx_dataset_load_idx(fifo, good, 1, &d, &err), &err, fifo);
  expect_refused(phx_dataset_load_idx(zero, good, 1, &d, &err), &err, zero);
  if (mkdir(in_dir("data"), 0700) || mkfifo(in_dir("data/train-images-idx3-ubyte"), 0600) ||
      symlink("/dev/zero", in_dir("data/train-labels-idx1-ubyte"))) {
    perror("data folder");
    return 99;
  }
  phx_status s = phx_dataset_load_dir(in_dir("data"), 1, &d, &t, &err);
  CHECKF(s == PHX_EIO && strstr(err.msg, "train-images-idx3-ubyte") &&
             strstr(err.msg, "FIFO"), "--data with a FIFO: %s: %s", phx_status_name(s),
         err.msg);
  CHECK(d == NULL && t == NULL);
  tmpdir_remove();
  return finish("nonregular");
}
