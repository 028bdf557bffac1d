/*-------------------------------------------------------------------------
 *
 * convert.c
 *	  Converters from stream wire types to PostgreSQL column types.
 *
 * zc_converter_init() picks one function per (wire type, column type) pair,
 * once per stream.  Each function converts a range of rows of one column
 * into Datums in a single loop: NULLs come from the null encoding (a
 * separate pass) and from sentinels (NaN, NaT), values are widened exactly
 * or range-checked, and errors name the column and the frame row.  A
 * domain's constraints and a column's typmod (numeric(p,s), timestamp(p))
 * are applied afterwards to the values that need it.
 *
 * src/convert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "common/shortest_dec.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "convert.h"

/* Days and microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define ZC_UNIX_TO_PG_DAYS		((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE))
#define ZC_UNIX_TO_PG_USECS		(ZC_UNIX_TO_PG_DAYS * USECS_PER_DAY)

/* Milliseconds per day, for date64. */
#define ZC_MSECS_PER_DAY		INT64CONST(86400000)

/* Record where an error happened, for the error context line. */
static void
mark_position(ZcConverter *cv, uint64 row)
{
	cv->pos->column = cv->column;
	cv->pos->row = row;
	cv->pos->has_row = true;
}

/* Report a value that does not fit the column's type. */
pg_noreturn static void
report_out_of_range(ZcConverter *cv, uint64 row, const char *value)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("value %s is out of range for type %s",
					value,
					format_type_with_typemod(cv->typid, cv->typmod))));
}

/* Report a float that cannot become an integer (NaN, inf, fraction). */
pg_noreturn static void
report_not_integral(ZcConverter *cv, uint64 row, double v)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.17g", v);
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("value %s is not an integer",
					buf),
			 errdetail("Column \"%s\" is of type %s; a float column loads into it only when every value is a whole number.",
					   cv->attname, format_type_be(cv->typid))));
}

/* Report a signed integer out of range. */
pg_noreturn static void
report_int_range(ZcConverter *cv, uint64 row, int64 v)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), INT64_FORMAT, v);
	report_out_of_range(cv, row, buf);
}

/* Report an unsigned integer out of range. */
pg_noreturn static void
report_uint_range(ZcConverter *cv, uint64 row, uint64 v)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), UINT64_FORMAT, v);
	report_out_of_range(cv, row, buf);
}

/* Report a float out of range of real. */
pg_noreturn static void
report_float_range(ZcConverter *cv, uint64 row, double v)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "%.17g", v);
	report_out_of_range(cv, row, buf);
}

/* Report a time value outside PostgreSQL's range. */
pg_noreturn static void
report_time_range(ZcConverter *cv, uint64 row, int64 v)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("value " INT64_FORMAT " %s since 1970-01-01 is out of range for type %s",
					v, zc_time_unit_name(cv->desc->unit),
					format_type_with_typemod(cv->typid, cv->typmod))));
}

/* Report a date outside PostgreSQL's range. */
pg_noreturn static void
report_date_range(ZcConverter *cv, uint64 row, int32 days)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("value %d days since 1970-01-01 is out of range for type %s",
					days,
					format_type_with_typemod(cv->typid, cv->typmod))));
}

/* Report a duration that does not fit an interval. */
pg_noreturn static void
report_duration_range(ZcConverter *cv, uint64 row, int64 v)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("value " INT64_FORMAT " %s is out of range for type %s",
					v, zc_time_unit_name(cv->desc->unit),
					format_type_with_typemod(cv->typid, cv->typmod))));
}

/* Report a text or bytes value too long for any PostgreSQL value. */
pg_noreturn static void
report_too_long(ZcConverter *cv, uint64 row, int64 len)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("value of " INT64_FORMAT " bytes is too long",
					len),
			 errdetail("A single value can be at most 1 GB.")));
}

/*
 * Fill isnull[] from the column's null encoding for rows [first, first +
 * count).  Returns true if any row is NULL.
 */
static inline bool
nulls_prepass(const ZcConverter *cv, const ZcColumnView *view,
			  uint64 first, int count, bool *isnull)
{
	const ZcColumnDesc *desc = cv->desc;

	if (desc->nulls == ZC_NULLS_BYTEMASK)
	{
		const uint8 *mask = view->validity + first;
		uint8		acc = 0;

		for (int i = 0; i < count; i++)
		{
			isnull[i] = (mask[i] != 0);
			acc |= mask[i];
		}
		return acc != 0;
	}
	else if (desc->nulls == ZC_NULLS_BITMAP)
	{
		const uint8 *bits = view->validity;
		bool		any = false;

		for (int i = 0; i < count; i++)
		{
			uint64		r = first + i;
			bool		null = ((bits[r >> 3] >> (r & 7)) & 1) == 0;

			isnull[i] = null;
			any |= null;
		}
		return any;
	}

	memset(isnull, 0, count * sizeof(bool));
	return false;
}

/*
 * ZC_CONVERTER defines a converter from a fixed-width wire type.
 *
 * SRC_T is the C type of the stream's values; SENTINEL(v) says whether v is
 * NULL by sentinel (only consulted when the column has the sentinel flag);
 * BODY computes values[i] from v, and may report an error for row "row".
 */
#define ZC_CONVERTER(fname, SRC_T, SENTINEL, BODY) \
static bool \
fname(ZcConverter *cv, const ZcColumnView *view, uint64 first, int count, \
	  Datum *values, bool *isnull) \
{ \
	const SRC_T *src = ((const SRC_T *) view->values) + first; \
	bool		anynull = nulls_prepass(cv, view, first, count, isnull); \
	bool		sentinel = (cv->desc->flags & ZC_FLAG_SENTINEL_NULL) != 0; \
	\
	for (int i = 0; i < count; i++) \
	{ \
		SRC_T		v = src[i]; \
		\
		if (isnull[i]) \
		{ \
			values[i] = (Datum) 0; \
			continue; \
		} \
		if (sentinel && (SENTINEL)) \
		{ \
			isnull[i] = true; \
			anynull = true; \
			values[i] = (Datum) 0; \
			continue; \
		} \
		{ \
			uint64		row pg_attribute_unused() = cv->row_base + first + i; \
			\
			BODY; \
		} \
	} \
	return anynull; \
}

#define NO_SENTINEL false
#define NAN_SENTINEL zc_float_is_null(v)
#define NAT_SENTINEL zc_time_is_null(v)

/* bool */
ZC_CONVERTER(conv_bool_to_bool, uint8, NO_SENTINEL,
			 values[i] = BoolGetDatum(v != 0))

/* signed integers into integers */
ZC_CONVERTER(conv_int8_to_int2, int8, NO_SENTINEL,
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_int8_to_int4, int8, NO_SENTINEL,
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_int8_to_int8, int8, NO_SENTINEL,
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_int16_to_int2, int16, NO_SENTINEL,
			 values[i] = Int16GetDatum(v))
ZC_CONVERTER(conv_int16_to_int4, int16, NO_SENTINEL,
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_int16_to_int8, int16, NO_SENTINEL,
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_int32_to_int2, int32, NO_SENTINEL,
			 if (v < PG_INT16_MIN || v > PG_INT16_MAX)
			 report_int_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_int32_to_int4, int32, NO_SENTINEL,
			 values[i] = Int32GetDatum(v))
ZC_CONVERTER(conv_int32_to_int8, int32, NO_SENTINEL,
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_int64_to_int2, int64, NO_SENTINEL,
			 if (v < PG_INT16_MIN || v > PG_INT16_MAX)
			 report_int_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_int64_to_int4, int64, NO_SENTINEL,
			 if (v < PG_INT32_MIN || v > PG_INT32_MAX)
			 report_int_range(cv, row, v);
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_int64_to_int8, int64, NO_SENTINEL,
			 values[i] = Int64GetDatum(v))

