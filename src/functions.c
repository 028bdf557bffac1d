/*-------------------------------------------------------------------------
 *
 * functions.c
 *	  The SQL-callable functions of zcimport.
 *
 * zcimport.version()                      the loaded library's version
 * zcimport.import_bytea(regclass, bytea)  load a whole stream given as a value
 * zcimport.import_file(regclass, text)    load a .zci file on the server
 * zcimport.describe(bytea)                one row per stream column
 *
 * The import functions check their target as COPY FROM does (target.c), and
 * load through the same code as COPY ... (FORMAT zcimport), in the caller's
 * transaction: a failure leaves nothing behind.  import_file is for
 * superusers and members of pg_read_server_files, as COPY FROM a file is.
 * describe validates the whole stream without loading it.
 *
 * src/functions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/table.h"
#include "catalog/pg_authid.h"
#include "commands/progress.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_node.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "convert.h"
#include "input.h"
#include "load.h"
#include "stream.h"
#include "target.h"

/* the Makefile passes it, from python/zcimport/VERSION */
#ifndef ZCIMPORT_VERSION
#error "ZCIMPORT_VERSION is not defined: build with the Makefile"
#endif

PG_FUNCTION_INFO_V1(zcimport_version);
PG_FUNCTION_INFO_V1(zcimport_import_bytea);
PG_FUNCTION_INFO_V1(zcimport_import_file);
PG_FUNCTION_INFO_V1(zcimport_describe);

/* zcimport.version(): the version of the loaded library. */
Datum
zcimport_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(ZCIMPORT_VERSION));
}

/* Load a stream from input into the table relid, in every column. */
static uint64
load_into(Oid relid, ZcInput *input, int progress_type)
{
	ParseState *pstate = make_parsestate(NULL);
	ZcLoadOptions options;
	Relation	rel;
	uint64		processed;

	memset(&options, 0, sizeof(options));
	rel = table_open(relid, RowExclusiveLock);
	zc_target_prepare(pstate, rel, NIL, NULL, &options);
	options.progress_type = progress_type;
	processed = zc_load(&options, input);
	table_close(rel, NoLock);
	free_parsestate(pstate);
	return processed;
}

/* zcimport.import_bytea(target, data): load a complete stream. */
Datum
zcimport_import_bytea(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bytea	   *data = PG_GETARG_BYTEA_PP(1);
	ZcInput		input;

	zc_input_init_memory(&input, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));
	PG_RETURN_INT64((int64) load_into(relid, &input,
									  PROGRESS_COPY_TYPE_CALLBACK));
}

/* zcimport.import_file(target, path): load a stream file on the server. */
Datum
zcimport_import_file(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ZcInput		input;
	FILE	   *file;
	struct stat st;
	uint64		processed;

	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to load a file on the server"),
				 errdetail("Only superusers and members of pg_read_server_files may use zcimport.import_file(), as with COPY FROM a file."),
				 errhint("Send the file from the client instead, with psql's \\copy ... FROM 'file' WITH (FORMAT zcimport).")));

	file = AllocateFile(path, PG_BINARY_R);
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (fstat(fileno(file), &st) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path)));

	zc_input_init_file(&input, file, path);
	processed = load_into(relid, &input, PROGRESS_COPY_TYPE_FILE);

	if (FreeFile(file) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	PG_RETURN_INT64((int64) processed);
}

/* What describe() reports about one stream column. */
typedef struct ZcColumnStats
{
	int64		nulls;
	int64		bytes;
} ZcColumnStats;

/* Rows counted between checks for interrupts. */
#define ZC_DESCRIBE_INTERRUPT_ROWS	65536

/* NULLs of a batch's column: null encoding, sentinels, NULL codes. */
static int64
count_nulls(const ZcColumnDesc *desc, const ZcColumnView *view, uint64 nrows)
{
	int64		nulls = 0;

	/* a null column's rows are all NULL, and it has no values to look at */
	if (desc->type == ZC_T_NULL)
		return (int64) nrows;

	for (uint64 i = 0; i < nrows; i++)
	{
		if (i % ZC_DESCRIBE_INTERRUPT_ROWS == 0)
			CHECK_FOR_INTERRUPTS();
		nulls += zc_row_is_null(desc, view, i);
	}
	return nulls;
}

