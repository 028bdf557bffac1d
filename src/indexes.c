/*-------------------------------------------------------------------------
 *
 * indexes.c
 *	  How a load maintains its target's indexes: rebuilt after the load,
 *	  entries inserted in key order, or row by row.
 *
 * Row-by-row insertion in random key order dominates a load into an indexed
 * table: every entry descends the tree to a random leaf.  Two strategies
 * avoid that where they are safe:
 *
 * - rebuild, when the target was created or given a new relfilenode in the
 *   current transaction (COPY FREEZE's condition, at any subtransaction
 *   level) and holds little yet (ZC_REBUILD_MAX_BLOCKS).  Then this
 *   session holds the table's AccessExclusiveLock, no one else can see it,
 *   and reindex_index() can rebuild each index from the heap in one sorted
 *   pass: every access method, expression and partial indexes, unique and
 *   exclusion checks included.  The new index storage belongs to the
 *   current subtransaction, so a rollback to a savepoint restores the
 *   indexes that match the heap it restores.
 * - sorted, otherwise: each btree index's entries are collected for a
 *   window of rows bounded by maintenance_work_mem, sorted with the index's
 *   own sort support (opclasses, collations, heap TID as the last key), and
 *   inserted with index_insert() and the usual UNIQUE_CHECK_YES, so
 *   duplicates within the load and against existing rows raise 23505 as
 *   COPY's do.  A one-column index with a by-value key keeps (key, TID)
 *   pairs in an array; other indexes' entries go through a tuplesort.
 *   Other access methods, exclusion constraints and deferrable unique
 *   constraints keep the executor's row-by-row insertion.
 *
 * A partition that rows are routed to gets its own strategy; the windows of
 * all partitions share one memory budget.
 *
 * Both defer index entries to later in the statement, so neither may be
 * used when code of the user's runs per row during the load and could read
 * the table through an index: the caller says so (per_row_code).  A
 * deferrable constraint keeps COPY's semantics only row by row, and an
 * index that is not valid, or is open in this session, cannot be rebuilt.
 *
 * src/indexes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/sortsupport.h"
#include "utils/tuplesort.h"

#include "compat.h"
#include "indexes.h"

/* Bounds of a window of rows, whatever maintenance_work_mem says. */
#define ZC_MIN_WINDOW_ROWS		1000
#define ZC_MAX_WINDOW_ROWS		((int64) (MaxAllocSize / sizeof(ZcPendingRow)))

/*
 * Rebuild only a table that holds at most this many pages before the load
 * (8 MB): a rebuild reads every row, so the second of several loads into
 * one truncated table would rebuild the first's entries again, and n loads
 * would cost n rebuilds.  Larger tables get the sorted strategy.
 */
#define ZC_REBUILD_MAX_BLOCKS	1024

/* A sorted entry's memory beyond its index tuple: sort slot, chunk header. */
#define ZC_SORT_ENTRY_OVERHEAD	40

typedef enum ZcIndexStrategy
{
	ZC_INDEXES_ROW,				/* the executor, row by row */
	ZC_INDEXES_SORTED,			/* btree entries in key order per window */
	ZC_INDEXES_REBUILD			/* every index rebuilt after the load */
} ZcIndexStrategy;

/* An entry of a one-column index whose key is passed by value. */
typedef struct ZcKeyEntry
{
	Datum		key;
	ItemPointerData tid;
	bool		isnull;
} ZcKeyEntry;

/*
 * A btree index whose entries are sorted before they are inserted.  An
 * index of one by-value column keeps (key, TID) pairs in an array sorted
 * with the index's sort support: reading index tuples back from a
 * tuplesort in key order misses the cache on each of them.  Other
 * indexes' entries go through a tuplesort.
 */
typedef struct ZcSortedIndex
{
	Relation	index;
	IndexInfo  *info;
	Tuplesortstate *sort;		/* the window's entries, or NULL */
	bool		compact;		/* entries[] instead of sort */
	SortSupportData ssup;		/* compact: the key's comparator */
	ZcKeyEntry *entries;
	int64		nentries;
	int64		entries_alloc;
} ZcSortedIndex;

