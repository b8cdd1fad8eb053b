/* Tables: CSV (plain, gzip, header or not, names or indices, delimiters,
 * quotes) and NumPy (.npy pairs, .npz stored and deflated) read into the
 * same dataset; every defect refused with one line naming the file, and
 * for text the line and column; the seeded split. */
#define _XOPEN_SOURCE 700
#define TEST_UTIL_TMPDIR
#include <math.h>
#include <zip.h>
#include <zlib.h>

#include "phaxcl.h"
#include "test_util.h"

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f || fputs(text, f) < 0 || fclose(f)) {
    perror(path);
    exit(99);
  }
}

/* Loads text as NAME with options; returns the status, message in err. */
static phx_status load(const char *name, const char *text, const char *target, int regression,
                       phx_dataset **d, phx_err *err) {
  const char *path = in_dir(name);
  write_text(path, text);
  phx_table_opts o;
  phx_table_opts_default(&o);
  o.target = target;
  o.regression = regression;
  *d = NULL;
  return phx_dataset_load_table(path, NULL, &o, d, err);
}

/* A defect: refused with status s, a one-line message holding every part. */
static void refused(const char *text, const char *target, int regression, phx_status s,
                    const char *part1, const char *part2) {
  phx_dataset *d;
  phx_err err = {0};
  phx_status got = load("bad.csv", text, target, regression, &d, &err);
  CHECKF(got == s, "'%s': status %s, expected %s (%s)", text, phx_status_name(got),
         phx_status_name(s), err.msg);
  CHECKF(d == NULL, "'%s': a dataset came back", text);
  CHECKF(strstr(err.msg, "bad.csv") != NULL, "'%s': message does not name the file: %s", text,
         err.msg);
  CHECKF(!strchr(err.msg, '\n'), "message is not one line: %s", err.msg);
  CHECKF(strstr(err.msg, part1) != NULL, "'%s': message lacks '%s': %s", text, part1, err.msg);
  if (part2) CHECKF(strstr(err.msg, part2) != NULL, "'%s': lacks '%s': %s", text, part2, err.msg);
  phx_dataset_free(d);
}

static void good_csv(void) {
  phx_dataset *d;
  phx_err err = {0};
  /* header, target by name in the middle, CRLF, blank and comment lines */
  must(load("a.csv", "# made by hand\r\nx1, y ,x2\r\n1,2,3\r\n\r\n4,5e-1,-6\r\n", "y", 1, &d,
            &err), &err, "a.csv");
  CHECK(phx_dataset_count(d) == 2 && phx_dataset_dim(d) == 2 && phx_dataset_targets(d) == 1);
  const float *x = phx_dataset_x(d), *y = phx_dataset_y(d);
  CHECK(x[0] == 1 && x[1] == 3 && x[2] == 4 && x[3] == -6 && y[0] == 2 && y[1] == 0.5f);
  phx_dataset_free(d);
  /* the header row handed back */
  char head[64];
  phx_table_opts ho;
  phx_table_opts_default(&ho);
  ho.header_out = head;
  ho.header_size = sizeof head;
  write_text(in_dir("h.csv"), "\"p q\";r\n1;2\n");
  must(phx_dataset_load_table(in_dir("h.csv"), NULL, &ho, &d, &err), &err, "h.csv");
  CHECKF(!strcmp(head, "p q,r"), "header '%s'", head);
  phx_dataset_free(d);
  write_text(in_dir("h.csv"), "1;2\n");
  must(phx_dataset_load_table(in_dir("h.csv"), NULL, &ho, &d, &err), &err, "h.csv");
  CHECK(head[0] == 0);
  phx_dataset_free(d);
  /* no header, two targets by index (-1 the last), semicolons, quotes */
  must(load("b.csv", "\"1\";2;3;4\n5;6;7;8\n", "0,-1", 1, &d, &err), &err, "b.csv");
  CHECK(phx_dataset_count(d) == 2 && phx_dataset_dim(d) == 2 && phx_dataset_targets(d) == 2);
  y = phx_dataset_y(d);
  CHECK(y[0] == 1 && y[1] == 4 && y[2] == 5 && y[3] == 8 && phx_dataset_x(d)[0] == 2);
  phx_dataset_free(d);
  /* whitespace-separated (np.savetxt), classification labels */
  must(load("c.txt", "0.5 0.25 2\n  1 0 0\n0 1 1\n", NULL, 0, &d, &err), &err, "c.txt");
  CHECK(phx_dataset_targets(d) == 0 && phx_dataset_classes(d) == 3);
  CHECK(phx_dataset_labels(d)[0] == 2 && phx_dataset_labels(d)[2] == 1);
  phx_dataset_free(d);
  /* a quoted header name with the delimiter inside, tabs */
  must(load("d.tsv", "\"a\tb\"\tc\n1\t2\n", "a\tb", 1, &d, &err), &err, "d.tsv");
  CHECK(phx_dataset_y(d)[0] == 1 && phx_dataset_x(d)[0] == 2);
  phx_dataset_free(d);
  /* gzip */
  const char *gz = in_dir("e.csv.gz");
  gzFile g = gzopen(gz, "wb");
  if (!g || gzputs(g, "f,t\n1,10\n2,20\n3,30\n") < 0 || gzclose(g) != Z_OK) exit(99);
  phx_table_opts o;
  phx_table_opts_default(&o);
  must(phx_dataset_load_table(gz, NULL, &o, &d, &err), &err, "e.csv.gz");
  CHECK(phx_dataset_count(d) == 3 && phx_dataset_y(d)[2] == 30);
  phx_dataset_free(d);
}

