/*-------------------------------------------------------------------------
 *
 * indexes.h
 *	  How a load maintains its target's indexes.
 *
 * Three strategies, chosen once per load by zc_indexes_begin():
 *
 * - rebuild: the table was created or given a new relfilenode (TRUNCATE)
 *   in the current transaction, so this session holds it exclusively, and
 *   it holds little yet.  The
 *   heap is loaded without index entries and every index is rebuilt with
 *   PostgreSQL's own index build (reindex_index()) before the statement
 *   ends, for every access method.
 * - sorted: rows are appended to a table others may see.  The entries of
 *   each btree index are collected for a window of rows, sorted with the
 *   index's own opclasses and collations, and inserted in key order with
 *   the usual unique checks; other indexes get their entries row by row.
 * - row: every index entry is made row by row, as COPY makes it.
 *
 * The reason for the choice is logged at DEBUG1.  zcimport.defer_indexes =
 * off chooses the row strategy always.
 *
 * src/indexes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_INDEXES_H
#define ZCIMPORT_INDEXES_H

#include "executor/tuptable.h"
#include "nodes/execnodes.h"

typedef struct ZcIndexes ZcIndexes;

/* Define the zcimport.defer_indexes setting (at library load). */
extern void zc_indexes_define_guc(void);

/*
 * Open rri's indexes and choose how they are maintained.  per_row_code says
 * that code of the user's runs for each row during the load (BEFORE ROW or
 * INSTEAD OF triggers, volatile defaults or WHERE clauses), which could
 * read the table through an index: only the row strategy is then safe.  Indexes the row strategy handles stay in rri's
 * index arrays, for ExecInsertIndexTuples().
 */
extern ZcIndexes *zc_indexes_begin(ResultRelInfo *rri, EState *estate,
								   bool per_row_code);

/*
 * The same for a partition that rows are routed to and that takes them in
 * multi-inserts: its indexes are open already (ExecInitPartitionInfo()).
 */
extern ZcIndexes *zc_indexes_begin_partition(ResultRelInfo *rri,
											 EState *estate);

/* Does the load collect entries with zc_indexes_add()? */
extern bool zc_indexes_collecting(ZcIndexes *ix);

/*
 * Collect the index entries of a row just written to the heap (the slot's
 * tts_tid is set); batch and row say where it came from, for errors.
 * Inserts the window's entries when it is full.
 */
extern void zc_indexes_add(ZcIndexes *ix, TupleTableSlot *slot,
						   uint64 batch, uint64 row);

/*
 * Windows of several relations (the partitions of a partitioned target)
 * share one budget, zc_indexes_window_bytes(): the caller adds up
 * zc_indexes_pending_bytes() and calls zc_indexes_drain() on each when the
 * sum is over it.
 */
extern int64 zc_indexes_window_bytes(void);
extern int64 zc_indexes_pending_bytes(ZcIndexes *ix);
extern void zc_indexes_drain(ZcIndexes *ix);

/*
 * Finish the indexes' work before the statement's AFTER triggers fire:
 * insert the last window's entries, or rebuild the indexes.  Closes the
 * indexes this module opened.
 */
extern void zc_indexes_finish(ZcIndexes *ix);

/* The frame row whose index entry is being inserted, if any. */
extern bool zc_indexes_current_row(ZcIndexes *ix, uint64 *batch,
								   uint64 *row);

/* The name of the index being rebuilt, or NULL. */
extern const char *zc_indexes_building(ZcIndexes *ix);

#endif							/* ZCIMPORT_INDEXES_H */
