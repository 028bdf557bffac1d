/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the PostgreSQL releases zcimport supports
 *	  (15 to 18), in one place.
 *
 * Each difference is a small inline function or macro named after what it
 * does, guarded by PG_VERSION_NUM, so that the rest of the extension reads
 * as if written for one release.  Include it after postgres.h and the
 * headers whose API it adapts.
 *
 * src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_COMPAT_H
#define ZCIMPORT_COMPAT_H

#include "access/genam.h"
#include "access/stratnum.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "utils/acl.h"
#include "utils/rel.h"
#include "utils/sortsupport.h"

#if PG_VERSION_NUM >= 160000
#include "catalog/pg_namespace_d.h"
#include "varatt.h"				/* SET_VARSIZE and friends left postgres.h */
#endif

/*
 * A function that does not return: 18 replaced the postfix
 * pg_attribute_noreturn() with the prefix pg_noreturn (C11's _Noreturn),
 * which GCC and Clang also take as a prefix attribute before it.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The subtransaction that gave the relation its current storage: 16 renamed
 * relfilenode to relfilelocator.
 */
#if PG_VERSION_NUM >= 160000
#define ZC_REL_NEW_STORAGE_SUBID(rel)	((rel)->rd_newRelfilelocatorSubid)
#define ZC_REL_FIRST_STORAGE_SUBID(rel) ((rel)->rd_firstRelfilelocatorSubid)
#else
#define ZC_REL_NEW_STORAGE_SUBID(rel)	((rel)->rd_newRelfilenodeSubid)
#define ZC_REL_FIRST_STORAGE_SUBID(rel) ((rel)->rd_firstRelfilenodeSubid)
#endif

/* USAGE and friends on a schema: 16 made the ACL checks generic. */
static inline AclResult
zc_namespace_aclcheck(Oid nspid, Oid roleid, AclMode mode)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(NamespaceRelationId, nspid, roleid, mode);
#else
	return pg_namespace_aclcheck(nspid, roleid, mode);
#endif
}

/*
 * Insert the index entries of a slot just stored, as COPY does: 16 added the
 * onlySummarizing argument, false for a new row.
 */
static inline List *
zc_insert_index_tuples(ResultRelInfo *rri, TupleTableSlot *slot,
					   EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL,
								 false);
#else
	return ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
#endif
}

/*
 * Set up the executor's range table: 16 moved the permissions into their own
 * list, and 18 added the set of relations left after pruning (all of them,
 * here: the target is range table entry 1 and nothing is pruned).
 */
static inline void
zc_init_range_table(EState *estate, List *range_table, List *perminfos)
{
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, range_table, perminfos,
					   bms_make_singleton(1));
#elif PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, range_table, perminfos);
#else
	(void) perminfos;
	ExecInitRangeTable(estate, range_table);
#endif
}

/*
 * The map from the root's row type to a partition's, or NULL if they match:
 * 16 builds it on first use.
 */
static inline TupleConversionMap *
zc_root_to_child_map(ResultRelInfo *rri, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return ExecGetRootToChildMap(rri, estate);
#else
	(void) estate;
	return rri->ri_RootToPartitionMap;
#endif
}

/*
 * Rebuild one index from its heap, as REINDEX INDEX does: 17 added the
 * statement, which only event triggers read (none here).
 */
static inline void
zc_reindex_index(Oid indexid, char persistence, ReindexParams *params)
{
#if PG_VERSION_NUM >= 170000
	reindex_index(NULL, indexid, false, persistence, params);
#else
	reindex_index(indexid, false, persistence, params);
#endif
}

/*
 * Check that an INSERT can write rri: 17 added the MERGE actions, 18 the ON
 * CONFLICT action.
 */
static inline void
zc_check_valid_insert_rel(ResultRelInfo *rri)
{
#if PG_VERSION_NUM >= 180000
	CheckValidResultRel(rri, CMD_INSERT, ONCONFLICT_NONE, NIL);
#elif PG_VERSION_NUM >= 170000
	CheckValidResultRel(rri, CMD_INSERT, NIL);
#else
	CheckValidResultRel(rri, CMD_INSERT);
#endif
}

/*
 * Sort support for an index's first column, ascending or (desc) descending:
 * 18 takes the direction as a flag rather than a btree strategy number.
 */
static inline void
zc_sort_support_from_index(Relation index, bool desc, SortSupport ssup)
{
#if PG_VERSION_NUM >= 180000
	PrepareSortSupportFromIndexRel(index, desc, ssup);
#else
	PrepareSortSupportFromIndexRel(index,
								   desc ? BTGreaterStrategyNumber :
								   BTLessStrategyNumber,
								   ssup);
#endif
}

/*
 * Let the index AM free what index_insert() kept between calls: 17 added
 * the callback.
 */
static inline void
zc_index_insert_cleanup(Relation index, IndexInfo *info)
{
#if PG_VERSION_NUM >= 170000
	index_insert_cleanup(index, info);
#else
	(void) index;
	(void) info;
#endif
}

/*
 * The permissions a statement needs on a range table entry: 16 moved them
 * from the RangeTblEntry into an RTEPermissionInfo, checked as a list.
 */
#if PG_VERSION_NUM >= 160000
typedef RTEPermissionInfo ZcPermInfo;
#define ZC_NSITEM_PERMS(nsitem)	((nsitem)->p_perminfo)
#define ZC_PSTATE_PERMINFOS(pstate) ((pstate)->p_rteperminfos)
#else
typedef RangeTblEntry ZcPermInfo;
#define ZC_NSITEM_PERMS(nsitem)	((nsitem)->p_rte)
#define ZC_PSTATE_PERMINFOS(pstate) NIL
#endif

/* Check perms (of the range table's only entry); errors if not granted. */
static inline void
zc_check_perms(List *range_table, ZcPermInfo *perms)
{
#if PG_VERSION_NUM >= 160000
	ExecCheckPermissions(range_table, list_make1(perms), true);
#else
	(void) perms;
	ExecCheckRTPerms(range_table, true);
#endif
}

#endif							/* ZCIMPORT_COMPAT_H */
