/*-------------------------------------------------------------------------
 *
 * load.c
 *	  Running one zcimport load: stream in, tuples out.
 *
 * The load drives the stream decoder over its input.  When the header
 * arrives it binds each stream column to its table column and picks the
 * converters, so that type mismatches are reported before any row is
 * inserted.  For each batch it converts up to ZC_CHUNK_ROWS rows of every
 * column at a time into Datum arrays, then forms one heap tuple per row:
 *
 * - the fast path, for tables whose columns are all fixed-width and rows
 *   without NULLs, copies a prepared tuple image (header, padding and
 *   constant defaults) and stores each column's value at a fixed offset;
 * - otherwise heap_form_tuple() builds the tuple from the row's values,
 *   with default expressions evaluated per row as COPY does.
 *
 * The tuples go to insert.c.  Conversion memory is reset per chunk and the
 * batch's bytes are released as the input moves on, so memory does not
 * grow with the size of the load.
 *
 * src/load.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "catalog/pg_attribute.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "citus.h"
#include "convert.h"
#include "insert.h"
#include "load.h"
#include "stream.h"

/* Rows converted per column at a time. */
#define ZC_CHUNK_ROWS			1024

/* The largest message the server accepts: one palloc. */
#define ZC_MAX_MESSAGE_LEN		((uint64) MaxAllocSize)

/* Where a table attribute's value comes from. */
typedef enum ZcSource
{
	ZC_SRC_STREAM,				/* a stream column */
	ZC_SRC_CONST,				/* a constant default (or NULL) */
	ZC_SRC_EXPR,				/* a default expression, per row */
	ZC_SRC_NULL					/* NULL: dropped, generated, no default */
} ZcSource;

typedef struct ZcAttr
{
	ZcSource	source;
	int			column;			/* ZC_SRC_STREAM: the stream column */
	Datum		constval;		/* ZC_SRC_CONST */
	bool		constnull;
	ExprState  *expr;			/* ZC_SRC_EXPR */
	int16		attlen;
	bool		attbyval;
	int			offset;			/* fast path: offset in the data area */
} ZcAttr;

typedef struct ZcLoad
{
	const ZcLoadOptions *options;
	Relation	rel;
	TupleDesc	tupdesc;
	int			natts;
	ZcAttr	   *attrs;
	List	   *attnums;
	bool		volatile_defaults;
	bool		defaults_may_be_null;	/* an absent column may be NULL */

	ZcDecoder	dec;
	ZcConverter *converters;	/* one per stream column */
	ZcInsert   *ins;
	ZcPosition	pos;

	/* converted chunk: per stream column, ZC_CHUNK_ROWS values */
	Datum	  **values;
	bool	  **isnull;
	bool	   *anynull;

	/* one row for heap_form_tuple() */
	Datum	   *row_values;
	bool	   *row_isnull;

	/* fast path: a tuple image to copy, when the table allows it */
	bool		use_image;
	char	   *image;			/* HEAPTUPLESIZE + image_len bytes */
	uint32		image_len;		/* t_len of every fast-path tuple */

	MemoryContext load_context; /* everything that lives for the load */
	MemoryContext chunk_context;	/* converted values of one chunk */
	MemoryContext tuple_context;	/* formed tuples until they are flushed */

	uint64		batch_first_row;
	uint64		rows_seen;
} ZcLoad;

/* Allocator for the decoder: palloc in the load's context. */
static void *
decoder_alloc(void *arg, size_t size)
{
	return MemoryContextAllocZero((MemoryContext) arg, size);
}

