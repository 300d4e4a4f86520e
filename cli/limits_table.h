/*
 * limits_table — a limits answer (docs/openapi.yaml, schema `Limits`: the
 * JSON of `GET /v1/tenants/{id}/limits`) rendered for a person at a
 * terminal. `tally limits --format table` prints it.
 *
 * First the standing: tenant, timezone, user, at, pending events, ALLOWED
 * yes or no and each reason on its own line; then one line per limit:
 * limit_id, user ("(tenant)" for the whole tenant's), period with the date
 * it started, used, limit, remaining (BRL with 6 decimals, counts as
 * integers), percent (2 decimals, "-" for a limit of 0), the thresholds
 * reached ("80,90") and whether it pauses the subject now.
 */
#ifndef TALLY_LIMITS_TABLE_H
#define TALLY_LIMITS_TABLE_H

#include <jansson.h>

#include "tally_common.h"

/* Render answer as text ending in a newline. Returns a string the caller
 * frees, or NULL with err filled (TALLY_EINVAL: not a limits answer, e.g.
 * no "limits" array; TALLY_ENOMEM). */
char *tally__limits_table(const json_t *answer, tally_err *err);

#endif