/* unsigned integers into integers */
ZC_CONVERTER(conv_uint8_to_int2, uint8, NO_SENTINEL,
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_uint8_to_int4, uint8, NO_SENTINEL,
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_uint8_to_int8, uint8, NO_SENTINEL,
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_uint16_to_int2, uint16, NO_SENTINEL,
			 if (v > PG_INT16_MAX)
			 report_uint_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_uint16_to_int4, uint16, NO_SENTINEL,
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_uint16_to_int8, uint16, NO_SENTINEL,
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_uint32_to_int2, uint32, NO_SENTINEL,
			 if (v > PG_INT16_MAX)
			 report_uint_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_uint32_to_int4, uint32, NO_SENTINEL,
			 if (v > PG_INT32_MAX)
			 report_uint_range(cv, row, v);
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_uint32_to_int8, uint32, NO_SENTINEL,
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_uint64_to_int2, uint64, NO_SENTINEL,
			 if (v > PG_INT16_MAX)
			 report_uint_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_uint64_to_int4, uint64, NO_SENTINEL,
			 if (v > PG_INT32_MAX)
			 report_uint_range(cv, row, v);
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_uint64_to_int8, uint64, NO_SENTINEL,
			 if (v > PG_INT64_MAX)
			 report_uint_range(cv, row, v);
			 values[i] = Int64GetDatum((int64) v))

/* floats into integers: only whole numbers in range */
ZC_CONVERTER(conv_float32_to_int2, float, NAN_SENTINEL,
			 if (v != floorf(v) || isinf(v))
			 report_not_integral(cv, row, v);
			 if (v < PG_INT16_MIN || v > PG_INT16_MAX)
			 report_float_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_float32_to_int4, float, NAN_SENTINEL,
			 if (v != floorf(v) || isinf(v))
			 report_not_integral(cv, row, v);
			 if (!FLOAT4_FITS_IN_INT32(v))
			 report_float_range(cv, row, v);
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_float32_to_int8, float, NAN_SENTINEL,
			 if (v != floorf(v) || isinf(v))
			 report_not_integral(cv, row, v);
			 if (!FLOAT4_FITS_IN_INT64(v))
			 report_float_range(cv, row, v);
			 values[i] = Int64GetDatum((int64) v))
ZC_CONVERTER(conv_float64_to_int2, double, NAN_SENTINEL,
			 if (v != floor(v) || isinf(v))
			 report_not_integral(cv, row, v);
			 if (v < PG_INT16_MIN || v > PG_INT16_MAX)
			 report_float_range(cv, row, v);
			 values[i] = Int16GetDatum((int16) v))
ZC_CONVERTER(conv_float64_to_int4, double, NAN_SENTINEL,
			 if (v != floor(v) || isinf(v))
			 report_not_integral(cv, row, v);
			 if (!FLOAT8_FITS_IN_INT32(v))
			 report_float_range(cv, row, v);
			 values[i] = Int32GetDatum((int32) v))
ZC_CONVERTER(conv_float64_to_int8, double, NAN_SENTINEL,
			 if (v != floor(v) || isinf(v))
			 report_not_integral(cv, row, v);
			 if (!FLOAT8_FITS_IN_INT64(v))
			 report_float_range(cv, row, v);
			 values[i] = Int64GetDatum((int64) v))

/* numbers into real */
ZC_CONVERTER(conv_int8_to_float4, int8, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_int16_to_float4, int16, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_int32_to_float4, int32, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_int64_to_float4, int64, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_uint8_to_float4, uint8, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_uint16_to_float4, uint16, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_uint32_to_float4, uint32, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_uint64_to_float4, uint64, NO_SENTINEL,
			 values[i] = Float4GetDatum((float4) v))
ZC_CONVERTER(conv_float32_to_float4, float, NAN_SENTINEL,
			 values[i] = Float4GetDatum(v))
ZC_CONVERTER(conv_float64_to_float4, double, NAN_SENTINEL,
			 float4 f = (float4) v;

			 if ((isinf(f) && !isinf(v)) || (f == 0.0f && v != 0.0))
			 report_float_range(cv, row, v);
			 values[i] = Float4GetDatum(f))

/* numbers into double precision */
ZC_CONVERTER(conv_int8_to_float8, int8, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_int16_to_float8, int16, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_int32_to_float8, int32, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_int64_to_float8, int64, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_uint8_to_float8, uint8, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_uint16_to_float8, uint16, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_uint32_to_float8, uint32, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_uint64_to_float8, uint64, NO_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_float32_to_float8, float, NAN_SENTINEL,
			 values[i] = Float8GetDatum((float8) v))
ZC_CONVERTER(conv_float64_to_float8, double, NAN_SENTINEL,
			 values[i] = Float8GetDatum(v))

/* numbers into numeric */
ZC_CONVERTER(conv_int8_to_numeric, int8, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_int16_to_numeric, int16, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_int32_to_numeric, int32, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_int64_to_numeric, int64, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_uint8_to_numeric, uint8, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_uint16_to_numeric, uint16, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_uint32_to_numeric, uint32, NO_SENTINEL,
			 values[i] = NumericGetDatum(int64_to_numeric(v)))
ZC_CONVERTER(conv_uint64_to_numeric, uint64, NO_SENTINEL,
			 if (v <= PG_INT64_MAX)
			 values[i] = NumericGetDatum(int64_to_numeric((int64) v));
			 else
			 {
				 char		buf[32];

				 snprintf(buf, sizeof(buf), UINT64_FORMAT, v);
				 values[i] = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
												 ObjectIdGetDatum(InvalidOid),
												 Int32GetDatum(-1));
			 })
/*
 * Floats into numeric through their shortest exact decimal form (what
 * Python's repr() and PostgreSQL's float8out print), so that 1/3 loads as
 * 0.3333333333333333, as COPY of the printed value does; float8_numeric()
 * would keep 15 digits.  A float32 gives its own shortest form: 0.1f is 0.1.
 */
ZC_CONVERTER(conv_float32_to_numeric, float, NAN_SENTINEL,
			 char buf[FLOAT_SHORTEST_DECIMAL_LEN];

			 float_to_shortest_decimal_buf(v, buf);
			 values[i] = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											 ObjectIdGetDatum(InvalidOid),
											 Int32GetDatum(-1)))
ZC_CONVERTER(conv_float64_to_numeric, double, NAN_SENTINEL,
			 char buf[DOUBLE_SHORTEST_DECIMAL_LEN];

			 double_to_shortest_decimal_buf(v, buf);
			 values[i] = DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											 ObjectIdGetDatum(InvalidOid),
											 Int32GetDatum(-1)))

/*
 * Convert a time value of the column's unit to microseconds since the Unix
 * epoch, rounding nanoseconds to the nearest microsecond (ties to even).
 * Returns false on overflow.
 */
static inline bool
time_to_unix_usecs(const ZcConverter *cv, int64 v, int64 *usecs)
{
	if (cv->unit_div > 1)
	{
		int64		q = v / cv->unit_div;
		int64		r = v % cv->unit_div;
		int64		half = cv->unit_div / 2;

		if (r < 0)
		{
			r += cv->unit_div;
			q -= 1;
		}
		if (r > half || (r == half && (q & 1) != 0))
			q += 1;
		*usecs = q;
		return true;
	}
	return !pg_mul_s64_overflow(v, cv->unit_mul, usecs);
}

/* Convert a Unix-epoch time value to a PostgreSQL timestamp, or fail. */
static inline bool
time_to_timestamp(const ZcConverter *cv, int64 v, Timestamp *ts)
{
	int64		usecs;

	if (!time_to_unix_usecs(cv, v, &usecs))
		return false;
	if (pg_sub_s64_overflow(usecs, ZC_UNIX_TO_PG_USECS, ts))
		return false;
	return IS_VALID_TIMESTAMP(*ts);
}

