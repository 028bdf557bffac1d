/*-------------------------------------------------------------------------
 *
 * target.h
 *	  The checks a load makes on its target table, as COPY FROM makes them.
 *
 * src/target.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_TARGET_H
#define ZCIMPORT_TARGET_H

#include "parser/parse_node.h"

#include "load.h"

/*
 * For rel, opened with RowExclusiveLock: add it to pstate's range table,
 * resolve the column list (attlist, String nodes; NIL for every column) and
 * a raw WHERE clause (or NULL), and check what DoCopy() checks for COPY
 * FROM: USAGE on the schema, INSERT privilege on the columns, row-level
 * security and read-only transactions; Citus tables are refused.  Fills
 * options' rel, attnums, range_table and where_clause.
 */
extern void zc_target_prepare(ParseState *pstate, Relation rel, List *attlist,
							  Node *where, ZcLoadOptions *options);

#endif							/* ZCIMPORT_TARGET_H */
