/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  Inserting formed tuples through the executor, as COPY FROM does.
 *
 * This follows the structure of CopyFrom() in PostgreSQL 15's copyfrom.c:
 * a ResultRelInfo for the target, partition tuple routing, BEFORE/INSTEAD
 * OF/AFTER ROW and statement triggers with transition capture, stored
 * generated columns, ExecConstraints(), and buffering of up to
 * ZC_MAX_BUFFERED_TUPLES rows per relation for table_multi_insert() with a
 * BulkInsertState, followed by index insertion and AFTER ROW triggers.
 * Where multi-inserts are unsafe (BEFORE or INSTEAD OF row triggers,
 * volatile defaults, a volatile WHERE clause, transition tables on a
 * partitioned target) rows are inserted one at a time, as COPY does.
 *
 * Differences from COPY: rows arrive as heap tuples already formed from
 * whole column buffers, so the target's multi-insert slots are
 * TTSOpsHeapTuple slots that take the tuple without a copy; and foreign
 * tables are not supported.
 *
 * src/insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "commands/progress.h"
#include "commands/trigger.h"
#include "executor/execPartition.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "indexes.h"
#include "insert.h"

/* Buffer at most this many rows, or this many bytes, before flushing. */
#define ZC_MAX_BUFFERED_TUPLES	1000
#define ZC_MAX_BUFFERED_BYTES	65535

/* Trim the list of partition buffers back down to this number. */
#define ZC_MAX_PARTITION_BUFFERS 32

typedef enum ZcInsertMethod
{
	ZC_INSERT_SINGLE,			/* one row at a time */
	ZC_INSERT_MULTI,			/* always table_multi_insert */
	ZC_INSERT_MULTI_CONDITIONAL /* multi-insert where the partition allows */
} ZcInsertMethod;

/* Rows buffered for one relation. */
typedef struct ZcMultiBuffer
{
	TupleTableSlot *slots[ZC_MAX_BUFFERED_TUPLES];
	ResultRelInfo *rri;
	ZcIndexes  *indexes;		/* the relation's index strategy */
	BulkInsertState bistate;
	int			nused;			/* slots holding buffered rows */
	int			nslots;			/* slots created: slots[0 .. nslots) */
	uint64		rows[ZC_MAX_BUFFERED_TUPLES];	/* frame row of each */
	uint64		batches[ZC_MAX_BUFFERED_TUPLES];	/* and its batch */
} ZcMultiBuffer;

/* A partition's index strategy (see partition_indexes()). */
typedef struct ZcPartIndexes
{
	ResultRelInfo *rri;
	ZcIndexes  *indexes;
} ZcPartIndexes;

struct ZcInsert
{
	Relation	rel;
	EState	   *estate;
	ModifyTableState *mtstate;
	ResultRelInfo *target_rri;
	ZcIndexes  *indexes;		/* how the target's indexes are maintained */
	List	   *part_indexes;	/* and those of partitions in multi-insert */
	ResultRelInfo *prev_rri;
	PartitionTupleRouting *proute;
	TransitionCaptureState *transition_capture;
	ExprState  *qualexpr;
	CommandId	mycid;
	int			ti_options;
	ZcInsertMethod method;

	/*
	 * Multi-insert buffers: the target's, or one per partition in use.  They
	 * are found here, not through ri_CopyMultiInsertBuffer, which is typed
	 * for copyfrom.c's own buffers.
	 */
	List	   *buffers;
	ZcMultiBuffer *target_buffer;	/* ZC_INSERT_MULTI */
	ZcMultiBuffer *cur_buffer;	/* prev_rri's, when it takes multi-inserts */
	int			buffered_tuples;
	int			buffered_bytes;

	/* single inserts, and the root-typed slot for partition routing */
	TupleTableSlot *singleslot;
	BulkInsertState bistate;

	/* triggers of the relation rows go to now (target or partition) */
	bool		has_before_row;
	bool		has_instead_row;
	bool		leafpart_use_multi;

	uint64		processed;
	uint64		excluded;

	/* rows without NULLs need no per-row work (see zc_insert_bulk_allowed) */
	bool		bulk_without_nulls;
	/* nor do rows with NULLs, when no NOT NULL constraint can fail */
	bool		bulk_with_nulls;