/* datetime64 into timestamp, and tz-aware datetime64 into timestamptz */
ZC_CONVERTER(conv_time_to_same, int64, NAT_SENTINEL,
			 Timestamp ts;

			 if (!time_to_timestamp(cv, v, &ts))
			 report_time_range(cv, row, v);
			 values[i] = TimestampGetDatum(ts))

/* naive datetime64 into timestamptz, read in the session's TimeZone */
ZC_CONVERTER(conv_timestamp_to_timestamptz, int64, NAT_SENTINEL,
			 Timestamp ts;
			 TimestampTz tstz;
			 int overflow = 0;

			 if (!time_to_timestamp(cv, v, &ts))
			 report_time_range(cv, row, v);
			 tstz = timestamp2timestamptz_opt_overflow(ts, &overflow);
			 if (overflow != 0)
			 report_time_range(cv, row, v);
			 values[i] = TimestampTzGetDatum(tstz))

/* tz-aware datetime64 into timestamp, as wall-clock time in TimeZone */
ZC_CONVERTER(conv_timestamptz_to_timestamp, int64, NAT_SENTINEL,
			 Timestamp ts;

			 if (!time_to_timestamp(cv, v, &ts))
			 report_time_range(cv, row, v);
			 mark_position(cv, row);
			 values[i] = DirectFunctionCall1(timestamptz_timestamp,
											 TimestampTzGetDatum(ts)))

/*
 * Take len bytes of UTF-8 for row: validate them when the server encoding
 * is UTF8, or convert them to the server encoding, as COPY does with its
 * input.  Returns the bytes in the server encoding (maybe p itself) and
 * sets *outlen.
 */
static const char *
text_in_server_encoding(ZcConverter *cv, const char *p, int64 len, uint64 row,
						int *outlen)
{
	char	   *conv;

	if (len > (int64) (MaxAllocSize - VARHDRSZ - 1))
		report_too_long(cv, row, len);
	if (cv->server_utf8)
	{
		if (!pg_verify_mbstr(PG_UTF8, p, (int) len, true))
		{
			mark_position(cv, row);
			(void) pg_verify_mbstr(PG_UTF8, p, (int) len, false);
		}
		*outlen = (int) len;
		return p;
	}
	mark_position(cv, row);
	conv = pg_any_to_server(p, (int) len, PG_UTF8);
	*outlen = (conv == p) ? (int) len : (int) strlen(conv);
	return conv;
}

/*
 * A value of the column's type from UTF-8 text: text itself for text-like
 * columns, or what the type's input function makes of it (with the typmod).
 */
static Datum
value_from_text(ZcConverter *cv, const char *p, int64 len, uint64 row)
{
	int			n;
	const char *s = text_in_server_encoding(cv, p, len, row, &n);

	if (!cv->via_input)
		return PointerGetDatum(cstring_to_text_with_len(s, n));
	resetStringInfo(&cv->scratch);
	appendBinaryStringInfo(&cv->scratch, s, n);
	mark_position(cv, row);
	return InputFunctionCall(&cv->in_func, cv->scratch.data,
							 cv->in_typioparam, cv->basetypmod);
}

/*
 * utf8 and utf8_32 into text-like columns, or through the column type's
 * input function.  zc_varlen_value() reads 64- or 32-bit offsets, based or
 * not, as the decoder validated them.
 */
static bool
conv_utf8(ZcConverter *cv, const ZcColumnView *view, uint64 first, int count,
		  Datum *values, bool *isnull)
{
	bool		anynull = nulls_prepass(cv, view, first, count, isnull);

	for (int i = 0; i < count; i++)
	{
		int64		len;
		const uint8 *p;

		if (isnull[i])
		{
			values[i] = (Datum) 0;
			continue;
		}
		p = zc_varlen_value(view, first + i, &len);
		values[i] = value_from_text(cv, (const char *) p, len,
									cv->row_base + first + i);
	}
	return anynull;
}

/* binary and binary_32 into bytea */
static bool
conv_binary_to_bytea(ZcConverter *cv, const ZcColumnView *view, uint64 first,
					 int count, Datum *values, bool *isnull)
{
	bool		anynull = nulls_prepass(cv, view, first, count, isnull);

	for (int i = 0; i < count; i++)
	{
		int64		len;
		const uint8 *p;
		bytea	   *b;

		if (isnull[i])
		{
			values[i] = (Datum) 0;
			continue;
		}
		p = zc_varlen_value(view, first + i, &len);
		if (len > (int64) (MaxAllocSize - VARHDRSZ))
			report_too_long(cv, cv->row_base + first + i, len);
		b = (bytea *) palloc(VARHDRSZ + len);
		SET_VARSIZE(b, VARHDRSZ + len);
		memcpy(VARDATA(b), p, len);
		values[i] = PointerGetDatum(b);
	}
	return anynull;
}

/*
 * Convert dictionary entry k for the first row that uses it, in the
 * dictionary's context, with the typmod and domain applied once.
 */
static void
convert_entry(ZcConverter *cv, int64 k, uint64 row)
{
	MemoryContext oldcontext = MemoryContextSwitchTo(cv->dict_context);
	Datum		v;

	mark_position(cv, row);
	v = value_from_text(cv, cv->dict_data + cv->dict_offsets[k],
						cv->dict_offsets[k + 1] - cv->dict_offsets[k], row);
	if (cv->apply_typmod)
		v = FunctionCall3(&cv->typmod_func, v, Int32GetDatum(cv->basetypmod),
						  BoolGetDatum(false));
	if (cv->is_domain)
		domain_check(v, false, cv->typid, &cv->domain_extra, cv->long_context);
	MemoryContextSwitchTo(oldcontext);

	cv->dict_values[k] = v;
	cv->dict_done[k] = true;
}

/* A domain's NOT NULL, for the first NULL row of a dictionary chunk. */
static void
check_domain_null(ZcConverter *cv, uint64 first, int count, const bool *isnull)
{
	for (int i = 0; i < count; i++)
	{
		if (isnull[i])
		{
			mark_position(cv, cv->row_base + first + i);
			domain_check((Datum) 0, true, cv->typid, &cv->domain_extra,
						 cv->long_context);
			return;
		}
	}
}

/*
 * ZC_DICT_CONVERTER defines a converter for dictionary codes of CODE_T.
 * The decoder has checked that every code of a valid row is -1 or an entry.
 */
#define ZC_DICT_CONVERTER(fname, CODE_T) \
static bool \
fname(ZcConverter *cv, const ZcColumnView *view, uint64 first, int count, \
	  Datum *values, bool *isnull) \
{ \
	const CODE_T *codes = ((const CODE_T *) view->values) + first; \
	bool		anynull = nulls_prepass(cv, view, first, count, isnull); \
	\
	for (int i = 0; i < count; i++) \
	{ \
		int64		code = codes[i]; \
		\
		if (isnull[i] || zc_code_is_null(code)) \
		{ \
			isnull[i] = true; \
			anynull = true; \
			values[i] = (Datum) 0; \
			continue; \
		} \
		if (!cv->dict_done[code]) \
			convert_entry(cv, code, cv->row_base + first + i); \
		values[i] = cv->dict_values[code]; \
	} \
	if (anynull && cv->is_domain) \
		check_domain_null(cv, first, count, isnull); \
	return anynull; \
}

ZC_DICT_CONVERTER(conv_dict_int8, int8)
ZC_DICT_CONVERTER(conv_dict_int16, int16)
ZC_DICT_CONVERTER(conv_dict_int32, int32)
ZC_DICT_CONVERTER(conv_dict_int64, int64)
/* unsigned codes: the decoder has checked that every valid code is < size */
ZC_DICT_CONVERTER(conv_dict_uint8, uint8)
ZC_DICT_CONVERTER(conv_dict_uint16, uint16)
ZC_DICT_CONVERTER(conv_dict_uint32, uint32)
ZC_DICT_CONVERTER(conv_dict_uint64, uint64)

