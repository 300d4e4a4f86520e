/*
 * common/tally_text: the text and id rules and quoting untrusted text, as
 * the event decoder and the HTTP API use them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tally_common.h"

static void text_and_id_rules(void **state) {
    (void)state;
    assert_null(tally_text_problem("tenant-a", 8));
    assert_null(tally_text_problem("São Paulo ✓ 🤖", strlen("São Paulo ✓ 🤖")));
    assert_null(tally_text_problem("'; DROP TABLE tenants;--", 24));
    assert_non_null(tally_text_problem("a\0b", 3));
    assert_non_null(tally_text_problem("a\nb", 3));
    assert_non_null(tally_text_problem("a\x7f", 2));
    assert_non_null(tally_text_problem("\xc2\x85", 2));         /* C1 NEL */
    assert_non_null(tally_text_problem("\xc3\x28", 2));         /* bad continuation */
    assert_non_null(tally_text_problem("\xc0\xaf", 2));         /* overlong '/' */
    assert_non_null(tally_text_problem("\xed\xa0\x80", 3));     /* a surrogate */
    assert_non_null(tally_text_problem("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_non_null(tally_text_problem("\xe2\x82", 2));         /* cut short */

    assert_non_null(tally_text_id_problem("", 0));
    char id[600];
    memset(id, 'x', 129);
    assert_non_null(tally_text_id_problem(id, 129));
    assert_null(tally_text_id_problem(id, 128));
    for (int i = 0; i < 128; i++) memcpy(id + 2 * i, "\xc3\xa9", 2); /* 128 × é */
    assert_null(tally_text_id_problem(id, 256));
    memcpy(id + 256, "\xc3\xa9", 2);
    assert_non_null(tally_text_id_problem(id, 258));
}

static void quoting(void **state) {
    (void)state;
    char out[32];
    tally_text_quote("a\"b\\c\n\xff", 7, out, sizeof out, true);
    assert_string_equal(out, "a\\\"b\\\\c??");
    tally_text_quote("a\"b", 3, out, sizeof out, false);
    assert_string_equal(out, "a\"b");
    char longer[100];
    memset(longer, 'z', sizeof longer);
    tally_text_quote(longer, sizeof longer, out, sizeof out, false);
    assert_true(strlen(out) < sizeof out);
    assert_string_equal(out + strlen(out) - 3, "...");
    /* never cuts a character in half */
    char accents[64];
    for (int i = 0; i < 32; i++) memcpy(accents + 2 * i, "\xc3\xa9", 2);
    tally_text_quote(accents, 64, out, sizeof out, false);
    assert_null(tally_text_problem(out, strlen(out)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_and_id_rules),
        cmocka_unit_test(quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
