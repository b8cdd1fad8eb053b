/* A save removes the temp files of the same target that a killed earlier
 * save left behind (NAME.tmp.XXXXXX), and only those; and a save itself
 * leaves no temp file. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

static void touch(const char *p) {
  FILE *f = fopen(p, "wb");
  if (!f || fputs("partial", f) < 0 || fclose(f)) exit(99);
}

int main(void) {
  if (tmpdir_make("stale")) return 99;
  phx_model *m = tiny_model(5, 2);
  phx_err err = {0};
  static const char *const stale[] = {"m.st.tmp.AbC123", "m.st.tmp.zzzzzz"};
  static const char *const kept[] = {"other.st.tmp.abcdef", "m.st.tmp.abc", "m.st.tmp.abcdefg",
                                     "m.st.tmp.ab-def", "xm.st.tmp.abcdef"};
  for (size_t i = 0; i < 2; i++) touch(in_dir(stale[i]));
  for (size_t i = 0; i < 5; i++) touch(in_dir(kept[i]));
  must(phx_model_save(m, in_dir("m.st"), &err), &err, "save");
  for (size_t i = 0; i < 2; i++)
    CHECKF(access(in_dir(stale[i]), F_OK) != 0, "stale temp %s survived the save", stale[i]);
  for (size_t i = 0; i < 5; i++)
    CHECKF(access(in_dir(kept[i]), F_OK) == 0, "%s is not a temp of m.st but was removed",
           kept[i]);
  /* Saving in the current folder (no slash in the name) cleans there too. */
  if (chdir(dir)) return 99;
  touch("m.st.tmp.Q1w2E3");
  must(phx_model_save(m, "m.st", &err), &err, "save in .");
  CHECK(access("m.st.tmp.Q1w2E3", F_OK) != 0);
  phx_model_free(m);
  tmpdir_remove();
  return finish("stale_temps");
}