/* date32 into date, timestamp and timestamptz */
ZC_CONVERTER(conv_date32_to_date, int32, NO_SENTINEL,
			 int64 d = (int64) v - ZC_UNIX_TO_PG_DAYS;

			 if (!IS_VALID_DATE(d))
			 report_date_range(cv, row, v);
			 values[i] = DateADTGetDatum((DateADT) d))
ZC_CONVERTER(conv_date32_to_timestamp, int32, NO_SENTINEL,
			 int64 d = (int64) v - ZC_UNIX_TO_PG_DAYS;
			 Timestamp ts;

			 if (!IS_VALID_DATE(d) ||
				 pg_mul_s64_overflow(d, USECS_PER_DAY, &ts) ||
				 !IS_VALID_TIMESTAMP(ts))
			 report_date_range(cv, row, v);
			 values[i] = TimestampGetDatum(ts))
ZC_CONVERTER(conv_date32_to_timestamptz, int32, NO_SENTINEL,
			 int64 d = (int64) v - ZC_UNIX_TO_PG_DAYS;
			 int overflow = 0;
			 TimestampTz ts = 0;

			 if (IS_VALID_DATE(d))
				 ts = date2timestamptz_opt_overflow((DateADT) d, &overflow);
			 if (!IS_VALID_DATE(d) || overflow != 0)
			 report_date_range(cv, row, v);
			 values[i] = TimestampTzGetDatum(ts))

/*
 * Split a duration of the column's unit into whole days and microseconds in
 * [0, 24h), as Python's timedelta (and psycopg) splits one: -1 us is
 * "-1 days +23:59:59.999999".  Days are split off first, so durations
 * beyond the int64 range of microseconds load as long as the days fit an
 * interval's int32.  Nanoseconds round to the nearest microsecond, ties to
 * even.  Returns false when the days do not fit.
 */
static inline bool
duration_to_interval(const ZcConverter *cv, int64 v, Interval *iv)
{
	/* the column's units per second, and per day */
	int64		per_second = USECS_PER_SEC * cv->unit_div / cv->unit_mul;
	int64		per_day = per_second * SECS_PER_DAY;
	int64		days = v / per_day;
	int64		rest = v % per_day;
	int64		usecs;

	if (rest < 0)
	{
		rest += per_day;
		days -= 1;
	}
	if (cv->unit_div > 1)
	{
		int64		q = rest / cv->unit_div;
		int64		r = rest % cv->unit_div;
		int64		half = cv->unit_div / 2;

		if (r > half || (r == half && (q & 1) != 0))
			q += 1;
		usecs = q;
	}
	else
		usecs = rest * cv->unit_mul;	/* < USECS_PER_DAY: no overflow */
	if (usecs == USECS_PER_DAY)
	{
		usecs = 0;
		days += 1;
	}
	if (days < PG_INT32_MIN || days > PG_INT32_MAX)
		return false;
	iv->month = 0;
	iv->day = (int32) days;
	iv->time = usecs;
	return true;
}

/* timedelta64 into interval: days and time, as duration_to_interval() says */
ZC_CONVERTER(conv_duration_to_interval, int64, NAT_SENTINEL,
			 Interval *iv = (Interval *) palloc(sizeof(Interval));

			 if (!duration_to_interval(cv, v, iv))
			 report_duration_range(cv, row, v);
			 values[i] = IntervalPGetDatum(iv))

/* bitbool (Arrow boolean, one bit per value, LSB first) into boolean */
static bool
conv_bitbool_to_bool(ZcConverter *cv, const ZcColumnView *view, uint64 first,
					 int count, Datum *values, bool *isnull)
{
	bool		anynull = nulls_prepass(cv, view, first, count, isnull);
	const uint8 *bits = view->values;

	for (int i = 0; i < count; i++)
	{
		uint64		r = first + i;

		values[i] = isnull[i] ? (Datum) 0 :
			BoolGetDatum((bits[r >> 3] >> (r & 7)) & 1);
	}
	return anynull;
}

/* Report a date64 value outside the target type's range. */
pg_noreturn static void
report_date64_range(ZcConverter *cv, uint64 row, int64 ms)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("value " INT64_FORMAT " ms since 1970-01-01 is out of range for type %s",
					ms,
					format_type_with_typemod(cv->typid, cv->typmod))));
}

/* Milliseconds since the Unix epoch to a PostgreSQL timestamp, or fail. */
static inline bool
date64_to_timestamp(int64 ms, Timestamp *ts)
{
	int64		usecs;

	if (pg_mul_s64_overflow(ms, 1000, &usecs) ||
		pg_sub_s64_overflow(usecs, ZC_UNIX_TO_PG_USECS, ts))
		return false;
	return IS_VALID_TIMESTAMP(*ts);
}

/* date64 into date: the day the instant falls on (floor) */
ZC_CONVERTER(conv_date64_to_date, int64, NO_SENTINEL,
			 int64 days = v / ZC_MSECS_PER_DAY;
			 int64 d;

			 if (v % ZC_MSECS_PER_DAY < 0)
				 days -= 1;
			 d = days - ZC_UNIX_TO_PG_DAYS;
			 if (!IS_VALID_DATE(d))
				 report_date64_range(cv, row, v);
			 values[i] = DateADTGetDatum((DateADT) d))
/* date64 into timestamp: the exact instant, as wall-clock time */
ZC_CONVERTER(conv_date64_to_timestamp, int64, NO_SENTINEL,
			 Timestamp ts;

			 if (!date64_to_timestamp(v, &ts))
				 report_date64_range(cv, row, v);
			 values[i] = TimestampGetDatum(ts))
/* date64 into timestamptz: read in the session's TimeZone, as date32 is */
ZC_CONVERTER(conv_date64_to_timestamptz, int64, NO_SENTINEL,
			 Timestamp ts;
			 TimestampTz tstz = 0;
			 int overflow = 0;

			 if (!date64_to_timestamp(v, &ts))
				 report_date64_range(cv, row, v);
			 tstz = timestamp2timestamptz_opt_overflow(ts, &overflow);
			 if (overflow != 0)
				 report_date64_range(cv, row, v);
			 values[i] = TimestampTzGetDatum(tstz))

/* Report a time of day outside [0, 24:00:00]. */
pg_noreturn static void
report_time_of_day_range(ZcConverter *cv, uint64 row, int64 v)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("value " INT64_FORMAT " %s since midnight is out of range for type %s",
					v, zc_time_unit_name(cv->desc->unit),
					format_type_with_typemod(cv->typid, cv->typmod)),
			 errdetail("A time of day must be between 00:00:00 and 24:00:00.")));
}

/*
 * A time of day in the column's unit to microseconds since midnight, with
 * nanoseconds rounded to the nearest microsecond, ties to even, as
 * timestamps are; false unless 0 <= v <= 24h.  cv->unit_max is 24h in the
 * column's unit.
 */
static inline bool
time_of_day_usecs(const ZcConverter *cv, int64 v, TimeADT *t)
{
	if (v < 0 || v > cv->unit_max)
		return false;
	if (cv->unit_div > 1)
	{
		int64		q = v / cv->unit_div;
		int64		r = v % cv->unit_div;
		int64		half = cv->unit_div / 2;

		if (r > half || (r == half && (q & 1) != 0))
			q += 1;
		*t = q;
	}
	else
		*t = v * cv->unit_mul;	/* <= USECS_PER_DAY: no overflow */
	return true;
}

/* time32 and time64 into time, and into timetz as the cast time::timetz does */
ZC_CONVERTER(conv_time32_to_time, int32, NO_SENTINEL,
			 TimeADT t;

			 if (!time_of_day_usecs(cv, v, &t))
				 report_time_of_day_range(cv, row, v);
			 values[i] = TimeADTGetDatum(t))
