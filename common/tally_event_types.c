/*
 * tally_event_types — the names of the contract's event types, the one table
 * that maps them to tally_event_type (declared in tally_common.h).
 */
#include <string.h>

#include "tally_common.h"

static const char *const TYPE_NAMES[TALLY_EV__COUNT] = {
    [TALLY_EV_TENANT_UPSERTED] = "tenant.upserted",
    [TALLY_EV_USER_UPSERTED] = "user.upserted",
    [TALLY_EV_PLAN_UPSERTED] = "plan.upserted",
    [TALLY_EV_SUBSCRIPTION_UPSERTED] = "subscription.upserted",
    [TALLY_EV_MODEL_PRICED] = "model.priced",
    [TALLY_EV_FX_RATE_SET] = "fx.rate_set",
    [TALLY_EV_BUDGET_SET] = "budget.set",
    [TALLY_EV_INTERACTION_RECORDED] = "interaction.recorded",
    [TALLY_EV_FEEDBACK_RECORDED] = "feedback.recorded",
    [TALLY_EV_USER_ERASED] = "user.erased",
};

const char *tally_event_type_name(tally_event_type t) {
    return (unsigned)t < TALLY_EV__COUNT ? TYPE_NAMES[t] : NULL;
}

bool tally_event_type_parse(const char *name, tally_event_type *out) {
    if (!name) return false;
    for (unsigned i = 0; i < TALLY_EV__COUNT; i++) {
        if (strcmp(name, TYPE_NAMES[i]) == 0) {
            if (out) *out = (tally_event_type)i;
            return true;
        }
    }
    return false;
}
