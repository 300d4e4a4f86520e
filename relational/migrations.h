/* The migrations compiled into the binary (generated: migrations_embedded.c). */
#ifndef TALLY_MIGRATIONS_H
#define TALLY_MIGRATIONS_H

typedef struct {
    int version;      /* the NNN of NNN_name.sql */
    const char *name; /* NNN_name */
    const char *sql;
} tally_migration;

extern const tally_migration tally_migrations[];
extern const int tally_migrations_count;

#endif