static void bad_csv(void) {
  refused("", NULL, 1, PHX_EFORMAT, "empty file", NULL);
  refused("# only a comment\n\n", NULL, 1, PHX_EFORMAT, "empty file", NULL);
  refused("a,b\n", NULL, 1, PHX_EFORMAT, "no data rows after the header", NULL);
  refused("a,b,c\n1,2,3\n4,5\n", NULL, 1, PHX_EFORMAT, "line 3, column 3", "2 fields");
  refused("1,2,3\n4,5,6,7\n", NULL, 1, PHX_EFORMAT, "line 2, column 7", "the first row has 3");
  refused("a,b\n1,2\n3,x\n", NULL, 1, PHX_EFORMAT, "line 3, column 3", "not a number 'x'");
  refused("a,b\n1,2\n3,\n", NULL, 1, PHX_EFORMAT, "line 3, column 3", "not a number ''");
  refused("a,b\n1,nan\n", NULL, 1, PHX_ENAN, "line 2, column 3", "not a finite number");
  refused("a,b\n-inf,1\n", NULL, 1, PHX_ENAN, "line 2, column 1", "not a finite number");
  refused("a,b\n1e999,1\n", NULL, 1, PHX_ENAN, "line 2, column 1", NULL);
  refused("a,b\n1e300,1\n", NULL, 1, PHX_ENAN, "line 2, column 1", "float range");
  refused("a,b\n1,2\n", "c", 1, PHX_EINVAL, "line 1", "'c' is not in the header");
  refused("1,2\n", "5", 1, PHX_EINVAL, "--target 5", "no such column");
  refused("1,2\n", "y", 1, PHX_EINVAL, "--target y", "no header row");
  refused("a,b\n1,2\n", "a,b", 1, PHX_EINVAL, "no features left", NULL);
  refused("a,b,c\n1,2,3\n", "a,a", 1, PHX_EINVAL, "named twice", NULL);
  refused("a,b\n1,2.5\n", NULL, 0, PHX_EFORMAT, "line 2, column 3", "class label '2.5'");
  refused("a,b\n1,-1\n", NULL, 0, PHX_EFORMAT, "line 2, column 3", "class label");
  refused("a,\"b\n1,2\n", NULL, 1, PHX_EFORMAT, "line 1, column 3", "unterminated quote");
  refused("a,b\n\"1\"x,2\n", NULL, 1, PHX_EFORMAT, "line 2, column 4", "after a closing quote");
  /* a NUL byte inside a line */
  const char *path = in_dir("bad.csv");
  FILE *f = fopen(path, "wb");
  if (!f || fwrite("a,b\n1,\0002\n", 1, 10, f) != 10 || fclose(f)) exit(99);
  phx_dataset *d = NULL;
  phx_err err = {0};
  phx_table_opts o;
  phx_table_opts_default(&o);
  CHECK(phx_dataset_load_table(path, NULL, &o, &d, &err) == PHX_EFORMAT && !d);
  CHECKF(strstr(err.msg, "line 2") && strstr(err.msg, "NUL"), "NUL: %s", err.msg);
  /* an unknown kind of file, and a folder */
  CHECK(phx_dataset_load_table(in_dir("x.xlsx"), NULL, &o, &d, &err) == PHX_EINVAL);
  CHECK(strstr(err.msg, "x.xlsx") != NULL);
  CHECK(phx_dataset_load_table(dir, NULL, &o, &d, &err) != PHX_OK);
}