	/* the frame row being inserted and its batch, for the error context */
	uint64		cur_row;
	uint64		cur_batch;
	bool		cur_row_valid;
};

/* Make the multi-insert buffer of a relation and track it. */
static ZcMultiBuffer *
buffer_setup(ZcInsert *ins, ResultRelInfo *rri)
{
	ZcMultiBuffer *buffer = palloc0(sizeof(ZcMultiBuffer));

	buffer->rri = rri;
	buffer->bistate = GetBulkInsertState();
	ins->buffers = lappend(ins->buffers, buffer);
	return buffer;
}

/* The multi-insert buffer of a relation, or NULL if it has none. */
static ZcMultiBuffer *
buffer_find(ZcInsert *ins, ResultRelInfo *rri)
{
	ListCell   *lc;

	foreach(lc, ins->buffers)
	{
		ZcMultiBuffer *buffer = (ZcMultiBuffer *) lfirst(lc);

		if (buffer->rri == rri)
			return buffer;
	}
	return NULL;
}

/*
 * Create a relation's buffer slots up to slots[upto - 1].  The target's own
 * slots are heap-tuple slots, so formed tuples go in without a copy; a
 * partition's slots are of its table AM's type, as COPY makes them.
 */
static void
buffer_create_slots(ZcInsert *ins, ZcMultiBuffer *buffer, int upto)
{
	Relation	rel = buffer->rri->ri_RelationDesc;

	Assert(upto <= ZC_MAX_BUFFERED_TUPLES);
	for (; buffer->nslots < upto; buffer->nslots++)
	{
		if (buffer->rri == ins->target_rri)
			buffer->slots[buffer->nslots] =
				MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
		else
			buffer->slots[buffer->nslots] = table_slot_create(rel, NULL);
	}
}

/* The next free slot of a relation's buffer, created on first use. */
static TupleTableSlot *
buffer_next_slot(ZcInsert *ins, ZcMultiBuffer *buffer)
{
	int			nused = buffer->nused;

	Assert(nused < ZC_MAX_BUFFERED_TUPLES);
	if (nused == buffer->nslots)
		buffer_create_slots(ins, buffer, nused + 1);
	return buffer->slots[nused];
}

/* Write a relation's buffered rows out, with index entries and triggers. */
static void
buffer_flush(ZcInsert *ins, ZcMultiBuffer *buffer)
{
	EState	   *estate = ins->estate;
	ResultRelInfo *rri = buffer->rri;
	TupleTableSlot **slots = buffer->slots;
	int			nused = buffer->nused;
	bool		collect;
	MemoryContext oldcontext;

	if (nused == 0)
		return;
	collect = zc_indexes_collecting(buffer->indexes);

	/* table_multi_insert may leak memory: use the per-tuple context */
	ins->cur_row_valid = false;
	oldcontext = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
	table_multi_insert(rri->ri_RelationDesc, slots, nused,
					   ins->mycid, ins->ti_options, buffer->bistate);
	MemoryContextSwitchTo(oldcontext);

	for (int i = 0; i < nused; i++)
	{
		List	   *recheck = NIL;

		ins->cur_row = buffer->rows[i];
		ins->cur_batch = buffer->batches[i];
		ins->cur_row_valid = true;
		if (collect)
			zc_indexes_add(buffer->indexes, slots[i], buffer->batches[i],
						   buffer->rows[i]);
		if (rri->ri_NumIndices > 0)
			recheck = zc_insert_index_tuples(rri, slots[i], estate);
		/* as CopyMultiInsertBufferFlush() decides */
		if (rri->ri_NumIndices > 0 ||
			(rri->ri_TrigDesc != NULL &&
			 (rri->ri_TrigDesc->trig_insert_after_row ||
			  rri->ri_TrigDesc->trig_insert_new_table)))
			ExecARInsertTriggers(estate, rri, slots[i], recheck,
								 ins->transition_capture);
		list_free(recheck);
		ExecClearTuple(slots[i]);
	}
	ins->cur_row_valid = false;

	ins->processed += nused;
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED,
								 ins->processed);
	buffer->nused = 0;
}

