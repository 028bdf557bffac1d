/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Loads into Citus tables: routing a stream to the shards on the
 *	  coordinator.
 *
 * A Citus table's rows live in shards, ordinary tables on the worker nodes
 * (and on the coordinator, for reference and Citus-local tables); the
 * coordinator's own table of that name is an empty shell.  A load into a
 * Citus table on the coordinator therefore forms no tuple here:
 *
 * - For a hash-distributed table, each batch's distribution column is
 *   converted to the column's type and hashed with the type's hash function
 *   and collation, exactly as Citus routes a row; the batch is split by
 *   shard, and each shard gets a batch message with only its rows
 *   (substream.c), which every placement of the shard receives in
 *   COPY shard FROM STDIN WITH (FORMAT zcimport).  The stream header and
 *   dictionary messages go to every shard as they are.
 * - Reference, single-shard and Citus-local tables have one shard: every
 *   placement gets the batches unchanged.
 * - Columns the stream does not fill whose default is not a constant get
 *   their values here, as Citus's COPY takes them on the coordinator, and
 *   travel as extra stream columns (see ZcExtra).
 *
 * The placements are reached over Citus's own connections, in Citus's
 * coordinated transaction with two-phase commit, as Citus's COPY reaches
 * them: a failure anywhere aborts the statement everywhere, and Citus's
 * commit protocol and recovery take it from there.  As in Citus's COPY, a
 * node gets at most citus.max_adaptive_executor_pool_size connections; the
 * placements that share one take turns, each in its own COPY statements
 * ("segments"), buffering up to ZC_CITUS_SWITCH_BYTES while another holds
 * the connection.  The shards' metadata locks are taken (ShareLock, as
 * Citus's COPY takes them) before the placements are read and held until
 * the transaction ends, so a shard move waits for the load, and a load that
 * starts after a move reads the new placements.
 *
 * zcimport's library is not linked with Citus: the Citus functions (and the
 * libpq functions that come with it) are looked up in citus.so when the
 * first load into a Citus table runs.  Citus's structs are used only as
 * opaque pointers, and its catalog is read by column name, so that no Citus
 * struct layout is compiled in here.
 *
 * src/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "optimizer/optimizer.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "citus.h"
#include "compat.h"
#include "convert.h"
#include "stream.h"
#include "substream.h"

/* Rows converted and hashed at a time. */
#define ZC_CITUS_CHUNK_ROWS		1024

/* The largest message the coordinator accepts, as load.c. */
#define ZC_CITUS_MAX_MESSAGE_LEN ((uint64) MaxAllocSize)

/* Rows of a batch split by shard at a time. */
#define ZC_CITUS_WINDOW_ROWS	65536

/* Most frame-row numbers remembered, to name the row of a worker's error. */
#define ZC_CITUS_ROW_MAP_MAX	((uint64) 8 * 1024 * 1024)

/*
 * Citus's connection flags FOR_DML and REQUIRE_CLEAN_CONNECTION
 * (connection_management.h) and its PLACEMENT_ACCESS_DML (placement_access.h).
 */
#define ZC_CITUS_FOR_DML		(1 << 2)
#define ZC_CITUS_REQUIRE_CLEAN_CONNECTION (1 << 3)
#define ZC_CITUS_PLACEMENT_ACCESS_DML 1

/* Citus's LOCAL_EXECUTION_REQUIRED and _DISABLED (local_executor.h). */
#define ZC_CITUS_LOCAL_EXECUTION_REQUIRED 0
#define ZC_CITUS_LOCAL_EXECUTION_DISABLED 2

/*
 * A placement that shares its connection with the placement whose COPY is
 * running there keeps its sub-stream in memory up to this many bytes, then
 * takes the connection over (Citus's COPY does the same, with
 * citus.copy_switchover_threshold).
 */
#define ZC_CITUS_SWITCH_BYTES	(4 * 1024 * 1024)

/* The Citus major versions whose functions this file calls as declared. */
#define ZC_CITUS_MIN_MAJOR		12
#define ZC_CITUS_MAX_MAJOR		13

/* Citus's placement state "active" (pg_dist_placement.shardstate). */
#define ZC_CITUS_SHARD_STATE_ACTIVE 1

/*
 * Citus functions and their libpq, looked up in citus.so.  Their
 * declarations are those of Citus 12 and 13; void * stands for Citus's
 * structs, which are only passed back to Citus.
 */
typedef struct ZcCitusApi
{
	void	   *(*CreatePlacementAccess) (void *placement, int accessType);
	void	   *(*GetConnectionIfPlacementAccessedInXact) (int flags,
														   List *placementAccessList,
														   const char *userName);
	void	   *(*StartPlacementListConnection) (uint32 flags,
												 List *placementAccessList,
												 const char *userName);
	void		(*AssignPlacementListToConnection) (List *placementAccessList,
													void *connection);
	void		(*FinishConnectionListEstablishment) (List *connectionList);
	void		(*RemoteTransactionsBeginIfNecessary) (List *connectionList);
	void		(*ClaimConnectionExclusively) (void *connection);
	void		(*UnclaimConnection) (void *connection);
	void		(*MarkRemoteTransactionCritical) (void *connection);
	int			(*SendRemoteCommand) (void *connection, const char *command);
	PGresult   *(*GetRemoteCommandResult) (void *connection,
										   bool raiseInterrupts);
	bool		(*PutRemoteCopyData) (void *connection, const char *buffer,
									  int nbytes);
	bool		(*PutRemoteCopyEnd) (void *connection, const char *errormsg);
	void		(*ReportConnectionError) (void *connection, int elevel);
	void		(*UseCoordinatedTransaction) (void);
	void		(*Use2PCForCoordinatedTransaction) (void);
	List	   *(*LoadShardIntervalList) (Oid relationId);
	void		(*LockShardListMetadata) (List *shardIntervalList,
										  LOCKMODE lockMode);
	void		(*SerializeNonCommutativeWrites) (List *shardIntervalList,
												  LOCKMODE lockMode);
	List	   *(*ActiveShardPlacementListOnGroup) (uint64 shardId,
													int32 groupId);
	bool		(*IsCoordinator) (void);
	int32		(*GetLocalGroupId) (void);
	void		(*EnsureModificationsCanRunOnRelation) (Oid relationId);
	void		(*EnsureTaskExecutionAllowed) (bool isRemote);
	int			(*GetCurrentLocalExecutionStatus) (void);
	void		(*SetLocalExecutionStatus) (int newStatus);
	char	   *(*CurrentUserName) (void);
	void		(*AppendShardIdToName) (char **name, uint64 shardId);

	ExecStatusType (*PQresultStatus) (const PGresult *res);
	void		(*PQclear) (PGresult *res);
	char	   *(*PQcmdTuples) (PGresult *res);
	char	   *(*PQresultErrorField) (const PGresult *res, int fieldcode);
	char	   *(*PQresultErrorMessage) (const PGresult *res);
} ZcCitusApi;

static ZcCitusApi api;
static bool api_loaded = false;

struct ZcShard;
struct ZcPlacement;

/*
 * A column the stream does not fill, with a default that is not a constant.
 * Citus takes such defaults on the coordinator (and leaves sequence defaults
 * off the shards), so the load does too, and sends the values as an extra
 * stream column:
 *
 * - a sequence's next value into a smallint, integer or bigint column, as
 *   integers, row by row;
 * - a default that is the same for every row of the statement (no volatile
 *   function, now() for instance), as a dictionary column with its one
 *   value as text;
 * - a volatile default, as text, row by row.
 *
 * Text goes into the shard's column through the type's input function.
 */
typedef enum ZcExtraKind
{
	ZC_EXTRA_SEQUENCE,
	ZC_EXTRA_CONSTANT,
	ZC_EXTRA_PER_ROW
} ZcExtraKind;

typedef struct ZcExtra
{
	ZcExtraKind kind;
	AttrNumber	attnum;
	const char *attname;
	ExprState  *expr;
	int			width;			/* sequences: 2, 4 or 8 */
	uint8		wire_type;		/* sequences: ZC_T_INT16, _INT32, _INT64 */
	uint8	   *values;			/* sequences: the batch's values */
	bool		const_null;		/* constants: the value is NULL */
	char	   *const_text;		/* constants: the value as text */
	uint64	   *offsets;		/* per row: the batch's texts in texts */
	bool	   *nulls;			/* per row: the batch's NULLs */
	StringInfoData texts;
} ZcExtra;

/* A message kept to be sent again: the header, a dictionary. */
typedef struct ZcMessage
{
	const uint8 *data;
	uint64		len;
	int			refs;			/* dictionaries: placements holding it */
} ZcMessage;

/*
 * One of Citus's connections to a node.  It serves one or more placements
 * on that node, one COPY at a time.
 */
typedef struct ZcConn
{
	void	   *conn;			/* Citus's MultiConnection */
	int32		groupid;
	int			nplacements;	/* placements assigned to it */
	struct ZcPlacement *active; /* the placement whose COPY is open */
	struct ZcPlacement *next;	/* its COPY command is sent, not answered */
} ZcConn;

/*
 * One placement of a shard.  Its rows go in one or more COPY statements
 * ("segments") over its connection; rows that arrive while another
 * placement's COPY holds the connection wait in pending.
 */
