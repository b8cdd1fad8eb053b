/* Model metadata is read strictly: a string with an embedded NUL
 * ("ce\u0000x", which cJSON would cut to "ce") and numbers with leading
 * zeros, spaces or hex ("04", " 1", "0x1p-1") are refused, naming the file;
 * the writer's own forms still load. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>

#include "phaxcl.h"
#include "test_util.h"

static void expect(const char *from, const char *to, int ok) {
  st_header_swap(in_dir("m.st"), in_dir("v.st"), from, to);
  phx_model *m = NULL;
  phx_err err = {0};
  phx_status s = phx_model_load(in_dir("v.st"), &m, &err);
  if (ok) CHECKF(s == PHX_OK, "%s -> %s: %s", from, to, err.msg);
  else
    CHECKF(s == PHX_EFORMAT && strstr(err.msg, in_dir("v.st")), "%s -> %s: %s %s", from, to,
           phx_status_name(s), err.msg);
  phx_model_free(m);
}

int main(void) {
  if (tmpdir_make("meta")) return 99;
  phx_model *m = tiny_model(4, 3);
  phx_err err = {0};
  must(phx_model_save(m, in_dir("m.st"), &err), &err, "save");
  phx_model_free(m);

  expect("\"loss\":\"ce\"", "\"loss\":\"ce\\u0000x\"", 0);
  expect("\"loss\":\"ce\"", "\"loss\":\"ce\\u0000\"", 0);
  expect("\"loss\":\"ce\"", "\"loss\":\"\\u0063e\"", 1); /* "ce" escaped: fine */
  expect("\"loss\":\"ce\"", "\"loss\":\"ce\",\"note\":\"a\\\\u0000b\"", 1); /* literal text */
  expect("\"sizes\":\"4,3\"", "\"sizes\":\"04,3\"", 0);
  expect("\"sizes\":\"4,3\"", "\"sizes\":\"4,03\"", 0);
  expect("\"nlayers\":\"1\"", "\"nlayers\":\"01\"", 0);
  expect("\"vdd\":\"0.5\"", "\"vdd\":\" 0.5\"", 0);
  expect("\"vdd\":\"0.5\"", "\"vdd\":\"0x1p-1\"", 0);
  expect("\"vdd\":\"0.5\"", "\"vdd\":\"00.5\"", 0);
  expect("\"vdd\":\"0.5\"", "\"vdd\":\"5e-1\"", 1);

  /* the variation a model was trained for: all six keys, checked */
  static const char *const L = "\"loss\":\"ce\"";
  char vary[512];
  const char *const fmt =
      "\"loss\":\"ce\",\"variation.levels\":\"%s\",\"variation.sigma\":\"%s\","
      "\"variation.read_noise\":\"0\",\"variation.stuck_off\":\"0.05\","
      "\"variation.stuck_on\":\"0.05\",\"variation.dist\":\"%s\"";
  snprintf(vary, sizeof vary, fmt, "8", "0.2", "lognormal");
  expect(L, vary, 1);
  m = NULL;
  must(phx_model_load(in_dir("v.st"), &m, &err), &err, "variation");
  const phx_variation *v = phx_model_get_variation(m);
  CHECK(v && v->levels == 8 && v->sigma == 0.2 && v->stuck_on == 0.05 && v->read_noise == 0 &&
        v->dist == PHX_VAR_LOGNORMAL);
  phx_model_free(m);
  snprintf(vary, sizeof vary, fmt, "08", "0.2", "lognormal");
  expect(L, vary, 0);
  snprintf(vary, sizeof vary, fmt, "1", "0.2", "lognormal");
  expect(L, vary, 0);
  snprintf(vary, sizeof vary, fmt, "8", "-0.2", "lognormal");
  expect(L, vary, 0);
  snprintf(vary, sizeof vary, fmt, "8", "0.2", "uniform");
  expect(L, vary, 0);
  expect(L, "\"loss\":\"ce\",\"variation.levels\":\"8\"", 0); /* the others missing */
  tmpdir_remove();
  return finish("meta_strict");
}