ZC_CONVERTER(conv_time64_to_time, int64, NO_SENTINEL,
			 TimeADT t;

			 if (!time_of_day_usecs(cv, v, &t))
				 report_time_of_day_range(cv, row, v);
			 values[i] = TimeADTGetDatum(t))
ZC_CONVERTER(conv_time32_to_timetz, int32, NO_SENTINEL,
			 TimeADT t;

			 if (!time_of_day_usecs(cv, v, &t))
				 report_time_of_day_range(cv, row, v);
			 values[i] = DirectFunctionCall1(time_timetz, TimeADTGetDatum(t)))
ZC_CONVERTER(conv_time64_to_timetz, int64, NO_SENTINEL,
			 TimeADT t;

			 if (!time_of_day_usecs(cv, v, &t))
				 report_time_of_day_range(cv, row, v);
			 values[i] = DirectFunctionCall1(time_timetz, TimeADTGetDatum(t)))

/*
 * Decimals: a little-endian two's complement unscaled integer of 16 or 32
 * bytes, and the column's scale.  Each value is spelled as the decimal text
 * numeric_out() would print for it (display scale max(scale, 0)), and that
 * text is what the numeric, float and text conversions start from, so that
 * they agree with COPY of the same text.
 */
typedef struct ZcDecimal128
{
	uint8		b[16];
} ZcDecimal128;

typedef struct ZcDecimal256
{
	uint8		b[32];
} ZcDecimal256;

/* Longest text: sign, 78 digits, "0.", 127 zeros of scale, NUL. */
#define ZC_DECIMAL_TEXT_LEN		256

/*
 * The magnitude of the unscaled integer at p (nbytes = 16 or 32) as decimal
 * digits into digits[] (no leading zeros; "0" for zero); returns how many,
 * and sets *negative.
 */
static int
decimal_digits(const uint8 *p, int nbytes, char *digits, bool *negative)
{
	uint32		limbs[8];		/* little-endian 32-bit limbs */
	int			nlimbs = nbytes / 4;
	char		rev[96];
	int			n = 0;
	int			top;

	memcpy(limbs, p, nbytes);	/* the host is little-endian (stream.c) */
	*negative = (p[nbytes - 1] & 0x80) != 0;
	if (*negative)
	{
		uint64		carry = 1;

		for (int k = 0; k < nlimbs; k++)
		{
			uint64		x = (uint64) (uint32) ~limbs[k] + carry;

			limbs[k] = (uint32) x;
			carry = x >> 32;
		}
	}
	top = nlimbs;
	while (top > 0 && limbs[top - 1] == 0)
		top--;
	while (top > 0)
	{
		uint64		rem = 0;

		/* divide by 10^9, keep the remainder's 9 digits */
		for (int k = top - 1; k >= 0; k--)
		{
			uint64		cur = (rem << 32) | limbs[k];

			limbs[k] = (uint32) (cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		while (top > 0 && limbs[top - 1] == 0)
			top--;
		for (int d = 0; d < 9 && (top > 0 || rem > 0); d++)
		{
			rev[n++] = (char) ('0' + rem % 10);
			rem /= 10;
		}
	}
	if (n == 0)
	{
		rev[n++] = '0';
		*negative = false;
	}
	for (int k = 0; k < n; k++)
		digits[k] = rev[n - 1 - k];
	digits[n] = '\0';
	return n;
}

/* The decimal's text, as numeric_out() prints it, into out. */
static void
decimal_text(const uint8 *p, int nbytes, int scale, char *out)
{
	char		digits[96];
	bool		negative;
	int			n = decimal_digits(p, nbytes, digits, &negative);
	char	   *o = out;

	if (negative)
		*o++ = '-';
	if (scale <= 0)
	{
		memcpy(o, digits, n);
		o += n;
		if (!(n == 1 && digits[0] == '0'))
			for (int k = 0; k < -scale; k++)
				*o++ = '0';
	}
	else if (n <= scale)
	{
		*o++ = '0';
		*o++ = '.';
		for (int k = 0; k < scale - n; k++)
			*o++ = '0';
		memcpy(o, digits, n);
		o += n;
	}
	else
	{
		memcpy(o, digits, n - scale);
		o += n - scale;
		*o++ = '.';
		memcpy(o, digits + n - scale, scale);
		o += scale;
	}
	*o = '\0';
}

/* Report a decimal that is not a whole number, for an integer column. */
pg_noreturn static void
report_decimal_not_integral(ZcConverter *cv, uint64 row, const char *text)
{
	mark_position(cv, row);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("value %s is not an integer",
					text),
			 errdetail("Column \"%s\" is of type %s; a decimal column loads into it only when every value is a whole number.",
					   cv->attname, format_type_be(cv->typid))));
}

/*
 * The decimal as an integer in [lo, hi], or an error, in the order COPY of
 * its text finds them: 22003 when the integer part is out of range, 22P02
 * when there is a non-zero fraction.  (COPY rejects any fraction, even
 * "12.00"; a whole number loads here whatever its scale.)
 */
static int64
decimal_to_integer(ZcConverter *cv, uint64 row, const uint8 *p, int nbytes,
				   int64 lo, int64 hi)
{
	char		digits[96];
	bool		negative;
	int			n = decimal_digits(p, nbytes, digits, &negative);
	int			scale = cv->desc->scale;
	int			fraclen = scale > 0 ? Min(scale, n) : 0;
	int			intlen = n - fraclen;
	uint64		mag = 0;
	bool		overflow = false;
	bool		fraction = false;
	int64		v = 0;
	char		text[ZC_DECIMAL_TEXT_LEN];

	for (int k = 0; k < intlen && !overflow; k++)
		overflow = pg_mul_u64_overflow(mag, 10, &mag) ||
			pg_add_u64_overflow(mag, (uint64) (digits[k] - '0'), &mag);
	if (mag != 0)
		for (int k = 0; k < -scale && !overflow; k++)
			overflow = pg_mul_u64_overflow(mag, 10, &mag);
	if (!overflow)
	{
		if (negative && mag <= (uint64) PG_INT64_MAX + 1)
		{
			v = (int64) (0 - mag);
			overflow = v < lo;
		}
		else if (!negative && mag <= (uint64) hi)
			v = (int64) mag;
		else
			overflow = true;
	}
	for (int k = intlen; k < n; k++)
		fraction |= digits[k] != '0';
	if (overflow || fraction)
	{
		decimal_text(p, nbytes, scale, text);
		if (overflow)
			report_out_of_range(cv, row, text);
		report_decimal_not_integral(cv, row, text);
	}
	return v;
}

