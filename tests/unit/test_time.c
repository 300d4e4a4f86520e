/* Unit tests of common/tally_time: RFC 3339 parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tally_common.h"

static void parses_offsets_to_the_same_instant(void **state) {
    (void)state;
    tally_usec a, b, c;
    assert_true(tally_time_parse_rfc3339("2026-03-14T12:00:00.123-03:00", &a));
    assert_true(tally_time_parse_rfc3339("2026-03-14T15:00:00.123Z", &b));
    assert_true(tally_time_parse_rfc3339("2026-03-14t20:30:00.123+05:30", &c));
    assert_int_equal(a, b);
    assert_int_equal(b, c);
    char buf[40];
    tally_time_format_utc(a, buf, sizeof buf);
    assert_string_equal(buf, "2026-03-14T15:00:00.123000Z");
}

static void epoch_and_before(void **state) {
    (void)state;
    tally_usec t;
    assert_true(tally_time_parse_rfc3339("1970-01-01T00:00:00Z", &t));
    assert_int_equal(t, 0);
    assert_true(tally_time_parse_rfc3339("1969-12-31T23:59:59.5Z", &t));
    assert_int_equal(t, -500000);
    char buf[40];
    tally_time_format_utc(t, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.500000Z");
}

static void leap_day(void **state) {
    (void)state;
    tally_usec t;
    assert_true(tally_time_parse_rfc3339("2024-02-29T00:00:00Z", &t));
    assert_int_equal(t, 1709164800LL * 1000000);
    assert_false(tally_time_parse_rfc3339("2026-02-29T00:00:00Z", &t));
}

static void rejects_malformed(void **state) {
    (void)state;
    const char *bad[] = {"",
                         "2026-03-14",
                         "2026-03-14T12:00:00",
                         "2026-13-01T00:00:00Z",
                         "2026-03-14T24:00:00Z",
                         "2026-03-14T12:00:00+3:00",
                         "2026-03-14T12:00:00.Z",
                         "2026-03-14T12:00:00Zjunk",
                         "2026-03-14T12:00:00.1234567890Z",
                         "abcd-ef-ghTij:kl:mnZ"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_usec t;
        if (tally_time_parse_rfc3339(bad[i], &t)) fail_msg("accepted '%s'", bad[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_offsets_to_the_same_instant),
        cmocka_unit_test(epoch_and_before),
        cmocka_unit_test(leap_day),
        cmocka_unit_test(rejects_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
