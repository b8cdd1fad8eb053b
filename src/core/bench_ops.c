/* phx_bench_ops: every case of every op descriptor timed on one backend,
 * with the inputs `check` and the op tests use. */
#include "op_desc.h"

phx_status phx_bench_ops(phx_backend *b, int N, int M, int B, int reps, phx_op_speed_fn fn,
                         void *user, phx_err *err) {
  if (!b || !fn || N < 1 || M < 1 || B < 1 || reps < 1)
    return phx_fail(err, PHX_EINVAL, "bench ops: backend, callback, sizes or reps missing");
  const phx_op_sizes sz = {N, M, B};
  phx_status s = PHX_OK;
  for (int id = 0; id < PHX_OP_COUNT && s == PHX_OK; id++) {
    const phx_op_desc *d = phx_op_descs[id];
    if (!phx_op_supported(b, d->id)) continue;
    for (int i = 0; i < d->ncases && s == PHX_OK; i++) {
      phx_op_inst t;
      double secs = 0;
      s = phx_op_inst_init(&t, d, i, &sz, 1 + (uint64_t)i, err);
      /* one run to compile, allocate and warm caches, then the timed runs */
      if (s == PHX_OK) s = phx_op_inst_exec(&t, b, -1, 1, NULL, NULL, err);
      if (s == PHX_OK) s = phx_op_inst_exec(&t, b, -1, reps, NULL, &secs, err);
      if (s == PHX_OK) {
        long elements = 0;
        for (int k = 0; k < d->nbuf; k++) elements += (long)t.need[k];
        const phx_op_speed r = {d->name, t.c.label, secs, elements};
        fn(&r, user);
      }
      phx_op_inst_free(&t);
    }
  }
  return s;
}
