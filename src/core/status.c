/* Status codes: the X-macro table of phaxcl.h turned into strings, and the
 * helper every module uses to fill a caller's phx_err. */
#include <stdarg.h>
#include <stdio.h>

#include "backend.h"

const char *phx_strerror(phx_status s) {
  switch (s) {
#define PHX_STATUS_MSG(name, value, msg) case PHX_##name: return msg;
    PHX_STATUS_MAP(PHX_STATUS_MSG)
#undef PHX_STATUS_MSG
    default: return "unknown status";
  }
}

const char *phx_status_name(phx_status s) {
  switch (s) {
#define PHX_STATUS_NAME(name, value, msg) case PHX_##name: return "PHX_" #name;
    PHX_STATUS_MAP(PHX_STATUS_NAME)
#undef PHX_STATUS_NAME
    default: return "PHX_UNKNOWN";
  }
}

phx_status phx_fail(phx_err *err, phx_status s, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    err->status = s;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return s;
}