typedef struct ZcPlacement
{
	struct ZcShard *shard;
	int32		groupid;
	const char *nodename;
	int			nodeport;
	ZcConn	   *conn;
	StringInfoData pending;		/* messages of the next segment */
	ZcMessage **dicts;			/* per stream column: its dictionary where
								 * pending starts, or NULL */
	uint64		segment_first;	/* shard row of the segment's first row */
	uint64		segment_rows;	/* rows of the open or next segment */
} ZcPlacement;

/* One shard: its hash range, placements and what has been sent to it. */
typedef struct ZcShard
{
	uint64		shardid;
	int32		min;			/* hash range, for hash-distributed tables */
	int32		max;
	char	   *name;			/* schema-qualified, quoted */
	char	   *command;		/* the COPY that loads a segment */
	int			nplacements;
	ZcPlacement *placements;
	uint64		rows;			/* rows route_batch() sent it */

	/* frame row of each row routed, while the map's budget lasts */
	uint64	   *row_map;
	uint64		row_map_len;
	uint64		row_map_cap;
} ZcShard;

typedef struct ZcCitusLoad
{
	const ZcLoadOptions *options;
	Var		   *partkey;		/* the distribution column, or NULL */
	Relation	rel;
	const char *relname;
	char		method;			/* pg_dist_partition.partmethod */
	char		repmodel;
	int			nshards;
	ZcShard    *shards;			/* hash tables: sorted by min */
	int			nnodes;
	ZcConn	   *conns;
	int			nconns;
	ZcMessage	header;			/* the header each segment starts with */
	int			nextra;
	ZcExtra    *extra;
	ExprContext *econtext;		/* for the extra columns' defaults */
	int		   *shard_next;		/* counting sort's cursors */

	/* hash-distributed tables: the distribution column */
	int			dist_column;	/* its stream column */
	Oid			dist_collation;
	FmgrInfo	hash_fn;
	ZcConverter converter;
	Datum	   *values;
	bool	   *isnull;
	int		   *shard_of;		/* per row of the batch */
	uint32	   *order;			/* the batch's rows grouped by shard */
	int		   *shard_start;	/* per shard: first index in order */
	uint8	   *message;		/* a sub-batch being written */
	uint64		message_cap;
	uint64		row_map_total;	/* entries in all shards' row maps */

	ZcDecoder	dec;
	ZcPosition	pos;
	uint64		rows_seen;
	bool		remote_error;	/* re-raising a worker's error */
	uint64	   *batch_first;	/* frame row of each batch's first row */
	uint64		batch_first_cap;

	MemoryContext load_context;
	MemoryContext chunk_context;
} ZcCitusLoad;

/* Look up one function in citus.so. */
static void *
citus_function(const char *name)
{
	return (void *) load_external_function("$libdir/citus", name, true, NULL);
}

/*
 * The installed Citus's major version, from pg_extension; refuse versions
 * whose functions this file does not declare.
 */
static void
check_citus_version(void)
{
	Relation	catalog = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;
	int			major;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("citus"));
	scan = systable_beginscan(catalog, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(catalog), &isnull);

		if (!isnull)
			version = TextDatumGetCString(d);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);

	if (version == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the citus extension is not installed in this database"),
				 errdetail("The table is listed in pg_catalog.pg_dist_partition, Citus's catalog of the tables it distributes.")));
	major = atoi(version);
	if (major < ZC_CITUS_MIN_MAJOR || major > ZC_CITUS_MAX_MAJOR)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("zcimport cannot load into tables of Citus %s", version),
				 errdetail("zcimport routes loads with the functions of Citus %d to %d.",
						   ZC_CITUS_MIN_MAJOR, ZC_CITUS_MAX_MAJOR),
				 errhint("Load the table with COPY in FORMAT binary or csv, which Citus distributes.")));
}

/* Look up every Citus function this file calls, once per backend. */
static void
load_api(void)
{
	if (api_loaded)
		return;
	check_citus_version();

#define ZC_LOOKUP(fn) (*(void **) &api.fn = citus_function(#fn))
	ZC_LOOKUP(CreatePlacementAccess);
	ZC_LOOKUP(GetConnectionIfPlacementAccessedInXact);
	ZC_LOOKUP(StartPlacementListConnection);
	ZC_LOOKUP(AssignPlacementListToConnection);
	ZC_LOOKUP(FinishConnectionListEstablishment);
	ZC_LOOKUP(RemoteTransactionsBeginIfNecessary);
	ZC_LOOKUP(ClaimConnectionExclusively);
	ZC_LOOKUP(UnclaimConnection);
	ZC_LOOKUP(MarkRemoteTransactionCritical);
	ZC_LOOKUP(SendRemoteCommand);
	ZC_LOOKUP(GetRemoteCommandResult);
	ZC_LOOKUP(PutRemoteCopyData);
	ZC_LOOKUP(PutRemoteCopyEnd);
	ZC_LOOKUP(ReportConnectionError);
	ZC_LOOKUP(UseCoordinatedTransaction);
	ZC_LOOKUP(Use2PCForCoordinatedTransaction);
	ZC_LOOKUP(LoadShardIntervalList);
	ZC_LOOKUP(LockShardListMetadata);
	ZC_LOOKUP(SerializeNonCommutativeWrites);
	ZC_LOOKUP(ActiveShardPlacementListOnGroup);
	ZC_LOOKUP(IsCoordinator);
	ZC_LOOKUP(GetLocalGroupId);
	ZC_LOOKUP(EnsureModificationsCanRunOnRelation);
	ZC_LOOKUP(EnsureTaskExecutionAllowed);
	ZC_LOOKUP(GetCurrentLocalExecutionStatus);
	ZC_LOOKUP(SetLocalExecutionStatus);
	ZC_LOOKUP(CurrentUserName);
	ZC_LOOKUP(AppendShardIdToName);
	/* libpq is a dependency of citus.so, so its symbols resolve there */
	ZC_LOOKUP(PQresultStatus);
	ZC_LOOKUP(PQclear);
	ZC_LOOKUP(PQcmdTuples);
	ZC_LOOKUP(PQresultErrorField);
	ZC_LOOKUP(PQresultErrorMessage);
#undef ZC_LOOKUP

	api_loaded = true;
}

/* Open Citus catalog table name, or return NULL where Citus is absent. */
static Relation
open_catalog(const char *name)
{
	Oid			relid = get_relname_relid(name, PG_CATALOG_NAMESPACE);

	if (!OidIsValid(relid))
		return NULL;
	return table_open(relid, AccessShareLock);
}

/*
 * Begin a scan of catalog for the rows whose column attnum equals value,
 * through Citus's index on that column, index_name, when it exists.  The
 * catalog snapshot is used, as Citus reads its catalog.
 */
static SysScanDesc
catalog_scan(Relation catalog, const char *index_name, AttrNumber attnum,
			 RegProcedure eqproc, Datum value, ScanKey key)
{
	Oid			index = get_relname_relid(index_name, PG_CATALOG_NAMESPACE);

	ScanKeyInit(key, attnum, BTEqualStrategyNumber, eqproc, value);
	return systable_beginscan(catalog, index, OidIsValid(index), NULL, 1, key);
}

/* The attribute number of column name of a Citus catalog table. */
static AttrNumber
catalog_attnum(Relation catalog, const char *name)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(catalog), name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of Citus catalog \"%s\" not found",
			 name, RelationGetRelationName(catalog));
	return attnum;
}

/* Column attnum of a catalog tuple; NULL gives isnull. */
static Datum
catalog_value(Relation catalog, HeapTuple tuple, AttrNumber attnum,
			  bool *isnull)
{
	return heap_getattr(tuple, attnum, RelationGetDescr(catalog), isnull);
}

/*
 * Read rel's row of pg_dist_partition: its method, replication model and
 * distribution column (partkey, a Var; NULL when it has none).  Returns
 * false if rel is no Citus table.
 */