/* Drop a flushed buffer's slots and bulk-insert state. */
static void
buffer_cleanup(ZcInsert *ins, ZcMultiBuffer *buffer)
{
	Assert(buffer->nused == 0);
	FreeBulkInsertState(buffer->bistate);
	for (int i = 0; i < buffer->nslots; i++)
		ExecDropSingleTupleTableSlot(buffer->slots[i]);
	table_finish_bulk_insert(buffer->rri->ri_RelationDesc, ins->ti_options);
	pfree(buffer);
}

/*
 * Flush every buffer, then trim the list of partition buffers, never
 * dropping the one of curr_rri.
 */
static void
buffers_flush(ZcInsert *ins, ResultRelInfo *curr_rri)
{
	ListCell   *lc;

	foreach(lc, ins->buffers)
		buffer_flush(ins, (ZcMultiBuffer *) lfirst(lc));
	ins->buffered_tuples = 0;
	ins->buffered_bytes = 0;

	/* the partitions' index windows share one memory budget */
	if (ins->part_indexes != NIL)
	{
		int64		pending = 0;

		foreach(lc, ins->part_indexes)
			pending += zc_indexes_pending_bytes(((ZcPartIndexes *) lfirst(lc))->indexes);
		if (pending > zc_indexes_window_bytes())
		{
			foreach(lc, ins->part_indexes)
				zc_indexes_drain(((ZcPartIndexes *) lfirst(lc))->indexes);
		}
	}

	while (list_length(ins->buffers) > ZC_MAX_PARTITION_BUFFERS)
	{
		ZcMultiBuffer *buffer = (ZcMultiBuffer *) linitial(ins->buffers);

		if (buffer->rri == curr_rri)
		{
			ins->buffers = list_delete_first(ins->buffers);
			ins->buffers = lappend(ins->buffers, buffer);
			buffer = (ZcMultiBuffer *) linitial(ins->buffers);
		}
		buffer_cleanup(ins, buffer);
		ins->buffers = list_delete_first(ins->buffers);
	}
}

/* Check that the relation can take rows, as COPY FROM checks. */
static void
check_target_relation(Relation rel)
{
	char		relkind = rel->rd_rel->relkind;

	if (relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE)
		return;
	if (relkind == RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into foreign table \"%s\" with zcimport",
						RelationGetRelationName(rel)),
				 errhint("Load into a local table, or use COPY with FORMAT binary.")));
	if (rel->trigdesc && rel->trigdesc->trig_insert_instead_row)
		return;
	if (relkind == RELKIND_VIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot copy to view \"%s\"",
						RelationGetRelationName(rel)),
				 errhint("To enable copying to a view, provide an INSTEAD OF INSERT trigger.")));
	else if (relkind == RELKIND_MATVIEW)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot copy to materialized view \"%s\"",
						RelationGetRelationName(rel))));
	else if (relkind == RELKIND_SEQUENCE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot copy to sequence \"%s\"",
						RelationGetRelationName(rel))));
	else
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot copy to non-table relation \"%s\"",
						RelationGetRelationName(rel))));
}

/* Check COPY FREEZE's conditions, as copyfrom.c does. */
static void
check_freeze(Relation rel)
{
	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot perform COPY FREEZE on a partitioned table")));

	/* tolerate one registration for the benefit of FirstXactSnapshot */
	InvalidateCatalogSnapshot();
	if (!ThereAreNoPriorRegisteredSnapshots() || !ThereAreNoReadyPortals())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot perform COPY FREEZE because of prior transaction activity")));

	if (rel->rd_createSubid != GetCurrentSubTransactionId() &&
		ZC_REL_NEW_STORAGE_SUBID(rel) != GetCurrentSubTransactionId())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot perform COPY FREEZE because the table was not created or truncated in the current subtransaction")));
}

/* Check that rel can take the load, and FREEZE's conditions if asked. */
void
zc_insert_check(Relation rel, bool freeze)
{
	check_target_relation(rel);
	if (freeze)
		check_freeze(rel);
}