/* Where a heap tuple of the window came from, for error messages. */
typedef struct ZcPendingRow
{
	ItemPointerData tid;
	uint64		batch;
	uint64		row;
} ZcPendingRow;

struct ZcIndexes
{
	ZcIndexStrategy strategy;
	Relation	heap;
	EState	   *estate;

	/* rebuild: the indexes' OIDs, and the one being built */
	List	   *rebuild;
	const char *building;

	/* sorted */
	ZcSortedIndex *sorted;
	int			nsorted;
	int			sort_mem;		/* work memory of each sort, in kB */
	int64		window_rows;
	int64		row_bytes;		/* the window's memory per row, roughly */
	MemoryContext context;		/* the sorts and the window's rows */
	MemoryContext insert_context;	/* reset as entries are inserted */
	ZcPendingRow *pending;
	int64		npending;
	int64		pending_alloc;
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];

	/* the entry being inserted, for the error context */
	ItemPointerData cur_tid;
	bool		cur_valid;
};

/* zcimport.defer_indexes: may index entries wait (rebuild, sorted)? */
static bool defer_indexes = true;

/* Define the module's setting; called once, when the library loads. */
void
zc_indexes_define_guc(void)
{
	DefineCustomBoolVariable("zcimport.defer_indexes",
							 "Lets loads rebuild the indexes of tables created or truncated in the transaction, and insert btree entries in key order.",
							 "When off, every index entry is inserted row by row, as COPY inserts it.",
							 &defer_indexes,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("zcimport");
}

/* Why rel's indexes cannot be rebuilt after the load, or NULL if they can. */
static const char *
rebuild_refused(ResultRelInfo *rri)
{
	Relation	heap = rri->ri_RelationDesc;

	if (heap->rd_rel->relkind != RELKIND_RELATION)
		return "the target is not a plain table";
	if (heap->rd_createSubid == InvalidSubTransactionId &&
		ZC_REL_FIRST_STORAGE_SUBID(heap) == InvalidSubTransactionId)
		return "the table was not created or truncated in this transaction";
	if (RelationGetNumberOfBlocks(heap) > ZC_REBUILD_MAX_BLOCKS)
		return "the table already holds more than 8 MB of rows";
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		Form_pg_index form = index->rd_index;

		if (!form->indisvalid || !form->indisready || !form->indislive)
			return "an index is not valid";
		if (!form->indimmediate)
			return "an index enforces a deferrable constraint";
		/* as CheckTableNotInUse() will require: only our own reference */
		if (index->rd_refcnt != (index->rd_isnailed ? 2 : 1))
			return "an index is in use in this session";
	}
	return NULL;
}

/* Can this index's entries be sorted and inserted later in the statement? */
static bool
sortable(Relation index, IndexInfo *info)
{
	return index->rd_rel->relam == BTREE_AM_OID &&
		info->ii_ReadyForInserts &&
		info->ii_ExclusionOps == NULL &&
		index->rd_index->indimmediate;
}

/* Can index's entries be kept as (key, TID) pairs? */
static bool
compact_ok(Relation index)
{
	return IndexRelationGetNumberOfAttributes(index) == 1 &&
		TupleDescAttr(RelationGetDescr(index), 0)->attbyval;
}

/* Set up the comparator of a compact index's key, as tuplesort would. */
static void
setup_compact(ZcSortedIndex *s, MemoryContext context)
{
	int16		option = s->index->rd_indoption[0];

	s->compact = true;
	s->ssup.ssup_cxt = context;
	s->ssup.ssup_collation = s->index->rd_indcollation[0];
	s->ssup.ssup_nulls_first = (option & INDOPTION_NULLS_FIRST) != 0;
	s->ssup.ssup_attno = 1;
	s->ssup.abbreviate = false;
	zc_sort_support_from_index(s->index, (option & INDOPTION_DESC) != 0,
							   &s->ssup);
}