static bool
read_partition(Oid relid, char *method, char *repmodel, Var **partkey)
{
	Relation	catalog = open_catalog("pg_dist_partition");
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (catalog == NULL)
		return false;
	scan = catalog_scan(catalog, "pg_dist_partition_logical_relid_index",
						catalog_attnum(catalog, "logicalrelid"), F_OIDEQ,
						ObjectIdGetDatum(relid), &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d;

		found = true;
		if (method)
			*method = DatumGetChar(catalog_value(catalog, tuple,
												 catalog_attnum(catalog, "partmethod"),
												 &isnull));
		if (repmodel)
			*repmodel = DatumGetChar(catalog_value(catalog, tuple,
												   catalog_attnum(catalog, "repmodel"),
												   &isnull));
		if (partkey)
		{
			*partkey = NULL;
			d = catalog_value(catalog, tuple, catalog_attnum(catalog, "partkey"),
							  &isnull);
			if (!isnull)
			{
				Node	   *node = stringToNode(TextDatumGetCString(d));

				if (node == NULL || !IsA(node, Var))
					elog(ERROR, "distribution column of \"%s\" is no column",
						 get_rel_name(relid));
				*partkey = (Var *) node;
			}
		}
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return found;
}

/* The stream column that fills table attribute attnum, or -1. */
static int
stream_column_of(const ZcLoadOptions *options, AttrNumber attnum)
{
	ListCell   *lc;
	int			column = 0;

	foreach(lc, options->attnums)
	{
		if (lfirst_int(lc) == attnum)
			return column;
		column++;
	}
	return -1;
}

/*
 * Is options->rel a Citus table?  If it is, check that its load can be
 * routed, or refuse it.  See citus.h.
 */
bool
zc_citus_check(const ZcLoadOptions *options)
{
	Relation	rel = options->rel;
	const char *relname = RelationGetRelationName(rel);
	char		method;
	char		repmodel;
	Var		   *partkey;

	if (!read_partition(RelationGetRelid(rel), NULL, NULL, NULL))
		return false;
	/* the citus extension and its version, before its catalog's columns */
	load_api();
	read_partition(RelationGetRelid(rel), &method, &repmodel, &partkey);

	if (!api.IsCoordinator())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into Citus table \"%s\" on a worker node", relname),
				 errdetail("zcimport routes loads into Citus tables on the coordinator only."),
				 errhint("Connect to the coordinator and load there.")));
	if (method != 'h' && method != 'n')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into append- or range-distributed table \"%s\" with zcimport",
						relname),
				 errdetail("zcimport routes loads into hash-distributed, single-shard, reference and Citus local tables."),
				 errhint("Load the table with COPY in FORMAT binary or csv.")));
	if (options->where_clause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FROM with WHERE is not supported with FORMAT zcimport on Citus table \"%s\"",
						relname),
				 errhint("Filter the frame before the load.")));
	if (options->freeze)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("COPY FREEZE is not supported on Citus table \"%s\"", relname),
				 errdetail("The rows are inserted into the shards by the worker nodes, in their own transactions.")));
	if (method == 'h')
	{
		if (partkey == NULL)
			elog(ERROR, "hash-distributed table \"%s\" has no distribution column",
				 relname);
		if (stream_column_of(options, partkey->varattno) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the stream does not fill distribution column \"%s\" of \"%s\"",
							get_attname(RelationGetRelid(rel), partkey->varattno, false),
							relname),
					 errdetail("zcimport routes each row to its shard by the value of the distribution column, so it must come from the stream."),
					 errhint("Include the column in the frame and in the COPY column list.")));
	}
	return true;
}

/* The frame row of row r of the current batch. */
static inline uint64
frame_row(ZcCitusLoad *load, uint64 r)
{
	return load->rows_seen + r;
}

/* Error context on the coordinator: where in the stream the load is. */
static void
citus_error_callback(void *arg)
{
	ZcCitusLoad *load = (ZcCitusLoad *) arg;

	if (load->remote_error)
		return;					/* the worker's error has its own context */
	if (load->pos.column >= 0 && load->pos.has_row)
		errcontext("COPY %s, batch " UINT64_FORMAT ", row " UINT64_FORMAT ", column %s",
				   load->relname, load->dec.batches, load->pos.row,
				   load->converter.attname);
	else if (load->dec.batches > 0)
		errcontext("COPY %s, batch " UINT64_FORMAT, load->relname,
				   load->dec.batches);
	else
		errcontext("COPY %s", load->relname);
}

/* Compare shards by the start of their hash range. */
static int
shard_cmp(const void *a, const void *b)
{
	const ZcShard *x = (const ZcShard *) a;
	const ZcShard *y = (const ZcShard *) b;

	if (x->min != y->min)
		return x->min < y->min ? -1 : 1;
	return 0;
}

/* A primary node of pg_dist_node. */
typedef struct ZcNode
{
	int32		groupid;
	const char *nodename;
	int			nodeport;
} ZcNode;

/* Read the primary nodes of pg_dist_node, each group's one. */
static List *
read_nodes(void)
{
	Relation	catalog = open_catalog("pg_dist_node");
	SysScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	role_att = catalog_attnum(catalog, "noderole");
	AttrNumber	group_att = catalog_attnum(catalog, "groupid");
	AttrNumber	name_att = catalog_attnum(catalog, "nodename");
	AttrNumber	port_att = catalog_attnum(catalog, "nodeport");
	List	   *nodes = NIL;

	scan = systable_beginscan(catalog, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		role = catalog_value(catalog, tuple, role_att, &isnull);
		ZcNode	   *node;

		if (!isnull &&
			strcmp(DatumGetCString(OidFunctionCall1(F_ENUM_OUT, role)), "primary") != 0)
			continue;
		node = palloc(sizeof(ZcNode));
		node->groupid = DatumGetInt32(catalog_value(catalog, tuple, group_att, &isnull));
		node->nodename = TextDatumGetCString(catalog_value(catalog, tuple, name_att,
														   &isnull));
		node->nodeport = DatumGetInt32(catalog_value(catalog, tuple, port_att, &isnull));
		nodes = lappend(nodes, node);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return nodes;
}

/* The primary node of group groupid, among nodes (read_nodes()). */
static const ZcNode *
find_node(List *nodes, int32 groupid)
{
	ListCell   *lc;

	foreach(lc, nodes)
	{
		const ZcNode *node = (const ZcNode *) lfirst(lc);

		if (node->groupid == groupid)
			return node;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("no primary node of node group %d is in pg_dist_node", groupid)));
	pg_unreachable();
}

/* Read the active placements of shard, with their nodes (read_nodes()). */
static void
read_placements(ZcShard *shard, List *nodes)
{
	Relation	catalog = open_catalog("pg_dist_placement");
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	state_att = catalog_attnum(catalog, "shardstate");
	AttrNumber	group_att = catalog_attnum(catalog, "groupid");
	List	   *groups = NIL;
	ListCell   *lc;
	int			i = 0;

	scan = catalog_scan(catalog, "pg_dist_placement_shardid_index",
						catalog_attnum(catalog, "shardid"), F_INT8EQ,
						Int64GetDatum((int64) shard->shardid), &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;

		if (DatumGetInt32(catalog_value(catalog, tuple, state_att, &isnull)) !=
			ZC_CITUS_SHARD_STATE_ACTIVE)
			continue;
		groups = lappend_int(groups,
							 DatumGetInt32(catalog_value(catalog, tuple, group_att,
														 &isnull)));
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);

	if (groups == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shard " UINT64_FORMAT " has no active placement",
						shard->shardid)));
	shard->nplacements = list_length(groups);
	shard->placements = palloc0(sizeof(ZcPlacement) * shard->nplacements);
	foreach(lc, groups)
	{
		ZcPlacement *p = &shard->placements[i++];
		const ZcNode *node = find_node(nodes, lfirst_int(lc));

		p->groupid = node->groupid;
		p->nodename = node->nodename;
		p->nodeport = node->nodeport;
	}
}

/* Read rel's shards and their placements; hash tables' sorted by range. */
static void
read_shards(ZcCitusLoad *load)
{
	Relation	catalog = open_catalog("pg_dist_shard");
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	AttrNumber	id_att = catalog_attnum(catalog, "shardid");
	AttrNumber	min_att = catalog_attnum(catalog, "shardminvalue");
	AttrNumber	max_att = catalog_attnum(catalog, "shardmaxvalue");
	Oid			nspid = RelationGetNamespace(load->rel);
	int			cap = 16;
	List	   *groups = NIL;
	List	   *nodes;

	load->shards = palloc0(sizeof(ZcShard) * cap);
	load->nshards = 0;
	scan = catalog_scan(catalog, "pg_dist_shard_logical_relid_index",
						catalog_attnum(catalog, "logicalrelid"), F_OIDEQ,
						ObjectIdGetDatum(RelationGetRelid(load->rel)), &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		ZcShard    *shard;
		bool		isnull;
		Datum		d;
		char	   *name;

		if (load->nshards == cap)
		{
			cap *= 2;
			load->shards = repalloc(load->shards, sizeof(ZcShard) * cap);
		}
		shard = &load->shards[load->nshards++];
		memset(shard, 0, sizeof(ZcShard));
		shard->shardid = (uint64) DatumGetInt64(catalog_value(catalog, tuple,
															  id_att, &isnull));
		if (load->method == 'h')
		{
			d = catalog_value(catalog, tuple, min_att, &isnull);
			if (isnull)
				goto uninitialized;
			shard->min = pg_strtoint32(TextDatumGetCString(d));
			d = catalog_value(catalog, tuple, max_att, &isnull);
			if (isnull)
				goto uninitialized;
			shard->max = pg_strtoint32(TextDatumGetCString(d));
		}
		name = pstrdup(load->relname);
		api.AppendShardIdToName(&name, shard->shardid);
		shard->name = quote_qualified_identifier(get_namespace_name(nspid), name);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);

	if (load->nshards == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not find any shards into which to copy"),
				 errdetail("No shards exist for distributed table \"%s\".",
						   load->relname)));
	if (load->method == 'h')
		qsort(load->shards, load->nshards, sizeof(ZcShard), shard_cmp);
	else if (load->nshards != 1)
		elog(ERROR, "table \"%s\" without a distribution column has %d shards",
			 load->relname, load->nshards);

	nodes = read_nodes();
	for (int s = 0; s < load->nshards; s++)
	{
		read_placements(&load->shards[s], nodes);
		for (int i = 0; i < load->shards[s].nplacements; i++)
			groups = list_append_unique_int(groups,
											load->shards[s].placements[i].groupid);
	}
	load->nnodes = list_length(groups);
	return;

