/* Model files: bit-exact round trip of theta and options, the on-disk
 * layout, refusal of every kind of damaged file (with the file named), and
 * atomic saving (a failed save leaves the previous file as it was). */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "phaxcl.h"
#include "test_util.h"

/* ---- file helpers ---------------------------------------------------------- */

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(99);
  }
  fclose(f);
}

/* A safetensors file from a header text and data bytes. */
static void write_st(const char *path, unsigned long long hlen, const char *header,
                     const unsigned char *data, size_t dlen) {
  size_t n = strlen(header);
  unsigned char *b = malloc(8 + n + dlen);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(b + 8, header, n);
  if (dlen) memcpy(b + 8 + n, data, dlen);
  write_file(path, b, 8 + n + dlen);
  free(b);
}


/* ---- round trip ------------------------------------------------------------ */

static phx_model *make_model(int nlayers, const int *sizes, uint64_t seed) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = nlayers;
  for (int l = 0; l <= nlayers; l++) o.sizes[l] = sizes[l];
  phx_model *m = NULL;
  phx_err err = {0};
  if (phx_model_new(&o, &m, &err)) {
    fprintf(stderr, "model: %s\n", err.msg);
    exit(99);
  }
  phx_model_init(m, seed);
  return m;
}

static int same_opts(const phx_model_opts *a, const phx_model_opts *b) {
  if (a->nlayers != b->nlayers || a->vdd != b->vdd || a->gmin != b->gmin ||
      a->ratio != b->ratio || a->loss != b->loss)
    return 0;
  for (int l = 0; l <= a->nlayers; l++)
    if (a->sizes[l] != b->sizes[l]) return 0;
  for (int i = 0; i < 4; i++)
    if (a->c[i] != b->c[i] || a->d[i] != b->d[i]) return 0;
  return 1;
}

static int same_theta(const phx_model *a, const phx_model *b) {
  for (int l = 0; l < phx_model_get_opts(a)->nlayers; l++) {
    size_t n = (size_t)phx_model_rows(a, l) * (size_t)phx_model_cols(a, l);
    if (phx_model_rows(a, l) != phx_model_rows(b, l) ||
        phx_model_cols(a, l) != phx_model_cols(b, l) ||
        memcmp(phx_model_theta_const(a, l), phx_model_theta_const(b, l), n * 4))
      return 0;
  }
  return 1;
}

/* Unusual options and special floats survive save + load bit for bit, and
 * the file has the documented layout. */
static void test_round_trip(void) {
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 3;
  o.sizes[0] = 7; o.sizes[1] = 5; o.sizes[2] = 3; o.sizes[3] = 2;
  o.vdd = 0.7;
  o.gmin = 1e-6 / 3;
  o.ratio = 65.83333333333333;
  double c[4] = {0.1, -0.2, 1.0 / 3, 12.345678901234567};
  double d[4] = {-1e-300, 0.2490000000000001, -0.0203, 193.0602};
  memcpy(o.c, c, sizeof c);
  memcpy(o.d, d, sizeof d);
  o.loss = PHX_LOSS_MSE;
  phx_model *m = NULL, *back = NULL;
  phx_err err = {0};
  CHECK(phx_model_new(&o, &m, &err) == PHX_OK);
  phx_model_init(m, 7);
  float *t = phx_model_theta(m, 1);
  t[0] = -0.0f;
  t[1] = 1e-45f; /* denormal */
  t[2] = FLT_MAX;
  t[3] = -FLT_MIN;
  char path[512];
  snprintf(path, sizeof path, "%s", in_dir("rt.safetensors"));
  CHECK(phx_model_save(m, path, &err) == PHX_OK);
  CHECK(phx_model_load(path, &back, &err) == PHX_OK);
  if (!back) {
    fprintf(stderr, "load: %s\n", err.msg);
    failures++;
    phx_model_free(m);
    return;
  }
  CHECK(same_opts(phx_model_get_opts(m), phx_model_get_opts(back)));
  CHECK(same_theta(m, back));
  CHECK(count_temps(dir) == 0);

  /* Layout: LE header length, 8-aligned, then LE float32 in layer order. */
  size_t n = 0;
  unsigned char *b = read_file(path, &n);
  unsigned long long hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
  size_t params = 0;
  for (int l = 0; l < 3; l++) params += (size_t)phx_model_rows(m, l) * phx_model_cols(m, l);
  CHECK(hlen % 8 == 0);
  CHECK(n == 8 + hlen + 4 * params);
  CHECK(b[8] == '{');
  char *h = malloc(hlen + 1);
  memcpy(h, b + 8, hlen);
  h[hlen] = 0;
  CHECK(strstr(h, "\"layers.0.theta\":{\"dtype\":\"F32\",\"shape\":[5,16],"
                  "\"data_offsets\":[0,320]}") != NULL);
  CHECK(strstr(h, "\"layers.2.theta\":{\"dtype\":\"F32\",\"shape\":[2,8],"
                  "\"data_offsets\":[464,528]}") != NULL);
  CHECK(strstr(h, "\"format\":\"phaxcl\"") && strstr(h, "\"sizes\":\"7,5,3,2\"") &&
        strstr(h, "\"loss\":\"mse\"") && strstr(h, "\"vdd\":\"0.7\"") &&
        strstr(h, "\"nlayers\":\"3\"") && strstr(h, "\"version\":\""));
  const unsigned char *p = b + 8 + hlen + 320; /* layers.1.theta[0..3] */
  float f0 = phx_model_theta_const(m, 1)[2];
  uint32_t u;
  memcpy(&u, &f0, 4);
  CHECK(p[8] == (u & 0xff) && p[11] == (u >> 24));
  CHECK(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0x80); /* -0.0f */
  free(h);
  free(b);
  phx_model_free(back);

  /* Defaults round-trip too (shortest exact text for each number). */
  phx_model *dm = make_model(2, (int[]){196, 100, 10}, 1);
  CHECK(phx_model_save(dm, path, &err) == PHX_OK);
  CHECK(phx_model_load(path, &back, &err) == PHX_OK);
  if (back) {
    CHECK(same_opts(phx_model_get_opts(dm), phx_model_get_opts(back)));
    CHECK(same_theta(dm, back));
  }
  b = read_file(path, &n);
  CHECK(b && n > 8);
  if (b) b[n - 1] = 0; /* data follows the header; stop strstr at the end */
  CHECK(b && strstr((char *)b + 8, "\"gmin\":\"1.2e-07\"") != NULL);
  free(b);
  phx_model_free(back);
  phx_model_free(dm);
  phx_model_free(m);
}

