/*-------------------------------------------------------------------------
 *
 * insert.h
 *	  Inserting formed tuples through the executor, as COPY FROM does.
 *
 * The insert state owns the EState, the target's ResultRelInfo, partition
 * routing, triggers, and the multi-insert buffers that feed
 * table_multi_insert() with a BulkInsertState.  Callers form one tuple per
 * row into the slot that zc_insert_next_slot() returns and hand it to
 * zc_insert_row(); everything after that (WHERE, routing, BEFORE ROW
 * triggers, generated columns, constraints, buffering, index entries, AFTER
 * ROW triggers) happens here, in the order copyfrom.c uses.
 *
 * src/insert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_INSERT_H
#define ZCIMPORT_INSERT_H

#include "executor/tuptable.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

typedef struct ZcInsert ZcInsert;

/* What the insert state needs to know about the load. */
typedef struct ZcInsertOptions
{
	Relation	rel;			/* opened and locked by the caller */
	List	   *range_table;	/* with the target's RTE at index 1 */
	List	   *perminfos;		/* its permissions (16+), or NIL */
	Node	   *where_clause;	/* implicit-AND list, or NULL */
	bool		freeze;			/* FREEZE was requested */
	bool		volatile_defaults;	/* a default expression is volatile */
} ZcInsertOptions;

/*
 * Check that rel can take rows (a table, a partitioned table, or a view with
 * an INSTEAD OF INSERT trigger) and, if freeze, COPY FREEZE's conditions.
 * Callers check before zc_insert_begin().
 */
extern void zc_insert_check(Relation rel, bool freeze);

/* Set up executor state, fire BEFORE STATEMENT triggers. */
extern ZcInsert *zc_insert_begin(const ZcInsertOptions *options);

/* The EState, for evaluating default expressions per row. */
extern struct EState *zc_insert_estate(ZcInsert *ins);

/*
 * The slot the next row must be stored into, in the target table's row
 * type.  It holds a heap tuple (TTSOpsHeapTuple).
 */
extern TupleTableSlot *zc_insert_next_slot(ZcInsert *ins);

/*
 * Insert the row just stored in the slot from zc_insert_next_slot().
 * batch and row say where it came from, for error messages; may_have_nulls
 * false promises that no attribute is NULL, which lets NOT NULL checks be
 * skipped when the table has no CHECK constraints.
 */
extern void zc_insert_row(ZcInsert *ins, TupleTableSlot *slot, uint64 batch,
						  uint64 row, bool may_have_nulls);

/*
 * The bulk path.  When rows go straight into the target's multi-insert
 * buffer with no per-row executor work (no WHERE, partitions, BEFORE or
 * INSTEAD OF row triggers, generated columns, CHECK constraints or partition
 * bound, as a partition loaded directly has), a row
 * without NULLs needs nothing but a slot, and so does a row with NULLs when
 * the table has no NOT NULL constraint.  zc_insert_bulk_allowed() says whether
 * that is so for rows without (with_nulls false) or with NULLs;
 * zc_insert_bulk_slots() returns the buffer's free slots (at least one),
 * the caller stores consecutive rows' tuples into the first n of them and
 * calls zc_insert_bulk_done(), which flushes when the buffer is full.
 * Other rows go through zc_insert_row().
 */
extern bool zc_insert_bulk_allowed(ZcInsert *ins, bool with_nulls);
extern int	zc_insert_bulk_slots(ZcInsert *ins, TupleTableSlot ***slots);
extern void zc_insert_bulk_done(ZcInsert *ins, int n, uint64 batch,
								uint64 first_row, uint64 bytes);

/* The batch and frame row being inserted, for the error context. */
extern bool zc_insert_current_row(ZcInsert *ins, uint64 *batch, uint64 *row);

/*
 * Flush buffered rows, fire AFTER STATEMENT triggers, release everything.
 * Returns the number of rows inserted.
 */
extern uint64 zc_insert_end(ZcInsert *ins);

/* The name of the index being rebuilt after the load, or NULL. */
extern const char *zc_insert_building_index(ZcInsert *ins);

#endif							/* ZCIMPORT_INSERT_H */