uninitialized:
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("could not start copy"),
			 errdetail("Distributed relation \"%s\" has shards with missing shardminvalue/shardmaxvalue.",
					   load->relname)));
}

/*
 * Lock the shards' metadata as Citus's COPY does, so that no placement
 * changes and no non-commutative write runs until the transaction ends,
 * then read the shards and placements as they are under the lock.
 */
static void
lock_and_read_shards(ZcCitusLoad *load)
{
	Oid			relid = RelationGetRelid(load->rel);
	List	   *intervals = api.LoadShardIntervalList(relid);

	if (intervals == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not find any shards into which to copy"),
				 errdetail("No shards exist for distributed table \"%s\".",
						   load->relname)));
	api.LockShardListMetadata(intervals, ShareLock);
	api.SerializeNonCommutativeWrites(intervals, RowExclusiveLock);

	/* what a move or split committed while this backend waited */
	AcceptInvalidationMessages();
	InvalidateCatalogSnapshot();
	read_shards(load);

	/* a split that committed before the lock changed the shards themselves */
	if (list_length(api.LoadShardIntervalList(relid)) != list_length(intervals) ||
		load->nshards != list_length(intervals))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the shards of \"%s\" changed while the load started",
						load->relname),
				 errhint("Run the load again.")));
}

/*
 * The frame row a worker's error context names, "COPY <shard>, batch B, row
 * R[, column C]" with R counted in the segment of placement p; *rest is set
 * to what follows R on that line.  Returns false if there is none, or the
 * row is past the shard's map.
 */
static bool
remote_error_row(ZcCitusLoad *load, ZcPlacement *p, const char *context,
				 uint64 *row, const char **rest, int *rest_len)
{
	const char *at = context ? strstr(context, ", row ") : NULL;
	unsigned long long r;
	int			n = 0;
	const char *line_end;
	uint64		shard_row;

	if (at == NULL || sscanf(at, ", row %llu%n", &r, &n) != 1)
		return false;
	shard_row = p->segment_first + r;
	/* a table without distribution column gets the frame as it is */
	if (load->method == 'h' && shard_row >= p->shard->row_map_len)
		return false;
	*row = load->method == 'h' ? p->shard->row_map[shard_row] : shard_row;
	*rest = at + n;
	line_end = strchr(*rest, '\n');
	*rest_len = line_end ? (int) (line_end - *rest) : (int) strlen(*rest);
	return true;
}

/* Report the error result res of the COPY on placement p. */
pg_noreturn static void
report_remote_error(ZcCitusLoad *load, ZcPlacement *p, PGresult *res)
{
	char	   *sqlstate = api.PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char	   *primary = api.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char	   *detail = api.PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	char	   *hint = api.PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	char	   *context = api.PQresultErrorField(res, PG_DIAG_CONTEXT);
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *where = NULL;
	uint64		row;
	const char *rest;
	int			rest_len;

	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);
	primary = pstrdup(primary ? primary : api.PQresultErrorMessage(res));
	detail = detail ? pstrdup(detail) : NULL;
	hint = hint ? pstrdup(hint) : NULL;
	context = context ? pstrdup(context) : NULL;
	api.PQclear(res);

	/* name the frame row, not the row of the shard's sub-stream */
	if (remote_error_row(load, p, context, &row, &rest, &rest_len))
	{
		uint64		batch = 0;

		for (uint64 b = 0; b < load->dec.batches; b++)
			if (load->batch_first[b] <= row)
				batch = b + 1;
		where = psprintf("COPY %s, batch " UINT64_FORMAT ", row " UINT64_FORMAT "%.*s",
						 load->relname, batch, row, rest_len, rest);
	}

	load->remote_error = true;
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", primary),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 where ? errcontext("%s", where) : 0,
			 context && !where ? errcontext("%s", context) : 0,
			 errcontext("shard %s on %s:%d", p->shard->name, p->nodename,
						p->nodeport)));
}

/*
 * The COPY on p's connection failed while data was sent: report the
 * worker's error if it sent one, the connection's otherwise.
 */
pg_noreturn static void
report_send_failure(ZcCitusLoad *load, ZcPlacement *p)
{
	PGresult   *res = api.GetRemoteCommandResult(p->conn->conn, true);

	if (res != NULL && api.PQresultStatus(res) == PGRES_FATAL_ERROR)
		report_remote_error(load, p, res);
	if (res != NULL)
		api.PQclear(res);
	api.ReportConnectionError(p->conn->conn, ERROR);
	pg_unreachable();
}

/* Send len bytes into the COPY of placement p, which is open. */
static void
send_bytes(ZcCitusLoad *load, ZcPlacement *p, const uint8 *data, uint64 len)
{
	while (len > 0)
	{
		int			n = (int) Min(len, (uint64) (64 * 1024 * 1024));

		if (!api.PutRemoteCopyData(p->conn->conn, (const char *) data, n))
			report_send_failure(load, p);
		data += n;
		len -= n;
	}
}

/* The COPY command that loads one segment of shard from a sub-stream. */
static char *
copy_command(ZcCitusLoad *load, ZcShard *shard, const ZcLoadOptions *options)
{
	StringInfoData cmd;
	ListCell   *lc;
	bool		first = true;

	/* zcimport's FORMAT is known once its library is loaded */
	initStringInfo(&cmd);
	appendStringInfo(&cmd, "SELECT zcimport.version(); COPY %s (", shard->name);
	foreach(lc, options->attnums)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(load->rel),
											  lfirst_int(lc) - 1);

		appendStringInfo(&cmd, "%s%s", first ? "" : ", ",
						 quote_identifier(NameStr(att->attname)));
		first = false;
	}
	for (int e = 0; e < load->nextra; e++)
	{
		appendStringInfo(&cmd, "%s%s", first ? "" : ", ",
						 quote_identifier(load->extra[e].attname));
		first = false;
	}
	appendStringInfoString(&cmd, ") FROM STDIN WITH (FORMAT zcimport)");
	return cmd.data;
}

/* Send the COPY command of p's next segment; segment_begin_wait() follows. */
static void
segment_begin_send(ZcCitusLoad *load, ZcPlacement *p)
{
	Assert(p->conn->active == NULL && p->conn->next == NULL);
	if (!api.SendRemoteCommand(p->conn->conn, p->shard->command))
		api.ReportConnectionError(p->conn->conn, ERROR);
	p->conn->next = p;
}

/*
 * Wait for the COPY of p's segment to start, then send the segment's header,
 * its dictionaries and what was pending.
 */
static void
segment_begin_wait(ZcCitusLoad *load, ZcPlacement *p)
{
	ZcConn	   *c = p->conn;
	PGresult   *res;

	/* SELECT zcimport.version(), then COPY */
	res = api.GetRemoteCommandResult(c->conn, true);
	if (res == NULL)
		api.ReportConnectionError(c->conn, ERROR);
	if (api.PQresultStatus(res) != PGRES_TUPLES_OK)
		report_remote_error(load, p, res);
	api.PQclear(res);
	res = api.GetRemoteCommandResult(c->conn, true);
	if (res == NULL)
		api.ReportConnectionError(c->conn, ERROR);
	if (api.PQresultStatus(res) != PGRES_COPY_IN)
		report_remote_error(load, p, res);
	api.PQclear(res);
	c->next = NULL;
	c->active = p;

	send_bytes(load, p, load->header.data, load->header.len);
	for (uint32 col = 0; col < load->dec.ncolumns; col++)
		if (p->dicts[col] != NULL)
			send_bytes(load, p, p->dicts[col]->data, p->dicts[col]->len);
	if (p->pending.len > 0)
		send_bytes(load, p, (const uint8 *) p->pending.data, p->pending.len);
	resetStringInfo(&p->pending);
}

/* Start the COPY of p's next segment on its idle connection. */
static void
segment_begin(ZcCitusLoad *load, ZcPlacement *p)
{
	segment_begin_send(load, p);
	segment_begin_wait(load, p);
}

/* End the sub-stream of p's open segment and the COPY. */
static void
segment_end_send(ZcCitusLoad *load, ZcPlacement *p)
{
	uint8		end[ZC_SUBSTREAM_END_LEN];

	Assert(p->conn->active == p);
	zc_substream_write_end(p->segment_rows, end);
	send_bytes(load, p, end, sizeof(end));
	if (!api.PutRemoteCopyEnd(p->conn->conn, NULL))
		report_send_failure(load, p);
}

/*
 * Wait for the COPY of p's segment to finish and check the rows it
 * inserted.  A worker's error is returned, not raised, so that the caller
 * can report the earliest of several; NULL means success.
 */
static PGresult *
segment_end_wait(ZcCitusLoad *load, ZcPlacement *p)
{
	ZcConn	   *c = p->conn;
	PGresult   *res = api.GetRemoteCommandResult(c->conn, true);
	PGresult   *next;
	uint64		inserted;

	if (res == NULL)
		api.ReportConnectionError(c->conn, ERROR);
	if (api.PQresultStatus(res) != PGRES_COMMAND_OK)
		return res;
	inserted = strtou64(api.PQcmdTuples(res), NULL, 10);
	api.PQclear(res);
	if (inserted != p->segment_rows)
		elog(ERROR, "shard %s on %s:%d inserted " UINT64_FORMAT " rows of " UINT64_FORMAT,
			 p->shard->name, p->nodename, p->nodeport, inserted, p->segment_rows);
	while ((next = api.GetRemoteCommandResult(c->conn, true)) != NULL)
		api.PQclear(next);
	p->segment_first += p->segment_rows;
	p->segment_rows = 0;
	c->active = NULL;
	return NULL;
}