/* Set up executor state for inserting into options->rel. */
ZcInsert *
zc_insert_begin(const ZcInsertOptions *options)
{
	Relation	rel = options->rel;
	ZcInsert   *ins = palloc0(sizeof(ZcInsert));
	ResultRelInfo *rri;
	ModifyTableState *mtstate;
	TriggerDesc *trigdesc;

	ins->rel = rel;
	ins->estate = CreateExecutorState();
	ins->mycid = GetCurrentCommandId(true);

	/* a table new in this transaction has no free space worth looking up */
	if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind) &&
		(rel->rd_createSubid != InvalidSubTransactionId ||
		 ZC_REL_FIRST_STORAGE_SUBID(rel) != InvalidSubTransactionId))
		ins->ti_options |= TABLE_INSERT_SKIP_FSM;

	if (options->freeze)
		ins->ti_options |= TABLE_INSERT_FROZEN;

	zc_init_range_table(ins->estate, options->range_table,
						options->perminfos);
	rri = ins->target_rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(ins->estate, rri, 1);
	zc_check_valid_insert_rel(rri);

	/* a ModifyTableState, as partition routing and transition capture need */
	mtstate = ins->mtstate = makeNode(ModifyTableState);
	mtstate->ps.plan = NULL;
	mtstate->ps.state = ins->estate;
	mtstate->operation = CMD_INSERT;
	mtstate->mt_nrels = 1;
	mtstate->resultRelInfo = rri;
	mtstate->rootResultRelInfo = rri;

	AfterTriggerBeginQuery();

	ins->transition_capture = mtstate->mt_transition_capture =
		MakeTransitionCaptureState(rel->trigdesc, RelationGetRelid(rel),
								   CMD_INSERT);

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		ins->proute = ExecSetupPartitionTupleRouting(ins->estate, rel);

	if (options->where_clause)
		ins->qualexpr = ExecInitQual(castNode(List, options->where_clause),
									 &mtstate->ps);

	/* multi-inserts only where COPY would use them, for COPY's reasons */
	trigdesc = rri->ri_TrigDesc;
	if (trigdesc != NULL &&
		(trigdesc->trig_insert_before_row || trigdesc->trig_insert_instead_row))
	{
		/*
		 * A BEFORE or INSTEAD OF row trigger may read the table, and must
		 * find there every row of the load before its own.
		 */
		ins->method = ZC_INSERT_SINGLE;
	}
	else if (ins->proute != NULL && trigdesc != NULL &&
			 trigdesc->trig_insert_new_table)
	{
		/*
		 * A transition table on a partitioned target: its statement-level
		 * trigger is the root's, the rows' AFTER ROW capture happens in
		 * each partition, and a buffered flush expects both on one
		 * relation (copyfrom.c gives up multi-inserts here too).
		 */
		ins->method = ZC_INSERT_SINGLE;
	}
	else if (options->volatile_defaults)
	{
		/* a volatile default, computed per row, may read the table too */
		ins->method = ZC_INSERT_SINGLE;
	}
	else if (contain_volatile_functions(options->where_clause))
	{
		/* and so may a volatile WHERE clause */
		ins->method = ZC_INSERT_SINGLE;
	}
	else if (ins->proute != NULL)
	{
		/*
		 * Each partition's triggers are known only when its first row is
		 * routed to it: route_row() decides per partition then.
		 */
		ins->method = ZC_INSERT_MULTI_CONDITIONAL;
	}
	else
	{
		/* no code of the user's runs per row: buffer the rows */
		ins->method = ZC_INSERT_MULTI;
		ins->target_buffer = buffer_setup(ins, rri);
	}

	/*
	 * Entries can wait while no code of the user's runs per row.  Rows
	 * routed to partitions go to the partitions' indexes (route_row()).
	 */
	ins->indexes = zc_indexes_begin(rri, ins->estate,
									ins->method != ZC_INSERT_MULTI);
	if (ins->method == ZC_INSERT_MULTI)
		ins->target_buffer->indexes = ins->indexes;

	if (ins->method != ZC_INSERT_MULTI)
	{
		ins->singleslot = ExecInitExtraTupleSlot(ins->estate,
												 RelationGetDescr(rel),
												 &TTSOpsHeapTuple);
		ins->bistate = GetBulkInsertState();
	}

	ins->has_before_row = (trigdesc && trigdesc->trig_insert_before_row);
	ins->has_instead_row = (trigdesc && trigdesc->trig_insert_instead_row);

	/*
	 * NOT NULL constraints cannot fail on rows without NULLs.  A partition
	 * loaded directly must check its bound on every row, as COPY does.
	 */
	ins->bulk_without_nulls = ins->method == ZC_INSERT_MULTI &&
		ins->qualexpr == NULL &&
		!rel->rd_rel->relispartition &&
		(rel->rd_att->constr == NULL ||
		 (rel->rd_att->constr->num_check == 0 &&
		  !rel->rd_att->constr->has_generated_stored));
	ins->bulk_with_nulls = ins->bulk_without_nulls &&
		(rel->rd_att->constr == NULL || !rel->rd_att->constr->has_not_null);

	ExecBSInsertTriggers(ins->estate, rri);

	return ins;
}

