/* A safetensors header length under the 100 MB cap but larger than the
 * file is refused as such, before the header is parsed: without the check
 * the loader reads past its buffer (ASan reports it; other builds see an
 * unrelated message). Lengths from one byte too many to far too many. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>

#include "phaxcl.h"
#include "test_util.h"

int main(void) {
  if (tmpdir_make("hlen")) return 99;
  phx_model *m = tiny_model(3, 2);
  phx_err err = {0};
  must(phx_model_save(m, in_dir("m.st"), &err), &err, "save");
  phx_model_free(m);
  unsigned char buf[4096];
  FILE *f = fopen(in_dir("m.st"), "rb");
  size_t size = fread(buf, 1, sizeof buf, f);
  fclose(f);
  if (size < 8) return 99;
  unsigned long long hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
  /* The header alone, no data: its own length is then exactly size - 8. */
  size_t hsize = 8 + (size_t)hlen;
  const unsigned long long lens[] = {hsize - 8 + 1, hsize, hsize + 4096, 50ULL << 20,
                                     100ULL << 20};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(lens[k] >> (8 * i));
    f = fopen(in_dir("h.st"), "wb");
    if (!f || fwrite(buf, 1, hsize, f) != hsize || fclose(f)) return 99;
    phx_status s = phx_model_load(in_dir("h.st"), &m, &err);
    char want[96];
    snprintf(want, sizeof want, "header length %llu does not fit the %zu-byte file", lens[k],
             hsize);
    CHECKF(s == PHX_EFORMAT && strstr(err.msg, want), "length %llu: %s: %s", lens[k],
           phx_status_name(s), err.msg);
    phx_model_free(m);
    m = NULL;
  }
  tmpdir_remove();
  return finish("st_header_len");
}
