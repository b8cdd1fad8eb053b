/* kill -9 around saves and checkpoints: a child saves two different
 * models over one file without pause (or trains with a checkpoint every
 * epoch) and is killed at varying moments, KILLS times each. After every
 * kill the file must be whole and be one of the models written (for the
 * checkpoint: load as a checkpoint and as a model), and after the next save
 * no temp file may be left. Prints the counts.
 * usage: test_kill_save [KILLS] (default 20 of each kind). */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

static phx_model *model(int hidden, uint64_t seed) {
  phx_model_opts o;
  phx_err err = {0};
  phx_model_opts_default(&o);
  o.sizes[1] = hidden;
  phx_model *m = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  phx_model_init(m, seed);
  return m;
}

static int same(const phx_model *a, const phx_model *b) {
  const phx_model_opts *o = phx_model_get_opts(a), *p = phx_model_get_opts(b);
  if (o->sizes[1] != p->sizes[1]) return 0;
  for (int l = 0; l < o->nlayers; l++)
    if (memcmp(phx_model_theta_const(a, l), phx_model_theta_const(b, l),
               sizeof(float) * (size_t)phx_model_rows(a, l) * (size_t)phx_model_cols(a, l)))
      return 0;
  return 1;
}

/* Sleeps base_ms plus a varying 0 to 12 ms: kills land before, during and
 * between writes, renames and folder syncs. */
static void pause_for(int i, long base_ms) {
  struct timespec ts = {0, base_ms * 1000000L + 200000L + (long)((i * 7919) % 59) * 200000L};
  nanosleep(&ts, NULL);
}

static pid_t spawn(void (*child)(void)) {
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(99);
  }
  if (pid == 0) {
    child();
    _exit(0);
  }
  return pid;
}

static void kill_wait(pid_t pid) {
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
}

static phx_model *ma, *mb;
static phx_dataset *data;
static char target[512], ckpt[512];

static void child_saves(void) {
  phx_err err;
  for (int i = 0;; i++) phx_model_save(i % 2 ? mb : ma, target, &err);
}

static void child_trains(void) {
  phx_err err;
  phx_backend *b = NULL;
  if (phx_backend_new("c", NULL, 0, &b, &err)) _exit(1);
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 1000000;
  t.batch = 32;
  t.checkpoint = ckpt;
  t.checkpoint_every = 1;
  phx_train(b, ma, data, NULL, &t, NULL, &err);
}

int main(int argc, char **argv) {
  int kills = argc > 1 ? atoi(argv[1]) : 20;
  if (kills < 1 || tmpdir_make("kill")) return 99;
  phx_err err = {0};
  /* About 0.5 MB each, so that a save takes a few milliseconds. */
  ma = model(300, 1);
  mb = model(300, 2);
  snprintf(target, sizeof target, "%s", in_dir("m.st"));
  snprintf(ckpt, sizeof ckpt, "%s", in_dir("ck.st"));
  must(phx_model_save(ma, target, &err), &err, "first save");
  int got_a = 0, got_b = 0, damaged = 0, left_after_kill = 0, left_after_save = 0;
  for (int i = 0; i < kills; i++) {
    pid_t pid = spawn(child_saves);
    pause_for(i, 0);
    kill_wait(pid);
    left_after_kill += count_temps(dir) > 0;
    phx_model *m = NULL;
    if (phx_model_load(target, &m, &err) != PHX_OK) {
      damaged++;
      fprintf(stderr, "kill %d: %s\n", i, err.msg);
    } else if (same(m, ma)) {
      got_a++;
    } else if (same(m, mb)) {
      got_b++;
    } else {
      damaged++;
    }
    phx_model_free(m);
    must(phx_model_save(ma, target, &err), &err, "save after a kill");
    left_after_save += count_temps(dir);
  }
  printf("kill -9 during saves: %d kills: %d old model, %d new, %d damaged; temp files: "
         "%d kills left one until the next save, %d left after it\n",
         kills, got_a, got_b, damaged, left_after_kill, left_after_save);
  CHECK(damaged == 0 && left_after_save == 0 && got_a + got_b == kills);

  /* Checkpoints every epoch on 800 samples. */
  phx_model_free(ma);
  ma = model(40, 3);
  phx_dataset *test = NULL;
  must(phx_dataset_load_dir(PHX_TEST_DATADIR, 1, &data, &test, &err), &err, "data");
  int ck_ok = 0, ck_none = 0, ck_bad = 0;
  left_after_kill = left_after_save = 0;
  for (int i = 0; i < kills; i++) {
    pid_t pid = spawn(child_trains);
    pause_for(i, 40); /* past loading the data and the first epochs */
    kill_wait(pid);
    left_after_kill += count_temps(dir) > 0;
    phx_train_opts t;
    phx_model *m = NULL;
    if (access(ckpt, F_OK) != 0) {
      ck_none++;
    } else if (phx_checkpoint_info(ckpt, &t, NULL, &err) == PHX_OK &&
               phx_model_load(ckpt, &m, &err) == PHX_OK) {
      ck_ok++;
    } else {
      ck_bad++;
      fprintf(stderr, "checkpoint kill %d: %s\n", i, err.msg);
    }
    phx_model_free(m);
    must(phx_model_save(ma, ckpt, &err), &err, "save over the checkpoint");
    left_after_save += count_temps(dir);
    unlink(ckpt);
  }
  printf("kill -9 during checkpoints: %d kills: %d whole checkpoints, %d before the first, "
         "%d damaged; temp files: %d kills left one until the next save, %d left after it\n",
         kills, ck_ok, ck_none, ck_bad, left_after_kill, left_after_save);
  CHECK(ck_bad == 0 && left_after_save == 0);
  phx_dataset_free(data);
  phx_dataset_free(test);
  phx_model_free(ma);
  phx_model_free(mb);
  tmpdir_remove();
  return finish("kill_save");
}