/* ---- damaged files ---------------------------------------------------------- */

#define META(extra)                                                                 \
  "\"__metadata__\":{\"format\":\"phaxcl\",\"version\":\"0.1.0\",\"nlayers\":\"2\","  \
  "\"sizes\":\"1,1,1\",\"vdd\":\"0.5\",\"gmin\":\"1.2e-07\"," extra                  \
  "\"c\":\"-0.0012,-0.2483,-0.0235,31.7581\",\"d\":\"-0.0011,0.249,-0.0203,193.0602\"," \
  "\"loss\":\"ce\"}"
#define GOOD_META META("\"ratio\":\"8.33\",")
#define T(l, dt, shape, a, b)                                                      \
  "\"layers." #l ".theta\":{\"dtype\":\"" dt "\",\"shape\":" shape                  \
  ",\"data_offsets\":[" #a "," #b "]}"

/* Loading `header` + dlen bytes of data fails with status s and a message
 * naming the file and containing `needle`. */
static void expect_refused(const char *name, const char *header, size_t dlen,
                           phx_status s, const char *needle) {
  const char *path = in_dir(name);
  unsigned char data[64] = {0};
  write_st(path, strlen(header), header, data, dlen);
  phx_model *m = NULL;
  phx_err err = {0};
  phx_status got = phx_model_load(path, &m, &err);
  if (got != s || m != NULL || !strstr(err.msg, path) || !strstr(err.msg, needle)) {
    fprintf(stderr, "%s: expected %s containing \"%s\", got %s: %s\n", name,
            phx_status_name(s), needle, phx_status_name(got), err.msg);
    failures++;
  }
  phx_model_free(m);
}

