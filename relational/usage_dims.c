/*
 * usage_dims — the group and granularity names of a usage report with the SQL
 * each stands for: the one table that the request parser (analytics/report.c)
 * and the report statement (usage_query.c) both read.
 */
#include <string.h>

#include "tally_common.h"
#include "tally_pg.h"

const tally_group_def tally_groups[TALLY_GROUP__COUNT] = {
    [TALLY_GROUP_MODEL] = {"model", "model_id", false},
    [TALLY_GROUP_USER] = {"user", "user_id", false},
    [TALLY_GROUP_AGENT] = {"agent", "agent_id", true},
    [TALLY_GROUP_KIND] = {"kind", "kind", false},
    [TALLY_GROUP_CHANNEL] = {"channel", "channel", true},
};

const tally_granularity_def tally_granularities[TALLY_GRAN__COUNT] = {
    [TALLY_GRAN_TOTAL] = {"total", NULL, false},
    /* Real hours from the zone's hour starts (on :30 or :45 UTC in zones
     * with such offsets), so that a repeated local hour is two rows. */
    [TALLY_GRAN_HOUR] = {"hour", "hour", false},
    [TALLY_GRAN_DAY] = {"day", "day", true},
    [TALLY_GRAN_WEEK] = {"week", "week", true}, /* date_trunc's weeks start on Monday */
    [TALLY_GRAN_MONTH] = {"month", "month", true},
};

int tally_group_find(const char *name, size_t len) {
    for (int g = 0; g < TALLY_GROUP__COUNT; g++)
        if (strlen(tally_groups[g].name) == len && !strncmp(name, tally_groups[g].name, len))
            return g;
    return -1;
}

int tally_granularity_find(const char *name) {
    for (int g = 0; g < TALLY_GRAN__COUNT; g++)
        if (!strcmp(name, tally_granularities[g].name)) return g;
    return -1;
}
