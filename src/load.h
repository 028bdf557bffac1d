/*-------------------------------------------------------------------------
 *
 * load.h
 *	  Running one zcimport load: stream in, tuples out.
 *
 * A load reads a stream from a ZcInput (the COPY protocol, memory, a file),
 * decodes it with the stream decoder, converts each batch column by column,
 * forms one heap tuple per row straight from the converted columns, and
 * inserts the tuples through insert.c.  It is used by the COPY hook and by
 * the SQL functions that load a whole stream at once.
 *
 * src/load.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_LOAD_H
#define ZCIMPORT_LOAD_H

#include "nodes/pg_list.h"
#include "utils/relcache.h"

#include "input.h"

typedef struct ZcLoadOptions
{
	Relation	rel;			/* opened and locked by the caller */
	List	   *attnums;		/* the table columns the stream fills */
	List	   *range_table;	/* the target's RTE at index 1 */
	List	   *perminfos;		/* its permissions (16+), or NIL */
	Node	   *where_clause;	/* implicit-AND list, or NULL */
	bool		freeze;
	int			progress_type;	/* PROGRESS_COPY_TYPE_* */
	bool		citus;			/* a Citus table: routed by citus.c */
} ZcLoadOptions;

/*
 * Load the stream from input into options->rel; returns rows inserted.  A
 * Citus table's load goes to citus.c.
 */
extern uint64 zc_load(const ZcLoadOptions *options, ZcInput *input);

#endif							/* ZCIMPORT_LOAD_H */
