/* tally migrate — apply the PostgreSQL migrations this database lacks. */
#include <getopt.h>
#include <stdio.h>

#include "tally_cli.h"
#include "tally_common.h"
#include "tally_pg.h"

int tally_cmd_migrate(int argc, char **argv) {
    tally_config cfg;
    tally_config_from_env(&cfg);
    const char *url = cfg.pg_url;
    long long up_to = 0;
    static const struct option opts[] = {{"pg-url", required_argument, 0, 'p'},
                                         {"to", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': url = optarg; break;
        case 't':
            if (!tally_parse_flag_int("tally migrate", "--to", optarg, 1, &up_to)) return 2;
            if (up_to > tally_pg_migration_count()) {
                fprintf(stderr, "tally migrate: --to %lld: there are %d migrations\n", up_to,
                        tally_pg_migration_count());
                return 2;
            }
            break;
        case 'h':
            printf("usage: tally migrate [--pg-url URL] [--to N]\n\n"
                   "Apply, in order, the schema migrations (schemas/postgres/NNN_*.sql, compiled\n"
                   "in) that the database lacks. Safe to run again and from several processes.\n"
                   "The database is $TALLY_PG_URL unless --pg-url is given. --to N stops after\n"
                   "migration N (a staged upgrade); the daemons always apply them all.\n");
            return 0;
        default: return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tally migrate: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    tally_err err = {0};
    tally_pg *pg = tally_pg_open(url, &err);
    if (!pg) {
        fprintf(stderr, "tally migrate: %s\n", err.msg);
        return 1;
    }
    int applied = 0;
    tally_code rc = tally_pg_migrate_to(pg, (int)up_to, &applied, &err);
    tally_pg_close(pg);
    if (rc != TALLY_OK) {
        fprintf(stderr, "tally migrate: %s\n", err.msg);
        return 1;
    }
    printf("migrations: %d applied, %d known\n", applied, tally_pg_migration_count());
    return 0;
}