/* The insert state's EState. */
EState *
zc_insert_estate(ZcInsert *ins)
{
	return ins->estate;
}

/* The slot to store the next row into, in the target's row type. */
TupleTableSlot *
zc_insert_next_slot(ZcInsert *ins)
{
	if (ins->method == ZC_INSERT_MULTI)
		return buffer_next_slot(ins, ins->target_buffer);
	return ins->singleslot;
}

/*
 * The index strategy of a partition that takes rows in multi-inserts,
 * chosen when the first of them arrives.  It lives until the end of the
 * load, after the partition's buffer is trimmed: rows routed to the
 * partition again use it again.
 */
static ZcIndexes *
partition_indexes(ZcInsert *ins, ResultRelInfo *rri)
{
	ZcPartIndexes *part;
	ListCell   *lc;

	foreach(lc, ins->part_indexes)
	{
		part = (ZcPartIndexes *) lfirst(lc);
		if (part->rri == rri)
			return part->indexes;
	}
	part = palloc(sizeof(ZcPartIndexes));
	part->rri = rri;
	part->indexes = zc_indexes_begin_partition(rri, ins->estate);
	ins->part_indexes = lappend(ins->part_indexes, part);
	return part->indexes;
}

/*
 * Route a row of a partitioned target to its partition, converting it to
 * the partition's row type where needed.  Returns the slot to continue
 * with and sets *rri_out.
 */
static TupleTableSlot *
route_row(ZcInsert *ins, TupleTableSlot *myslot, ResultRelInfo **rri_out)
{
	ResultRelInfo *rri;
	TupleConversionMap *map;

	rri = ExecFindPartition(ins->mtstate, ins->target_rri, ins->proute,
							myslot, ins->estate);

	if (rri->ri_FdwRoutine != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into foreign partition \"%s\" with zcimport",
						RelationGetRelationName(rri->ri_RelationDesc))));

	if (ins->prev_rri != rri)
	{
		TriggerDesc *trigdesc = rri->ri_TrigDesc;

		ins->has_before_row = (trigdesc && trigdesc->trig_insert_before_row);
		ins->has_instead_row = (trigdesc && trigdesc->trig_insert_instead_row);
		ins->leafpart_use_multi = ins->method == ZC_INSERT_MULTI_CONDITIONAL &&
			!ins->has_before_row && !ins->has_instead_row;

		ins->cur_buffer = NULL;
		if (ins->leafpart_use_multi)
		{
			ins->cur_buffer = buffer_find(ins, rri);
			if (ins->cur_buffer == NULL)
			{
				ins->cur_buffer = buffer_setup(ins, rri);
				ins->cur_buffer->indexes = partition_indexes(ins, rri);
			}
		}
		else if (ins->method == ZC_INSERT_MULTI_CONDITIONAL &&
				 ins->buffered_tuples > 0)
		{
			/* rows must be visible to this partition's triggers */
			buffers_flush(ins, rri);
		}

		if (ins->bistate != NULL)
			ReleaseBulkInsertStatePin(ins->bistate);
		ins->prev_rri = rri;
	}

	/* transition capture can keep the root-typed row unless BR may change it */
	if (ins->transition_capture != NULL)
		ins->transition_capture->tcs_original_insert_tuple =
			!ins->has_before_row ? myslot : NULL;

	map = zc_root_to_child_map(rri, ins->estate);
	if (ins->method == ZC_INSERT_SINGLE || !ins->leafpart_use_multi)
	{
		if (map != NULL)
			myslot = execute_attr_map_slot(map->attrMap, myslot,
										   rri->ri_PartitionTupleSlot);
	}
	else
	{
		TupleTableSlot *batchslot;

		batchslot = buffer_next_slot(ins, ins->cur_buffer);
		if (map != NULL)
			myslot = execute_attr_map_slot(map->attrMap, myslot, batchslot);
		else
		{
			ExecCopySlot(batchslot, myslot);
			myslot = batchslot;
		}
	}

	myslot->tts_tableOid = RelationGetRelid(rri->ri_RelationDesc);
	*rri_out = rri;
	return myslot;
}