/* The decimal as a numeric, through numeric_in() of its text. */
static inline Datum
decimal_to_numeric(ZcConverter *cv, const uint8 *p, int nbytes)
{
	char		text[ZC_DECIMAL_TEXT_LEN];

	decimal_text(p, nbytes, cv->desc->scale, text);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(text),
							   ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/* The decimal as the nearest float8, as float8in() reads its text. */
static inline Datum
decimal_to_float8(ZcConverter *cv, const uint8 *p, int nbytes)
{
	char		text[ZC_DECIMAL_TEXT_LEN];

	decimal_text(p, nbytes, cv->desc->scale, text);
	/* |v| is between 1e-127 and 1e204: no overflow or underflow */
	return Float8GetDatum(strtod(text, NULL));
}

/* The decimal as the nearest float4, as float4in() reads its text. */
static inline Datum
decimal_to_float4(ZcConverter *cv, uint64 row, const uint8 *p, int nbytes)
{
	char		text[ZC_DECIMAL_TEXT_LEN];
	float		f;

	decimal_text(p, nbytes, cv->desc->scale, text);
	errno = 0;
	f = strtof(text, NULL);
	if (errno == ERANGE && (f == 0.0f || isinf(f)))
		report_out_of_range(cv, row, text);
	return Float4GetDatum(f);
}

/* The decimal's text as a text-like value (typmods applied afterwards). */
static inline Datum
decimal_to_text(ZcConverter *cv, const uint8 *p, int nbytes)
{
	char		text[ZC_DECIMAL_TEXT_LEN];

	decimal_text(p, nbytes, cv->desc->scale, text);
	return PointerGetDatum(cstring_to_text(text));
}

#define ZC_DECIMAL_CONVERTERS(SUFFIX, SRC_T, NBYTES) \
ZC_CONVERTER(conv_##SUFFIX##_to_numeric, SRC_T, NO_SENTINEL, \
			 values[i] = decimal_to_numeric(cv, v.b, NBYTES)) \
ZC_CONVERTER(conv_##SUFFIX##_to_int2, SRC_T, NO_SENTINEL, \
			 values[i] = Int16GetDatum((int16) decimal_to_integer(cv, row, v.b, NBYTES, \
																  PG_INT16_MIN, PG_INT16_MAX))) \
ZC_CONVERTER(conv_##SUFFIX##_to_int4, SRC_T, NO_SENTINEL, \
			 values[i] = Int32GetDatum((int32) decimal_to_integer(cv, row, v.b, NBYTES, \
																  PG_INT32_MIN, PG_INT32_MAX))) \
ZC_CONVERTER(conv_##SUFFIX##_to_int8, SRC_T, NO_SENTINEL, \
			 values[i] = Int64GetDatum(decimal_to_integer(cv, row, v.b, NBYTES, \
														  PG_INT64_MIN, PG_INT64_MAX))) \
ZC_CONVERTER(conv_##SUFFIX##_to_float4, SRC_T, NO_SENTINEL, \
			 values[i] = decimal_to_float4(cv, row, v.b, NBYTES)) \
ZC_CONVERTER(conv_##SUFFIX##_to_float8, SRC_T, NO_SENTINEL, \
			 values[i] = decimal_to_float8(cv, v.b, NBYTES)) \
ZC_CONVERTER(conv_##SUFFIX##_to_text, SRC_T, NO_SENTINEL, \
			 values[i] = decimal_to_text(cv, v.b, NBYTES))

ZC_DECIMAL_CONVERTERS(decimal128, ZcDecimal128, 16)
ZC_DECIMAL_CONVERTERS(decimal256, ZcDecimal256, 32)

/* null: every value is NULL, whatever the column's type */
static bool
conv_null(ZcConverter *cv, const ZcColumnView *view, uint64 first, int count,
		  Datum *values, bool *isnull)
{
	memset(values, 0, count * sizeof(Datum));
	memset(isnull, true, count * sizeof(bool));
	return count > 0;
}

/*
 * Apply the column's typmod and domain constraints to converted values, and
 * check a domain's NOT NULL on NULLs.  Calls out to the type's length
 * coercion function and domain_check(), which report their own errors; the
 * position is set first so that the error context names the row.
 */
static void
finish_values(ZcConverter *cv, uint64 first, int count,
			  Datum *values, bool *isnull)
{
	for (int i = 0; i < count; i++)
	{
		mark_position(cv, cv->row_base + first + i);
		if (cv->apply_typmod && !isnull[i])
			values[i] = FunctionCall3(&cv->typmod_func, values[i],
									  Int32GetDatum(cv->basetypmod),
									  BoolGetDatum(false));
		if (cv->is_domain)
			domain_check(values[i], isnull[i], cv->typid,
						 &cv->domain_extra, cv->long_context);
	}
	cv->pos->has_row = false;
	cv->pos->column = -1;
}

/* Wrap a converter when a typmod or a domain needs a second pass. */
static bool
convert_then_finish(ZcConverter *cv, const ZcColumnView *view, uint64 first,
					int count, Datum *values, bool *isnull)
{
	bool		anynull;

	anynull = cv->inner_fn(cv, view, first, count, values, isnull);
	finish_values(cv, first, count, values, isnull);
	return anynull;
}

/* A hint listing what a wire type can be loaded into. */
static const char *
what_would_work(const ZcColumnDesc *desc)
{
	switch (desc->type)
	{
		case ZC_T_BOOL:
			return "A bool column loads into boolean.";
		case ZC_T_INT8:
		case ZC_T_INT16:
		case ZC_T_INT32:
		case ZC_T_INT64:
		case ZC_T_UINT8:
		case ZC_T_UINT16:
		case ZC_T_UINT32:
		case ZC_T_UINT64:
			return "An integer column loads into smallint, integer or bigint (range-checked), real, double precision or numeric.";
		case ZC_T_FLOAT32:
		case ZC_T_FLOAT64:
			return "A float column loads into real, double precision or numeric, and into smallint, integer or bigint when every value is a whole number.";
		case ZC_T_TIMESTAMP:
			return "A naive datetime64 column loads into timestamp, or into timestamp with time zone, read in the session's TimeZone.";
		case ZC_T_TIMESTAMPTZ:
			return "A tz-aware datetime64 column loads into timestamp with time zone, or into timestamp, converted to the session's TimeZone.";
		case ZC_T_UTF8:
		case ZC_T_DICTIONARY:
			return "A string or categorical column loads into text, varchar and char, and through the column type's input function into any other type but boolean, the integer and the floating-point types (numeric takes decimal strings); send numbers as a numeric wire type, not as strings.";
		case ZC_T_BINARY:
			return "A bytes column loads into bytea.";
		case ZC_T_DATE32:
			return "A date column loads into date, and into timestamp or timestamp with time zone (midnight, in the session's TimeZone).";
		case ZC_T_DURATION:
			return "A timedelta64 column loads into interval.";
		case ZC_T_BITBOOL:
			return "A bitbool column loads into boolean.";
		case ZC_T_UTF8_32:
			return "A utf8_32 column loads into text, varchar and char, and through the column type's input function into any other type but boolean, the integer and the floating-point types.";
		case ZC_T_BINARY_32:
			return "A binary_32 column loads into bytea.";
		case ZC_T_DATE64:
			return "A date64 column loads into date (the day of the instant), timestamp, and timestamp with time zone (read in the session's TimeZone).";
		case ZC_T_TIME32:
		case ZC_T_TIME64:
			return "A time of day column loads into time and time with time zone.";
		case ZC_T_DECIMAL128:
		case ZC_T_DECIMAL256:
			return "A decimal column loads into numeric, smallint, integer or bigint (whole numbers in range), real, double precision, text, varchar and char.";
		default:
			return "Convert the column before sending it, or change the table column's type.";
	}
}

/* Report a (wire type, column type) pair that has no converter. */
pg_noreturn static void
report_mismatch(int column, const ZcColumnDesc *desc, const char *attname,
				Oid typid, int32 typmod)
{
	char	   *name = zc_display_name(desc->name, desc->name_len);

	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" is of type %s, but the stream sends %s for it",
					attname, format_type_with_typemod(typid, typmod),
					zc_describe_wire(desc)),
			 errdetail("Stream column %d (\"%s\") cannot be loaded into a column of type %s.",
					   column + 1, name, format_type_be(typid)),
			 errhint("%s", what_would_work(desc))));
}