/* End p's open segment, raising the worker's error if it failed. */
static void
segment_end(ZcCitusLoad *load, ZcPlacement *p)
{
	PGresult   *res;

	segment_end_send(load, p);
	res = segment_end_wait(load, p);
	if (res != NULL)
		report_remote_error(load, p, res);
}

/*
 * Send a message holding rows rows of the shard to placement p: into its
 * open COPY, or to pending when another placement's COPY holds the
 * connection.  A placement whose pending grows past ZC_CITUS_SWITCH_BYTES
 * takes the connection over.
 */
static void
placement_send(ZcCitusLoad *load, ZcPlacement *p, const uint8 *data,
			   uint64 len, uint64 rows)
{
	ZcConn	   *c = p->conn;

	p->segment_rows += rows;
	if (c->active == p)
	{
		send_bytes(load, p, data, len);
		return;
	}
	appendBinaryStringInfoNT(&p->pending, (const char *) data, (int) len);
	if (c->active == NULL)
		segment_begin(load, p);
	else if (p->pending.len > ZC_CITUS_SWITCH_BYTES)
	{
		segment_end(load, c->active);
		segment_begin(load, p);
	}
}

/*
 * Make msg the dictionary of column col that p's next segment starts with.
 * A dictionary no placement holds any more is freed, so that a stream that
 * replaces its dictionaries batch after batch does not pile them up.
 */
static void
hold_dictionary(ZcPlacement *p, int col, ZcMessage *msg)
{
	ZcMessage  *old = p->dicts[col];

	msg->refs++;
	p->dicts[col] = msg;
	if (old != NULL && --old->refs == 0)
	{
		pfree((void *) old->data);
		pfree(old);
	}
}

/* Send a dictionary message for stream column col to placement p. */
static void
placement_dictionary(ZcCitusLoad *load, ZcPlacement *p, int col,
					 ZcMessage *msg)
{
	/* the dictionary the next segment starts with, or one in pending */
	if (p->conn->active == p)
	{
		send_bytes(load, p, msg->data, msg->len);
		hold_dictionary(p, col, msg);
	}
	else if (p->pending.len == 0)
		hold_dictionary(p, col, msg);
	else
		appendBinaryStringInfoNT(&p->pending, (const char *) msg->data,
								 (int) msg->len);
}

/* Send a message holding rows rows to every placement of shard. */
static void
send_to_shard(ZcCitusLoad *load, ZcShard *shard, const uint8 *data,
			  uint64 len, uint64 rows)
{
	for (int i = 0; i < shard->nplacements; i++)
		placement_send(load, &shard->placements[i], data, len, rows);
}

/* The connection for placement p, among the load's, or NULL. */
static ZcConn *
find_conn(ZcCitusLoad *load, void *conn)
{
	for (int i = 0; i < load->nconns; i++)
		if (load->conns[i].conn == conn)
			return &load->conns[i];
	return NULL;
}

/* The largest number of connections to one node (Citus's pool size). */
static int
pool_size(void)
{
	const char *value = GetConfigOption("citus.max_adaptive_executor_pool_size",
										true, false);
	int			size = value ? atoi(value) : 16;

	return Max(size, 1);
}

/*
 * Give every placement a connection, as Citus's COPY does: the connection
 * that already wrote the placement in this transaction if there is one, a
 * new one while the node has fewer than citus.max_adaptive_executor_pool_size,
 * else the node's connection with the fewest placements.  Each connection is
 * claimed for the load and joins Citus's coordinated transaction.
 */
static void
acquire_connections(ZcCitusLoad *load, const ZcLoadOptions *options)
{
	char	   *user = api.CurrentUserName();
	int			pool = pool_size();
	int			total = 0;
	List	   *started = NIL;
	List	   *all = NIL;

	for (int s = 0; s < load->nshards; s++)
		total += load->shards[s].nplacements;
	load->conns = palloc0(sizeof(ZcConn) * total);
	load->nconns = 0;

	for (int s = 0; s < load->nshards; s++)
	{
		ZcShard    *shard = &load->shards[s];

		shard->command = copy_command(load, shard, options);
		for (int i = 0; i < shard->nplacements; i++)
		{
			ZcPlacement *p = &shard->placements[i];
			List	   *citus_placements;
			void	   *citus_placement;
			List	   *access;
			void	   *conn;
			ZcConn	   *c;

			citus_placements = api.ActiveShardPlacementListOnGroup(shard->shardid,
																   p->groupid);
			if (citus_placements == NIL)
				elog(ERROR, "placement of shard " UINT64_FORMAT " on group %d not found",
					 shard->shardid, p->groupid);
			citus_placement = linitial(citus_placements);
			access = list_make1(api.CreatePlacementAccess(citus_placement,
														  ZC_CITUS_PLACEMENT_ACCESS_DML));

			conn = api.GetConnectionIfPlacementAccessedInXact(ZC_CITUS_FOR_DML,
															  access, user);
			if (conn == NULL)
			{
				int			on_node = 0;
				ZcConn	   *least = NULL;

				for (int k = 0; k < load->nconns; k++)
				{
					if (load->conns[k].groupid != p->groupid)
						continue;
					on_node++;
					if (least == NULL ||
						load->conns[k].nplacements < least->nplacements)
						least = &load->conns[k];
				}
				if (on_node < pool)
				{
					conn = api.StartPlacementListConnection(ZC_CITUS_FOR_DML |
															ZC_CITUS_REQUIRE_CLEAN_CONNECTION,
															access, user);
					if (conn == NULL)
						elog(ERROR, "Citus gave no connection to %s:%d",
							 p->nodename, p->nodeport);
					if (find_conn(load, conn) == NULL)
						started = lappend(started, conn);
				}
				else
				{
					conn = least->conn;
					api.AssignPlacementListToConnection(access, conn);
				}
			}

			c = find_conn(load, conn);
			if (c == NULL)
			{
				c = &load->conns[load->nconns++];
				c->conn = conn;
				c->groupid = p->groupid;
				all = lappend(all, conn);
			}
			c->nplacements++;
			p->conn = c;
			p->shard = shard;
			initStringInfo(&p->pending);
			p->dicts = palloc0(sizeof(ZcMessage *) * Max(list_length(options->attnums), 1));
		}
	}

	/*
	 * Claimed only now: a connection that wrote several of the placements
	 * earlier in the transaction is returned for each of them, and Citus
	 * refuses to return a claimed one.
	 */
	api.FinishConnectionListEstablishment(started);
	for (int k = 0; k < load->nconns; k++)
	{
		api.ClaimConnectionExclusively(load->conns[k].conn);
		api.MarkRemoteTransactionCritical(load->conns[k].conn);
	}
	api.RemoteTransactionsBeginIfNecessary(all);
}

/*
 * End every open COPY, then load what waits in pending, a segment per
 * connection at a time, until nothing is left.  The statements run on all
 * connections at once; when several shards fail, the error reported is the
 * one of the earliest frame row, as a COPY that reads the rows in order
 * would report.
 */
static void
finish_copies(ZcCitusLoad *load)
{
	for (;;)
	{
		PGresult   *failed = NULL;
		ZcPlacement *failed_placement = NULL;
		uint64		failed_row = PG_UINT64_MAX;
		bool		more = false;

		for (int k = 0; k < load->nconns; k++)
			if (load->conns[k].active != NULL)
				segment_end_send(load, load->conns[k].active);
		for (int k = 0; k < load->nconns; k++)
		{
			ZcPlacement *p = load->conns[k].active;
			PGresult   *res;
			uint64		row = PG_UINT64_MAX - 1;
			const char *rest;
			int			rest_len;

			if (p == NULL)
				continue;
			res = segment_end_wait(load, p);
			if (res == NULL)
				continue;
			(void) remote_error_row(load, p,
									api.PQresultErrorField(res, PG_DIAG_CONTEXT),
									&row, &rest, &rest_len);
			if (failed == NULL || row < failed_row)
			{
				if (failed != NULL)
					api.PQclear(failed);
				failed = res;
				failed_placement = p;
				failed_row = row;
			}
			else
				api.PQclear(res);
		}
		if (failed != NULL)
			report_remote_error(load, failed_placement, failed);

		/* the next placement with rows waiting, on each connection */
		for (int s = 0; s < load->nshards; s++)
		{
			for (int i = 0; i < load->shards[s].nplacements; i++)
			{
				ZcPlacement *p = &load->shards[s].placements[i];

				if (p->segment_rows > 0 && p->conn->active == NULL &&
					p->conn->next == NULL)
				{
					segment_begin_send(load, p);
					more = true;
				}
			}
		}
		if (!more)
			break;
		for (int k = 0; k < load->nconns; k++)
			if (load->conns[k].next != NULL)
				segment_begin_wait(load, load->conns[k].next);
	}

	for (int k = 0; k < load->nconns; k++)
		api.UnclaimConnection(load->conns[k].conn);
}

