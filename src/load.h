/*-------------------------------------------------------------------------
 *
 * load.h
 *	  Running one zcimport load: stream in, tuples out.
 *
 * A load reads a stream from a ZcInput (the COPY protocol, or a buffer),
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

/*
 * Where stream bytes come from.  buf holds bytes [start, end); read()
 * appends at least one more byte at end (it may move the unconsumed bytes
 * to the front of buf first, see zc_input_reserve), or returns false at the
 * end of the input.  buf is 8-byte aligned, and start always sits at a
 * unit boundary, which keeps every unit 8-byte aligned.
 */
typedef struct ZcInput ZcInput;

struct ZcInput
{
	char	   *buf;
	size_t		cap;
	size_t		start;
	size_t		end;
	uint64		bytes_read;		/* stream bytes received so far */
	bool		(*read) (ZcInput *input);
	void	   *arg;
};

/* Make room for at least extra bytes after input->end. */
extern void zc_input_reserve(ZcInput *input, size_t extra);

/* An input over bytes that are all in memory already (copied, aligned). */
extern void zc_input_init_memory(ZcInput *input, const char *data,
								 size_t len);

typedef struct ZcLoadOptions
{
	Relation	rel;			/* opened and locked by the caller */
	List	   *attnums;		/* the table columns the stream fills */
	List	   *range_table;	/* the target's RTE at index 1 */
	Node	   *where_clause;	/* implicit-AND list, or NULL */
	bool		freeze;
	int			progress_type;	/* PROGRESS_COPY_TYPE_* */
} ZcLoadOptions;

/* Load the stream from input into options->rel; returns rows inserted. */
extern uint64 zc_load(const ZcLoadOptions *options, ZcInput *input);

#endif							/* ZCIMPORT_LOAD_H */
