/*
 * libFuzzer target for the event decoder (ingest/event.c): any bytes at all
 * must give either a decoded event or a one-line error, never a crash, a
 * leak or undefined behaviour. Beyond what the sanitizers catch, it checks
 * the decoder's promises and aborts when one is broken:
 *   - a failure sets TALLY_EINVAL, a non-empty one-line printable message,
 *     and leaves nothing in the event;
 *   - a success gives an object `data`, a known type, ids within the rules,
 *     defaults filled in, cached_tokens <= input_tokens, decimals short.
 * Build and run: docs/fuzzing.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tally_stream.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) abort();                                                                      \
    } while (0)

static void check_id(const char *s, bool required) {
    if (!s) {
        CHECK(!required);
        return;
    }
    size_t n = strlen(s), chars = 0;
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        CHECK(c >= 0x20 && c != 0x7F);
        chars += (c & 0xC0) != 0x80;
    }
    CHECK(chars <= TALLY_ID_MAX_LEN);
}

static void check_decimal(const tally_decimal *d) {
    if (!d->set) return;
    size_t n = strnlen(d->text, sizeof d->text);
    CHECK(n > 0 && n <= TALLY_DECIMAL_MAX_CHARS);
    CHECK(d->text[0] != '-');
    for (size_t i = 0; i < n; i++)
        CHECK((d->text[i] >= '0' && d->text[i] <= '9') || d->text[i] == '.');
}

static void check_event(const tally_event *ev) {
    CHECK(ev->doc && tally_json_is_object(ev->root) && tally_json_is_object(ev->data));
    CHECK(tally_event_type_name(ev->type) != NULL);
    check_id(ev->id, true);
    check_id(ev->subject, false);
    CHECK(ev->time_text != NULL);
    CHECK(strcmp(tally_event_key(ev), ev->subject ? ev->subject : "_global") == 0);
    switch (ev->type) {
    case TALLY_EV_TENANT_UPSERTED:
        check_id(ev->u.tenant.tenant_id, true);
        CHECK(ev->u.tenant.name && ev->u.tenant.status && ev->u.tenant.timezone);
        break;
    case TALLY_EV_USER_UPSERTED:
        check_id(ev->u.user.user_id, true);
        CHECK(ev->u.user.role && ev->u.user.active >= -1 && ev->u.user.active <= 1);
        break;
    case TALLY_EV_PLAN_UPSERTED:
        check_id(ev->u.plan.plan_id, true);
        check_id(ev->u.plan.tenant_id, false);
        break;
    case TALLY_EV_SUBSCRIPTION_UPSERTED:
        check_id(ev->u.subscription.subscription_id, true);
        check_id(ev->u.subscription.user_id, false);
        CHECK(ev->u.subscription.status != NULL);
        break;
    case TALLY_EV_MODEL_PRICED:
        check_id(ev->u.price.model_id, true);
        CHECK(ev->u.price.input_usd_per_1m.set && ev->u.price.output_usd_per_1m.set);
        CHECK(ev->u.price.cached_input_usd_per_1m.set);
        CHECK(ev->u.price.minutes_saved_per_100_output_tokens.set);
        check_decimal(&ev->u.price.input_usd_per_1m);
        check_decimal(&ev->u.price.output_usd_per_1m);
        check_decimal(&ev->u.price.cached_input_usd_per_1m);
        check_decimal(&ev->u.price.minutes_saved_per_100_output_tokens);
        break;
    case TALLY_EV_FX_RATE_SET:
        CHECK(ev->u.fx.currency && strlen(ev->u.fx.currency) == 3);
        check_decimal(&ev->u.fx.per_usd);
        break;
    case TALLY_EV_BUDGET_SET:
        check_id(ev->u.budget.budget_id, true);
        CHECK(ev->u.budget.kind && ev->u.budget.period);
        CHECK(ev->u.budget.n_thresholds >= 1 && ev->u.budget.n_thresholds <= TALLY_MAX_THRESHOLDS);
        for (int i = 0; i < ev->u.budget.n_thresholds; i++)
            CHECK(ev->u.budget.thresholds[i] >= 1 && ev->u.budget.thresholds[i] <= 1000);
        check_decimal(&ev->u.budget.brl_limit);
        break;
    case TALLY_EV_INTERACTION_RECORDED: {
        const tally_interaction *x = &ev->u.interaction;
        check_id(x->tenant_id, true);
        check_id(x->user_id, true);
        check_id(x->model_id, true);
        check_id(x->conversation_id, false);
        check_id(x->agent_id, false);
        CHECK(ev->subject && strcmp(ev->subject, x->tenant_id) == 0);
        CHECK(x->kind && x->status);
        CHECK(x->input_tokens >= 0 && x->output_tokens >= 0 && x->cached_tokens >= 0);
        CHECK(x->cached_tokens <= x->input_tokens);
        check_decimal(&x->audio_seconds);
        check_decimal(&x->cost_usd);
        check_decimal(&x->time_saved_minutes);
        break;
    }
    case TALLY_EV_FEEDBACK_RECORDED:
        check_id(ev->u.feedback.interaction_id, true);
        CHECK(ev->subject && strcmp(ev->subject, ev->u.feedback.tenant_id) == 0);
        break;
    case TALLY_EV_USER_ERASED:
        check_id(ev->u.erased.tenant_id, true);
        check_id(ev->u.erased.user_id, true);
        break;
    case TALLY_EV__COUNT: abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); /* libFuzzer calls it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tally_event ev;
    tally_err err;
    /* The decoder must not read past len: hand it a copy with no NUL after it,
     * so that ASan sees any over-read. */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    tally_code rc = tally_event_decode(buf, size, &ev, &err);
    free(buf); /* the event must not borrow from the input */
    if (rc == TALLY_OK) {
        check_event(&ev);
        tally_event_free(&ev);
        CHECK(ev.root == NULL);
    } else {
        CHECK(rc == TALLY_EINVAL && err.code == TALLY_EINVAL);
        CHECK(ev.root == NULL && ev.id == NULL);
        size_t n = strnlen(err.msg, sizeof err.msg);
        CHECK(n > 0 && n < sizeof err.msg);
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)err.msg[i] >= 0x20 && err.msg[i] != 0x7F);
        json_t *utf8 = json_string(err.msg); /* NULL when the message is not UTF-8 */
        CHECK(utf8 != NULL);
        json_decref(utf8);
    }
    return 0;
}