/* The shard whose hash range holds hash h. */
static inline int
find_shard(ZcCitusLoad *load, int32 h)
{
	int			lo = 0;
	int			hi = load->nshards - 1;

	/* the last shard whose range starts at or before h */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo + 1) / 2;

		if (load->shards[mid].min <= h)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (load->shards[lo].min > h || load->shards[lo].max < h)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no shard of \"%s\" holds hash value %d", load->relname, h),
				 errdetail("The shards' hash ranges in pg_dist_shard leave a gap.")));
	return lo;
}

/*
 * Remember that frame row `row` is the next row of the shard's stream, while
 * the map is complete and within its budget.
 */
static inline void
map_row(ZcCitusLoad *load, ZcShard *shard, uint64 row)
{
	if (shard->row_map_len != shard->rows)
		return;					/* the map stopped earlier */
	if (shard->row_map_len == shard->row_map_cap)
	{
		uint64		grow = Max(shard->row_map_cap, (uint64) 1024);

		if (load->row_map_total + grow > ZC_CITUS_ROW_MAP_MAX)
			return;
		shard->row_map = shard->row_map == NULL
			? MemoryContextAlloc(load->load_context, sizeof(uint64) * grow)
			: repalloc(shard->row_map,
					   sizeof(uint64) * (shard->row_map_cap + grow));
		shard->row_map_cap += grow;
		load->row_map_total += grow;
	}
	shard->row_map[shard->row_map_len++] = row;
}

/* Hash the distribution column of every row of the batch to its shard. */
static void
hash_batch(ZcCitusLoad *load)
{
	ZcDecoder  *dec = &load->dec;
	ZcConverter *cv = &load->converter;
	uint64		nrows = dec->batch_rows;

	for (uint64 r0 = 0; r0 < nrows; r0 += ZC_CITUS_CHUNK_ROWS)
	{
		int			count = (int) Min((uint64) ZC_CITUS_CHUNK_ROWS, nrows - r0);
		MemoryContext oldcontext;
		bool		anynull;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(load->chunk_context);
		oldcontext = MemoryContextSwitchTo(load->chunk_context);
		cv->row_base = load->rows_seen;
		anynull = cv->fn(cv, &dec->views[load->dist_column], r0, count,
						 load->values, load->isnull);
		load->pos.column = -1;
		load->pos.has_row = false;

		for (int i = 0; i < count; i++)
		{
			int32		h;

			if (anynull && load->isnull[i])
			{
				load->pos.column = load->dist_column;
				load->pos.row = frame_row(load, r0 + i);
				load->pos.has_row = true;
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("null value in distribution column \"%s\" of relation \"%s\"",
								cv->attname, load->relname),
						 errdetail("Citus places each row by its distribution column, which cannot be NULL.")));
			}
			h = DatumGetInt32(FunctionCall1Coll(&load->hash_fn, load->dist_collation,
												load->values[i]));
			load->shard_of[r0 + i] = find_shard(load, h);
		}
		MemoryContextSwitchTo(oldcontext);
	}
}

/* Does the expression take a sequence's next value? */
static bool
takes_nextval_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, NextValueExpr))
		return true;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == F_NEXTVAL)
		return true;
	return expression_tree_walker(node, takes_nextval_walker, context);
}

/* The text of value d of type typid, by its output function. */
static char *
datum_text(Datum d, Oid typid)
{
	Oid			outfunc;
	bool		isvarlena;

	getTypeOutputInfo(typid, &outfunc, &isvarlena);
	return OidOutputFunctionCall(outfunc, d);
}

/*
 * Find the columns the stream does not fill whose default is not a
 * constant, the extra columns (see ZcExtra); a constant default is on the
 * shards too.  A default the same for every row is taken once, here.
 */
static void
find_extras(ZcCitusLoad *load, const ZcLoadOptions *options)
{
	TupleDesc	tupdesc = RelationGetDescr(load->rel);

	load->extra = palloc0(sizeof(ZcExtra) * tupdesc->natts);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		ZcExtra    *x;
		Node	   *defexpr;
		Expr	   *planned;

		if (att->attisdropped || att->attgenerated ||
			stream_column_of(options, att->attnum) >= 0)
			continue;
		defexpr = build_column_default(load->rel, att->attnum);
		if (defexpr == NULL)
			continue;
		planned = expression_planner((Expr *) defexpr);
		if (IsA(planned, Const))
			continue;

		if (load->econtext == NULL)
			load->econtext = CreateStandaloneExprContext();
		x = &load->extra[load->nextra++];
		x->attnum = att->attnum;
		x->attname = pstrdup(NameStr(att->attname));
		x->expr = ExecInitExpr(planned, NULL);
		if (takes_nextval_walker(defexpr, NULL) &&
			(att->atttypid == INT2OID || att->atttypid == INT4OID ||
			 att->atttypid == INT8OID))
		{
			x->kind = ZC_EXTRA_SEQUENCE;
			x->width = att->atttypid == INT2OID ? 2 :
				att->atttypid == INT4OID ? 4 : 8;
			x->wire_type = att->atttypid == INT2OID ? ZC_T_INT16 :
				att->atttypid == INT4OID ? ZC_T_INT32 : ZC_T_INT64;
		}
		else if (!contain_volatile_functions((Node *) planned))
		{
			bool		isnull;
			Datum		d;

			/* the same value for every row: take it once */
			x->kind = ZC_EXTRA_CONSTANT;
			d = ExecEvalExprSwitchContext(x->expr, load->econtext, &isnull);
			x->const_null = isnull;
			if (!isnull)
				x->const_text = datum_text(d, att->atttypid);
			ResetExprContext(load->econtext);
		}
		else
		{
			x->kind = ZC_EXTRA_PER_ROW;
			initStringInfo(&x->texts);
		}
	}
}

/* Take the per-row extra columns' defaults for every row of the batch. */
static void
eval_extras(ZcCitusLoad *load)
{
	uint64		nrows = load->dec.batch_rows;
	uint64		n1 = Max(nrows, 1);

	for (int e = 0; e < load->nextra; e++)
	{
		ZcExtra    *x = &load->extra[e];

		if (x->kind == ZC_EXTRA_SEQUENCE)
			x->values = x->values == NULL
				? MemoryContextAllocHuge(load->load_context, n1 * x->width)
				: repalloc_huge(x->values, n1 * x->width);
		else if (x->kind == ZC_EXTRA_PER_ROW)
		{
			x->offsets = x->offsets == NULL
				? MemoryContextAllocHuge(load->load_context, (n1 + 1) * sizeof(uint64))
				: repalloc_huge(x->offsets, (n1 + 1) * sizeof(uint64));
			x->nulls = x->nulls == NULL
				? MemoryContextAllocHuge(load->load_context, n1)
				: repalloc_huge(x->nulls, n1);
			resetStringInfo(&x->texts);
		}
	}
	for (uint64 r = 0; r < nrows; r++)
	{
		if (r % ZC_CITUS_CHUNK_ROWS == 0)
		{
			CHECK_FOR_INTERRUPTS();
			ResetExprContext(load->econtext);
		}
		for (int e = 0; e < load->nextra; e++)
		{
			ZcExtra    *x = &load->extra[e];
			Form_pg_attribute att;
			bool		isnull;
			Datum		d;

			if (x->kind == ZC_EXTRA_CONSTANT)
				continue;
			d = ExecEvalExprSwitchContext(x->expr, load->econtext, &isnull);
			if (x->kind == ZC_EXTRA_PER_ROW)
			{
				att = TupleDescAttr(RelationGetDescr(load->rel), x->attnum - 1);
				x->offsets[r] = x->texts.len;
				x->nulls[r] = isnull;
				if (!isnull)
				{
					MemoryContext old = MemoryContextSwitchTo(load->econtext->ecxt_per_tuple_memory);
					char	   *text = datum_text(d, att->atttypid);

					MemoryContextSwitchTo(old);
					appendStringInfoString(&x->texts, text);
				}
				continue;
			}
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("the default of column \"%s\" of \"%s\" is null",
								x->attname, load->relname)));
			if (x->width == 2)
			{
				int16		v = DatumGetInt16(d);

				memcpy(x->values + r * 2, &v, 2);
			}
			else if (x->width == 4)
			{
				int32		v = DatumGetInt32(d);

				memcpy(x->values + r * 4, &v, 4);
			}
			else
			{
				int64		v = DatumGetInt64(d);

				memcpy(x->values + r * 8, &v, 8);
			}
		}
	}
	for (int e = 0; e < load->nextra; e++)
		if (load->extra[e].kind == ZC_EXTRA_PER_ROW)
			load->extra[e].offsets[nrows] = load->extra[e].texts.len;
}

/* Append a buffer (length, bytes, zero padding) to buf. */
static void
append_buffer(StringInfo buf, const void *data, uint64 len)
{
	static const char zeros[8] = {0};

	appendBinaryStringInfo(buf, (const char *) &len, 8);
	appendBinaryStringInfo(buf, data, (int) len);
	appendBinaryStringInfo(buf, zeros, (int) (ZC_ALIGN8(len) - len));
}