/* Error context: where in the stream and table the load is. */
static void
load_error_callback(void *arg)
{
	ZcLoad	   *load = (ZcLoad *) arg;
	const char *relname = RelationGetRelationName(load->rel);
	uint64		batch;
	uint64		row;

	if (load->ins != NULL && zc_insert_building_index(load->ins) != NULL)
		errcontext("COPY %s, building index %s after the last row",
				   relname, zc_insert_building_index(load->ins));
	else if (load->pos.column >= 0 && load->pos.has_row)
		errcontext("COPY %s, batch " UINT64_FORMAT ", row " UINT64_FORMAT ", column %s",
				   relname, load->dec.batches, load->pos.row,
				   load->converters[load->pos.column].attname);
	else if (load->ins != NULL && zc_insert_current_row(load->ins, &batch, &row))
		errcontext("COPY %s, batch " UINT64_FORMAT ", row " UINT64_FORMAT,
				   relname, batch, row);
	else if (load->dec.batches > 0)
		errcontext("COPY %s, batch " UINT64_FORMAT, relname, load->dec.batches);
	else
		errcontext("COPY %s", relname);
}

/*
 * Work out where each table attribute's value comes from, and the default
 * expressions of the attributes the stream does not fill, as
 * BeginCopyFrom() does.
 */
static void
setup_attrs(ZcLoad *load)
{
	TupleDesc	tupdesc = load->tupdesc;
	int			column = 0;
	ListCell   *lc;

	load->attrs = palloc0(sizeof(ZcAttr) * load->natts);
	for (int i = 0; i < load->natts; i++)
		load->attrs[i].source = ZC_SRC_NULL;

	foreach(lc, load->attnums)
	{
		ZcAttr	   *attr = &load->attrs[lfirst_int(lc) - 1];

		attr->source = ZC_SRC_STREAM;
		attr->column = column++;
	}

	for (int i = 0; i < load->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		ZcAttr	   *attr = &load->attrs[i];
		Expr	   *defexpr;

		attr->attlen = att->attlen;
		attr->attbyval = att->attbyval;
		if (att->attisdropped || att->attgenerated ||
			attr->source == ZC_SRC_STREAM)
			continue;

		defexpr = (Expr *) build_column_default(load->rel, i + 1);
		if (defexpr == NULL)
		{
			load->defaults_may_be_null = true;
			continue;
		}
		defexpr = expression_planner(defexpr);
		if (IsA(defexpr, Const))
		{
			Const	   *c = (Const *) defexpr;

			attr->source = ZC_SRC_CONST;
			attr->constval = c->constvalue;
			attr->constnull = c->constisnull;
			load->defaults_may_be_null |= c->constisnull;
			continue;
		}
		attr->source = ZC_SRC_EXPR;
		load->defaults_may_be_null = true;
		attr->expr = ExecInitExpr(defexpr, NULL);
		if (contain_volatile_functions_not_nextval((Node *) defexpr))
			load->volatile_defaults = true;
	}
}

/*
 * Decide whether rows can be formed by copying a tuple image, and build it:
 * every attribute fixed-width and filled by the stream or a non-NULL
 * constant, none dropped or generated.
 */
static void
setup_fast_path(ZcLoad *load)
{
	TupleDesc	tupdesc = load->tupdesc;
	uint32		hoff = MAXALIGN(SizeofHeapTupleHeader);
	uint32		off = 0;
	HeapTuple	tuple;
	HeapTupleHeader td;
	char	   *data;

	load->use_image = false;
	for (int i = 0; i < load->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		ZcAttr	   *attr = &load->attrs[i];

		if (att->attisdropped || att->attgenerated || att->attlen <= 0)
			return;
		if (attr->source == ZC_SRC_EXPR || attr->source == ZC_SRC_NULL)
			return;
		if (attr->source == ZC_SRC_CONST && attr->constnull)
			return;
		off = att_align_nominal(off, att->attalign);
		attr->offset = off;
		off += att->attlen;
	}
	if (hoff + off > MaxHeapTupleSize)
		return;

	load->image_len = hoff + off;
	load->image = MemoryContextAllocZero(load->load_context,
										 HEAPTUPLESIZE + load->image_len);
	tuple = (HeapTuple) load->image;
	tuple->t_len = load->image_len;
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = td = (HeapTupleHeader) (load->image + HEAPTUPLESIZE);
	HeapTupleHeaderSetDatumLength(td, load->image_len);
	HeapTupleHeaderSetTypeId(td, tupdesc->tdtypeid);
	HeapTupleHeaderSetTypMod(td, tupdesc->tdtypmod);
	ItemPointerSetInvalid(&td->t_ctid);
	HeapTupleHeaderSetNatts(td, load->natts);
	td->t_hoff = hoff;

	/* constant defaults are part of the image */
	data = (char *) td + hoff;
	for (int i = 0; i < load->natts; i++)
	{
		ZcAttr	   *attr = &load->attrs[i];

		if (attr->source != ZC_SRC_CONST)
			continue;
		if (attr->attbyval)
			store_att_byval(data + attr->offset, attr->constval, attr->attlen);
		else
			memcpy(data + attr->offset, DatumGetPointer(attr->constval),
				   attr->attlen);
	}
	load->use_image = true;
}

