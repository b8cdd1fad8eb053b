/* The checked entry points: every operation and buffer transfer goes
 * through here, so that shapes, element types and the presence of buffers
 * are validated once, by the op's descriptor, for every backend alike. A
 * backend then trusts its arguments. */
#include <string.h>

#include "backend.h"
#include "op_desc.h"

const phx_buf *phx_op_getbuf(const phx_op_desc *d, const void *args, int i) {
  const phx_buf *b;
  memcpy(&b, (const char *)args + d->buf[i].off, sizeof b);
  return b;
}

void phx_op_setbuf(const phx_op_desc *d, void *args, int i, const phx_buf *b) {
  memcpy((char *)args + d->buf[i].off, &b, sizeof b);
}

int phx_op_supported(const phx_backend *b, phx_op_id id) {
  if (!b || !b->ops || id < 0 || id >= PHX_OP_COUNT) return 0;
  switch (id) {
#define PHX_OP_HAS(name, type, opt) \
  case PHX_OP_##name:               \
    return b->ops->name != NULL;
    PHX_OPS(PHX_OP_HAS)
#undef PHX_OP_HAS
    default:
      return 0;
  }
}

/* Validates args against descriptor d: scalars by its shape function,
 * then each buffer it needs: present, of its type, long enough. */
static phx_status validate(const phx_backend *b, const phx_op_desc *d, const void *args,
                           phx_err *err) {
  size_t need[PHX_OP_MAXBUF] = {0};
  phx_err e = {PHX_OK, ""};
  int rc = d->shape(args, need, &e);
  if (rc) return phx_fail(err, (phx_status)rc, "%s on %s: %s", d->name, b->name, e.msg);
  for (int i = 0; i < d->nbuf; i++) {
    if (!need[i]) continue;
    const phx_buf *x = phx_op_getbuf(d, args, i);
    if (!x)
      return phx_fail(err, PHX_EINVAL, "%s on %s: buffer %s missing", d->name, b->name,
                      d->buf[i].name);
    if (x->type != d->buf[i].type)
      return phx_fail(err, PHX_EINVAL, "%s on %s: buffer %s holds %s, %s expected",
                      d->name, b->name, d->buf[i].name,
                      x->type == PHX_BUF_I32 ? "int32" : "reals",
                      d->buf[i].type == PHX_BUF_I32 ? "int32" : "reals");
    if (x->n < need[i])
      return phx_fail(err, PHX_ESHAPE, "%s on %s: buffer %s holds %zu elements, %zu needed",
                      d->name, b->name, d->buf[i].name, x->n, need[i]);
  }
  return PHX_OK;
}

phx_status phx_op_run(phx_backend *b, phx_op_id id, const void *args, phx_err *err) {
  if (!b || !b->ops || !args || id < 0 || id >= PHX_OP_COUNT)
    return phx_fail(err, PHX_EINVAL, "phx_op_run: backend, arguments or op missing");
  const phx_op_desc *d = phx_op_descs[id];
  if (!phx_op_supported(b, id))
    return phx_fail(err, PHX_ENOBACKEND, "%s: not implemented by backend %s", d->name,
                    b->name);
  phx_status s = validate(b, d, args, err);
  if (s != PHX_OK) return s;
  switch (id) {
#define PHX_OP_CALL(name, type, opt) \
  case PHX_OP_##name:                \
    return (phx_status)b->ops->name(b->impl, (const type *)args, err);
    PHX_OPS(PHX_OP_CALL)
#undef PHX_OP_CALL
    default:
      return phx_fail(err, PHX_EINTERNAL, "phx_op_run: op %d", (int)id);
  }
}

#define PHX_OP_DEF(name, type, opt)                                           \
  phx_status phx_op_##name(phx_backend *b, const type *a, phx_err *err) {     \
    return phx_op_run(b, PHX_OP_##name, a, err);                              \
  }
PHX_OPS(PHX_OP_DEF)
#undef PHX_OP_DEF

/* ---- buffers ---- */

phx_status phx_backend_prepare(phx_backend *b, const phx_consts *k, phx_err *err) {
  if (!b || !k) return phx_fail(err, PHX_EINVAL, "prepare: backend or constants missing");
  if (!(k->vdd > 0) || !(k->gmin > 0) || !(k->k >= 0))
    return phx_fail(err, PHX_EINVAL, "prepare on %s: vdd, gmin must be > 0 and k >= 0",
                    b->name);
  return (phx_status)b->ops->prepare(b->impl, k, err);
}

phx_buf *phx_buf_alloc(phx_backend *b, phx_btype t, size_t n, phx_err *err) {
  if (!b || (t != PHX_BUF_REAL && t != PHX_BUF_I32)) {
    phx_fail(err, PHX_EINVAL, "buffer: backend missing or unknown element type");
    return NULL;
  }
  phx_err e = {PHX_OK, ""};
  phx_buf *x = b->ops->alloc(b->impl, t, n, &e);
  if (!x) {
    if (e.status == PHX_OK) phx_fail(&e, PHX_ENOMEM, "backend %s: allocation failed", b->name);
    phx_fail(err, e.status, "%s", e.msg);
  }
  return x;
}

void phx_buf_release(phx_backend *b, phx_buf *buf) {
  if (b && buf) b->ops->release(b->impl, buf);
}

/* A transfer must stay inside the buffer and name a known host type. */
static phx_status check_range(const phx_backend *b, const phx_buf *x, size_t off, size_t n,
                              const void *host, phx_htype h, const char *what,
                              phx_err *err) {
  if (!b || !x || (n && !host))
    return phx_fail(err, PHX_EINVAL, "%s: backend, buffer or host memory missing", what);
  if (h != PHX_HOST_F32 && h != PHX_HOST_F64 && h != PHX_HOST_I32)
    return phx_fail(err, PHX_EINVAL, "%s on %s: unknown host type %d", what, b->name, (int)h);
  if (off > x->n || n > x->n - off)
    return phx_fail(err, PHX_EINVAL, "%s on %s: elements [%zu, %zu) outside the buffer of %zu",
                    what, b->name, off, off + n, x->n);
  return PHX_OK;
}

phx_status phx_buf_write(phx_backend *b, phx_buf *buf, size_t off, size_t n, const void *src,
                         phx_htype h, phx_err *err) {
  phx_status s = check_range(b, buf, off, n, src, h, "write", err);
  if (s != PHX_OK || n == 0) return s;
  return (phx_status)b->ops->write(b->impl, buf, off, n, src, h, err);
}

phx_status phx_buf_read(phx_backend *b, const phx_buf *buf, size_t off, size_t n, void *dst,
                        phx_htype h, phx_err *err) {
  phx_status s = check_range(b, buf, off, n, dst, h, "read", err);
  if (s != PHX_OK || n == 0) return s;
  return (phx_status)b->ops->read(b->impl, buf, off, n, dst, h, err);
}

phx_status phx_backend_finish(phx_backend *b, phx_err *err) {
  if (!b) return phx_fail(err, PHX_EINVAL, "finish: backend missing");
  return (phx_status)b->ops->finish(b->impl, err);
}