/* Insert one row now: table AM, index entries, AFTER ROW triggers. */
static void
insert_single(ZcInsert *ins, ResultRelInfo *rri, TupleTableSlot *slot)
{
	List	   *recheck = NIL;

	table_tuple_insert(rri->ri_RelationDesc, slot, ins->mycid,
					   ins->ti_options, ins->bistate);
	if (rri->ri_NumIndices > 0)
		recheck = zc_insert_index_tuples(rri, slot, ins->estate);
	ExecARInsertTriggers(ins->estate, rri, slot, recheck,
						 ins->transition_capture);
	list_free(recheck);
}

/* Insert the row stored in myslot; see insert.h. */
void
zc_insert_row(ZcInsert *ins, TupleTableSlot *myslot, uint64 batch, uint64 row,
			  bool may_have_nulls)
{
	EState	   *estate = ins->estate;
	ResultRelInfo *rri = ins->target_rri;
	Relation	rel;
	TupleConstr *constr;
	uint32		tuplen;

	/* the caller's slot holds a heap tuple: its length costs nothing */
	tuplen = ExecFetchSlotHeapTuple(myslot, false, NULL)->t_len;
	ResetPerTupleExprContext(estate);
	ins->cur_row = row;
	ins->cur_batch = batch;
	ins->cur_row_valid = true;

	/* constraints and WHERE may reference tableoid */
	myslot->tts_tableOid = RelationGetRelid(ins->rel);

	if (ins->qualexpr != NULL)
	{
		ExprContext *econtext = GetPerTupleExprContext(estate);

		econtext->ecxt_scantuple = myslot;
		if (!ExecQual(ins->qualexpr, econtext))
		{
			ExecClearTuple(myslot);
			pgstat_progress_update_param(PROGRESS_COPY_TUPLES_EXCLUDED,
										 ++ins->excluded);
			ins->cur_row_valid = false;
			return;
		}
	}

	if (ins->proute != NULL)
		myslot = route_row(ins, myslot, &rri);

	if (ins->has_before_row)
	{
		if (!ExecBRInsertTriggers(estate, rri, myslot))
		{
			/* "do nothing": the row is skipped, not counted */
			ExecClearTuple(myslot);
			ins->cur_row_valid = false;
			return;
		}
		may_have_nulls = true;
	}

	if (ins->has_instead_row)
	{
		ExecIRInsertTriggers(estate, rri, myslot);
		ins->processed++;
		pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED,
									 ins->processed);
		ins->cur_row_valid = false;
		return;
	}

	rel = rri->ri_RelationDesc;
	constr = rel->rd_att->constr;
	if (constr != NULL && constr->has_generated_stored)
	{
		ExecComputeStoredGenerated(rri, estate, myslot, CMD_INSERT);
		may_have_nulls = true;
	}

	/* NOT NULL can only fail on a row with NULLs */
	if (constr != NULL && (may_have_nulls || constr->num_check > 0))
		ExecConstraints(rri, myslot, estate);

	/* a routed row satisfies its partition unless a BR trigger changed it */
	if (rel->rd_rel->relispartition &&
		(ins->proute == NULL || ins->has_before_row))
		ExecPartitionCheck(rri, myslot, estate, true);

	if (ins->method == ZC_INSERT_MULTI || ins->leafpart_use_multi)
	{
		ZcMultiBuffer *buffer = ins->method == ZC_INSERT_MULTI
			? ins->target_buffer : ins->cur_buffer;

		/* the row must outlive the per-tuple context until the flush */
		ExecMaterializeSlot(myslot);

		Assert(myslot == buffer->slots[buffer->nused]);
		buffer->rows[buffer->nused] = row;
		buffer->batches[buffer->nused] = batch;
		buffer->nused++;
		ins->buffered_tuples++;
		ins->buffered_bytes += tuplen;

		if (ins->buffered_tuples >= ZC_MAX_BUFFERED_TUPLES ||
			ins->buffered_bytes >= ZC_MAX_BUFFERED_BYTES)
			buffers_flush(ins, rri);
	}
	else
	{
		insert_single(ins, rri, myslot);
		ins->processed++;
		pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED,
									 ins->processed);
	}
	ins->cur_row_valid = false;
}