/* The memory one sorted entry of index takes, roughly. */
static int64
entry_size(Relation index)
{
	TupleDesc	desc = RelationGetDescr(index);
	int64		width = 0;

	if (compact_ok(index))
		return sizeof(ZcKeyEntry);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attlen > 0)
			width = att_align_nominal(width, att->attalign) + att->attlen;
		else
			width += get_typavgwidth(att->atttypid, att->atttypmod) + VARHDRSZ;
	}
	return MAXALIGN(sizeof(IndexTupleData) + width) + ZC_SORT_ENTRY_OVERHEAD;
}

/*
 * Take rri's btree indexes that can be sorted out of its index arrays, and
 * size the window.  Returns the number taken.
 */
static int
setup_sorted(ZcIndexes *ix, ResultRelInfo *rri)
{
	int			n = rri->ri_NumIndices;
	int			keep = 0;
	int64		row_bytes = sizeof(ZcPendingRow);

	ix->sorted = palloc0(sizeof(ZcSortedIndex) * n);
	for (int i = 0; i < n; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];

		if (sortable(index, info))
		{
			ix->sorted[ix->nsorted].index = index;
			ix->sorted[ix->nsorted].info = info;
			ix->nsorted++;
			row_bytes += entry_size(index);
			continue;
		}
		rri->ri_IndexRelationDescs[keep] = index;
		rri->ri_IndexRelationInfo[keep] = info;
		keep++;
	}
	rri->ri_NumIndices = keep;
	if (ix->nsorted == 0)
		return 0;

	/* three quarters of maintenance_work_mem, so the sorts stay in memory */
	ix->sort_mem = Max(64, maintenance_work_mem / ix->nsorted);
	ix->row_bytes = row_bytes;
	ix->window_rows = zc_indexes_window_bytes() / row_bytes;
	ix->window_rows = Max(ix->window_rows, ZC_MIN_WINDOW_ROWS);
	ix->window_rows = Min(ix->window_rows, ZC_MAX_WINDOW_ROWS);
	ix->context = AllocSetContextCreate(CurrentMemoryContext,
										"zcimport index entries",
										ALLOCSET_DEFAULT_SIZES);
	ix->insert_context = AllocSetContextCreate(ix->context,
											   "zcimport index insert",
											   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < ix->nsorted; i++)
	{
		ZcSortedIndex *s = &ix->sorted[i];

		if (!compact_ok(s->index))
			continue;
		setup_compact(s, ix->context);
	}
	return ix->nsorted;
}

