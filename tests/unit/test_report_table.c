/* Unit tests of analytics/report_table: the text table of `tally report`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "report_table.h"

/* A day-by-day report grouped by model and user, as the API answers it:
 * Portuguese names, a null group value, a day without an FX rate. */
static const char day_report[] =
    "{\"tenant_id\": \"ixc-distribuidor-42\", \"timezone\": \"America/Sao_Paulo\","
    " \"from\": \"2026-03-01T00:00:00-03:00\", \"to\": \"2026-03-03T00:00:00-03:00\","
    " \"granularity\": \"day\", \"group_by\": [\"model\", \"user\"],"
    " \"rows\": ["
    "  {\"period_start\": \"2026-03-01T00:00:00-03:00\","
    "   \"group\": {\"model\": \"openai/gpt-4o-mini\", \"user\": \"João\"},"
    "   \"requests\": 1200, \"errors\": 3, \"input_tokens\": 480000, \"cached_tokens\": 12000,"
    "   \"output_tokens\": 260000, \"audio_seconds\": 0, \"cost_usd\": 0.23, \"cost_brl\": 1.2466,"
    "   \"time_saved_minutes\": 390.0, \"likes\": 40, \"dislikes\": 2},"
    "  {\"period_start\": \"2026-03-01T00:00:00-03:00\","
    "   \"group\": {\"model\": \"openai/gpt-4o-mini\", \"user\": \"Conceição\"},"
    "   \"requests\": 7, \"errors\": 0, \"input_tokens\": 2800, \"cached_tokens\": 0,"
    "   \"output_tokens\": 1500, \"audio_seconds\": 0, \"cost_usd\": 0.00132, \"cost_brl\": 0.007154,"
    "   \"time_saved_minutes\": 2.25, \"likes\": 1, \"dislikes\": 0},"
    "  {\"period_start\": \"2026-03-02T00:00:00-03:00\","
    "   \"group\": {\"model\": \"anthropic/claude-3-haiku\", \"user\": null},"
    "   \"requests\": 15, \"errors\": 1, \"input_tokens\": 9000, \"cached_tokens\": 0,"
    "   \"output_tokens\": 4000, \"audio_seconds\": 0, \"cost_usd\": 0.00725, \"cost_brl\": null,"
    "   \"time_saved_minutes\": 0, \"likes\": 0, \"dislikes\": 0}"
    " ],"
    " \"totals\": {\"requests\": 1222, \"errors\": 4, \"input_tokens\": 491800,"
    "   \"cached_tokens\": 12000, \"output_tokens\": 265500, \"audio_seconds\": 0,"
    "   \"cost_usd\": 0.23857, \"cost_brl\": null, \"time_saved_minutes\": 392.25,"
    "   \"likes\": 41, \"dislikes\": 2}}";

static const char day_table[] =
    "Usage of ixc-distribuidor-42 (America/Sao_Paulo)\n"
    "from 2026-03-01T00:00:00-03:00 to 2026-03-03T00:00:00-03:00, granularity day, "
    "grouped by model, user\n"
    "\n"
    "period_start  model                     user       requests  errors  input_tokens"
    "  cached_tokens  output_tokens  cost_usd  cost_brl  time_saved_minutes  likes  dislikes\n"
    "------------  ------------------------  ---------  --------  ------  ------------"
    "  -------------  -------------  --------  --------  ------------------  -----  --------\n"
    "2026-03-01    openai/gpt-4o-mini        João           1200       3        480000"
    "          12000         260000   0.23000  1.246600              390.00     40         2\n"
    "2026-03-01    openai/gpt-4o-mini        Conceição         7       0          2800"
    "              0           1500   0.00132  0.007154                2.25      1         0\n"
    "2026-03-02    anthropic/claude-3-haiku  (none)           15       1          9000"
    "              0           4000   0.00725         -                0.00      0         0\n"
    "------------  ------------------------  ---------  --------  ------  ------------"
    "  -------------  -------------  --------  --------  ------------------  -----  --------\n"
    "total                                                  1222       4        491800"
    "          12000         265500   0.23857         -              392.25     41         2\n";