/* Bytes a batch's column takes in the stream, without length prefixes. */
static int64
column_bytes(const ZcColumnDesc *desc, const ZcColumnView *view, uint64 nrows)
{
	return (int64) (zc_validity_len(desc, nrows) +
					zc_values_len(desc, nrows) + view->data_len);
}

/* Allocator for the decoder: palloc0. */
static void *
describe_alloc(void *arg, size_t size)
{
	return palloc0(size);
}

/* What describe() gathers while it reads a stream. */
typedef struct ZcDescribe
{
	ZcDecoder	dec;
	ZcColumnStats *stats;		/* per column */
} ZcDescribe;

/* describe(): the header gives the columns. */
static void
describe_header(void *arg, const uint8 *msg, size_t len)
{
	ZcDescribe *state = (ZcDescribe *) arg;

	state->stats = palloc0(sizeof(ZcColumnStats) * state->dec.ncolumns);
}

/* describe(): a dictionary's bytes count for its column. */
static void
describe_dictionary(void *arg, const uint8 *msg, size_t len)
{
	ZcDescribe *state = (ZcDescribe *) arg;
	const ZcDictionaryView *dict = &state->dec.dict;

	state->stats[dict->column].bytes +=
		(dict->count + 1) * sizeof(int64) + dict->data_len;
}

/* describe(): a batch's NULLs and bytes, column by column. */
static void
describe_batch(void *arg, const uint8 *msg, size_t len)
{
	ZcDescribe *state = (ZcDescribe *) arg;
	ZcDecoder  *dec = &state->dec;

	CHECK_FOR_INTERRUPTS();
	for (uint32 c = 0; c < dec->ncolumns; c++)
	{
		state->stats[c].nulls += count_nulls(&dec->columns[c], &dec->views[c],
											 dec->batch_rows);
		state->stats[c].bytes += column_bytes(&dec->columns[c], &dec->views[c],
											  dec->batch_rows);
	}
}

/*
 * zcimport.describe(data): validate a whole stream and return one row per
 * column: its number, name, wire type, null encoding, whether sentinels are
 * NULL, rows, NULLs, and the bytes its buffers take.
 */
Datum
zcimport_describe(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	ZcDescribe	state;
	ZcStreamHandler handler;
	ZcInput		input;
	ZcDecoder  *dec = &state.dec;

	InitMaterializedSRF(fcinfo, 0);
	state.stats = NULL;
	zc_decoder_init(dec, describe_alloc, NULL, (uint64) MaxAllocSize);
	zc_input_init_memory(&input, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data));

	handler.header = describe_header;
	handler.dictionary = describe_dictionary;
	handler.batch = describe_batch;
	handler.arg = &state;
	handler.report_progress = false;
	zc_input_drive(&input, &state.dec, &handler);

	for (uint32 c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *desc = &dec->columns[c];
		Datum		values[8];
		bool		nulls[8] = {false};
		char	   *name;

		/* names are UTF-8 in the stream; show control characters escaped */
		name = zc_display_name(desc->name, desc->name_len);
		values[0] = Int32GetDatum((int32) c + 1);
		values[1] = CStringGetTextDatum(name);
		values[2] = CStringGetTextDatum(zc_describe_wire(desc));
		values[3] = CStringGetTextDatum(zc_null_encoding_name(desc->nulls));
		values[4] = BoolGetDatum((desc->flags & ZC_FLAG_SENTINEL_NULL) != 0);
		values[5] = Int64GetDatum((int64) dec->total_rows);
		values[6] = Int64GetDatum(state.stats[c].nulls);
		values[7] = Int64GetDatum(state.stats[c].bytes);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