/* Bind the stream's columns to the table's and choose the converters. */
static void
start_load(ZcLoad *load)
{
	ZcDecoder  *dec = &load->dec;
	int			ncols = list_length(load->attnums);
	ListCell   *lc;
	int			c = 0;

	if ((int) dec->ncolumns != ncols)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("the stream has %u columns, but COPY into \"%s\" expects %d",
						dec->ncolumns, RelationGetRelationName(load->rel), ncols),
				 errhint("Stream columns are matched to the COPY column list by position; list the table's columns in stream order.")));

	load->converters = palloc0(sizeof(ZcConverter) * ncols);
	load->values = palloc(sizeof(Datum *) * ncols);
	load->isnull = palloc(sizeof(bool *) * ncols);
	load->anynull = palloc0(sizeof(bool) * ncols);
	foreach(lc, load->attnums)
	{
		Form_pg_attribute att = TupleDescAttr(load->tupdesc, lfirst_int(lc) - 1);

		zc_converter_init(&load->converters[c], c, &dec->columns[c],
						  NameStr(att->attname), att->atttypid,
						  att->atttypmod, &load->pos);
		load->values[c] = palloc(sizeof(Datum) * ZC_CHUNK_ROWS);
		load->isnull[c] = palloc(sizeof(bool) * ZC_CHUNK_ROWS);
		c++;
	}
}

/* Form row i of the chunk by copying the tuple image. */
static inline HeapTuple
form_fast(ZcLoad *load, int i)
{
	HeapTuple	tuple;
	char	   *data;

	tuple = (HeapTuple) MemoryContextAlloc(load->tuple_context,
										   HEAPTUPLESIZE + load->image_len);
	memcpy(tuple, load->image, HEAPTUPLESIZE + load->image_len);
	tuple->t_data = (HeapTupleHeader) ((char *) tuple + HEAPTUPLESIZE);
	data = (char *) tuple->t_data + tuple->t_data->t_hoff;

	for (int a = 0; a < load->natts; a++)
	{
		ZcAttr	   *attr = &load->attrs[a];
		Datum		v;

		if (attr->source != ZC_SRC_STREAM)
			continue;
		v = load->values[attr->column][i];
		if (attr->attbyval)
			store_att_byval(data + attr->offset, v, attr->attlen);
		else
			memcpy(data + attr->offset, DatumGetPointer(v), attr->attlen);
	}
	return tuple;
}

