/* phaxcl bench --mc: Monte Carlo speed (issue 7's target: 1000 drawn chips
 * over the paper task's test set in under 2 s on the C path, OpenCL at
 * least a third of that speed): a paper-task model trained here on the C
 * path, then on every backend one warm-up draw and the timed draws of a
 * hard chip (20 % lognormal, 5 % stuck each way, 8 levels, 2 mV neuron
 * offsets), with each backend's speed as a fraction of the C path's. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int phx_bench_mc(const phx_cli *c, phx_backend **bs, int nb, int draws) {
  phx_err err = {PHX_OK, ""};
  phx_dataset *train = NULL, *test = NULL;
  if (phx_dataset_load_dir(phx_cli_data_dir(c), 1, &train, &test, &err)) return phx_cli_err(&err);
  phx_model_opts mo;
  phx_model_opts_default(&mo);
  mo.sizes[0] = phx_dataset_dim(train);
  mo.sizes[2] = phx_dataset_classes(train);
  phx_model *m = NULL;
  phx_backend *cpu = NULL;
  phx_train_opts t;
  phx_train_opts_default(&t);
  t.epochs = 20;
  int rc = 0;
  if (phx_model_new(&mo, &m, &err) || (phx_model_init(m, 1), 0) ||
      phx_backend_new("c", NULL, 0, &cpu, &err) ||
      phx_train(cpu, m, train, NULL, &t, NULL, &err))
    rc = phx_cli_err(&err);
  phx_backend_free(cpu);
  phx_variation v;
  phx_variation_default(&v);
  v.levels = 8, v.sigma = 0.2, v.stuck_off = v.stuck_on = 0.05, v.offset_sigma = 0.002;
  if (!rc && !c->json)
    printf("%-7s %-28s %6s %8s %10s %9s %8s %9s\n", "backend", "device", "draws", "samples",
           "seconds", "draws/s", "of c", "mean acc");
  double c_rate = 0;
  for (int i = 0; i < nb && !rc; i++) {
    phx_mc_result r;
    if (phx_monte_carlo(bs[i], m, test, 0, &v, 1, 7, &r, NULL, &err)) { /* warm-up: kernels */
      rc = phx_cli_err(&err);
      break;
    }
    const double t0 = now();
    if (phx_monte_carlo(bs[i], m, test, 0, &v, draws, 7, &r, NULL, &err)) {
      rc = phx_cli_err(&err);
      break;
    }
    const double secs = now() - t0, rate = draws / secs;
    if (!strcmp(phx_backend_name(bs[i]), "c")) c_rate = rate;
    const double of_c = c_rate > 0 ? rate / c_rate : 0;
    if (c->json) {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "bench", "mc");
      cJSON_AddStringToObject(o, "backend", phx_backend_name(bs[i]));
      cJSON_AddStringToObject(o, "device", phx_backend_device(bs[i]));
      cJSON_AddNumberToObject(o, "draws", draws);
      cJSON_AddNumberToObject(o, "samples", r.count);
      cJSON_AddNumberToObject(o, "seconds", secs);
      cJSON_AddNumberToObject(o, "draws_per_s", rate);
      if (c_rate > 0) cJSON_AddNumberToObject(o, "of_c", of_c);
      cJSON_AddNumberToObject(o, "mean", r.mean);
      phx_cli_print_json(o);
    } else {
      printf("%-7s %-28.28s %6d %8d %10.3f %9.1f %8.2f %8.2f%%\n", phx_backend_name(bs[i]),
             phx_backend_device(bs[i]), draws, r.count, secs, rate, of_c, 100 * r.mean);
    }
    fflush(stdout);
  }
  phx_model_free(m);
  phx_dataset_free(train);
  phx_dataset_free(test);
  return rc;
}