/* Choose the strategy for rri's open indexes. */
static ZcIndexes *
choose(ResultRelInfo *rri, EState *estate, bool per_row_code)
{
	Relation	heap = rri->ri_RelationDesc;
	ZcIndexes  *ix = palloc0(sizeof(ZcIndexes));
	int			nindexes = rri->ri_NumIndices;
	const char *refused;

	ix->strategy = ZC_INDEXES_ROW;
	ix->heap = heap;
	ix->estate = estate;
	/* a partitioned table's rows go to its partitions' indexes */
	if (nindexes == 0 || heap->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		return ix;

	if (!defer_indexes)
	{
		ereport(DEBUG1,
				(errmsg_internal("zcimport: the indexes of \"%s\" get their entries row by row: zcimport.defer_indexes is off",
								 RelationGetRelationName(heap))));
		return ix;
	}
	if (per_row_code)
	{
		ereport(DEBUG1,
				(errmsg_internal("zcimport: the indexes of \"%s\" get their entries row by row: triggers, defaults or a WHERE clause run per row",
								 RelationGetRelationName(heap))));
		return ix;
	}

	refused = rebuild_refused(rri);
	if (refused == NULL)
	{
		for (int i = 0; i < nindexes; i++)
			ix->rebuild = lappend_oid(ix->rebuild,
									  RelationGetRelid(rri->ri_IndexRelationDescs[i]));
		/* reindex_index() wants the indexes closed */
		ExecCloseIndices(rri);
		rri->ri_NumIndices = 0;
		ix->strategy = ZC_INDEXES_REBUILD;
		ereport(DEBUG1,
				(errmsg_internal("zcimport: the %d indexes of \"%s\" are rebuilt after the load",
								 nindexes, RelationGetRelationName(heap))));
		return ix;
	}

	if (setup_sorted(ix, rri) > 0)
		ix->strategy = ZC_INDEXES_SORTED;
	ereport(DEBUG1,
			(errmsg_internal("zcimport: %d of the %d indexes of \"%s\" get their entries in key order, in windows of " INT64_FORMAT " rows, the others row by row; not rebuilt because %s",
							 ix->nsorted, nindexes, RelationGetRelationName(heap),
							 ix->window_rows, refused)));
	return ix;
}

/* Open rri's indexes and choose the strategy; see indexes.h. */
ZcIndexes *
zc_indexes_begin(ResultRelInfo *rri, EState *estate, bool per_row_code)
{
	ExecOpenIndices(rri, false);
	return choose(rri, estate, per_row_code);
}

/* Choose the strategy for a partition's indexes; see indexes.h. */
ZcIndexes *
zc_indexes_begin_partition(ResultRelInfo *rri, EState *estate)
{
	return choose(rri, estate, false);
}

/* Does the load hand its rows to zc_indexes_add()? */
bool
zc_indexes_collecting(ZcIndexes *ix)
{
	return ix != NULL && ix->strategy == ZC_INDEXES_SORTED;
}

/* The memory all windows of a load may take together; see indexes.h. */
int64
zc_indexes_window_bytes(void)
{
	return (int64) maintenance_work_mem * 1024 * 3 / 4;
}

/* The memory the window holds now, roughly; see indexes.h. */
int64
zc_indexes_pending_bytes(ZcIndexes *ix)
{
	return ix->strategy == ZC_INDEXES_SORTED ? ix->npending * ix->row_bytes : 0;
}

/*
 * Compare compact entries: the key, then the TID.  Keys whose comparator
 * is one of the plain integer ones (int8, int4, int2, date, timestamp...)
 * are compared here, without a call through the pointer.
 */
static inline int
compare_entries(const ZcKeyEntry *x, const ZcKeyEntry *y, SortSupport ssup)
{
	int			c;

	if (x->isnull || y->isnull)
		c = ApplySortComparator(x->key, x->isnull, y->key, y->isnull, ssup);
	else if (ssup->comparator == ssup_datum_signed_cmp)
	{
		int64		a = DatumGetInt64(x->key);
		int64		b = DatumGetInt64(y->key);

		c = (a > b) - (a < b);
		if (ssup->ssup_reverse)
			INVERT_COMPARE_RESULT(c);
	}
	else if (ssup->comparator == ssup_datum_int32_cmp)
	{
		int32		a = DatumGetInt32(x->key);
		int32		b = DatumGetInt32(y->key);

		c = (a > b) - (a < b);
		if (ssup->ssup_reverse)
			INVERT_COMPARE_RESULT(c);
	}
	else
		c = ssup->comparator(x->key, y->key, ssup);
	if (c != 0)
		return c;
	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

#define ST_SORT sort_entries
#define ST_ELEMENT_TYPE ZcKeyEntry
#define ST_COMPARE(a, b, ssup) compare_entries(a, b, ssup)
#define ST_COMPARE_ARG_TYPE SortSupportData
#define ST_CHECK_FOR_INTERRUPTS
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* Sort a compact index's entries and insert them. */
static void
insert_compact(ZcIndexes *ix, ZcSortedIndex *s, IndexUniqueCheck check)
{
	sort_entries(s->entries, s->nentries, &s->ssup);
	for (int64 i = 0; i < s->nentries; i++)
	{
		ZcKeyEntry *e = &s->entries[i];
		MemoryContext oldcontext = MemoryContextSwitchTo(ix->insert_context);

		ix->cur_tid = e->tid;
		ix->cur_valid = true;
		index_insert(s->index, &e->key, &e->isnull, &ix->cur_tid,
					 ix->heap, check, false, s->info);
		MemoryContextSwitchTo(oldcontext);
		if ((i + 1) % 1024 == 0)
		{
			MemoryContextReset(ix->insert_context);
			CHECK_FOR_INTERRUPTS();
		}
	}
	ix->cur_valid = false;
	s->nentries = 0;
	MemoryContextReset(ix->insert_context);
}

/* Insert the window's entries in key order, index by index. */
static void
insert_window(ZcIndexes *ix)
{
	for (int i = 0; i < ix->nsorted; i++)
	{
		ZcSortedIndex *s = &ix->sorted[i];
		IndexUniqueCheck check;
		IndexTuple	itup;
		int			n = 0;

		check = s->index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO;
		if (s->compact)
		{
			insert_compact(ix, s, check);
			continue;
		}
		if (s->sort == NULL)
			continue;
		tuplesort_performsort(s->sort);
		while ((itup = tuplesort_getindextuple(s->sort, true)) != NULL)
		{
			MemoryContext oldcontext = MemoryContextSwitchTo(ix->insert_context);

			ix->cur_tid = itup->t_tid;
			ix->cur_valid = true;
			index_deform_tuple(itup, RelationGetDescr(s->index),
							   ix->values, ix->isnull);
			index_insert(s->index, ix->values, ix->isnull, &ix->cur_tid,
						 ix->heap, check, false, s->info);
			MemoryContextSwitchTo(oldcontext);
			if (++n % 1024 == 0)
			{
				MemoryContextReset(ix->insert_context);
				CHECK_FOR_INTERRUPTS();
			}
		}
		ix->cur_valid = false;
		tuplesort_end(s->sort);
		s->sort = NULL;
		MemoryContextReset(ix->insert_context);
	}
	ix->npending = 0;
}

/*
 * Grow an array of the window's (pending rows or compact entries) to hold
 * twice as many elements, up to the window's size: small loads stay small.
 */
static void *
grow_array(ZcIndexes *ix, void *array, int64 *alloc, Size elem)
{
	int64		size = Min(Max(*alloc * 2, 1024), ix->window_rows);

	Assert(size > *alloc);
	array = array == NULL ?
		MemoryContextAllocHuge(ix->context, elem * size) :
		repalloc_huge(array, elem * size);
	*alloc = size;
	return array;
}

/* Collect a heap tuple's entries for the sorted indexes; see indexes.h. */
void
zc_indexes_add(ZcIndexes *ix, TupleTableSlot *slot, uint64 batch, uint64 row)
{
	ExprContext *econtext = GetPerTupleExprContext(ix->estate);
	ZcPendingRow *pending;

	Assert(ix->strategy == ZC_INDEXES_SORTED);
	econtext->ecxt_scantuple = slot;
	for (int i = 0; i < ix->nsorted; i++)
	{
		ZcSortedIndex *s = &ix->sorted[i];
		IndexInfo  *info = s->info;

		/* a partial index takes the rows its predicate accepts */
		if (info->ii_Predicate != NIL)
		{
			if (info->ii_PredicateState == NULL)
				info->ii_PredicateState = ExecPrepareQual(info->ii_Predicate,
														  ix->estate);
			if (!ExecQual(info->ii_PredicateState, econtext))
				continue;
		}
		FormIndexDatum(info, slot, ix->estate, ix->values, ix->isnull);
		if (s->compact)
		{
			ZcKeyEntry *e;

			if (s->nentries == s->entries_alloc)
				s->entries = grow_array(ix, s->entries, &s->entries_alloc,
										sizeof(ZcKeyEntry));
			e = &s->entries[s->nentries++];

			e->key = ix->values[0];
			e->isnull = ix->isnull[0];
			e->tid = slot->tts_tid;
			continue;
		}
		if (s->sort == NULL)
		{
			MemoryContext oldcontext = MemoryContextSwitchTo(ix->context);

			s->sort = tuplesort_begin_index_btree(ix->heap, s->index,
												  false, false,
												  ix->sort_mem, NULL,
												  TUPLESORT_NONE);
			MemoryContextSwitchTo(oldcontext);
		}
		tuplesort_putindextuplevalues(s->sort, s->index, &slot->tts_tid,
									  ix->values, ix->isnull);
	}

	if (ix->npending == ix->pending_alloc)
		ix->pending = grow_array(ix, ix->pending, &ix->pending_alloc,
								 sizeof(ZcPendingRow));
	pending = &ix->pending[ix->npending++];
	pending->tid = slot->tts_tid;
	pending->batch = batch;
	pending->row = row;

	if (ix->npending >= ix->window_rows)
		insert_window(ix);
}

/*
 * Give an error raised by an index build the words COPY's row-by-row checks
 * use for the same violation, so that callers see one message per
 * constraint whichever strategy ran.  Returns false for other errors.
 */
static bool
reword_build_error(ErrorData *edata)
{
	const char *old_detail = " is duplicated.";
	const char *new_detail = " already exists.";

	if (edata->constraint_name == NULL)
		return false;
	if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION)
		edata->message = psprintf("duplicate key value violates unique constraint \"%s\"",
								  edata->constraint_name);
	else if (edata->sqlerrcode == ERRCODE_EXCLUSION_VIOLATION)
	{
		edata->message = psprintf("conflicting key value violates exclusion constraint \"%s\"",
								  edata->constraint_name);
		old_detail = " conflicts with key ";
		new_detail = " conflicts with existing key ";
	}
	else
		return false;

	if (edata->detail != NULL)
	{
		char	   *at = strstr(edata->detail, old_detail);

		if (at != NULL)
			edata->detail = psprintf("%.*s%s%s", (int) (at - edata->detail),
									 edata->detail, new_detail,
									 at + strlen(old_detail));
	}
	return true;
}

/* Rebuild every index of the table, as REINDEX INDEX does. */
static void
rebuild_indexes(ZcIndexes *ix)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ReindexParams params = {0};
	ListCell   *lc;

	PG_TRY();
	{
		foreach(lc, ix->rebuild)
		{
			Oid			indexid = lfirst_oid(lc);

			ix->building = get_rel_name(indexid);
			zc_reindex_index(indexid, ix->heap->rd_rel->relpersistence,
							 &params);
			/* the next build must see this one's catalog updates */
			CommandCounterIncrement();
		}
		ix->building = NULL;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		if (!reword_build_error(edata))
			PG_RE_THROW();
		FlushErrorState();
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/* Insert the window's entries now; see indexes.h. */
void
zc_indexes_drain(ZcIndexes *ix)
{
	if (ix->strategy == ZC_INDEXES_SORTED && ix->npending > 0)
		insert_window(ix);
}

/* Finish the indexes' work and close them; see indexes.h. */
void
zc_indexes_finish(ZcIndexes *ix)
{
	if (ix->strategy == ZC_INDEXES_REBUILD)
		rebuild_indexes(ix);
	else if (ix->strategy == ZC_INDEXES_SORTED)
	{
		if (ix->npending > 0)
			insert_window(ix);
		/* as ExecCloseIndices() closes the others */
		for (int i = 0; i < ix->nsorted; i++)
		{
			zc_index_insert_cleanup(ix->sorted[i].index, ix->sorted[i].info);
			index_close(ix->sorted[i].index, RowExclusiveLock);
		}
		ix->nsorted = 0;
		MemoryContextDelete(ix->context);
		ix->strategy = ZC_INDEXES_ROW;
	}
}

/* The frame row whose entry is being inserted, if any; see indexes.h. */
bool
zc_indexes_current_row(ZcIndexes *ix, uint64 *batch, uint64 *row)
{
	if (!ix->cur_valid)
		return false;
	for (int64 i = 0; i < ix->npending; i++)
	{
		if (ItemPointerEquals(&ix->pending[i].tid, &ix->cur_tid))
		{
			*batch = ix->pending[i].batch;
			*row = ix->pending[i].row;
			return true;
		}
	}
	return false;
}

/* The index being rebuilt, if any; see indexes.h. */
const char *
zc_indexes_building(ZcIndexes *ix)
{
	return ix->building;
}