static json_t *parse(const char *text) {
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc) fail_msg("fixture: %s at %d:%d", jerr.text, jerr.line, jerr.column);
    return doc;
}

static char *render(const char *report_json) {
    json_t *doc = parse(report_json);
    tally_err err = {0};
    char *text = tally_report_table(doc, &err);
    json_decref(doc);
    if (!text) fail_msg("render failed: %s", err.msg);
    return text;
}

static void renders_a_day_report(void **state) {
    (void)state;
    char *text = render(day_report);
    assert_string_equal(text, day_table);
    free(text);
}

/* Every line of the table proper has the same width in code points, though
 * "João" and "Conceição" make their lines longer in bytes. */
static void columns_align_by_code_points(void **state) {
    (void)state;
    char *text = render(day_report);
    char *table = strstr(text, "\n\n");
    assert_non_null(table);
    size_t width = 0, lines = 0, byte_lengths_differ = 0, first_len = 0;
    for (char *line = strtok(table + 2, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        size_t w = tally_report_text_width(line);
        if (lines == 0) {
            width = w;
            first_len = strlen(line);
        }
        assert_int_equal(w, width);
        byte_lengths_differ += strlen(line) != first_len;
    }
    assert_int_equal(lines, 7);
    assert_int_equal(byte_lengths_differ, 2);
    free(text);
}

static void text_width_counts_code_points(void **state) {
    (void)state;
    assert_int_equal(tally_report_text_width(""), 0);
    assert_int_equal(tally_report_text_width("total"), 5);
    assert_int_equal(tally_report_text_width("João"), 4);
    assert_int_equal(tally_report_text_width("Conceição"), 9);
    assert_int_equal(tally_report_text_width("São Paulo – 😀"), 13);
}

/* total granularity: the period keeps its time; no group columns; money the
 * API sends as strings prints as sent; no totals object, no totals line. */
static void total_report_without_groups(void **state) {
    (void)state;
    char *text = render(
        "{\"tenant_id\": \"t\", \"timezone\": \"UTC\", \"from\": \"2026-03-01T00:00:00Z\","
        " \"to\": \"2026-04-01T00:00:00Z\", \"granularity\": \"total\", \"group_by\": [],"
        " \"rows\": [{\"period_start\": \"2026-03-01T00:00:00Z\", \"group\": {},"
        "  \"requests\": 2, \"errors\": 0, \"input_tokens\": 10, \"cached_tokens\": 0,"
        "  \"output_tokens\": 5, \"cost_usd\": \"0.000015\", \"cost_brl\": \"0.00008\","
        "  \"time_saved_minutes\": 1, \"likes\": 0, \"dislikes\": 1}]}");
    assert_non_null(strstr(text, "\nperiod_start          requests  errors"));
    assert_non_null(strstr(text, "\n2026-03-01T00:00:00Z         2       0"));
    assert_non_null(strstr(text, "  0.000015   0.00008  "));
    assert_non_null(strstr(text, "  1.0      0         1\n"));
    assert_null(strstr(text, "total "));
    free(text);
}

static void empty_window(void **state) {
    (void)state;
    char *text = render(
        "{\"tenant_id\": \"t\", \"timezone\": \"UTC\", \"from\": \"a\", \"to\": \"b\","
        " \"granularity\": \"month\", \"group_by\": [\"agent\"], \"rows\": [],"
        " \"totals\": {\"requests\": 0, \"errors\": 0, \"input_tokens\": 0, \"cached_tokens\": 0,"
        "  \"output_tokens\": 0, \"cost_usd\": 0, \"cost_brl\": null, \"time_saved_minutes\": 0,"
        "  \"likes\": 0, \"dislikes\": 0}}");
    assert_non_null(strstr(text, "granularity month, grouped by agent\n"));
    assert_non_null(strstr(text, "\n(no usage in this window)\n"));
    assert_non_null(strstr(text, "\ntotal  "));
    assert_non_null(strstr(text, "  0.00         -  "));
    free(text);
}

/* A name with a newline or an escape sequence cannot break the table or
 * drive the terminal. */
static void control_characters_are_neutralised(void **state) {
    (void)state;
    char *text = render(
        "{\"granularity\": \"day\", \"group_by\": [\"user\"],"
        " \"rows\": [{\"period_start\": \"2026-03-01T00:00:00Z\","
        "  \"group\": {\"user\": \"eve\\u001b[31m\\nred\\u0085\"}, \"requests\": 1}]}");
    assert_non_null(strstr(text, "eve?[31m?red?"));
    assert_null(strchr(text, '\x1b'));
    assert_null(strstr(text, "\xc2\x85"));
    free(text);
}

/* Without "group_by" the columns are the first row's group fields. */
static void group_columns_from_the_rows(void **state) {
    (void)state;
    char *text = render("{\"rows\": [{\"period_start\": \"x\", \"group\": {\"kind\": \"tts\","
                        " \"channel\": \"whatsapp\"}, \"requests\": 3}]}");
    assert_non_null(strstr(text, "period_start  kind  channel   requests"));
    assert_non_null(strstr(text, "x             tts   whatsapp         3"));
    free(text);
}

/* Rows with period_end get a period_end column; days show midnights as
 * dates and a period clipped to the window in full; hours always in full. */
static void period_end_column(void **state) {
    (void)state;
    char *text = render(
        "{\"granularity\": \"day\", \"group_by\": [],"
        " \"rows\": [{\"period_start\": \"2026-03-01T07:15:00-03:00\","
        "  \"period_end\": \"2026-03-02T00:00:00-03:00\", \"group\": {}, \"requests\": 1},"
        " {\"period_start\": \"2026-03-02T00:00:00-03:00\","
        "  \"period_end\": \"2026-03-02T13:00:00-03:00\", \"group\": {}, \"requests\": 2}]}");
    assert_non_null(strstr(text, "period_start               period_end                 requests"));
    assert_non_null(
        strstr(text, "\n2026-03-01T07:15:00-03:00  2026-03-02                        1"));
    assert_non_null(
        strstr(text, "\n2026-03-02                 2026-03-02T13:00:00-03:00         2"));
    free(text);
    text = render("{\"granularity\": \"hour\", \"group_by\": [],"
                  " \"rows\": [{\"period_start\": \"2026-03-10T00:00:00+05:30\","
                  "  \"period_end\": \"2026-03-10T01:00:00+05:30\", \"group\": {},"
                  "  \"requests\": 3}]}");
    assert_non_null(strstr(text, "\n2026-03-10T00:00:00+05:30  2026-03-10T01:00:00+05:30"));
    free(text);
}

static void rejects_what_is_not_a_report(void **state) {
    (void)state;
    const char *bad[] = {"{\"error\": \"tenant not found\"}", "[1, 2]",
                         "{\"rows\": [{\"requests\": 1}, 7]}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = parse(bad[i]);
        tally_err err = {0};
        char *text = tally_report_table(doc, &err);
        json_decref(doc);
        if (text) fail_msg("rendered '%s'", bad[i]);
        assert_int_equal(err.code, TALLY_EINVAL);
        assert_non_null(strstr(err.msg, "not a usage report"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_a_day_report),
        cmocka_unit_test(columns_align_by_code_points),
        cmocka_unit_test(text_width_counts_code_points),
        cmocka_unit_test(total_report_without_groups),
        cmocka_unit_test(empty_window),
        cmocka_unit_test(control_characters_are_neutralised),
        cmocka_unit_test(group_columns_from_the_rows),
        cmocka_unit_test(period_end_column),
        cmocka_unit_test(rejects_what_is_not_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