/* Form row i of the chunk with heap_form_tuple(), evaluating defaults. */
static HeapTuple
form_generic(ZcLoad *load, int i)
{
	ExprContext *econtext = GetPerTupleExprContext(zc_insert_estate(load->ins));
	MemoryContext oldcontext;

	for (int a = 0; a < load->natts; a++)
	{
		ZcAttr	   *attr = &load->attrs[a];

		switch (attr->source)
		{
			case ZC_SRC_STREAM:
				load->row_values[a] = load->values[attr->column][i];
				load->row_isnull[a] = load->isnull[attr->column][i];
				break;
			case ZC_SRC_CONST:
				load->row_values[a] = attr->constval;
				load->row_isnull[a] = attr->constnull;
				break;
			case ZC_SRC_EXPR:
				oldcontext = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
				load->row_values[a] = ExecEvalExpr(attr->expr, econtext,
												   &load->row_isnull[a]);
				MemoryContextSwitchTo(oldcontext);
				break;
			case ZC_SRC_NULL:
				load->row_values[a] = (Datum) 0;
				load->row_isnull[a] = true;
				break;
		}
	}

	oldcontext = MemoryContextSwitchTo(load->tuple_context);
	{
		HeapTuple	tuple = heap_form_tuple(load->tupdesc, load->row_values,
											load->row_isnull);

		MemoryContextSwitchTo(oldcontext);
		return tuple;
	}
}

/* Does row i of the chunk have a NULL in any stream column? */
static inline bool
row_has_null(ZcLoad *load, int i)
{
	int			ncols = load->dec.ncolumns;

	for (int c = 0; c < ncols; c++)
		if (load->anynull[c] && load->isnull[c][i])
			return true;
	return false;
}

/*
 * Form and buffer a chunk of rows on the bulk path, straight into the
 * multi-insert buffer's slots: tuple images where the table allows them
 * and a row has no NULL, heap_form_tuple() otherwise.
 */
static void
load_chunk_bulk(ZcLoad *load, uint64 r0, int count, bool chunk_nulls)
{
	int			i = 0;

	while (i < count)
	{
		TupleTableSlot **slots;
		int			n = zc_insert_bulk_slots(load->ins, &slots);
		uint64		bytes = 0;

		n = Min(n, count - i);
		for (int j = 0; j < n; j++)
		{
			HeapTuple	tuple;

			if (load->use_image && !(chunk_nulls && row_has_null(load, i + j)))
				tuple = form_fast(load, i + j);
			else
				tuple = form_generic(load, i + j);
			bytes += tuple->t_len;
			ExecStoreHeapTuple(tuple, slots[j], true);
		}
		zc_insert_bulk_done(load->ins, n, load->dec.batches,
							load->batch_first_row + r0 + i, bytes);
		i += n;
	}
}

/* Convert and insert every row of the batch the decoder holds. */
static void
load_batch(ZcLoad *load)
{
	ZcDecoder  *dec = &load->dec;
	uint64		nrows = dec->batch_rows;
	int			ncols = dec->ncolumns;

	load->batch_first_row = load->rows_seen;
	for (uint64 r0 = 0; r0 < nrows; r0 += ZC_CHUNK_ROWS)
	{
		int			count = (int) Min((uint64) ZC_CHUNK_ROWS, nrows - r0);
		bool		chunk_nulls = false;
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();

		MemoryContextReset(load->chunk_context);
		oldcontext = MemoryContextSwitchTo(load->chunk_context);
		for (int c = 0; c < ncols; c++)
		{
			ZcConverter *cv = &load->converters[c];

			cv->row_base = load->batch_first_row;
			load->anynull[c] = cv->fn(cv, &dec->views[c], r0, count,
									  load->values[c], load->isnull[c]);
			chunk_nulls |= load->anynull[c];
		}
		MemoryContextSwitchTo(oldcontext);
		/* converters mark where they call out to code that may fail */
		load->pos.column = -1;
		load->pos.has_row = false;

		/* NULLs can come from the stream and from absent columns */
		if (zc_insert_bulk_allowed(load->ins,
							  chunk_nulls || load->defaults_may_be_null))
		{
			load_chunk_bulk(load, r0, count, chunk_nulls);
			continue;
		}

		for (int i = 0; i < count; i++)
		{
			TupleTableSlot *slot = zc_insert_next_slot(load->ins);
			bool		nulls = chunk_nulls && row_has_null(load, i);
			HeapTuple	tuple;

			if (load->use_image && !nulls)
				tuple = form_fast(load, i);
			else
			{
				tuple = form_generic(load, i);
				nulls = true;
			}
			ExecStoreHeapTuple(tuple, slot, true);
			zc_insert_row(load->ins, slot, dec->batches,
						  load->batch_first_row + r0 + i, nulls);
		}
	}
	load->rows_seen += nrows;
}