/*
 * The header each segment starts with: the stream's, with a descriptor for
 * each extra column appended, then the dictionary message of each constant
 * one.
 */
static void
keep_header(ZcCitusLoad *load, const uint8 *data, size_t len)
{
	StringInfoData buf;
	uint32		ncolumns = load->dec.ncolumns + load->nextra;
	uint32		header_len;
	static const char zeros[8] = {0};

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, (const char *) data, len);
	for (int e = 0; e < load->nextra; e++)
	{
		ZcExtra    *x = &load->extra[e];
		uint8		desc[ZC_DESC_FIXED_LEN] = {0};
		uint16		name_len = (uint16) strlen(x->attname);
		size_t		padded = ZC_ALIGN8(ZC_DESC_FIXED_LEN + name_len);

		switch (x->kind)
		{
			case ZC_EXTRA_SEQUENCE:
				desc[0] = x->wire_type;
				break;
			case ZC_EXTRA_CONSTANT:
				desc[0] = ZC_T_DICTIONARY;
				desc[4] = ZC_T_INT8;	/* codes: 0, or -1 for NULL */
				desc[5] = ZC_T_UTF8;
				break;
			case ZC_EXTRA_PER_ROW:
				desc[0] = ZC_T_UTF8;
				desc[1] = ZC_NULLS_BYTEMASK;
				break;
		}
		memcpy(desc + 6, &name_len, 2);
		appendBinaryStringInfo(&buf, (const char *) desc, sizeof(desc));
		appendBinaryStringInfo(&buf, x->attname, name_len);
		appendBinaryStringInfo(&buf, zeros,
							   (int) (padded - ZC_DESC_FIXED_LEN - name_len));
	}
	header_len = (uint32) buf.len;
	memcpy(buf.data + 12, &ncolumns, 4);
	memcpy(buf.data + 16, &header_len, 4);

	for (int e = 0; e < load->nextra; e++)
	{
		ZcExtra    *x = &load->extra[e];
		uint32		kind = ZC_MSG_DICTIONARY;
		uint32		column = load->dec.ncolumns + e;
		uint64		count = x->const_null ? 0 : 1;
		int64		offsets[2] = {0, 0};

		if (x->kind != ZC_EXTRA_CONSTANT)
			continue;
		appendBinaryStringInfo(&buf, (const char *) &kind, 4);
		appendBinaryStringInfo(&buf, (const char *) &column, 4);
		appendBinaryStringInfo(&buf, (const char *) &count, 8);
		if (!x->const_null)
			offsets[1] = strlen(x->const_text);
		append_buffer(&buf, offsets, (count + 1) * sizeof(int64));
		append_buffer(&buf, x->const_null ? "" : x->const_text, offsets[1]);
	}

	load->header.data = MemoryContextAlloc(load->load_context, buf.len);
	memcpy((uint8 *) load->header.data, buf.data, buf.len);
	load->header.len = buf.len;
	pfree(buf.data);
}

/* Split by shard: the arrays that hold a batch's rows. */
static void
start_routing(ZcCitusLoad *load)
{
	load->shard_of = palloc(sizeof(int));
	load->order = palloc(sizeof(uint32));
	load->shard_start = palloc0(sizeof(int) * (load->nshards + 1));
	load->shard_next = palloc0(sizeof(int) * (load->nshards + 1));
}

/* Bytes of extra column x's buffers for rows rows[0..n). */
static uint64
extra_len(ZcExtra *x, const uint32 *rows, uint32 n)
{
	uint64		data = 0;

	switch (x->kind)
	{
		case ZC_EXTRA_SEQUENCE:
			return 8 + ZC_ALIGN8((uint64) n * x->width);
		case ZC_EXTRA_CONSTANT:
			return 8 + ZC_ALIGN8((uint64) n);
		case ZC_EXTRA_PER_ROW:
			for (uint32 i = 0; i < n; i++)
				data += x->offsets[rows[i] + 1] - x->offsets[rows[i]];
			return 8 + ZC_ALIGN8((uint64) n) +
				8 + ZC_ALIGN8(((uint64) n + 1) * 8) +
				8 + ZC_ALIGN8(data);
	}
	return 0;
}

/* Write one buffer's length and return where its bytes go. */
static inline uint8 *
buffer_start(uint8 *out, uint64 len)
{
	memcpy(out, &len, 8);
	return out + 8;
}

/*
 * Write the extra columns' buffers for rows rows[0..n) of the batch, as a
 * batch message's last columns; returns the end.
 */
static uint8 *
write_extras(ZcCitusLoad *load, const uint32 *rows, uint32 n, uint8 *out)
{
	for (int e = 0; e < load->nextra; e++)
	{
		ZcExtra    *x = &load->extra[e];
		uint64		len;
		uint8	   *p;

		switch (x->kind)
		{
			case ZC_EXTRA_SEQUENCE:
				len = (uint64) n * x->width;
				p = buffer_start(out, len);
				for (uint32 i = 0; i < n; i++)
					memcpy(p + (uint64) i * x->width,
						   x->values + (uint64) rows[i] * x->width, x->width);
				memset(p + len, 0, ZC_ALIGN8(len) - len);
				out = p + ZC_ALIGN8(len);
				break;
			case ZC_EXTRA_CONSTANT:
				p = buffer_start(out, n);
				memset(p, x->const_null ? 0xFF : 0, n);
				memset(p + n, 0, ZC_ALIGN8((uint64) n) - n);
				out = p + ZC_ALIGN8((uint64) n);
				break;
			case ZC_EXTRA_PER_ROW:
				{
					int64		offset = 0;
					uint8	   *offsets;

					/* validity: a byte mask */
					p = buffer_start(out, n);
					for (uint32 i = 0; i < n; i++)
						p[i] = x->nulls[rows[i]] ? 1 : 0;
					memset(p + n, 0, ZC_ALIGN8((uint64) n) - n);
					out = p + ZC_ALIGN8((uint64) n);
					/* offsets, then data */
					offsets = buffer_start(out, ((uint64) n + 1) * 8);
					out = offsets + ZC_ALIGN8(((uint64) n + 1) * 8);
					for (uint32 i = 0; i < n; i++)
					{
						memcpy(offsets + (uint64) i * 8, &offset, 8);
						offset += x->offsets[rows[i] + 1] - x->offsets[rows[i]];
					}
					memcpy(offsets + (uint64) n * 8, &offset, 8);
					p = buffer_start(out, offset);
					for (uint32 i = 0; i < n; i++)
					{
						uint64		l = x->offsets[rows[i] + 1] - x->offsets[rows[i]];

						memcpy(p, x->texts.data + x->offsets[rows[i]], l);
						p += l;
					}
					len = offset;
					memset(p, 0, ZC_ALIGN8(len) - len);
					out = p + (ZC_ALIGN8(len) - len);
				}
				break;
		}
	}
	return out;
}

/*
 * Split the batch by shard and send each shard its rows: in windows of
 * ZC_CITUS_WINDOW_ROWS rows, so that gathering each shard's rows reads a
 * window that stays in the cache, not the whole batch once per shard.
 */
static void
route_batch(ZcCitusLoad *load)
{
	ZcDecoder  *dec = &load->dec;
	uint64		nrows = dec->batch_rows;
	int			nshards = load->nshards;

	load->shard_of = repalloc(load->shard_of, sizeof(int) * Max(nrows, 1));
	load->order = repalloc(load->order, sizeof(uint32) * Max(nrows, 1));
	if (load->method == 'h')
		hash_batch(load);
	else
		memset(load->shard_of, 0, sizeof(int) * nrows);
	if (load->nextra > 0)
		eval_extras(load);

	for (uint64 w0 = 0; w0 < nrows; w0 += ZC_CITUS_WINDOW_ROWS)
	{
		uint64		w1 = Min(nrows, w0 + ZC_CITUS_WINDOW_ROWS);
		int		   *next = load->shard_next;

		/* counting sort: each shard's rows of the window, in frame order */
		memset(load->shard_start, 0, sizeof(int) * (nshards + 1));
		for (uint64 r = w0; r < w1; r++)
			load->shard_start[load->shard_of[r] + 1]++;
		for (int s = 0; s < nshards; s++)
			load->shard_start[s + 1] += load->shard_start[s];
		memcpy(next, load->shard_start, sizeof(int) * nshards);
		for (uint64 r = w0; r < w1; r++)
			load->order[next[load->shard_of[r]]++] = (uint32) r;

		for (int s = 0; s < nshards; s++)
		{
			ZcShard    *shard = &load->shards[s];
			uint32	   *rows = load->order + load->shard_start[s];
			uint32		n = load->shard_start[s + 1] - load->shard_start[s];
			uint64		batch_len;
			uint64		len;

			if (n == 0)
				continue;
			CHECK_FOR_INTERRUPTS();
			batch_len = zc_substream_batch_len(dec, rows, n);
			len = batch_len;
			for (int e = 0; e < load->nextra; e++)
				len += extra_len(&load->extra[e], rows, n);
			if (len > load->message_cap)
			{
				load->message = load->message == NULL
					? MemoryContextAllocHuge(load->load_context, len)
					: repalloc_huge(load->message, len);
				load->message_cap = len;
			}
			zc_substream_write_batch(dec, rows, n, load->message);
			write_extras(load, rows, n, load->message + batch_len);
			send_to_shard(load, shard, load->message, len, n);
			for (uint32 i = 0; i < n; i++)
			{
				if (load->method == 'h')
					map_row(load, shard, frame_row(load, rows[i]));
				shard->rows++;
			}
		}
	}
}