/* Pick the converter for an integer, float or bool wire type. */
static ZcConvertFn
choose_numeric(const ZcColumnDesc *desc, Oid base)
{
	/* rows: wire types bool..float64; columns: bool int2 int4 int8 float4 float8 numeric */
	static const ZcConvertFn table[][7] = {
		[ZC_T_BOOL] = {conv_bool_to_bool, NULL, NULL, NULL, NULL, NULL, NULL},
		[ZC_T_INT8] = {NULL, conv_int8_to_int2, conv_int8_to_int4, conv_int8_to_int8,
		conv_int8_to_float4, conv_int8_to_float8, conv_int8_to_numeric},
		[ZC_T_INT16] = {NULL, conv_int16_to_int2, conv_int16_to_int4, conv_int16_to_int8,
		conv_int16_to_float4, conv_int16_to_float8, conv_int16_to_numeric},
		[ZC_T_INT32] = {NULL, conv_int32_to_int2, conv_int32_to_int4, conv_int32_to_int8,
		conv_int32_to_float4, conv_int32_to_float8, conv_int32_to_numeric},
		[ZC_T_INT64] = {NULL, conv_int64_to_int2, conv_int64_to_int4, conv_int64_to_int8,
		conv_int64_to_float4, conv_int64_to_float8, conv_int64_to_numeric},
		[ZC_T_UINT8] = {NULL, conv_uint8_to_int2, conv_uint8_to_int4, conv_uint8_to_int8,
		conv_uint8_to_float4, conv_uint8_to_float8, conv_uint8_to_numeric},
		[ZC_T_UINT16] = {NULL, conv_uint16_to_int2, conv_uint16_to_int4, conv_uint16_to_int8,
		conv_uint16_to_float4, conv_uint16_to_float8, conv_uint16_to_numeric},
		[ZC_T_UINT32] = {NULL, conv_uint32_to_int2, conv_uint32_to_int4, conv_uint32_to_int8,
		conv_uint32_to_float4, conv_uint32_to_float8, conv_uint32_to_numeric},
		[ZC_T_UINT64] = {NULL, conv_uint64_to_int2, conv_uint64_to_int4, conv_uint64_to_int8,
		conv_uint64_to_float4, conv_uint64_to_float8, conv_uint64_to_numeric},
		[ZC_T_FLOAT32] = {NULL, conv_float32_to_int2, conv_float32_to_int4, conv_float32_to_int8,
		conv_float32_to_float4, conv_float32_to_float8, conv_float32_to_numeric},
		[ZC_T_FLOAT64] = {NULL, conv_float64_to_int2, conv_float64_to_int4, conv_float64_to_int8,
		conv_float64_to_float4, conv_float64_to_float8, conv_float64_to_numeric},
	};
	int			col;

	switch (base)
	{
		case BOOLOID:
			col = 0;
			break;
		case INT2OID:
			col = 1;
			break;
		case INT4OID:
			col = 2;
			break;
		case INT8OID:
			col = 3;
			break;
		case FLOAT4OID:
			col = 4;
			break;
		case FLOAT8OID:
			col = 5;
			break;
		case NUMERICOID:
			col = 6;
			break;
		default:
			return NULL;
	}
	return table[desc->type][col];
}

/* Pick the converter for a timestamp or timestamptz wire type. */
static ZcConvertFn
choose_time(const ZcColumnDesc *desc, Oid base)
{
	if (desc->type == ZC_T_TIMESTAMP)
	{
		if (base == TIMESTAMPOID)
			return conv_time_to_same;
		if (base == TIMESTAMPTZOID)
			return conv_timestamp_to_timestamptz;
	}
	else if (desc->type == ZC_T_TIMESTAMPTZ)
	{
		if (base == TIMESTAMPTZOID)
			return conv_time_to_same;
		if (base == TIMESTAMPOID)
			return conv_timestamptz_to_timestamp;
	}
	return NULL;
}

/*
 * Pick the converter for a utf8 or dictionary column: text-like columns take
 * the text itself; other types but bool, integers and floats take what their
 * input function makes of it.
 */
static ZcConvertFn
choose_text(ZcConverter *cv, const ZcColumnDesc *desc)
{
	Oid			infunc;

	switch (cv->basetypid)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
			return NULL;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			cv->via_input = false;
			break;
		default:
			getTypeInputInfo(cv->basetypid, &infunc, &cv->in_typioparam);
			fmgr_info(infunc, &cv->in_func);
			cv->via_input = true;
			break;
	}
	cv->server_utf8 = (GetDatabaseEncoding() == PG_UTF8);
	initStringInfo(&cv->scratch);

	if (desc->type == ZC_T_UTF8 || desc->type == ZC_T_UTF8_32)
		return conv_utf8;
	switch (desc->index_type)
	{
		case ZC_T_UINT8:
			return conv_dict_uint8;
		case ZC_T_UINT16:
			return conv_dict_uint16;
		case ZC_T_UINT32:
			return conv_dict_uint32;
		case ZC_T_UINT64:
			return conv_dict_uint64;
		case ZC_T_INT8:
			return conv_dict_int8;
		case ZC_T_INT16:
			return conv_dict_int16;
		case ZC_T_INT32:
			return conv_dict_int32;
		case ZC_T_INT64:
			return conv_dict_int64;
		default:
			elog(ERROR, "unexpected dictionary index type %d", desc->index_type);
	}
	return NULL;				/* keep compiler quiet */
}

/* Pick the converter for a date32 column. */
static ZcConvertFn
choose_date(Oid base)
{
	switch (base)
	{
		case DATEOID:
			return conv_date32_to_date;
		case TIMESTAMPOID:
			return conv_date32_to_timestamp;
		case TIMESTAMPTZOID:
			return conv_date32_to_timestamptz;
		default:
			return NULL;
	}
}

/* Pick the converter for a date64 column. */
static ZcConvertFn
choose_date64(Oid base)
{
	switch (base)
	{
		case DATEOID:
			return conv_date64_to_date;
		case TIMESTAMPOID:
			return conv_date64_to_timestamp;
		case TIMESTAMPTZOID:
			return conv_date64_to_timestamptz;
		default:
			return NULL;
	}
}

/* Pick the converter for a time32 or time64 column. */
static ZcConvertFn
choose_time_of_day(const ZcColumnDesc *desc, Oid base)
{
	bool		t32 = desc->type == ZC_T_TIME32;

	switch (base)
	{
		case TIMEOID:
			return t32 ? conv_time32_to_time : conv_time64_to_time;
		case TIMETZOID:
			return t32 ? conv_time32_to_timetz : conv_time64_to_timetz;
		default:
			return NULL;
	}
}

/* Pick the converter for a decimal128 or decimal256 column. */
static ZcConvertFn
choose_decimal(const ZcColumnDesc *desc, Oid base)
{
	/* columns: numeric int2 int4 int8 float4 float8 text */
	static const ZcConvertFn d128[] = {
		conv_decimal128_to_numeric, conv_decimal128_to_int2,
		conv_decimal128_to_int4, conv_decimal128_to_int8,
		conv_decimal128_to_float4, conv_decimal128_to_float8,
		conv_decimal128_to_text
	};
	static const ZcConvertFn d256[] = {
		conv_decimal256_to_numeric, conv_decimal256_to_int2,
		conv_decimal256_to_int4, conv_decimal256_to_int8,
		conv_decimal256_to_float4, conv_decimal256_to_float8,
		conv_decimal256_to_text
	};
	const ZcConvertFn *table = desc->type == ZC_T_DECIMAL128 ? d128 : d256;

	switch (base)
	{
		case NUMERICOID:
			return table[0];
		case INT2OID:
			return table[1];
		case INT4OID:
			return table[2];
		case INT8OID:
			return table[3];
		case FLOAT4OID:
			return table[4];
		case FLOAT8OID:
			return table[5];
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return table[6];
		default:
			return NULL;
	}
}

/* Set the unit scaling of a time column: to microseconds. */
static void
set_time_unit(ZcConverter *cv)
{
	switch (cv->desc->unit)
	{
		case ZC_UNIT_S:
			cv->unit_mul = USECS_PER_SEC;
			cv->unit_div = 1;
			break;
		case ZC_UNIT_MS:
			cv->unit_mul = 1000;
			cv->unit_div = 1;
			break;
		case ZC_UNIT_US:
			cv->unit_mul = 1;
			cv->unit_div = 1;
			break;
		case ZC_UNIT_NS:
			cv->unit_mul = 1;
			cv->unit_div = 1000;
			break;
		default:
			elog(ERROR, "unexpected time unit %d", cv->desc->unit);
	}
	/* 24 hours in the column's unit, the largest time of day */
	cv->unit_max = SECS_PER_DAY * (USECS_PER_SEC * cv->unit_div / cv->unit_mul);
}

