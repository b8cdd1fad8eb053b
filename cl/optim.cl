/* Optimizer updates, one work-item per parameter. Scalars (learning rate,
 * Adam's bias corrections) come from the host each step. */

/* theta -= lr g */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_sgd(const uint n, const float lr, __global float *theta,
             __global const float *grad) {
  const size_t i = get_global_id(0);
  if (i >= n) return;
  theta[i] -= lr * grad[i];
}

/* m = mu m + g; theta -= lr m */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_momentum(const uint n, const float lr, const float mu,
                  __global float *theta, __global const float *grad,
                  __global float *m) {
  const size_t i = get_global_id(0);
  if (i >= n) return;
  const float mi = mu * m[i] + grad[i];
  m[i] = mi;
  theta[i] -= lr * mi;
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * theta -= step m / (sqrt(v) rb2 + eps), with step = lr / (1 - b1^t) and
 * rb2 = 1 / sqrt(1 - b2^t) from the host (Adam's bias corrections).
 * PHX_GV parameters per work-item in explicit vectors (sqrt and the
 * division vectorise on CPU devices); the tail one by one. */
__kernel __attribute__((reqd_work_group_size(PHX_WG, 1, 1)))
void phx_adam(const uint n, const float step, const float rb2, const float b1,
              const float b2, const float eps, __global float *theta,
              __global const float *grad, __global float *m,
              __global float *v) {
  const size_t i0 = get_global_id(0) * PHX_GV;
  if (i0 >= n) return;
  if (i0 + PHX_GV <= n) {
    const GVEC g = GLOAD(grad + i0);
    const GVEC mi = b1 * GLOAD(m + i0) + (1.0f - b1) * g;
    const GVEC vi = b2 * GLOAD(v + i0) + (1.0f - b2) * g * g;
    GSTORE(mi, m + i0);
    GSTORE(vi, v + i0);
    GSTORE(GLOAD(theta + i0) - step * mi / (sqrt(vi) * rb2 + eps), theta + i0);
    return;
  }
  for (size_t i = i0; i < n; i++) {
    const float g = grad[i];
    const float mi = b1 * m[i] + (1.0f - b1) * g;
    const float vi = b2 * v[i] + (1.0f - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    theta[i] -= step * mi / (sqrt(vi) * rb2 + eps);
  }
}
