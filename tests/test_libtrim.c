/* Suite 'spice': the engine's cut-down model library (libtrim.c). A small
 * library with sections, nested includes and .lib references, subcircuits
 * and top-level .model cards: the section named is inlined with its
 * parameters and only the subcircuits the mark names; other sections,
 * other subcircuits, .model cards and comments are left out; a missing
 * section or file is one error naming the file; parameters nothing uses
 * are dropped (paramtrim.c). No ngspice needed. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <string.h>

#include "circuit.h"
#include "test_util.h"

static void put(const char *name, const char *text) {
  FILE *f = fopen(in_dir(name), "w");
  CHECKF(f != NULL, "cannot write %s", name);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static char *trimmed(const char *section, const char *keep, phx_status want, const char *msg) {
  char deck[1024];
  snprintf(deck, sizeof deck,
           "* title\n" PHX_TRIM_MARK " %s\n.lib \"%s\" %s\nR1 a 0 1\n.end\n", keep,
           in_dir("lib.spice"), section);
  phx_err err = {0};
  char *out = NULL;
  phx_status s = phx_circ_trim_deck(deck, &out, &err);
  CHECKF(s == want, "section %s: %s (%s), expected %s", section, phx_status_name(s), err.msg,
         phx_status_name(want));
  if (msg) CHECKF(strstr(err.msg, msg) != NULL, "section %s: '%s' lacks '%s'", section, err.msg, msg);
  if (s) CHECK(out == NULL);
  return out;
}

/* The unused top-level parameters out (paramtrim.c): kept are those a
 * line or a kept parameter names, lines of several definitions, random
 * draws and a subcircuit's own; a deck that seeds its draws stays whole. */
static void test_params(void) {
  char deck[] = "* t\n"
                ".param used=1 other=2\n"
                ".param dep = {used*2}\n"
                ".param chain = 3\n"
                ".PARAM unused1 = 5\n"
                ".param head = 7\n"
                "* a comment between\n"
                "+ cont = {chain} ; why\n"
                "+ gone = 4 ; comment naming unused2\n"
                ".param unused2 = 1e-3\n"
                ".param rnd = {1 + 0*AGAUSS(0,1,1)}\n"
                ".subckt s a b w=1\n.param inner = 2\nR1 a b {w*inner}\n.ends s\n"
                "R2 n1 0 {dep}\nR3 n2 0 {cont}\n.end\n";
  phx_err err = {0};
  CHECK(phx_circ_drop_unused_params(deck, &err) == PHX_OK);
  static const char *const has[] = {".param used=1 other=2\n", ".param dep = {used*2}\n",
                                    ".param chain = 3\n", ".param\n* a comment between\n+ cont",
                                    ".param rnd", ".param inner = 2\n", "R3 n2 0 {cont}\n.end\n"};
  static const char *const lacks[] = {"unused1", "head", "gone", "unused2 ="};
  for (size_t i = 0; i < sizeof has / sizeof *has; i++)
    CHECKF(strstr(deck, has[i]) != NULL, "params: deck lacks '%s':\n%s", has[i], deck);
  for (size_t i = 0; i < sizeof lacks / sizeof *lacks; i++)
    CHECKF(strstr(deck, lacks[i]) == NULL, "params: deck has '%s':\n%s", lacks[i], deck);
  /* no newline at the end: none added */
  char last[] = ".param a=1\n.param b={a}\r\nR1 1 0 {b}";
  CHECK(phx_circ_drop_unused_params(last, &err) == PHX_OK &&
        !strcmp(last, ".param a=1\n.param b={a}\r\nR1 1 0 {b}"));
  char seeded[] = "* t\n.options seed=3\n.param unused = 1\nR1 a 0 1\n";
  CHECK(phx_circ_drop_unused_params(seeded, &err) == PHX_OK &&
        !strcmp(seeded, "* t\n.options seed=3\n.param unused = 1\nR1 a 0 1\n"));
}

