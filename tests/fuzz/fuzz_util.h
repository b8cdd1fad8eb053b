/* Shared by the libFuzzer harnesses: the loaders take paths, so each input
 * goes to a file of this process first: under $TMPDIR, else /dev/shm (a
 * file rewritten thousands of times a second on a disk file system makes
 * each close wait for the disk), else /tmp. */
#ifndef PHX_FUZZ_UTIL_H
#define PHX_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_paths[4][512];

/* Removes this process's files when libFuzzer exits. */
static void fuzz_cleanup(void) {
  for (int i = 0; i < 4; i++)
    if (fuzz_paths[i][0]) unlink(fuzz_paths[i]);
}

/* $TMPDIR/phx-fuzz-PID-name, made once per name slot. */
static const char *fuzz_path(int slot, const char *name) {
  char *paths[4] = {fuzz_paths[0], fuzz_paths[1], fuzz_paths[2], fuzz_paths[3]};
  if (!paths[slot][0]) {
    static int registered;
    if (!registered++) atexit(fuzz_cleanup);
    const char *t = getenv("TMPDIR");
    if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(paths[slot], sizeof fuzz_paths[slot], "%s/phx-fuzz-%ld-%s", t,
             (long)getpid(), name);
  }
  return paths[slot];
}

/* Writes n bytes to path; aborts when it cannot (a harness fault). */
static void fuzz_write(const char *path, const uint8_t *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    abort();
  }
}

#endif /* PHX_FUZZ_UTIL_H */