static void test_damaged(void) {
  /* Control: the crafted layout itself is valid. */
  const char *good = "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) "," T(1, "F32", "[1,4]", 16, 32) "}";
  char path[512];
  snprintf(path, sizeof path, "%s", in_dir("good.st"));
  unsigned char data[32];
  float one = 0.25f;
  for (int i = 0; i < 8; i++) memcpy(data + 4 * i, &one, 4);
  write_st(path, strlen(good), good, data, 32);
  phx_model *m = NULL;
  phx_err err = {0};
  CHECK(phx_model_load(path, &m, &err) == PHX_OK);
  CHECK(m && phx_model_get_opts(m)->sizes[2] == 1 && phx_model_theta(m, 1)[3] == 0.25f);
  phx_model_free(m);

  /* Damaged copies of a saved model. */
  size_t n;
  unsigned char *b = read_file(path, &n);
  write_file(in_dir("cut.st"), b, n - 1);
  m = NULL;
  CHECK(phx_model_load(in_dir("cut.st"), &m, &err) == PHX_EFORMAT && !m);
  CHECK(strstr(err.msg, in_dir("cut.st")) && strstr(err.msg, "outside the 31-byte"));
  unsigned char len8[8];
  memcpy(len8, b, 8);
  b[5] = 0x7f; /* header length far beyond the file */
  write_file(in_dir("hlen.st"), b, n);
  CHECK(phx_model_load(in_dir("hlen.st"), &m, &err) == PHX_EFORMAT && !m);
  CHECK(strstr(err.msg, "header length"));
  memset(b, 0, 8); /* header length zero */
  write_file(in_dir("hlen0.st"), b, n);
  CHECK(phx_model_load(in_dir("hlen0.st"), &m, &err) == PHX_EFORMAT && !m);
  CHECK(strstr(err.msg, "header length 0"));
  memcpy(b, len8, 8);
  b[0] += 1; /* header one byte longer: takes a data byte as header text */
  write_file(in_dir("hlen1.st"), b, n);
  CHECK(phx_model_load(in_dir("hlen1.st"), &m, &err) == PHX_EFORMAT && !m);
  memcpy(b, len8, 8);
  write_file(in_dir("tiny.st"), b, 5);
  CHECK(phx_model_load(in_dir("tiny.st"), &m, &err) == PHX_EFORMAT && !m);
  CHECK(strstr(err.msg, in_dir("tiny.st")) != NULL);
  write_file(in_dir("empty.st"), b, 0);
  CHECK(phx_model_load(in_dir("empty.st"), &m, &err) == PHX_EFORMAT && !m);
  free(b);
  CHECK(phx_model_load(in_dir("absent.st"), &m, &err) == PHX_EIO && !m);
  CHECK(strstr(err.msg, in_dir("absent.st")) != NULL);

  expect_refused("json.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ",", 32,
                 PHX_EFORMAT, "JSON");
  expect_refused("notobj.st", "[1,2,3]", 0, PHX_EFORMAT, "'{'");
  expect_refused("garbage.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}xyz", 32, PHX_EFORMAT, "garbage");
  expect_refused("dtype.st", "{" GOOD_META "," T(0, "F64", "[1,2]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "dtype F64");
  expect_refused("shape.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[2,2]", 16, 32) "}", 32, PHX_ESHAPE, "layers.1.theta: shape [2, 2]");
  expect_refused("shape3.st", "{" GOOD_META "," T(0, "F32", "[1,4,1]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "shape");
  expect_refused("overlap.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 8, 24) "}", 32, PHX_EFORMAT, "overlap");
  expect_refused("same.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 0, 16) "}", 16, PHX_EFORMAT, "overlap");
  expect_refused("gap.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 20, 36) "}", 36, PHX_EFORMAT, "gaps");
  expect_refused("extra.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 36, PHX_EFORMAT, "data section has 36");
  expect_refused("range.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 48) "}", 32, PHX_EFORMAT, "outside");
  expect_refused("len.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 28) "}", 28, PHX_EFORMAT, "hold 12 bytes");
  expect_refused("neg.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", -16, 32) "}", 32, PHX_EFORMAT, "data_offsets");
  expect_refused("nometa.st", "{" T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "__metadata__");
  expect_refused("noratio.st", "{" META("") "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "\"ratio\" missing");
  expect_refused("numratio.st", "{" META("\"ratio\":8.33,") "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "not a string");
  expect_refused("badratio.st", "{" META("\"ratio\":\"0.5\",") "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "--ratio");
  expect_refused("textratio.st", "{" META("\"ratio\":\"8.33x\",") "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "ratio \"8.33x\"");
  expect_refused("nanratio.st", "{" META("\"ratio\":\"nan\",") "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "ratio");
  expect_refused("missing.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) "}", 16,
                 PHX_EFORMAT, "layers.1.theta missing");
  expect_refused("unexpected.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(1, "F32", "[1,4]", 16, 32) "," T(2, "F32", "[1,4]", 32, 48) "}", 48,
                 PHX_EFORMAT, "unexpected tensor \"layers.2.theta\"");
  expect_refused("dup.st", "{" GOOD_META "," T(0, "F32", "[1,4]", 0, 16) ","
                 T(0, "F32", "[1,4]", 16, 32) "}", 32, PHX_EFORMAT, "duplicate");

  /* The message of the brief's example, on the default sizes. */
  const char *big = "{\"__metadata__\":{\"format\":\"phaxcl\",\"version\":\"0.1.0\","
      "\"nlayers\":\"2\",\"sizes\":\"196,100,10\",\"vdd\":\"0.5\",\"gmin\":\"1.2e-07\","
      "\"ratio\":\"8.33\",\"c\":\"-0.0012,-0.2483,-0.0235,31.7581\","
      "\"d\":\"-0.0011,0.249,-0.0203,193.0602\",\"loss\":\"ce\"},"
      "\"layers.0.theta\":{\"dtype\":\"F32\",\"shape\":[100,394],\"data_offsets\":[0,157600]},"
      "\"layers.1.theta\":{\"dtype\":\"F32\",\"shape\":[10,200],\"data_offsets\":[157600,165600]}}";
  char bp[512];
  snprintf(bp, sizeof bp, "%s", in_dir("model.st"));
  unsigned char *zeros = calloc(165600, 1);
  write_st(bp, strlen(big), big, zeros, 165600);
  free(zeros);
  CHECK(phx_model_load(bp, &m, &err) == PHX_ESHAPE && !m);
  char want[1024];
  snprintf(want, sizeof want, "%s: tensor layers.1.theta: shape [10, 200] does not match "
           "sizes 196,100,10 (expected [10, 202])", bp);
  CHECK(strcmp(err.msg, want) == 0);

  /* Non-finite values: NaN and infinity in the data are refused. */
  float bad[2] = {NAN, INFINITY};
  for (int k = 0; k < 2; k++) {
    unsigned char d2[32];
    memcpy(d2, data, 32);
    memcpy(d2 + 4 * 6, &bad[k], 4);
    write_st(in_dir("nan.st"), strlen(good), good, d2, 32);
    CHECK(phx_model_load(in_dir("nan.st"), &m, &err) == PHX_ENAN && !m);
    CHECK(strstr(err.msg, in_dir("nan.st")) && strstr(err.msg, "layers.1.theta: element [0, 2]"));
  }
}

/* ---- atomic save ------------------------------------------------------------- */

static void expect_unchanged(const char *path, const unsigned char *old, size_t n) {
  size_t m = 0;
  unsigned char *now = read_file(path, &m);
  CHECK(now && m == n && memcmp(now, old, n) == 0);
  free(now);
}

static void test_atomic(void) {
  phx_model *a = make_model(1, (int[]){3, 2}, 1);
  phx_model *b = make_model(2, (int[]){50, 40, 10}, 2);
  char path[512];
  snprintf(path, sizeof path, "%s", in_dir("keep.st"));
  phx_err err = {0};
  CHECK(phx_model_save(a, path, &err) == PHX_OK);
  chmod(path, 0640);
  size_t n;
  unsigned char *old = read_file(path, &n);

  /* Nonexistent folder: refused, naming the path. */
  char nodir[512];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/keep.st", dir);
  CHECK(phx_model_save(b, nodir, &err) == PHX_EIO);
  CHECK(strstr(err.msg, nodir) != NULL);
  expect_unchanged(path, old, n);

  /* Target is a folder: rename fails, temp file removed. */
  mkdir(in_dir("adir"), 0755);
  CHECK(phx_model_save(b, in_dir("adir"), &err) == PHX_EIO);
  CHECK(count_temps(dir) == 0);

  /* Write fails midway (file size limit): previous file intact, no temp. */
  struct rlimit old_lim, lim;
  getrlimit(RLIMIT_FSIZE, &old_lim);
  signal(SIGXFSZ, SIG_IGN);
  lim = old_lim;
  lim.rlim_cur = 4096; /* b needs about 40 KB */
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  phx_status s = phx_model_save(b, path, &err);
  setrlimit(RLIMIT_FSIZE, &old_lim);
  CHECK(s == PHX_EIO);
  CHECK(strstr(err.msg, path) != NULL);
  expect_unchanged(path, old, n);
  CHECK(count_temps(dir) == 0);
  phx_model *back = NULL;
  CHECK(phx_model_load(path, &back, &err) == PHX_OK && back && same_theta(a, back));
  phx_model_free(back);

  /* Read-only folder (permission checks do not apply to root). */
  if (geteuid() != 0) {
    mkdir(in_dir("ro"), 0755);
    char rp[512];
    snprintf(rp, sizeof rp, "%s", in_dir("ro/keep.st"));
    CHECK(phx_model_save(a, rp, &err) == PHX_OK);
    chmod(in_dir("ro"), 0555);
    CHECK(phx_model_save(b, rp, &err) == PHX_EIO);
    CHECK(strstr(err.msg, rp) != NULL);
    chmod(in_dir("ro"), 0755);
    expect_unchanged(rp, old, n);
  }

  /* A successful overwrite replaces the content and keeps the mode. */
  CHECK(phx_model_save(b, path, &err) == PHX_OK);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
  CHECK(phx_model_load(path, &back, &err) == PHX_OK && back && same_theta(b, back));
  CHECK(count_temps(dir) == 0);
  phx_model_free(back);
  free(old);
  phx_model_free(a);
  phx_model_free(b);
}

int main(void) {
  if (tmpdir_make("st")) return 99;
  test_round_trip();
  test_damaged();
  test_atomic();
  tmpdir_remove();
  return finish("safetensors");
}