/* Remember where the batch that just arrived starts in the frame. */
static void
note_batch(ZcCitusLoad *load)
{
	uint64		b = load->dec.batches - 1;

	if (b >= load->batch_first_cap)
	{
		load->batch_first_cap = Max(load->batch_first_cap * 2, 64);
		load->batch_first = load->batch_first == NULL
			? MemoryContextAlloc(load->load_context,
								 sizeof(uint64) * load->batch_first_cap)
			: repalloc(load->batch_first, sizeof(uint64) * load->batch_first_cap);
	}
	load->batch_first[b] = load->rows_seen;
}

/* Set up the distribution column's converter and hash function. */
static void
start_hash(ZcCitusLoad *load, const ZcLoadOptions *options, Var *partkey)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(load->rel),
										  partkey->varattno - 1);
	TypeCacheEntry *tc;

	load->dist_column = stream_column_of(options, partkey->varattno);
	load->dist_collation = partkey->varcollid;
	tc = lookup_type_cache(partkey->vartype, TYPECACHE_HASH_PROC_FINFO);
	if (!OidIsValid(tc->hash_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify a hash function for type %s",
						format_type_be(partkey->vartype))));
	fmgr_info_copy(&load->hash_fn, &tc->hash_proc_finfo, load->load_context);

	zc_converter_init(&load->converter, load->dist_column,
					  &load->dec.columns[load->dist_column],
					  NameStr(att->attname), att->atttypid, att->atttypmod,
					  &load->pos);
	load->values = palloc(sizeof(Datum) * ZC_CITUS_CHUNK_ROWS);
	load->isnull = palloc(sizeof(bool) * ZC_CITUS_CHUNK_ROWS);
}

/* Say how the load travels. */
static void
notice_route(ZcCitusLoad *load)
{
	ZcShard    *first = &load->shards[0];

	if (load->method == 'h')
		ereport(NOTICE,
				(errmsg("loading \"%s\" into %d shards on %d nodes",
						load->relname, load->nshards, load->nnodes),
				 errdetail("The coordinator splits each batch by the hash of column \"%s\" and sends each shard its rows in FORMAT zcimport, in one distributed transaction.",
						   load->converter.attname)));
	else if (load->repmodel == 't')
		ereport(NOTICE,
				(errmsg("loading reference table \"%s\" on %d nodes",
						load->relname, load->nnodes),
				 errdetail("The coordinator sends the stream unchanged to every placement, in one distributed transaction.")));
	else
		ereport(NOTICE,
				(errmsg("loading \"%s\" into its shard on %s:%d",
						load->relname, first->placements[0].nodename,
						first->placements[0].nodeport),
				 errdetail("The coordinator sends the stream unchanged to the shard, in one distributed transaction.")));
}

/* A copy of a dictionary message, sent again with later segments. */
static ZcMessage *
keep_message(ZcCitusLoad *load, const uint8 *data, size_t len)
{
	ZcMessage  *msg = MemoryContextAllocZero(load->load_context, sizeof(ZcMessage));
	uint8	   *copy = MemoryContextAllocHuge(load->load_context, len);

	memcpy(copy, data, len);
	msg->data = copy;
	msg->len = len;
	return msg;
}

/* Allocator for the decoder: palloc in the load's context. */
static void *
decoder_alloc(void *arg, size_t size)
{
	return MemoryContextAllocZero((MemoryContext) arg, size);
}

/* The stream's header: check it, keep it for the segments, say the route. */
static void
on_header(void *arg, const uint8 *msg, size_t len)
{
	ZcCitusLoad *load = (ZcCitusLoad *) arg;
	const ZcLoadOptions *options = load->options;

	if ((int) load->dec.ncolumns != list_length(options->attnums))
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("the stream has %u columns, but COPY into \"%s\" expects %d",
						load->dec.ncolumns, load->relname,
						list_length(options->attnums)),
				 errhint("Stream columns are matched to the COPY column list by position; list the table's columns in stream order.")));
	keep_header(load, msg, len);
	if (load->method == 'h')
		start_hash(load, options, load->partkey);
	start_routing(load);
	notice_route(load);
}

/* A dictionary message: to every placement, and to the hashing converter. */
static void
on_dictionary(void *arg, const uint8 *msg, size_t len)
{
	ZcCitusLoad *load = (ZcCitusLoad *) arg;
	ZcMessage  *kept = keep_message(load, msg, len);
	int			col = (int) load->dec.dict.column;

	if (col == load->dist_column)
		zc_converter_set_dictionary(&load->converter, &load->dec.dict);
	for (int s = 0; s < load->nshards; s++)
		for (int i = 0; i < load->shards[s].nplacements; i++)
			placement_dictionary(load, &load->shards[s].placements[i], col, kept);
	/* every placement copied it into its pending messages */
	if (kept->refs == 0)
	{
		pfree((void *) kept->data);
		pfree(kept);
	}
}

/* A batch message: split by shard, or as it is to a table's one shard. */
static void
on_batch(void *arg, const uint8 *msg, size_t len)
{
	ZcCitusLoad *load = (ZcCitusLoad *) arg;

	note_batch(load);
	if (load->method == 'h' || load->nextra > 0)
		route_batch(load);
	else
	{
		send_to_shard(load, &load->shards[0], msg, len, load->dec.batch_rows);
	}
	load->rows_seen += load->dec.batch_rows;
	pgstat_progress_update_param(PROGRESS_COPY_TUPLES_PROCESSED, load->rows_seen);
}

/* Load the stream from input into Citus table options->rel. */
uint64
zc_citus_load(const ZcLoadOptions *options, ZcInput *input)
{
	ZcCitusLoad *load;
	ZcStreamHandler handler;
	ErrorContextCallback errcallback;
	MemoryContext oldcontext;
	MemoryContext load_context;
	bool		local = false;
	uint64		processed;

	/* zc_target_prepare() checked the table with zc_citus_check() */
	load_context = AllocSetContextCreate(CurrentMemoryContext,
										 "zcimport Citus load",
										 ALLOCSET_DEFAULT_SIZES);
	oldcontext = MemoryContextSwitchTo(load_context);
	load = palloc0(sizeof(ZcCitusLoad));
	load->load_context = load_context;
	load->chunk_context = AllocSetContextCreate(load_context,
												"zcimport Citus chunk",
												ALLOCSET_DEFAULT_SIZES);
	load->options = options;
	load->rel = options->rel;
	load->relname = RelationGetRelationName(options->rel);
	load->pos.column = -1;
	load->dist_column = -1;
	zc_decoder_init(&load->dec, decoder_alloc, load_context,
					ZC_CITUS_MAX_MESSAGE_LEN);

	errcallback.callback = citus_error_callback;
	errcallback.arg = load;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	read_partition(RelationGetRelid(load->rel), &load->method,
				   &load->repmodel, &load->partkey);
	api.EnsureModificationsCanRunOnRelation(RelationGetRelid(load->rel));
	lock_and_read_shards(load);
	find_extras(load, options);

	api.EnsureTaskExecutionAllowed(true);
	for (int s = 0; s < load->nshards; s++)
		for (int i = 0; i < load->shards[s].nplacements; i++)
			local |= load->shards[s].placements[i].groupid == api.GetLocalGroupId();
	/* Citus wrote the coordinator's placement itself: it must go on doing so */
	if (local &&
		api.GetCurrentLocalExecutionStatus() == ZC_CITUS_LOCAL_EXECUTION_REQUIRED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot load into \"%s\" after Citus wrote a placement on this node in the transaction",
						load->relname),
				 errdetail("zcimport writes the coordinator's placements over a connection, which cannot see what Citus's local execution wrote."),
				 errhint("Run the load first in the transaction, or SET LOCAL citus.enable_local_execution TO off before the earlier statements.")));

	/*
	 * As Citus does when it reaches this node over a connection: the rest of
	 * the transaction must use connections too, to see the load's rows.
	 */
	if (local)
		api.SetLocalExecutionStatus(ZC_CITUS_LOCAL_EXECUTION_DISABLED);
	api.UseCoordinatedTransaction();
	api.Use2PCForCoordinatedTransaction();

	pgstat_progress_start_command(PROGRESS_COMMAND_COPY,
								  RelationGetRelid(load->rel));
	pgstat_progress_update_param(PROGRESS_COPY_COMMAND, PROGRESS_COPY_COMMAND_FROM);
	pgstat_progress_update_param(PROGRESS_COPY_TYPE, options->progress_type);

	acquire_connections(load, options);

	handler.header = on_header;
	handler.dictionary = on_dictionary;
	handler.batch = on_batch;
	handler.arg = load;
	handler.report_progress = true;
	zc_input_drive(input, &load->dec, &handler);
	finish_copies(load);
	processed = load->rows_seen;

	error_context_stack = errcallback.previous;
	pgstat_progress_end_command();
	MemoryContextSwitchTo(oldcontext);
	MemoryContextDelete(load_context);
	return processed;
}