/*
 * Choose the converter for stream column 'column' (described by desc) and
 * the table column attname of type typid/typmod.
 */
void
zc_converter_init(ZcConverter *cv, int column, const ZcColumnDesc *desc,
				  const char *attname, Oid typid, int32 typmod,
				  ZcPosition *pos)
{
	ZcConvertFn fn = NULL;
	Oid			funcid;

	memset(cv, 0, sizeof(*cv));
	cv->desc = desc;
	cv->column = column;
	cv->attname = attname;
	cv->typid = typid;
	cv->typmod = typmod;
	cv->pos = pos;
	cv->long_context = CurrentMemoryContext;
	cv->basetypmod = typmod;
	cv->basetypid = getBaseTypeAndTypmod(typid, &cv->basetypmod);
	cv->is_domain = (cv->basetypid != typid);
	get_typlenbyval(cv->basetypid, &cv->typlen, &cv->typbyval);

	switch (desc->type)
	{
		case ZC_T_BOOL:
		case ZC_T_INT8:
		case ZC_T_INT16:
		case ZC_T_INT32:
		case ZC_T_INT64:
		case ZC_T_UINT8:
		case ZC_T_UINT16:
		case ZC_T_UINT32:
		case ZC_T_UINT64:
		case ZC_T_FLOAT32:
		case ZC_T_FLOAT64:
			fn = choose_numeric(desc, cv->basetypid);
			break;
		case ZC_T_TIMESTAMP:
		case ZC_T_TIMESTAMPTZ:
			set_time_unit(cv);
			fn = choose_time(desc, cv->basetypid);
			break;
		case ZC_T_DURATION:
			set_time_unit(cv);
			if (cv->basetypid == INTERVALOID)
				fn = conv_duration_to_interval;
			break;
		case ZC_T_DATE32:
			fn = choose_date(cv->basetypid);
			break;
		case ZC_T_DATE64:
			fn = choose_date64(cv->basetypid);
			break;
		case ZC_T_TIME32:
		case ZC_T_TIME64:
			set_time_unit(cv);
			fn = choose_time_of_day(desc, cv->basetypid);
			break;
		case ZC_T_DECIMAL128:
		case ZC_T_DECIMAL256:
			fn = choose_decimal(desc, cv->basetypid);
			break;
		case ZC_T_BITBOOL:
			if (cv->basetypid == BOOLOID)
				fn = conv_bitbool_to_bool;
			break;
		case ZC_T_UTF8:
		case ZC_T_UTF8_32:
		case ZC_T_DICTIONARY:
			fn = choose_text(cv, desc);
			break;
		case ZC_T_BINARY:
		case ZC_T_BINARY_32:
			if (cv->basetypid == BYTEAOID)
				fn = conv_binary_to_bytea;
			break;
		case ZC_T_NULL:
			fn = conv_null;
			break;
		default:
			break;
	}
	if (fn == NULL)
		report_mismatch(column, desc, attname, typid, typmod);

	/*
	 * A typmod such as numeric(10,2), varchar(20) or timestamp(0) is applied
	 * per value, by the input function when there is one.
	 */
	if (cv->basetypmod >= 0 && !cv->via_input &&
		find_typmod_coercion_function(cv->basetypid, &funcid) == COERCION_PATH_FUNC)
	{
		cv->apply_typmod = true;
		fmgr_info(funcid, &cv->typmod_func);
	}

	/* dictionary entries are finished once each, when first converted */
	if ((cv->apply_typmod || cv->is_domain) && desc->type != ZC_T_DICTIONARY)
	{
		cv->inner_fn = fn;
		cv->fn = convert_then_finish;
	}
	else
		cv->fn = fn;
}

/* Take a dictionary message's entries; see convert.h. */
void
zc_converter_set_dictionary(ZcConverter *cv, const ZcDictionaryView *dict)
{
	MemoryContext oldcontext;
	int64		base = dict->offsets[0];
	int64		data_len = dict->offsets[dict->count] - base;

	if (cv->dict_context == NULL)
		cv->dict_context = AllocSetContextCreate(cv->long_context,
												 "zcimport dictionary",
												 ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(cv->dict_context);
	oldcontext = MemoryContextSwitchTo(cv->dict_context);

	cv->dict_count = dict->count;
	cv->dict_offsets = MemoryContextAllocHuge(cv->dict_context,
											  sizeof(int64) * (dict->count + 1));
	for (uint64 k = 0; k <= dict->count; k++)
		cv->dict_offsets[k] = dict->offsets[k] - base;
	cv->dict_data = MemoryContextAllocHuge(cv->dict_context, Max(data_len, 1));
	memcpy(cv->dict_data, dict->data + base, data_len);
	cv->dict_values = MemoryContextAllocHuge(cv->dict_context,
											 sizeof(Datum) * Max(dict->count, 1));
	cv->dict_done = MemoryContextAllocExtended(cv->dict_context,
											   Max(dict->count, 1),
											   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);

	MemoryContextSwitchTo(oldcontext);
}

/* Describe a stream column's wire type for messages, e.g. "timestamp[ns]". */
const char *
zc_describe_wire(const ZcColumnDesc *desc)
{
	const char *name = zc_wire_type_name(desc->type);

	if (name == NULL)
		return psprintf("wire type %d", desc->type);
	switch (desc->type)
	{
		case ZC_T_TIMESTAMP:
		case ZC_T_DURATION:
		case ZC_T_TIME32:
		case ZC_T_TIME64:
			return psprintf("%s[%s]", name, zc_time_unit_name(desc->unit));
		case ZC_T_DECIMAL128:
		case ZC_T_DECIMAL256:
			return psprintf("%s(%d, %d)", name, desc->precision, desc->scale);
		case ZC_T_DICTIONARY:
			return psprintf("%s[%s codes, %s values]", name,
							zc_wire_type_name(desc->index_type),
							zc_wire_type_name(desc->value_type));
		case ZC_T_TIMESTAMPTZ:
			if (desc->tz_len > 0)
				return psprintf("%s[%s, %s]", name,
								zc_time_unit_name(desc->unit), desc->tz);
			return psprintf("%s[%s]", name, zc_time_unit_name(desc->unit));
		default:
			return name;
	}
}

/*
 * A stream column's name, for messages and describe(): control characters
 * (C0, DEL, C1) are escaped as \n, \t, \r, \xHH or \uHHHH, and when the
 * server encoding is not UTF8, so is every other non-ASCII character.  The
 * decoder has checked that the name is valid UTF-8.
 */
char *
zc_display_name(const char *name, int len)
{
	StringInfoData buf;
	bool		server_utf8 = (GetDatabaseEncoding() == PG_UTF8);
	const unsigned char *p = (const unsigned char *) name;
	const unsigned char *end = p + len;

	initStringInfo(&buf);
	while (p < end)
	{
		int			clen = pg_utf_mblen(p);
		pg_wchar	c;

		if (clen > end - p)
			clen = end - p;		/* cannot happen: the name is valid UTF-8 */
		c = utf8_to_unicode(p);
		if (c == '\n')
			appendStringInfoString(&buf, "\\n");
		else if (c == '\t')
			appendStringInfoString(&buf, "\\t");
		else if (c == '\r')
			appendStringInfoString(&buf, "\\r");
		else if (c < 0x20 || c == 0x7f)
			appendStringInfo(&buf, "\\x%02x", (unsigned int) c);
		else if ((c >= 0x80 && c < 0xa0) || (c >= 0x80 && !server_utf8))
			appendStringInfo(&buf, c > 0xffff ? "\\U%08x" : "\\u%04x",
							 (unsigned int) c);
		else
			appendBinaryStringInfo(&buf, (const char *) p, clen);
		p += clen;
	}
	return buf.data;
}