/* The stream's header: bind its columns and start inserting. */
static void
on_header(void *arg, const uint8 *msg, size_t len)
{
	ZcLoad	   *load = (ZcLoad *) arg;
	ZcInsertOptions insert_options;

	start_load(load);
	insert_options.rel = load->options->rel;
	insert_options.range_table = load->options->range_table;
	insert_options.perminfos = load->options->perminfos;
	insert_options.where_clause = load->options->where_clause;
	insert_options.freeze = load->options->freeze;
	insert_options.volatile_defaults = load->volatile_defaults;
	load->ins = zc_insert_begin(&insert_options);
}

/* A dictionary message: its column's converter takes it. */
static void
on_dictionary(void *arg, const uint8 *msg, size_t len)
{
	ZcLoad	   *load = (ZcLoad *) arg;

	zc_converter_set_dictionary(&load->converters[load->dec.dict.column],
								&load->dec.dict);
}

/* A batch message: its rows are converted and inserted. */
static void
on_batch(void *arg, const uint8 *msg, size_t len)
{
	load_batch((ZcLoad *) arg);
}

/* Load the stream from input into options->rel. */
uint64
zc_load(const ZcLoadOptions *options, ZcInput *input)
{
	ZcLoad	   *load;
	ZcStreamHandler handler;
	ErrorContextCallback errcallback;
	MemoryContext oldcontext;
	MemoryContext load_context;
	uint64		processed;
	const int	progress_cols[] = {
		PROGRESS_COPY_COMMAND,
		PROGRESS_COPY_TYPE
	};
	int64		progress_vals[] = {
		PROGRESS_COPY_COMMAND_FROM,
		options->progress_type
	};

	if (options->citus)
		return zc_citus_load(options, input);

	zc_insert_check(options->rel, options->freeze);

	load_context = AllocSetContextCreate(CurrentMemoryContext,
										 "zcimport load",
										 ALLOCSET_DEFAULT_SIZES);
	oldcontext = MemoryContextSwitchTo(load_context);

	load = palloc0(sizeof(ZcLoad));
	load->load_context = load_context;
	load->chunk_context = AllocSetContextCreate(load_context,
												"zcimport chunk",
												ALLOCSET_DEFAULT_SIZES);
	load->tuple_context = GenerationContextCreate(load_context,
												  "zcimport tuples",
												  0,
												  ALLOCSET_DEFAULT_INITSIZE,
												  ALLOCSET_DEFAULT_MAXSIZE);
	load->options = options;
	load->rel = options->rel;
	load->tupdesc = RelationGetDescr(options->rel);
	load->natts = load->tupdesc->natts;
	load->attnums = options->attnums;
	load->pos.column = -1;
	load->row_values = palloc(sizeof(Datum) * load->natts);
	load->row_isnull = palloc(sizeof(bool) * load->natts);
	zc_decoder_init(&load->dec, decoder_alloc, load_context,
					ZC_MAX_MESSAGE_LEN);

	pgstat_progress_start_command(PROGRESS_COMMAND_COPY,
								  RelationGetRelid(options->rel));
	pgstat_progress_update_multi_param(2, progress_cols, progress_vals);

	setup_attrs(load);
	setup_fast_path(load);

	errcallback.callback = load_error_callback;
	errcallback.arg = load;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	handler.header = on_header;
	handler.dictionary = on_dictionary;
	handler.batch = on_batch;
	handler.arg = load;
	handler.report_progress = true;
	zc_input_drive(input, &load->dec, &handler);

	processed = zc_insert_end(load->ins);
	load->ins = NULL;

	error_context_stack = errcallback.previous;
	pgstat_progress_end_command();

	MemoryContextSwitchTo(oldcontext);
	MemoryContextDelete(load_context);
	return processed;
}
