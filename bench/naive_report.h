/*
 * naive_report — the usage report summed by the history server over the raw
 * interactions, what Tally's rollups are benchmarked against (bench_report)
 * and checked against (test_documents). Benchmark-only: no daemon links it.
 */
#ifndef TALLY_NAIVE_REPORT_H
#define TALLY_NAIVE_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "tally_common.h"

typedef struct naive_report naive_report;

/* A client of its own on the database the MongoDB URL names. */
naive_report *naive_report_open(const char *mongo_url, tally_err *err);
void naive_report_close(naive_report *r);

/* The "naive" usage report straight from the raw history, for benchmarks
 * against the rollups: one row per data.model_id over [from_us, to_us) of a
 * tenant, ordered by model_id (a missing model_id is a JSON null):
 *   {"model_id": …, "requests": n, "input_tokens": n, "output_tokens": n,
 *    "cached_tokens": n}
 * *rows_out is a new JSON array the caller owns. No day buckets: FerretDB
 * 1.24 has no date operator to build a day key with. */
tally_code naive_report_usage(naive_report *r, const char *tenant_id, int64_t from_us,
                              int64_t to_us, json_t **rows_out, tally_err *err);

#endif
