/*-------------------------------------------------------------------------
 *
 * convert.h
 *	  Converters from a stream column's wire type to a table column's type.
 *
 * A converter is chosen once per (wire type, column type) pair when the
 * stream's header arrives.  It then turns a range of a batch's column into
 * Datums in a tight loop, with no per-value type dispatch.  Conversions are
 * exact where the types match, widen where that is safe, and range-check
 * where they narrow; every error names the column and the frame row.
 *
 * src/convert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef ZCIMPORT_CONVERT_H
#define ZCIMPORT_CONVERT_H

#include "fmgr.h"
#include "lib/stringinfo.h"

#include "stream.h"

typedef struct ZcConverter ZcConverter;

/*
 * Where a load is, for error messages and the error context line.  The
 * converters set it only when they report an error or call out to code
 * that may (a domain check, a typmod coercion, an input function).
 */
typedef struct ZcPosition
{
	int			column;			/* stream column, or -1 */
	uint64		row;			/* frame row, 0-based */
	bool		has_row;
} ZcPosition;

/*
 * Convert rows [first, first + count) of a batch's column into values[] and
 * isnull[] (count entries each).  Returns true if any of them is NULL.
 */
typedef bool (*ZcConvertFn) (ZcConverter *cv, const ZcColumnView *view,
							 uint64 first, int count,
							 Datum *values, bool *isnull);

struct ZcConverter
{
	ZcConvertFn fn;
	ZcConvertFn inner_fn;		/* the typed loop, when fn adds a second pass */

	/* the stream column */
	const ZcColumnDesc *desc;
	int			column;			/* index in the stream */

	/* the table column */
	const char *attname;
	Oid			typid;			/* declared type, maybe a domain */
	int32		typmod;			/* declared typmod */
	Oid			basetypid;		/* the domain's base type, or typid */
	int32		basetypmod;
	int16		typlen;
	bool		typbyval;

	/* a domain's constraints are checked with domain_check() */
	bool		is_domain;
	void	   *domain_extra;

	/* unit scaling for time types: value * mul / div, in microseconds */
	int64		unit_mul;
	int64		unit_div;
	int64		unit_max;		/* time32/time64: 24 hours in the unit */

	/* the target type's typmod is enforced per value */
	bool		apply_typmod;
	FmgrInfo	typmod_func;	/* the type's length-coercion function */

	/*
	 * Text (utf8 values, dictionary entries) goes into text-like columns
	 * directly, and into any other type through its input function, which
	 * applies the typmod itself.  Text is validated as UTF-8, or converted to
	 * the server encoding when that is not UTF8, as COPY does.
	 */
	bool		via_input;
	FmgrInfo	in_func;
	Oid			in_typioparam;
	bool		server_utf8;
	StringInfoData scratch;		/* NUL-terminated copy for in_func */

	/*
	 * Dictionary columns: the dictionary's bytes, copied when it arrives,
	 * and each entry converted the first time a row uses it, so that errors
	 * name that row; dict_context is reset by each new dictionary.
	 */
	int64		dict_count;
	int64	   *dict_offsets;
	char	   *dict_data;
	Datum	   *dict_values;
	bool	   *dict_done;
	MemoryContext dict_context;

	/* frame row of the batch's first row, for error messages */
	uint64		row_base;
	ZcPosition *pos;			/* the load's position, updated on error */
	MemoryContext long_context; /* lives as long as the load */
};

/*
 * Choose the converter for a stream column and a table column.  Raises a
 * datatype_mismatch error, naming both types and what would work, when the
 * pair is not supported.  Allocates in the current memory context.
 */
extern void zc_converter_init(ZcConverter *cv, int column,
							  const ZcColumnDesc *desc,
							  const char *attname, Oid typid, int32 typmod,
							  ZcPosition *pos);

/*
 * Take a dictionary message's entries for the column (they are copied: the
 * message's buffer is released after this call).
 */
extern void zc_converter_set_dictionary(ZcConverter *cv,
										const ZcDictionaryView *dict);

/* A stream column's name for messages, with control characters escaped. */
extern char *zc_display_name(const char *name, int len);

/* A short, readable description of a wire column, e.g. "float64". */
extern const char *zc_describe_wire(const ZcColumnDesc *desc);

#endif							/* ZCIMPORT_CONVERT_H */