/* May rows take the bulk path: those without NULLs, or all of them? */
bool
zc_insert_bulk_allowed(ZcInsert *ins, bool with_nulls)
{
	return with_nulls ? ins->bulk_with_nulls : ins->bulk_without_nulls;
}

/* The target buffer's free slots; creates them on first use. */
int
zc_insert_bulk_slots(ZcInsert *ins, TupleTableSlot ***slots)
{
	ZcMultiBuffer *buffer = ins->target_buffer;
	int			nfree = ZC_MAX_BUFFERED_TUPLES - buffer->nused;

	Assert(ins->bulk_without_nulls && nfree > 0);
	/* every free slot: rows taken by zc_insert_row() may have created some */
	buffer_create_slots(ins, buffer, ZC_MAX_BUFFERED_TUPLES);
	*slots = &buffer->slots[buffer->nused];
	return nfree;
}

/* Account for n rows stored by the caller into the bulk slots. */
void
zc_insert_bulk_done(ZcInsert *ins, int n, uint64 batch, uint64 first_row,
					uint64 bytes)
{
	ZcMultiBuffer *buffer = ins->target_buffer;

	for (int i = 0; i < n; i++)
	{
		buffer->rows[buffer->nused + i] = first_row + i;
		buffer->batches[buffer->nused + i] = batch;
	}
	buffer->nused += n;
	ins->buffered_tuples += n;
	ins->buffered_bytes += bytes;
	if (ins->buffered_tuples >= ZC_MAX_BUFFERED_TUPLES ||
		ins->buffered_bytes >= ZC_MAX_BUFFERED_BYTES)
	{
		buffers_flush(ins, ins->target_rri);
		/* what the flush left in per-tuple memory; zc_insert_row resets it too */
		ResetPerTupleExprContext(ins->estate);
	}
}

/* The frame row being inserted or flushed, and its batch, if any. */
bool
zc_insert_current_row(ZcInsert *ins, uint64 *batch, uint64 *row)
{
	ListCell   *lc;

	if (zc_indexes_current_row(ins->indexes, batch, row))
		return true;
	foreach(lc, ins->part_indexes)
	{
		if (zc_indexes_current_row(((ZcPartIndexes *) lfirst(lc))->indexes,
								   batch, row))
			return true;
	}
	if (!ins->cur_row_valid)
		return false;
	*batch = ins->cur_batch;
	*row = ins->cur_row;
	return true;
}

/* The index being rebuilt after the load, if any. */
const char *
zc_insert_building_index(ZcInsert *ins)
{
	ListCell   *lc;

	if (zc_indexes_building(ins->indexes) != NULL)
		return zc_indexes_building(ins->indexes);
	foreach(lc, ins->part_indexes)
	{
		ZcIndexes  *ix = ((ZcPartIndexes *) lfirst(lc))->indexes;

		if (zc_indexes_building(ix) != NULL)
			return zc_indexes_building(ix);
	}
	return NULL;
}

/* Flush, fire AFTER STATEMENT triggers, and release the executor state. */
uint64
zc_insert_end(ZcInsert *ins)
{
	EState	   *estate = ins->estate;
	uint64		processed;
	ListCell   *lc;

	if (ins->buffered_tuples > 0)
		buffers_flush(ins, NULL);

	/* the AFTER triggers below must find every row through the indexes */
	zc_indexes_finish(ins->indexes);
	foreach(lc, ins->part_indexes)
		zc_indexes_finish(((ZcPartIndexes *) lfirst(lc))->indexes);

	if (ins->bistate != NULL)
		FreeBulkInsertState(ins->bistate);

	ExecASInsertTriggers(estate, ins->target_rri, ins->transition_capture);
	AfterTriggerEndQuery(estate);

	ExecResetTupleTable(estate->es_tupleTable, false);

	foreach(lc, ins->buffers)
		buffer_cleanup(ins, (ZcMultiBuffer *) lfirst(lc));
	list_free(ins->buffers);

	if (ins->proute != NULL)
		ExecCleanupTupleRouting(ins->mtstate, ins->proute);

	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);

	processed = ins->processed;
	pfree(ins);
	return processed;
}
