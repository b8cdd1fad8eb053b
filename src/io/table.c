/* Loading a table: the reader is chosen by the file name's extension. */
#include <string.h>

#include "table.h"

void phx_table_opts_default(phx_table_opts *o) {
  memset(o, 0, sizeof *o);
  o->header = -1;
  o->regression = 1;
}

/* s ends with suffix (ASCII, case-insensitive). */
static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  if (n < k) return 0;
  for (size_t i = 0; i < k; i++) {
    char a = s[n - k + i], b = suffix[i];
    if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
    if (a != b) return 0;
  }
  return 1;
}

phx_status phx_dataset_load_table(const char *path, const char *y_path, const phx_table_opts *o,
                                  phx_dataset **out, phx_err *err) {
  if (!path || !out) return phx_fail(err, PHX_EINVAL, "phx_dataset_load_table: NULL argument");
  *out = NULL;
  phx_table_opts def;
  if (!o) {
    phx_table_opts_default(&def);
    o = &def;
  }
  if (ends_with(path, ".npz")) return phx_table_load_npz(path, o, out, err);
  if (ends_with(path, ".npy")) return phx_table_load_npy(path, y_path, o, out, err);
  static const char *const text[] = {".csv", ".tsv", ".txt", ".dat"};
  for (int i = 0; i < 4; i++) {
    char gz[16];
    strcpy(gz, text[i]);
    strcat(gz, ".gz");
    if (ends_with(path, text[i]) || ends_with(path, gz))
      return phx_table_load_csv(path, o, out, err);
  }
  return phx_fail(err, PHX_EINVAL, "%s: not a table: expected .csv, .tsv, .txt or .dat "
                  "(optionally .gz), .npz or .npy", path);
}