int main(void) {
  test_params();
  if (tmpdir_make("libtrim")) return 1;
  char sub[300];
  snprintf(sub, sizeof sub, "%s", in_dir("sub"));
  CHECK(mkdir(sub, 0755) == 0);
  put("lib.spice", "* a library\n"
                   ".lib tt\n.param a=1\n.include sub/models.spice\n.lib \"other.spice\" base\n"
                   ".endl tt\n"
                   ".lib ff\n.param a=2\n.endl ff\n"
                   ".lib broken\n.include sub/none.spice\n.endl broken\n");
  put("sub/models.spice", ".param b=2\n+ c=3\n"
                          ".model junk nmos level=1\n+ vto=0.5\n"
                          ".subckt keep1 d g s b\nM1 d g s b keepm\n.model keepm nmos level=1\n"
                          ".ends keep1\n"
                          /* binned: only bin.2's range holds w=4e-5 l=3.5e-7 */
                          ".subckt binned d g s b\nM1 d g s b bin\n"
                          ".model bin.1 nmos level=54\n+ lmin = 8E-6 lmax = 2E-5 wmin = 7E-6\n"
                          "+ wmax = 1E-3 tag1=1\n"
                          ".model bin.2 nmos level=54\n+ lmin = 1.5E-7 lmax = 5E-7 wmin = 7E-6\n"
                          "+ wmax = 1E-3 tag2=1\n"
                          ".model bin.3 nmos\n+ level=54 lmin=1.5E-7 lmax=5E-7 wmin=1E-6 wmax=7E-6 tag3=1\n"
                          "* a comment inside\n"
                          ".ends binned\n"
                          ".SUBCKT drop1 d g s b\nM1 d g s b dropm\n.ends drop1\n"
                          "* a comment\n");
  put("other.spice", ".lib base\n.param base=1\n.endl base\n.lib unused\n.param unused=1\n"
                     ".endl unused\n");
  char *out = trimmed("tt", "keep1", PHX_OK, NULL);
  if (out) {
    /* a and b are words of kept lines (node names); c and base nothing uses */
    static const char *const has[] = {".param a=1", ".param b=2", ".subckt keep1",
                                      ".model keepm", ".ends keep1", "R1 a 0 1", "* title"};
    static const char *const lacks[] = {"drop1", "junk", "vto", "a=2", "unused", "a comment",
                                        ".lib", PHX_TRIM_MARK, "c=3", "base=1"};
    for (size_t i = 0; i < sizeof has / sizeof *has; i++)
      CHECKF(strstr(out, has[i]) != NULL, "trimmed deck lacks '%s':\n%s", has[i], out);
    for (size_t i = 0; i < sizeof lacks / sizeof *lacks; i++)
      CHECKF(strstr(out, lacks[i]) == NULL, "trimmed deck has '%s':\n%s", lacks[i], out);
    free(out);
  }
  /* a size: the bins whose range holds it, and the unbinned card of keep1 */
  out = trimmed("tt", "binned w=4e-05 l=3.5e-07 keep1", PHX_OK, NULL);
  if (out) {
    CHECKF(strstr(out, "tag2=1") && strstr(out, "M1 d g s b bin") && strstr(out, ".ends binned") &&
               strstr(out, ".model keepm"),
           "binned: the bin holding the size is missing:\n%s", out);
    CHECKF(!strstr(out, "tag1") && !strstr(out, "tag3") && !strstr(out, "bin.1") &&
               !strstr(out, "a comment inside"),
           "binned: a bin outside the size kept:\n%s", out);
    free(out);
  }
  free(trimmed("xx", "keep1", PHX_EFORMAT, "lib.spice: no section .lib xx"));
  free(trimmed("broken", "keep1", PHX_EIO, "sub/none.spice"));
  /* no mark: the deck as it is */
  phx_err err = {0};
  out = (char *)1;
  CHECK(phx_circ_trim_deck("* t\n.lib \"x\" tt\n.end\n", &out, &err) == PHX_OK && out == NULL);
  out = NULL;
  CHECK(phx_circ_trim_deck("* t\n" PHX_TRIM_MARK " a\nR1 a 0 1\n", &out, &err) == PHX_EINVAL &&
        strstr(err.msg, "not followed by a .lib line") && out == NULL);
  tmpdir_remove();
  return finish("libtrim");
}
