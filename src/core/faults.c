/* A chip's known stuck cells (io/faults.c reads the map): checked against
 * a model and pinned in its parameters, so that evaluation sees the faulty
 * chip and training routes around it (docs/model.md, "Stuck-cell maps"). */
#include <math.h>
#include <stdlib.h>

#include "faults.h"
#include "net.h"

/* A conductance within this relative distance of gmin or gmax is that end. */
#define END_TOL 1e-9

static int layer_rows(const phx_model_opts *o, int l) { return 2 * o->sizes[l] + 2; }

phx_status phx_faults_check(const phx_faults *f, const phx_model_opts *o, phx_err *err) {
  if (!f || !o) return phx_fail(err, PHX_EINVAL, "fault map and model options required");
  const double gmax = o->gmin * o->ratio;
  int *seen[PHX_MAX_LAYERS] = {0};
  phx_status s = PHX_OK;
  for (int l = 0; l < o->nlayers && !s; l++) {
    seen[l] = calloc((size_t)layer_rows(o, l) * (size_t)o->sizes[l + 1], sizeof *seen[l]);
    if (!seen[l]) s = phx_fail(err, PHX_ENOMEM, "out of memory checking %s", f->path);
  }
  for (int i = 0; i < f->count && !s; i++) {
    const phx_fault *ft = &f->f[i];
    if (ft->layer >= o->nlayers) {
      s = phx_fail(err, PHX_ESHAPE, "%s: line %d: layer %d, the model has layers 0 to %d",
                   f->path, ft->line, ft->layer, o->nlayers - 1);
      break;
    }
    const int R = layer_rows(o, ft->layer), M = o->sizes[ft->layer + 1];
    if (ft->row >= R || ft->col >= M) {
      s = phx_fail(err, PHX_ESHAPE,
                   "%s: line %d: cell (%d, %d) outside layer %d's %d rows x %d columns",
                   f->path, ft->line, ft->row, ft->col, ft->layer, R, M);
      break;
    }
    if (ft->kind == PHX_STUCK_G &&
        !(ft->g >= o->gmin * (1 - END_TOL) && ft->g <= gmax * (1 + END_TOL))) {
      s = phx_fail(err, PHX_EINVAL,
                   "%s: line %d: %g S is outside the model's conductance range [%g, %g] S",
                   f->path, ft->line, ft->g, o->gmin, gmax);
      break;
    }
    int *at = &seen[ft->layer][(size_t)ft->col * R + ft->row];
    if (*at)
      s = phx_fail(err, PHX_EFORMAT, "%s: line %d: layer %d cell (%d, %d) is already on line %d",
                   f->path, ft->line, ft->layer, ft->row, ft->col, *at);
    *at = ft->line;
  }
  for (int l = 0; l < o->nlayers; l++) free(seen[l]);
  return s;
}

int phx_fault_is_free(const phx_fault *ft, const phx_model_opts *o) {
  return ft->kind == PHX_STUCK_G && ft->g > o->gmin * (1 + END_TOL) &&
         ft->g < o->gmin * o->ratio * (1 - END_TOL);
}

double phx_fault_theta(const phx_fault *ft, const phx_model_opts *o) {
  if (ft->kind == PHX_STUCK_GMAX) return PHX_FAULT_PIN;
  if (ft->kind == PHX_STUCK_GMIN) return -PHX_FAULT_PIN;
  /* a conductance at an end (within END_TOL) is that end */
  if (!phx_fault_is_free(ft, o))
    return ft->g > o->gmin * (1 + END_TOL) ? PHX_FAULT_PIN : -PHX_FAULT_PIN;
  const double p = (ft->g / o->gmin - 1) / (o->ratio - 1);
  return log(p / (1 - p));
}

void phx_faults_pin64(const phx_faults *f, const phx_model_opts *o, int l, int free_only,
                      double *theta) {
  const int R = layer_rows(o, l);
  for (int i = 0; i < f->count; i++) {
    const phx_fault *ft = &f->f[i];
    if (ft->layer == l && (!free_only || phx_fault_is_free(ft, o)))
      theta[(size_t)ft->col * R + ft->row] = phx_fault_theta(ft, o);
  }
}

phx_status phx_model_apply_faults(phx_model *m, const phx_faults *f, phx_err *err) {
  if (!m || !f) return phx_fail(err, PHX_EINVAL, "phx_model_apply_faults: model and map required");
  const phx_model_opts *o = phx_model_get_opts(m);
  phx_status s = phx_faults_check(f, o, err);
  if (s) return s;
  for (int i = 0; i < f->count; i++) {
    const phx_fault *ft = &f->f[i];
    phx_model_theta(m, ft->layer)[(size_t)ft->col * layer_rows(o, ft->layer) + ft->row] =
        (float)phx_fault_theta(ft, o);
  }
  return PHX_OK;
}