/* A .npy of a 2-D little-endian array of the given dtype. */
static size_t npy_bytes(unsigned char *out, const char *descr, int rows, int cols, int fortran,
                        const void *data, size_t esize) {
  char h[128];
  int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }",
                   descr, fortran ? "True" : "False", rows, cols);
  int pad = 64 - (10 + n + 1) % 64;
  memcpy(out, "\x93NUMPY\x01\x00", 8);
  out[8] = (unsigned char)((n + pad + 1) & 0xff);
  out[9] = (unsigned char)((n + pad + 1) >> 8);
  memcpy(out + 10, h, (size_t)n);
  memset(out + 10 + n, ' ', (size_t)pad);
  out[10 + n + pad] = '\n';
  size_t at = (size_t)(11 + n + pad);
  memcpy(out + at, data, (size_t)rows * cols * esize);
  return at + (size_t)rows * cols * esize;
}

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(b, 1, n, f) != n || fclose(f)) exit(99);
}

static void numpy(void) {
  unsigned char xb[512], yb[512];
  const double x[6] = {1, 2, 3, 4, 5, 6}; /* Fortran order: columns (1,2,3), (4,5,6) */
  const int32_t y[3] = {0, 2, 1};
  size_t nx = npy_bytes(xb, "<f8", 3, 2, 1, x, 8), ny = npy_bytes(yb, "<i4", 3, 1, 0, y, 4);
  write_bytes(in_dir("x.npy"), xb, nx);
  write_bytes(in_dir("y.npy"), yb, ny);
  phx_table_opts o;
  phx_table_opts_default(&o);
  o.regression = 0;
  phx_dataset *d = NULL;
  phx_err err = {0};
  must(phx_dataset_load_table(in_dir("x.npy"), in_dir("y.npy"), &o, &d, &err), &err, "npy");
  CHECK(phx_dataset_count(d) == 3 && phx_dataset_dim(d) == 2 && phx_dataset_classes(d) == 3);
  CHECK(phx_dataset_x(d)[0] == 1 && phx_dataset_x(d)[1] == 4 && phx_dataset_x(d)[5] == 6);
  CHECK(phx_dataset_labels(d)[1] == 2);
  phx_dataset_free(d);
  /* without its targets, truncated, NaN */
  CHECK(phx_dataset_load_table(in_dir("x.npy"), NULL, &o, &d, &err) == PHX_EINVAL);
  write_bytes(in_dir("t.npy"), xb, nx - 3);
  CHECK(phx_dataset_load_table(in_dir("t.npy"), in_dir("y.npy"), &o, &d, &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "t.npy") && strstr(err.msg, "truncated"), "%s", err.msg);
  const double xn[6] = {1, 2, NAN, 4, 5, 6};
  write_bytes(in_dir("n.npy"), xb, npy_bytes(xb, "<f8", 3, 2, 0, xn, 8));
  CHECK(phx_dataset_load_table(in_dir("n.npy"), in_dir("y.npy"), &o, &d, &err) == PHX_ENAN);
  CHECKF(strstr(err.msg, "n.npy") && strstr(err.msg, "[1, 0]"), "%s", err.msg);
  write_bytes(in_dir("b.npy"), xb, npy_bytes(xb, ">f8", 3, 2, 0, x, 8));
  CHECK(phx_dataset_load_table(in_dir("b.npy"), in_dir("y.npy"), &o, &d, &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "little-endian"), "%s", err.msg);

  /* .npz: x stored, y deflated (as np.savez / np.savez_compressed) */
  const float xf[4] = {0.5f, 1.5f, 2.5f, 3.5f}, yf[2] = {10, 20};
  nx = npy_bytes(xb, "<f4", 2, 2, 0, xf, 4);
  ny = npy_bytes(yb, "<f4", 2, 1, 0, yf, 4);
  for (int bad = 0; bad < 2; bad++) {
    const char *path = in_dir(bad ? "bad.npz" : "a.npz");
    remove(path);
    int ze;
    zip_t *z = zip_open(path, ZIP_CREATE, &ze);
    zip_source_t *sx = zip_source_buffer(z, xb, nx, 0);
    zip_source_t *sy = zip_source_buffer(z, yb, bad ? ny - 4 : ny, 0);
    zip_int64_t ix = zip_file_add(z, "x.npy", sx, 0);
    zip_int64_t iy = zip_file_add(z, bad ? "Y.npy" : "y.npy", sy, 0);
    zip_set_file_compression(z, (zip_uint64_t)ix, ZIP_CM_STORE, 0);
    zip_set_file_compression(z, (zip_uint64_t)iy, ZIP_CM_DEFLATE, 9);
    if (zip_close(z)) exit(99);
  }
  o.regression = 1;
  must(phx_dataset_load_table(in_dir("a.npz"), NULL, &o, &d, &err), &err, "npz");
  CHECK(phx_dataset_count(d) == 2 && phx_dataset_targets(d) == 1 && phx_dataset_y(d)[1] == 20);
  CHECK(phx_dataset_x(d)[3] == 3.5f);
  phx_dataset_free(d);
  CHECK(phx_dataset_load_table(in_dir("bad.npz"), NULL, &o, &d, &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "bad.npz: Y.npy") && strstr(err.msg, "truncated"), "%s", err.msg);
  write_text(in_dir("c.npz"), "not a zip");
  CHECK(phx_dataset_load_table(in_dir("c.npz"), NULL, &o, &d, &err) == PHX_EFORMAT);
  CHECKF(strstr(err.msg, "c.npz") && strstr(err.msg, "zip"), "%s", err.msg);
}

/* The split: sizes, disjoint, every sample once, the same for a seed. */
static void split(void) {
  float x[50], y[50];
  for (int i = 0; i < 50; i++) x[i] = y[i] = (float)i;
  phx_dataset *d, *a, *b, *a2, *b2;
  phx_err err = {0};
  must(phx_dataset_new_regression(50, 1, 1, x, y, &d, &err), &err, "new");
  must(phx_dataset_split(d, 0.2, 7, &a, &b, &err), &err, "split");
  must(phx_dataset_split(d, 0.2, 7, &a2, &b2, &err), &err, "split again");
  CHECK(phx_dataset_count(a) == 40 && phx_dataset_count(b) == 10);
  int seen[50] = {0};
  for (int i = 0; i < 40; i++) seen[(int)phx_dataset_x(a)[i]]++;
  for (int i = 0; i < 10; i++) seen[(int)phx_dataset_y(b)[i]]++;
  for (int i = 0; i < 50; i++) CHECK(seen[i] == 1);
  for (int i = 1; i < 10; i++) CHECK(phx_dataset_x(b)[i] > phx_dataset_x(b)[i - 1]);
  CHECK(!memcmp(phx_dataset_x(b), phx_dataset_x(b2), 10 * sizeof(float)));
  phx_dataset_free(a2);
  phx_dataset_free(b2);
  CHECK(phx_dataset_split(d, 1.0, 7, &a2, &b2, &err) == PHX_EINVAL && !a2 && !b2);
  CHECK(phx_dataset_split(d, 0.001, 7, &a2, &b2, &err) == PHX_EINVAL);
  /* in place: the same rows in the same order, d keeps the training part;
   * refused fractions leave d whole */
  CHECK(phx_dataset_split_take(d, 0.001, 7, &b2, &err) == PHX_EINVAL && !b2 &&
        phx_dataset_count(d) == 50);
  must(phx_dataset_split_take(d, 0.2, 7, &b2, &err), &err, "split in place");
  CHECK(phx_dataset_count(d) == 40 && phx_dataset_count(b2) == 10);
  CHECK(!memcmp(phx_dataset_x(a), phx_dataset_x(d), 40 * sizeof(float)) &&
        !memcmp(phx_dataset_y(a), phx_dataset_y(d), 40 * sizeof(float)) &&
        !memcmp(phx_dataset_x(b), phx_dataset_x(b2), 10 * sizeof(float)) &&
        !memcmp(phx_dataset_y(b), phx_dataset_y(b2), 10 * sizeof(float)));
  /* scaling in place gives the copy's values */
  phx_model_opts o;
  phx_model_opts_default(&o);
  o.nlayers = 1, o.sizes[0] = 1, o.sizes[1] = 1, o.loss = PHX_LOSS_MSE;
  phx_model *m = NULL;
  phx_dataset *sc = NULL;
  must(phx_model_new(&o, &m, &err), &err, "model");
  must(phx_model_fit_scaling(m, a, &err), &err, "fit");
  must(phx_model_scale_data(m, b2, &sc, &err), &err, "scale");
  must(phx_model_scale_data_inplace(m, b2, &err), &err, "scale in place");
  CHECK(!memcmp(phx_dataset_x(sc), phx_dataset_x(b2), 10 * sizeof(float)) &&
        !memcmp(phx_dataset_y(sc), phx_dataset_y(b2), 10 * sizeof(float)));
  int32_t lab[10] = {0};
  phx_dataset *cls = NULL;
  must(phx_dataset_new(10, 1, 1, phx_dataset_x(b), lab, &cls, &err), &err, "classes");
  CHECK(phx_model_scale_data_inplace(m, cls, &err) == PHX_ESHAPE &&
        phx_dataset_x(cls)[3] == phx_dataset_x(b)[3]);
  phx_dataset_free(cls);
  phx_dataset_free(sc);
  phx_model_free(m);
  phx_dataset_free(b2);
  phx_dataset_free(a);
  phx_dataset_free(b);
  phx_dataset_free(d);
}

int main(void) {
  if (tmpdir_make("table")) return 99;
  good_csv();
  bad_csv();
  numpy();
  split();
  tmpdir_remove();
  return finish("table");
}
