/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  Incremental, validating decoder for the zcimport stream format.
 *
 * The decoder is fed the bytes of a stream as they arrive.  Each call to
 * zc_decoder_next() looks at the bytes available after the previous unit
 * (the header, then one message at a time) and either decodes one whole
 * unit, or says how many bytes it needs at least, or fails.  A batch is
 * presented as per-column views into the caller's buffer; no column data is
 * copied.
 *
 * Every count, length, offset and code read from the stream is untrusted.
 * Lengths are checked against what the row counts imply and against the
 * message size limit before any arithmetic that could overflow, offsets and
 * dictionary codes are range-checked in branch-free loops, and nothing is
 * read past the bytes the caller handed in.
 *
 * Only the C standard library is used here: this file is compiled into the
 * backend, but also unit-tested (test/c) and fuzzed (test/fuzz) on its own.
 *
 * src/stream.c
 *
 *-------------------------------------------------------------------------
 */
#include "stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the zcimport stream decoder hands out little-endian data in place and needs a little-endian host"
#endif
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ZC_PRINTF_ATTR(f, a)	__attribute__((format(printf, f, a)))
#else
#define ZC_PRINTF_ATTR(f, a)
#endif

/* Used when the caller passes max_message_len = 0. */
#define ZC_DEFAULT_MAX_MESSAGE_LEN	((uint64_t) 1 << 30)

/* Hard ceiling on max_message_len, so that sums of bounded lengths fit. */
#define ZC_MAX_MESSAGE_CEILING	((uint64_t) 1 << 62)

/* Longest column name (in bytes) quoted in an error message. */
#define ZC_LABEL_NAME_LEN		40

/* Size of the buffer a column label is formatted into. */
#define ZC_LABEL_LEN			(ZC_LABEL_NAME_LEN + 32)

const unsigned char zc_magic[ZC_MAGIC_LEN] = {
	0x89, 'Z', 'C', 'I', '\r', '\n', 0x1a, '\n'
};

/* What a PostgreSQL binary COPY file starts with: "PGCOPY\n\377\r\n\0". */
static const unsigned char pgcopy_signature[8] = {
	'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff
};

static const char *const wire_type_names[ZC_T_MAX + 1] = {
	NULL,
	"bool", "int8", "int16", "int32", "int64",
	"uint8", "uint16", "uint32", "uint64",
	"float32", "float64",
	"timestamp", "timestamptz", "duration", "date32",
	"utf8", "binary", "dictionary", "null",
	"bitbool", "utf8_32", "binary_32", "date64", "time32", "time64",
	"decimal128", "decimal256"
};

static const int wire_type_widths[ZC_T_MAX + 1] = {
	0,
	1, 1, 2, 4, 8,
	1, 2, 4, 8,
	4, 8,
	8, 8, 8, 4,
	0, 0, 0, 0,
	0, 0, 0, 8, 4, 8,
	16, 32
};

/* Outcome of walking one buffer of a message. */
typedef enum WalkResult
{
	WALK_OK,					/* the buffer and its padding are present */
	WALK_MORE,					/* more bytes are needed */
	WALK_BAD_LENGTH,			/* the length is not what the count implies */
	WALK_TOO_LARGE,				/* the message would exceed the limit */
	WALK_BAD_PADDING			/* non-zero padding after the buffer */
} WalkResult;

/* Walker over the length-prefixed buffers of one message. */
typedef struct Walk
{
	const uint8_t *buf;			/* start of the message */
	uint64_t	len;			/* bytes available from buf */
	uint64_t	limit;			/* largest message accepted */
	uint64_t	pos;			/* position of the next length prefix */
	uint64_t	min_len;		/* lower bound of the message's length */
	uint64_t	last_at;		/* position of the last buffer's prefix */
	uint64_t	last_len;		/* the last buffer's length */
	const uint8_t *data;		/* the last buffer's bytes */
} Walk;

/* Expected length meaning "any length" (data buffers). */
#define ANY_LENGTH				UINT64_MAX

static ZcStatus fail(ZcDecoder *dec, ZcError *err, const char *fmt,...)
			ZC_PRINTF_ATTR(3, 4);
static void set_message(ZcError *err, const char *fmt,...)
			ZC_PRINTF_ATTR(2, 3);


/* ---------------------------------------------------------------------------
 * Small public helpers
 * ---------------------------------------------------------------------------
 */

/* The wire type's name as in docs/FORMAT.md, or NULL for an unknown code. */
const char *
zc_wire_type_name(int type)
{
	if (type < 1 || type > ZC_T_MAX)
		return NULL;
	return wire_type_names[type];
}

/* The wire type's fixed width in bytes, or 0 for variable-width types. */
int
zc_wire_type_width(int type)
{
	if (type < 1 || type > ZC_T_MAX)
		return 0;
	return wire_type_widths[type];
}

/* The null encoding's name, or NULL for an unknown code. */
const char *
zc_null_encoding_name(int nulls)
{
	switch (nulls)
	{
		case ZC_NULLS_NONE:
			return "none";
		case ZC_NULLS_BITMAP:
			return "bitmap";
		case ZC_NULLS_BYTEMASK:
			return "bytemask";
	}
	return NULL;
}

/* The time unit's name, or NULL for an unknown code. */
const char *
zc_time_unit_name(int unit)
{
	switch (unit)
	{
		case ZC_UNIT_S:
			return "s";
		case ZC_UNIT_MS:
			return "ms";
		case ZC_UNIT_US:
			return "us";
		case ZC_UNIT_NS:
			return "ns";
	}
	return NULL;
}


/* ---------------------------------------------------------------------------
 * Internal helpers
 * ---------------------------------------------------------------------------
 */

/* Read little-endian integers (the host is little-endian, see above). */
static inline uint16_t
read_u16(const uint8_t *p)
{
	uint16_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t
read_u32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t
read_u64(const uint8_t *p)
{
	uint64_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * If vsnprintf() cut a message short, drop a UTF-8 sequence it may have cut
 * in two (column names are quoted in messages), so the result stays valid.
 */
static void
trim_truncated(ZcError *err, int n)
{
	size_t		len;
	size_t		lead;

	if (n < (int) sizeof(err->message) - 1)
		return;
	len = strlen(err->message);
	lead = len;
	while (lead > 0 && (err->message[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead > 0 && ((unsigned char) err->message[lead - 1] & 0x80))
	{
		unsigned char c = (unsigned char) err->message[lead - 1];
		size_t		need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

		if (len - (lead - 1) < need)
			err->message[lead - 1] = '\0';
	}
}

/* Format an error message into err. */
static void
set_message(ZcError *err, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	trim_truncated(err, n);
}

/* Format an error message, mark the decoder failed and return ZC_ERROR. */
static ZcStatus
fail(ZcDecoder *dec, ZcError *err, const char *fmt,...)
{
	va_list		ap;
	int			n;

	dec->state = ZC_STATE_FAILED;
	if (err != NULL)
	{
		va_start(ap, fmt);
		n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		trim_truncated(err, n);
	}
	return ZC_ERROR;
}

/*
 * Length of the well-formed UTF-8 sequence at p (at most n bytes available),
 * or 0 if it is not one: overlong forms, surrogates and code points beyond
 * U+10FFFF are not well-formed.
 */
static int
utf8_seq_len(const uint8_t *p, size_t n)
{
	uint8_t		c = p[0];
	int			len;
	int			i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if ((size_t) len > n)
		return 0;
	for (i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
		(c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
		return 0;
	return len;
}

/*
 * Length of the well-formed, printable UTF-8 character at p (at most n bytes
 * available), or 0 if it is not one.  Control characters (C0, DEL and C1)
 * count as not printable, so that error messages stay on one line.
 */
static int
utf8_char_len(const uint8_t *p, size_t n)
{
	int			len = utf8_seq_len(p, n);

	if (len == 1 && (p[0] < 0x20 || p[0] == 0x7f))
		return 0;
	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return len;
}

/* Is p[0 .. n) well-formed UTF-8?  Sets *bad to the first bad byte's index. */
static bool
utf8_valid(const uint8_t *p, size_t n, size_t *bad)
{
	size_t		i = 0;

	while (i < n)
	{
		int			len = utf8_seq_len(p + i, n - i);

		if (len == 0)
		{
			*bad = i;
			return false;
		}
		i += len;
	}
	return true;
}

/* Is p[0 .. n) printable ASCII?  Sets *bad to the first other byte's index. */
static bool
printable_ascii(const uint8_t *p, size_t n, size_t *bad)
{
	for (size_t i = 0; i < n; i++)
	{
		if (p[i] < 0x20 || p[i] > 0x7e)
		{
			*bad = i;
			return false;
		}
	}
	return true;
}

/*
 * Format "column N \"name\"" (N counted from 1) into dst, quoting at most
 * ZC_LABEL_NAME_LEN bytes of the name.  Bytes that are not printable UTF-8
 * become '?', so the result is always valid UTF-8 whatever the stream holds.
 */
static const char *
column_label(char *dst, uint32_t index, const uint8_t *name, size_t name_len)
{
	size_t		o;
	size_t		i;

	o = (size_t) snprintf(dst, ZC_LABEL_LEN, "column %lu",
						  (unsigned long) index + 1);
	if (name == NULL || name_len == 0)
		return dst;
	dst[o++] = ' ';
	dst[o++] = '"';
	i = 0;
	while (i < name_len)
	{
		int			clen = utf8_char_len(name + i, name_len - i);
		size_t		take = clen > 0 ? (size_t) clen : 1;

		if (i + take > ZC_LABEL_NAME_LEN)
		{
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (clen > 0)
		{
			memcpy(dst + o, name + i, take);
			o += take;
		}
		else
			dst[o++] = '?';
		i += take;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

/* Label of a column whose descriptor has been decoded. */
static const char *
decoded_column_label(const ZcDecoder *dec, char *dst, uint32_t index)
{
	const ZcColumnDesc *desc = &dec->columns[index];

	return column_label(dst, index, (const uint8_t *) desc->name,
						desc->name_len);
}

/* Name of a wire type for messages, "unrecognized" for an invalid code. */
static const char *
type_name_or_unrecognized(int type)
{
	const char *name = zc_wire_type_name(type);

	return name ? name : "unrecognized";
}

/* Does the wire type accept the sentinel-is-NULL flag? */
static bool
type_has_sentinel(int type)
{
	return type == ZC_T_FLOAT32 || type == ZC_T_FLOAT64 ||
		type == ZC_T_TIMESTAMP || type == ZC_T_TIMESTAMPTZ ||
		type == ZC_T_DURATION;
}

/* Is the wire type one with a time unit? */
static bool
type_has_unit(int type)
{
	return type == ZC_T_TIMESTAMP || type == ZC_T_TIMESTAMPTZ ||
		type == ZC_T_DURATION || type == ZC_T_TIME32 || type == ZC_T_TIME64;
}

/* Is the wire type a decimal, with a precision and a scale? */
static bool
type_is_decimal(int type)
{
	return type == ZC_T_DECIMAL128 || type == ZC_T_DECIMAL256;
}

/* May the wire type be a dictionary's index type? */
static bool
type_is_index(int type)
{
	return type >= ZC_T_INT8 && type <= ZC_T_UINT64;
}

/* Is the index type unsigned (no -1 NULL code)? */
static bool
index_is_unsigned(int type)
{
	return type >= ZC_T_UINT8 && type <= ZC_T_UINT64;
}

/* Are all bytes of p[0 .. n) zero? */
static bool
all_zero(const uint8_t *p, uint64_t n)
{
	uint64_t	i;
	uint8_t		acc = 0;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}


/* ---------------------------------------------------------------------------
 * Decoder setup and the header
 * ---------------------------------------------------------------------------
 */

/* Prepare a decoder; max_message_len bounds the header and each message. */
void
zc_decoder_init(ZcDecoder *dec, ZcAllocFn alloc, void *alloc_arg,
				uint64_t max_message_len)
{
	memset(dec, 0, sizeof(*dec));
	dec->alloc = alloc;
	dec->alloc_arg = alloc_arg;
	if (max_message_len == 0)
		max_message_len = ZC_DEFAULT_MAX_MESSAGE_LEN;
	if (max_message_len > ZC_MAX_MESSAGE_CEILING)
		max_message_len = ZC_MAX_MESSAGE_CEILING;
	if (max_message_len > (uint64_t) (SIZE_MAX / 2))
		max_message_len = (uint64_t) (SIZE_MAX / 2);
	dec->max_message_len = max_message_len;
	dec->state = ZC_STATE_HEADER;
}

/*
 * The stream does not start with the magic number.  Say what it looks like.
 * A prefix of a PostgreSQL binary COPY signature is given the benefit of the
 * doubt until 8 bytes have arrived, so that the message does not depend on
 * how the stream was split.
 */
static ZcStatus
bad_magic(ZcDecoder *dec, const uint8_t *buf, size_t len, size_t *used,
		  ZcError *err)
{
	size_t		n = len < ZC_MAGIC_LEN ? len : ZC_MAGIC_LEN;
	size_t		mismatch;
	uint8_t		c = buf[0];

	if (memcmp(buf, pgcopy_signature, n) == 0)
	{
		if (len < ZC_MAGIC_LEN)
		{
			*used = ZC_MAGIC_LEN;
			return ZC_NEED_MORE;
		}
		return fail(dec, err,
					"not a zcimport stream: it starts with the signature of a PostgreSQL binary COPY file (use FORMAT binary for that)");
	}

	for (mismatch = 0; mismatch < n; mismatch++)
		if (buf[mismatch] != zc_magic[mismatch])
			break;

	if (mismatch >= 4)
		return fail(dec, err,
					"not a zcimport stream: the magic number is damaged at byte offset %lu, as by a text-mode transfer that rewrote line endings",
					(unsigned long) mismatch);
	/* printable ASCII, or the first byte of a UTF-8 byte order mark */
	if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r' ||
		c == 0xef)
		return fail(dec, err,
					"not a zcimport stream: it starts with text (byte 0x%02x), not the zcimport magic number; is this a CSV or text COPY file?",
					c);
	return fail(dec, err,
				"not a zcimport stream: bad magic number (byte 0x%02x at byte offset %lu)",
				buf[mismatch], (unsigned long) mismatch);
}

/*
 * Read the fixed part of the column descriptor at d into desc (type, null
 * encoding, flags, unit, index and value types, name and time zone lengths,
 * and the decimal precision and scale); name and tz are left unset.
 */
static void
read_descriptor(const uint8_t *d, ZcColumnDesc *desc)
{
	desc->type = d[0];
	desc->nulls = d[1];
	desc->flags = d[2];
	desc->unit = d[3];
	desc->index_type = d[4];
	desc->value_type = d[5];
	desc->precision = type_is_decimal(d[0]) ? d[4] : 0;
	desc->scale = type_is_decimal(d[0]) ? (int8_t) d[5] : 0;
	desc->name_len = read_u16(d + 6);
	desc->tz_len = read_u16(d + 8);
}

/*
 * Check a descriptor's wire type, null encoding and flags (bytes 0 to 2,
 * the descriptor being at byte offset at).  *tname is the type's name.
 */
static ZcStatus
check_type_and_flags(ZcDecoder *dec, const ZcColumnDesc *desc,
					 const char *label, uint64_t at, const char **tname,
					 ZcError *err)
{
	if (desc->type < 1 || desc->type > ZC_T_MAX)
		return fail(dec, err,
					"%s: unrecognized wire type %u in its descriptor at byte offset %llu",
					label, desc->type, (unsigned long long) at);
	*tname = zc_wire_type_name(desc->type);

	if (desc->nulls > ZC_NULLS_BYTEMASK)
		return fail(dec, err,
					"%s: unrecognized null encoding %u in its descriptor at byte offset %llu",
					label, desc->nulls, (unsigned long long) at + 1);

	if ((desc->flags & ~(ZC_FLAG_SENTINEL_NULL | ZC_FLAG_BASED_OFFSETS)) != 0)
		return fail(dec, err,
					"%s: unrecognized flags 0x%02x in its descriptor at byte offset %llu",
					label, desc->flags, (unsigned long long) at + 2);
	if ((desc->flags & ZC_FLAG_SENTINEL_NULL) && !type_has_sentinel(desc->type))
		return fail(dec, err,
					"%s: the sentinel-is-null flag is not allowed for type %s (only for float32, float64, timestamp, timestamptz and duration)",
					label, *tname);
	if ((desc->flags & ZC_FLAG_BASED_OFFSETS) &&
		!zc_wire_type_is_varlen(desc->type))
		return fail(dec, err,
					"%s: the based-offsets flag is not allowed for type %s (only for utf8, binary, utf8_32 and binary_32)",
					label, *tname);
	return ZC_OK;
}

/* Check a descriptor's time unit (byte 3) against its type. */
static ZcStatus
check_unit(ZcDecoder *dec, const ZcColumnDesc *desc, const char *label,
		   const char *tname, uint64_t at, ZcError *err)
{
	uint8_t		unit = desc->unit;
	const char *uname = zc_time_unit_name(unit) ? zc_time_unit_name(unit) :
		"unrecognized";

	if (desc->type == ZC_T_TIME32)
	{
		if (unit != ZC_UNIT_S && unit != ZC_UNIT_MS)
			return fail(dec, err,
						"%s: time unit %u (%s) is not allowed for a time32 column (only 0, s, or 1, ms) in its descriptor at byte offset %llu",
						label, unit, uname, (unsigned long long) at + 3);
	}
	else if (desc->type == ZC_T_TIME64)
	{
		if (unit != ZC_UNIT_US && unit != ZC_UNIT_NS)
			return fail(dec, err,
						"%s: time unit %u (%s) is not allowed for a time64 column (only 2, us, or 3, ns) in its descriptor at byte offset %llu",
						label, unit, uname, (unsigned long long) at + 3);
	}
	else if (type_has_unit(desc->type))
	{
		if (unit > ZC_UNIT_NS)
			return fail(dec, err,
						"%s: unrecognized time unit %u for a %s column in its descriptor at byte offset %llu",
						label, unit, tname, (unsigned long long) at + 3);
	}
	else if (unit != 0)
		return fail(dec, err,
					"%s: time unit %u is set for type %s (only timestamp, timestamptz, duration, time32 and time64 have a unit)",
					label, unit, tname);
	return ZC_OK;
}

/*
 * Check bytes 4 and 5 of a descriptor: a decimal's precision (its scale is
 * any signed 8-bit value), a dictionary's index and value types, and zero
 * for every other type.
 */
static ZcStatus
check_type_params(ZcDecoder *dec, const ZcColumnDesc *desc,
				  const char *label, const char *tname, uint64_t at,
				  ZcError *err)
{
	if (type_is_decimal(desc->type))
	{
		int			maxp = desc->type == ZC_T_DECIMAL128 ?
			ZC_DECIMAL128_MAX_PRECISION : ZC_DECIMAL256_MAX_PRECISION;

		if (desc->index_type < 1 || desc->index_type > maxp)
			return fail(dec, err,
						"%s: precision %u of a %s column is out of range (1 to %d) in its descriptor at byte offset %llu",
						label, desc->index_type, tname, maxp,
						(unsigned long long) at + 4);
	}
	else if (desc->type == ZC_T_DICTIONARY)
	{
		if (!type_is_index(desc->index_type))
			return fail(dec, err,
						"%s: dictionary index type %u (%s) is not int8, int16, int32, int64, uint8, uint16, uint32 or uint64",
						label, desc->index_type,
						type_name_or_unrecognized(desc->index_type));
		if (desc->value_type != ZC_T_UTF8)
			return fail(dec, err,
						"%s: dictionary value type %u (%s) is not utf8",
						label, desc->value_type,
						type_name_or_unrecognized(desc->value_type));
	}
	else
	{
		if (desc->index_type != 0)
			return fail(dec, err,
						"%s: index type %u is set for type %s (only dictionary has one)",
						label, desc->index_type, tname);
		if (desc->value_type != 0)
			return fail(dec, err,
						"%s: value type %u is set for type %s (only dictionary has one)",
						label, desc->value_type, tname);
	}
	return ZC_OK;
}

/*
 * Check the name and time zone that follow the fixed part of a descriptor
 * at buf[pos ..]: their lengths (against the limits and header_len), then
 * their bytes, then the padding up to the next multiple of 8.
 */
static ZcStatus
check_descriptor_strings(ZcDecoder *dec, const uint8_t *buf,
						 uint32_t header_len, uint64_t pos,
						 const ZcColumnDesc *desc, const char *label,
						 const char *tname, ZcError *err)
{
	uint64_t	at = dec->offset + pos;
	const uint8_t *name = buf + pos + ZC_DESC_FIXED_LEN;
	const uint8_t *tz = name + desc->name_len;
	uint64_t	end = pos + ZC_DESC_FIXED_LEN + desc->name_len + desc->tz_len;
	size_t		bad;

	if (desc->name_len > ZC_MAX_NAME_LEN)
		return fail(dec, err,
					"%s: name length %u exceeds the limit of %d bytes",
					label, desc->name_len, ZC_MAX_NAME_LEN);
	if (desc->tz_len > ZC_MAX_TZ_LEN)
		return fail(dec, err,
					"%s: time zone length %u exceeds the limit of %d bytes",
					label, desc->tz_len, ZC_MAX_TZ_LEN);
	if (desc->tz_len != 0 && desc->type != ZC_T_TIMESTAMPTZ)
		return fail(dec, err,
					"%s: a time zone is set for type %s (only timestamptz has one)",
					label, tname);
	if (read_u16(buf + pos + 10) != 0)
		return fail(dec, err,
					"%s: non-zero reserved field in its descriptor at byte offset %llu",
					label, (unsigned long long) at + 10);

	if (end > header_len)
		return fail(dec, err,
					"header length %lu disagrees with the column descriptors: the name and time zone of %s run past it",
					(unsigned long) header_len, label);
	if (memchr(name, 0, desc->name_len) != NULL)
		return fail(dec, err, "%s: the column name contains a NUL byte",
					label);
	if (!utf8_valid(name, desc->name_len, &bad))
		return fail(dec, err,
					"%s: the column name is not valid UTF-8 (byte 0x%02x at byte offset %llu)",
					label, name[bad],
					(unsigned long long) at + ZC_DESC_FIXED_LEN + bad);
	if (memchr(tz, 0, desc->tz_len) != NULL)
		return fail(dec, err, "%s: the time zone name contains a NUL byte",
					label);
	if (!printable_ascii(tz, desc->tz_len, &bad))
		return fail(dec, err,
					"%s: the time zone name has a byte that is not printable ASCII (0x%02x at byte offset %llu)",
					label, tz[bad],
					(unsigned long long) at + ZC_DESC_FIXED_LEN + desc->name_len + bad);

	/* header_len is a multiple of 8, so the padding fits too */
	if (!all_zero(buf + end, ZC_ALIGN8(end) - end))
		return fail(dec, err,
					"%s: non-zero padding after its descriptor at byte offset %llu",
					label, (unsigned long long) (dec->offset + end));
	return ZC_OK;
}

/*
 * Validate one column descriptor at buf[pos ..] of a complete header of
 * header_len bytes.  On success *next is where the next descriptor starts.
 */
static ZcStatus
check_descriptor(ZcDecoder *dec, const uint8_t *buf, uint32_t header_len,
				 uint32_t index, uint64_t pos, uint64_t *next, ZcError *err)
{
	char		label[ZC_LABEL_LEN];
	ZcColumnDesc desc;
	const char *tname = NULL;
	ZcStatus	st;

	if (pos + ZC_DESC_FIXED_LEN > header_len)
		return fail(dec, err,
					"header length %lu disagrees with the column descriptors: the descriptor of column %lu at byte offset %llu does not fit in it",
					(unsigned long) header_len, (unsigned long) index + 1,
					(unsigned long long) (dec->offset + pos));
	read_descriptor(buf + pos, &desc);

	/* quote the name if it is there */
	if (desc.name_len <= ZC_MAX_NAME_LEN &&
		pos + ZC_DESC_FIXED_LEN + desc.name_len <= header_len)
		column_label(label, index, buf + pos + ZC_DESC_FIXED_LEN,
					 desc.name_len);
	else
		column_label(label, index, NULL, 0);

	st = check_type_and_flags(dec, &desc, label, dec->offset + pos, &tname,
							  err);
	if (st == ZC_OK)
		st = check_unit(dec, &desc, label, tname, dec->offset + pos, err);
	if (st == ZC_OK)
		st = check_type_params(dec, &desc, label, tname, dec->offset + pos,
							   err);
	if (st == ZC_OK)
		st = check_descriptor_strings(dec, buf, header_len, pos, &desc, label,
									  tname, err);
	if (st != ZC_OK)
		return st;

	*next = ZC_ALIGN8(pos + ZC_DESC_FIXED_LEN + desc.name_len + desc.tz_len);
	return ZC_OK;
}

/* Copy n bytes to a NUL-terminated string at *space, advancing it. */
static char *
copy_string(char **space, const uint8_t *src, size_t n)
{
	char	   *s = *space;

	if (n > 0)
		memcpy(s, src, n);
	s[n] = '\0';
	*space += n + 1;
	return s;
}

/*
 * Check the fixed part of the header at buf[0 .. len): the magic number (on
 * whatever prefix has arrived), version, byte order, flags, column count,
 * header length and reserved field.  Sets *ncolumns and *header_len; returns
 * ZC_NEED_MORE with *used set while the fixed part is incomplete.
 */
static ZcStatus
check_header_fixed(ZcDecoder *dec, const uint8_t *buf, size_t len,
				   size_t *used, uint32_t *ncolumns, uint32_t *header_len,
				   ZcError *err)
{
	size_t		n = len < ZC_MAGIC_LEN ? len : ZC_MAGIC_LEN;
	uint16_t	version;
	uint32_t	min_len;
	uint64_t	limit;

	if (len == 0)
	{
		*used = ZC_HEADER_FIXED_LEN;
		return ZC_NEED_MORE;
	}
	if (memcmp(buf, zc_magic, n) != 0)
		return bad_magic(dec, buf, len, used, err);
	if (len < ZC_HEADER_FIXED_LEN)
	{
		*used = ZC_HEADER_FIXED_LEN;
		return ZC_NEED_MORE;
	}

	version = read_u16(buf + 8);
	if (version != ZC_VERSION)
		return fail(dec, err,
					"unsupported zcimport stream version %u (this server reads version %d)",
					version, ZC_VERSION);
	if (buf[10] != ZC_BYTE_ORDER_LITTLE)
		return fail(dec, err,
					"unsupported byte order 0x%02x in the stream header (only 'L', little-endian, is accepted)",
					buf[10]);
	if (buf[11] != 0)
		return fail(dec, err,
					"non-zero flags 0x%02x in the stream header at byte offset 11",
					buf[11]);
	*ncolumns = read_u32(buf + 12);
	if (*ncolumns == 0)
		return fail(dec, err, "the stream header declares no columns");
	if (*ncolumns > ZC_MAX_COLUMNS)
		return fail(dec, err,
					"the stream header declares %lu columns, more than the limit of %d",
					(unsigned long) *ncolumns, ZC_MAX_COLUMNS);
	*header_len = read_u32(buf + 16);
	if (*header_len % 8 != 0)
		return fail(dec, err,
					"header length %lu is not a multiple of 8",
					(unsigned long) *header_len);
	limit = dec->max_message_len < ZC_MAX_HEADER_LEN ?
		dec->max_message_len : ZC_MAX_HEADER_LEN;
	if (*header_len > limit)
		return fail(dec, err,
					"header length %lu exceeds the limit of %llu bytes",
					(unsigned long) *header_len, (unsigned long long) limit);
	/* every descriptor takes at least 16 bytes with its padding */
	min_len = ZC_HEADER_FIXED_LEN + *ncolumns * ZC_ALIGN8(ZC_DESC_FIXED_LEN);
	if (*header_len < min_len)
		return fail(dec, err,
					"header length %lu is too small for %lu column descriptors (at least %lu bytes)",
					(unsigned long) *header_len, (unsigned long) *ncolumns,
					(unsigned long) min_len);
	if (read_u32(buf + 20) != 0)
		return fail(dec, err,
					"non-zero reserved field in the stream header at byte offset 20");
	return ZC_OK;
}

/*
 * Validate every descriptor of a complete header, and check that they fill
 * it exactly.  *strings is the bytes their names and time zones take with a
 * terminator each.
 */
static ZcStatus
check_descriptors(ZcDecoder *dec, const uint8_t *buf, uint32_t ncolumns,
				  uint32_t header_len, uint64_t *strings, ZcError *err)
{
	uint64_t	pos = ZC_HEADER_FIXED_LEN;
	uint64_t	next = pos;
	uint32_t	i;
	ZcStatus	st;

	*strings = 0;
	for (i = 0; i < ncolumns; i++)
	{
		st = check_descriptor(dec, buf, header_len, i, pos, &next, err);
		if (st != ZC_OK)
			return st;
		*strings += read_u16(buf + pos + 6) + read_u16(buf + pos + 8) + 2;
		pos = next;
	}
	if (pos != header_len)
		return fail(dec, err,
					"header length %lu disagrees with the column descriptors, which end at byte offset %llu",
					(unsigned long) header_len, (unsigned long long) pos);
	return ZC_OK;
}

/*
 * Allocate, in one block, the column descriptors, views and dictionary
 * sizes of ncolumns columns and strings bytes of names and time zones.
 * Returns where the strings go, or NULL after reporting the failure.
 */
static char *
alloc_columns(ZcDecoder *dec, uint32_t ncolumns, uint64_t strings,
			  ZcError *err)
{
	size_t		cols_size = ZC_ALIGN8(sizeof(ZcColumnDesc) * (size_t) ncolumns);
	size_t		views_size = ZC_ALIGN8(sizeof(ZcColumnView) * (size_t) ncolumns);
	size_t		sizes_size = sizeof(int64_t) * (size_t) ncolumns;
	char	   *space;

	if (dec->alloc == NULL)
	{
		fail(dec, err, "the stream decoder has no allocator");
		return NULL;
	}
	space = dec->alloc(dec->alloc_arg,
					   cols_size + views_size + sizes_size + (size_t) strings);
	if (space == NULL)
	{
		fail(dec, err, "out of memory for %lu column descriptors",
			 (unsigned long) ncolumns);
		return NULL;
	}
	dec->columns = (ZcColumnDesc *) space;
	dec->views = (ZcColumnView *) (space + cols_size);
	dec->dict_sizes = (int64_t *) (space + cols_size + views_size);
	memset(dec->views, 0, sizeof(ZcColumnView) * (size_t) ncolumns);
	return space + cols_size + views_size + sizes_size;
}

/* Decode the header: the fixed part, then all column descriptors. */
static ZcStatus
decode_header(ZcDecoder *dec, const uint8_t *buf, size_t len, size_t *used,
			  ZcEvent *event, ZcError *err)
{
	uint32_t	ncolumns = 0;
	uint32_t	header_len = 0;
	uint64_t	strings;
	uint64_t	pos;
	char	   *space;
	uint32_t	i;
	ZcStatus	st;

	st = check_header_fixed(dec, buf, len, used, &ncolumns, &header_len, err);
	if (st != ZC_OK)
		return st;
	if (len < header_len)
	{
		*used = header_len;
		return ZC_NEED_MORE;
	}

	/* validate every descriptor before allocating anything */
	st = check_descriptors(dec, buf, ncolumns, header_len, &strings, err);
	if (st != ZC_OK)
		return st;
	space = alloc_columns(dec, ncolumns, strings, err);
	if (space == NULL)
		return ZC_ERROR;

	pos = ZC_HEADER_FIXED_LEN;
	for (i = 0; i < ncolumns; i++)
	{
		const uint8_t *d = buf + pos;
		ZcColumnDesc *desc = &dec->columns[i];

		read_descriptor(d, desc);
		desc->name = copy_string(&space, d + ZC_DESC_FIXED_LEN,
								 desc->name_len);
		desc->tz = copy_string(&space, d + ZC_DESC_FIXED_LEN + desc->name_len,
							   desc->tz_len);
		dec->dict_sizes[i] = -1;
		pos += ZC_ALIGN8(ZC_DESC_FIXED_LEN + desc->name_len + desc->tz_len);
	}

	dec->ncolumns = ncolumns;
	dec->state = ZC_STATE_MESSAGES;
	dec->offset += header_len;
	*used = header_len;
	*event = ZC_EV_HEADER;
	return ZC_OK;
}


/* ---------------------------------------------------------------------------
 * Buffers of messages
 * ---------------------------------------------------------------------------
 */

/* Start a walk of the message at buf[0 .. len) after its fixed part. */
static void
walk_init(Walk *w, const uint8_t *buf, size_t len, uint64_t limit,
		  uint64_t min_len)
{
	w->buf = buf;
	w->len = len;
	w->limit = limit;
	w->pos = ZC_MESSAGE_FIXED_LEN;
	w->min_len = min_len;
	w->last_at = 0;
	w->last_len = 0;
	w->data = NULL;
}

/*
 * Walk the buffer whose length prefix is at w->pos.  expected is the length
 * the count implies, or ANY_LENGTH for a data buffer.  w->min_len, a lower
 * bound of the message's length, counts data buffers not yet seen as empty;
 * a data buffer's length is added to it as soon as it is known.
 */
static WalkResult
walk_buffer(Walk *w, uint64_t expected)
{
	uint64_t	blen;
	uint64_t	end;

	w->last_at = w->pos;
	if (w->len < w->pos + 8)
		return WALK_MORE;
	blen = read_u64(w->buf + w->pos);
	w->last_len = blen;
	if (expected == ANY_LENGTH)
	{
		/* w->min_len <= w->limit <= 2^62 here, so nothing below overflows */
		if (blen > w->limit - w->min_len)
			return WALK_TOO_LARGE;
		w->min_len += ZC_ALIGN8(blen);
		if (w->min_len > w->limit)
			return WALK_TOO_LARGE;
	}
	else if (blen != expected)
		return WALK_BAD_LENGTH;

	end = w->pos + 8 + ZC_ALIGN8(blen);
	if (end > w->len)
		return WALK_MORE;
	if (!all_zero(w->buf + w->pos + 8 + blen, ZC_ALIGN8(blen) - blen))
		return WALK_BAD_PADDING;
	w->data = w->buf + w->pos + 8;
	w->pos = end;
	return WALK_OK;
}

/*
 * Turn a failed walk into an error (or a NEED_MORE).  where says whose
 * buffer it is ("column 2 \"b\", batch 3"), what which buffer ("values").
 */
static ZcStatus
walk_failure(ZcDecoder *dec, const Walk *w, WalkResult r, const char *where,
			 const char *what, uint64_t expected, const char *why,
			 size_t *used, ZcError *err)
{
	uint64_t	at = dec->offset + w->last_at;

	switch (r)
	{
		case WALK_MORE:
			*used = (size_t) w->min_len;
			return ZC_NEED_MORE;
		case WALK_BAD_LENGTH:
			return fail(dec, err,
						"%s: the %s buffer at byte offset %llu has length %llu, expected %llu (%s)",
						where, what, (unsigned long long) at,
						(unsigned long long) w->last_len,
						(unsigned long long) expected, why);
		case WALK_TOO_LARGE:
			return fail(dec, err,
						"%s: the %s buffer at byte offset %llu has length %llu, too large for the limit of %llu bytes per message",
						where, what, (unsigned long long) at,
						(unsigned long long) w->last_len,
						(unsigned long long) w->limit);
		case WALK_BAD_PADDING:
			return fail(dec, err,
						"%s: non-zero padding after the %s buffer at byte offset %llu",
						where, what, (unsigned long long) at);
		case WALK_OK:
			break;
	}
	return fail(dec, err, "internal error in the stream decoder");
}

/*
 * Rows checked per block by the O(rows) loops.  The inner loops over a block
 * have a constant trip count, which lets GCC vectorize them even under the
 * "very cheap" cost model of -O2; the few remaining rows are checked one by
 * one.
 */
#define ZC_BLOCK				16

/*
 * Check 0 <= offsets[0] <= offsets[1] <= ... <= offsets[n], and that the
 * values fit the data buffer: offsets[n] <= data_len for absolute offsets,
 * offsets[n] - offsets[0] <= data_len for based ones (ZC_FLAG_BASED_OFFSETS,
 * where the data buffer starts at offsets[0]).
 *
 * Branch-free, so that the compiler can vectorize it: OR together every
 * offset and every difference offsets[i+1] - offsets[i] (computed unsigned),
 * and look at the sign bit.  If every offset is non-negative, no difference
 * can wrap, so a set sign bit means exactly that the offsets decrease
 * somewhere; if some offset is negative, its own sign bit is set, and that
 * is an error too (offsets[0] >= 0 and monotonicity imply all are >= 0).
 * Once that holds, offsets[n] - offsets[0] cannot overflow.
 */
#define DEFINE_OFFSETS_VALID(NAME, STYPE, UTYPE, SIGN_SHIFT) \
static bool \
NAME(const STYPE *offsets, uint64_t n, uint64_t data_len, bool based) \
{ \
	const UTYPE *o = (const UTYPE *) offsets; \
	UTYPE		acc = o[n]; \
	uint64_t	i = 0; \
	int			j; \
\
	for (; i + ZC_BLOCK <= n; i += ZC_BLOCK) \
		for (j = 0; j < ZC_BLOCK; j++) \
			acc |= o[i + j] | (o[i + j + 1] - o[i + j]); \
	for (; i < n; i++) \
		acc |= o[i] | (o[i + 1] - o[i]); \
	if ((acc >> (SIGN_SHIFT)) != 0) \
		return false; \
	if (based) \
		return (uint64_t) (offsets[n] - offsets[0]) <= data_len; \
	return (uint64_t) offsets[n] <= data_len; \
}

/* the 64-bit offsets of utf8 and binary, the 32-bit ones of utf8_32 and binary_32 */
DEFINE_OFFSETS_VALID(offsets_valid, int64_t, uint64_t, 63)
DEFINE_OFFSETS_VALID(offsets32_valid, int32_t, uint32_t, 31)

/* Offset i of 64-bit (offsets) or 32-bit (offsets32) offsets. */
static inline int64_t
offset_at(const int64_t *offsets, const int32_t *offsets32, uint64_t i)
{
	return offsets32 != NULL ? (int64_t) offsets32[i] : offsets[i];
}

/*
 * Report the first offset that breaks the rules of offsets_valid() (or
 * offsets32_valid(): exactly one of offsets and offsets32 is set).
 */
static ZcStatus
offsets_failure(ZcDecoder *dec, const int64_t *offsets,
				const int32_t *offsets32, uint64_t n, uint64_t data_len,
				bool based, const char *where, uint64_t at, ZcError *err)
{
	uint64_t	i;
	int64_t		first = offset_at(offsets, offsets32, 0);
	int64_t		last = offset_at(offsets, offsets32, n);

	if (first < 0)
		return fail(dec, err,
					"%s: offsets[0] = %lld is negative (offsets buffer at byte offset %llu)",
					where, (long long) first, (unsigned long long) at);
	for (i = 0; i < n; i++)
	{
		int64_t		a = offset_at(offsets, offsets32, i);
		int64_t		b = offset_at(offsets, offsets32, i + 1);

		if (b < a)
			return fail(dec, err,
						"%s: offsets[%llu] = %lld is less than offsets[%llu] = %lld (offsets buffer at byte offset %llu)",
						where, (unsigned long long) i + 1, (long long) b,
						(unsigned long long) i, (long long) a,
						(unsigned long long) at);
	}
	if (based)
		return fail(dec, err,
					"%s: the based offsets span offsets[%llu] - offsets[0] = %lld bytes, more than the data buffer of %llu bytes (offsets buffer at byte offset %llu)",
					where, (unsigned long long) n, (long long) (last - first),
					(unsigned long long) data_len, (unsigned long long) at);
	return fail(dec, err,
				"%s: offsets[%llu] = %lld is beyond the end of the data buffer of %llu bytes (offsets buffer at byte offset %llu)",
				where, (unsigned long long) n, (long long) last,
				(unsigned long long) data_len, (unsigned long long) at);
}

/*
 * Define a range check of dictionary codes of one C type.  A signed code
 * (ADD = 1) is fine when it is -1 (NULL) or 0 <= code < dictionary size,
 * that is when (unsigned) code + 1 <= size, computed in UTYPE (uint32_t for
 * codes of up to 32 bits, which is enough since size <= INT32_MAX; uint64_t
 * for int64).  An unsigned code (ADD = 0) has no NULL code and is fine when
 * code < size.  Both are "(UTYPE) code + ADD < size + ADD".  With no
 * dictionary, size is 0 and only -1 passes.  Rows the validity buffer marks
 * NULL are not inspected.  The loops are branch-free so that the compiler
 * can vectorize them.
 */
#define DEFINE_CODES_VALID(NAME, CTYPE, UTYPE, ADD) \
static bool \
NAME(const uint8_t *raw, int nulls, const uint8_t *validity, uint64_t n, \
	 uint64_t size64) \
{ \
	const CTYPE *codes = (const CTYPE *) raw; \
	const UTYPE lim = (UTYPE) size64 + (ADD); \
	UTYPE		bad = 0; \
	uint64_t	i; \
\
	int			j; \
\
	if (nulls == ZC_NULLS_NONE) \
	{ \
		for (i = 0; i + ZC_BLOCK <= n; i += ZC_BLOCK) \
			for (j = 0; j < ZC_BLOCK; j++) \
				bad |= (UTYPE) codes[i + j] + (ADD) >= lim; \
		for (; i < n; i++) \
			bad |= (UTYPE) codes[i] + (ADD) >= lim; \
	} \
	else if (nulls == ZC_NULLS_BYTEMASK) \
	{ \
		for (i = 0; i + ZC_BLOCK <= n; i += ZC_BLOCK) \
			for (j = 0; j < ZC_BLOCK; j++) \
				bad |= (UTYPE) (validity[i + j] == 0) & \
					((UTYPE) codes[i + j] + (ADD) >= lim); \
		for (; i < n; i++) \
			bad |= (UTYPE) (validity[i] == 0) & \
				((UTYPE) codes[i] + (ADD) >= lim); \
	} \
	else \
	{ \
		for (i = 0; i + ZC_BLOCK <= n; i += ZC_BLOCK) \
		{ \
			unsigned	bits = validity[i >> 3] | \
				(unsigned) validity[(i >> 3) + 1] << 8; \
\
			for (j = 0; j < ZC_BLOCK; j++) \
				bad |= (UTYPE) ((bits >> j) & 1) & \
					((UTYPE) codes[i + j] + (ADD) >= lim); \
		} \
		for (; i < n; i++) \
			bad |= (UTYPE) ((validity[i >> 3] >> (i & 7)) & 1) & \
				((UTYPE) codes[i] + (ADD) >= lim); \
	} \
	return bad == 0; \
}

DEFINE_CODES_VALID(codes8_valid, int8_t, uint32_t, 1)
DEFINE_CODES_VALID(codes16_valid, int16_t, uint32_t, 1)
DEFINE_CODES_VALID(codes32_valid, int32_t, uint32_t, 1)
DEFINE_CODES_VALID(codes64_valid, int64_t, uint64_t, 1)
DEFINE_CODES_VALID(ucodes8_valid, uint8_t, uint32_t, 0)
DEFINE_CODES_VALID(ucodes16_valid, uint16_t, uint32_t, 0)
DEFINE_CODES_VALID(ucodes32_valid, uint32_t, uint32_t, 0)
DEFINE_CODES_VALID(ucodes64_valid, uint64_t, uint64_t, 0)

/* The range check of each index type's codes. */
typedef bool (*CodesValidFn) (const uint8_t *codes, int nulls,
							  const uint8_t *validity, uint64_t n,
							  uint64_t size);
static const CodesValidFn codes_valid[ZC_T_MAX + 1] = {
	[ZC_T_INT8] = codes8_valid,
	[ZC_T_INT16] = codes16_valid,
	[ZC_T_INT32] = codes32_valid,
	[ZC_T_INT64] = codes64_valid,
	[ZC_T_UINT8] = ucodes8_valid,
	[ZC_T_UINT16] = ucodes16_valid,
	[ZC_T_UINT32] = ucodes32_valid,
	[ZC_T_UINT64] = ucodes64_valid,
};

/* Read dictionary code i of a signed index type of the given width. */
static int64_t
read_code(const uint8_t *codes, int width, uint64_t i)
{
	switch (width)
	{
		case 1:
			return ((const int8_t *) codes)[i];
		case 2:
			return ((const int16_t *) codes)[i];
		case 4:
			return ((const int32_t *) codes)[i];
		default:
			return ((const int64_t *) codes)[i];
	}
}

/* Read dictionary code i of an unsigned index type of the given width. */
static uint64_t
read_ucode(const uint8_t *codes, int width, uint64_t i)
{
	switch (width)
	{
		case 1:
			return ((const uint8_t *) codes)[i];
		case 2:
			return ((const uint16_t *) codes)[i];
		case 4:
			return ((const uint32_t *) codes)[i];
		default:
			return ((const uint64_t *) codes)[i];
	}
}

/*
 * Check the codes of a dictionary column of a complete batch: every code of
 * a valid row is -1 (NULL; signed index types only) or an entry of the
 * column's dictionary.  The descriptor check made index_type an index type.
 */
static ZcStatus
check_codes(ZcDecoder *dec, uint32_t col, uint64_t n, ZcError *err)
{
	const ZcColumnDesc *desc = &dec->columns[col];
	const ZcColumnView *view = &dec->views[col];
	int			width = zc_wire_type_width(desc->index_type);
	bool		is_unsigned = index_is_unsigned(desc->index_type);
	int64_t		dsize = dec->dict_sizes[col];
	uint64_t	size = dsize < 0 ? 0 : (uint64_t) dsize;
	unsigned long long batchno = (unsigned long long) dec->batches + 1;
	uint64_t	i;
	char		label[ZC_LABEL_LEN];
	char		code_text[24];

	if (codes_valid[desc->index_type] (view->values, desc->nulls,
									   view->validity, n, size))
		return ZC_OK;

	/* find the first bad code for the message */
	decoded_column_label(dec, label, col);
	for (i = 0; i < n; i++)
	{
		if (!zc_row_valid(desc, view, i))
			continue;
		if (is_unsigned)
		{
			uint64_t	ucode = read_ucode(view->values, width, i);

			if (ucode < size)
				continue;
			snprintf(code_text, sizeof(code_text), "%llu",
					 (unsigned long long) ucode);
		}
		else
		{
			int64_t		code = read_code(view->values, width, i);

			if (code == -1 || (code >= 0 && (uint64_t) code < size))
				continue;
			if (code < -1)
				return fail(dec, err,
							"%s, batch %llu: dictionary code %lld at row index %llu is negative (only -1, meaning NULL, may be)",
							label, batchno, (long long) code,
							(unsigned long long) i);
			snprintf(code_text, sizeof(code_text), "%lld", (long long) code);
		}
		if (dsize < 0)
			return fail(dec, err,
						"%s, batch %llu: dictionary code %s at row index %llu, but the column has no dictionary yet%s",
						label, batchno, code_text, (unsigned long long) i,
						is_unsigned ? " (unsigned codes have no NULL code)" : "");
		return fail(dec, err,
					"%s, batch %llu: dictionary code %s at row index %llu is out of range (the dictionary has %lld entries)",
					label, batchno, code_text, (unsigned long long) i,
					(long long) dsize);
	}
	return fail(dec, err, "internal error in the stream decoder");
}


/* ---------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------------
 */

/* Length of the validity buffer of n rows; see stream.h. */
uint64_t
zc_validity_len(const ZcColumnDesc *desc, uint64_t n)
{
	if (desc->nulls == ZC_NULLS_BITMAP)
		return (n + 7) / 8;
	if (desc->nulls == ZC_NULLS_BYTEMASK)
		return n;
	return 0;
}

/* Width of a varlen column's offsets: 8, or 4 for utf8_32 and binary_32. */
static uint64_t
offset_width(const ZcColumnDesc *desc)
{
	return (desc->type == ZC_T_UTF8_32 || desc->type == ZC_T_BINARY_32) ? 4 : 8;
}

/* Length of the values, codes or offsets buffer of n rows; see stream.h. */
uint64_t
zc_values_len(const ZcColumnDesc *desc, uint64_t n)
{
	if (zc_wire_type_is_varlen(desc->type))
		return (n + 1) * offset_width(desc);
	if (desc->type == ZC_T_BITBOOL)
		return (n + 7) / 8;
	if (desc->type == ZC_T_DICTIONARY)
		return n * (uint64_t) zc_wire_type_width(desc->index_type);
	return n * (uint64_t) zc_wire_type_width(desc->type);
}

/* Is the column's value buffer pair offsets + data? */
static bool
is_varlen(const ZcColumnDesc *desc)
{
	return zc_wire_type_is_varlen(desc->type);
}

/*
 * The smallest possible length of a batch of n rows: every buffer at the
 * length the row count implies, data buffers empty.  n <= 2^31 - 1 and there
 * are at most 1600 columns, so this stays far below 2^64.
 */
static uint64_t
batch_min_len(const ZcDecoder *dec, uint64_t n)
{
	uint64_t	total = ZC_MESSAGE_FIXED_LEN;
	uint32_t	c;

	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *desc = &dec->columns[c];

		if (desc->nulls != ZC_NULLS_NONE)
			total += 8 + ZC_ALIGN8(zc_validity_len(desc, n));
		total += 8 + ZC_ALIGN8(zc_values_len(desc, n));
		if (is_varlen(desc))
			total += 8;			/* the data buffer's length prefix */
	}
	return total;
}

/* The buffers of a batch's column, as its walker names them in errors. */
typedef enum ColumnBuffer
{
	BUF_VALIDITY,				/* validity bitmap or null byte mask */
	BUF_OFFSETS,				/* offsets of a varlen column */
	BUF_DATA,					/* data of a varlen column */
	BUF_VALUES					/* values, or a dictionary's codes */
} ColumnBuffer;

/*
 * The one failure formatter of the batch walker: turn a failed walk of
 * buffer which of column c, in a batch of n rows, into an error (or a
 * NEED_MORE), saying which buffer and why its length was expected.
 */
static ZcStatus
column_walk_failure(ZcDecoder *dec, const Walk *w, WalkResult r, uint32_t c,
					ColumnBuffer which, uint64_t expected, uint64_t n,
					size_t *used, ZcError *err)
{
	const ZcColumnDesc *desc = &dec->columns[c];
	bool		dict = desc->type == ZC_T_DICTIONARY;
	const char *what;
	char		label[ZC_LABEL_LEN];
	char		where[ZC_LABEL_LEN + 32];
	char		why[96];

	if (r == WALK_MORE)
		return walk_failure(dec, w, r, "", "", 0, "", used, err);

	switch (which)
	{
		case BUF_VALIDITY:
			what = desc->nulls == ZC_NULLS_BITMAP ?
				"validity bitmap" : "null byte mask";
			snprintf(why, sizeof(why), "%llu rows", (unsigned long long) n);
			break;
		case BUF_OFFSETS:
		case BUF_DATA:
			what = which == BUF_OFFSETS ? "offsets" : "data";
			snprintf(why, sizeof(why), "%llu rows need %llu offsets of %d bytes",
					 (unsigned long long) n, (unsigned long long) n + 1,
					 (int) offset_width(desc));
			break;
		default:
			what = dict ? "codes" : "values";
			snprintf(why, sizeof(why), "%llu rows of %s%s",
					 (unsigned long long) n,
					 dict ? "dictionary codes of type " : "",
					 zc_wire_type_name(dict ? desc->index_type : desc->type));
			break;
	}
	snprintf(where, sizeof(where), "%s, batch %llu",
			 decoded_column_label(dec, label, c),
			 (unsigned long long) dec->batches + 1);
	return walk_failure(dec, w, r, where, what, expected, why, used, err);
}

/*
 * Walk buffer which of column c, of the expected length (or ANY_LENGTH);
 * on ZC_OK w->data and w->last_len are its bytes.
 */
static ZcStatus
walk_column_buffer(ZcDecoder *dec, Walk *w, uint32_t c, ColumnBuffer which,
				   uint64_t expected, uint64_t n, size_t *used, ZcError *err)
{
	WalkResult	r = walk_buffer(w, expected);

	if (r == WALK_OK)
		return ZC_OK;
	return column_walk_failure(dec, w, r, c, which, expected, n, used, err);
}

/*
 * Walk the length prefixes of column c's buffers in a batch of n rows,
 * filling in its view: O(1).
 */
static ZcStatus
walk_column(ZcDecoder *dec, Walk *w, uint32_t c, uint64_t n, size_t *used,
			ZcError *err)
{
	const ZcColumnDesc *desc = &dec->columns[c];
	ZcColumnView *view = &dec->views[c];
	ZcStatus	st;

	memset(view, 0, sizeof(*view));
	if (desc->nulls != ZC_NULLS_NONE)
	{
		st = walk_column_buffer(dec, w, c, BUF_VALIDITY,
								zc_validity_len(desc, n), n, used, err);
		if (st != ZC_OK)
			return st;
		view->validity = w->data;
	}

	if (!is_varlen(desc))
	{
		st = walk_column_buffer(dec, w, c, BUF_VALUES, zc_values_len(desc, n),
								n, used, err);
		view->values = w->data;
		return st;
	}

	st = walk_column_buffer(dec, w, c, BUF_OFFSETS, zc_values_len(desc, n),
							n, used, err);
	if (st != ZC_OK)
		return st;
	if (offset_width(desc) == 4)
		view->offsets32 = (const int32_t *) w->data;
	else
		view->offsets = (const int64_t *) w->data;
	st = walk_column_buffer(dec, w, c, BUF_DATA, ANY_LENGTH, n, used, err);
	view->data = w->data;
	view->data_len = w->last_len;
	return st;
}

/*
 * Check the offsets of varlen column c of a complete batch of n rows at
 * buf, and set its data_base: O(rows).
 */
static ZcStatus
check_offsets(ZcDecoder *dec, const uint8_t *buf, uint32_t c, uint64_t n,
			  ZcError *err)
{
	const ZcColumnDesc *desc = &dec->columns[c];
	ZcColumnView *view = &dec->views[c];
	bool		based = (desc->flags & ZC_FLAG_BASED_OFFSETS) != 0;
	bool		ok;
	const uint8_t *obuf;
	char		label[ZC_LABEL_LEN];
	char		where[ZC_LABEL_LEN + 32];

	if (view->offsets32 != NULL)
	{
		ok = offsets32_valid(view->offsets32, n, view->data_len, based);
		obuf = (const uint8_t *) view->offsets32;
	}
	else
	{
		ok = offsets_valid(view->offsets, n, view->data_len, based);
		obuf = (const uint8_t *) view->offsets;
	}
	if (!ok)
	{
		snprintf(where, sizeof(where), "%s, batch %llu",
				 decoded_column_label(dec, label, c),
				 (unsigned long long) dec->batches + 1);
		return offsets_failure(dec, view->offsets, view->offsets32, n,
							   view->data_len, based, where,
							   dec->offset + (uint64_t) (obuf - buf) - 8, err);
	}
	if (based)
		view->data_base = offset_at(view->offsets, view->offsets32, 0);
	return ZC_OK;
}

/*
 * Check the fixed part of a batch message at buf[0 .. 16) with n rows, and
 * start the walk of its buffers.
 */
static ZcStatus
start_batch(ZcDecoder *dec, const uint8_t *buf, size_t len, uint64_t n,
			Walk *w, ZcError *err)
{
	unsigned long long batchno = (unsigned long long) dec->batches + 1;

	if (read_u32(buf + 4) != 0)
		return fail(dec, err,
					"batch %llu at byte offset %llu: non-zero reserved field in the message",
					batchno, (unsigned long long) dec->offset);
	if (n > ZC_MAX_COUNT)
		return fail(dec, err,
					"batch %llu at byte offset %llu has %llu rows, more than the limit of %d",
					batchno, (unsigned long long) dec->offset,
					(unsigned long long) n, ZC_MAX_COUNT);
	if (n > UINT64_MAX - dec->total_rows)
		return fail(dec, err,
					"batch %llu at byte offset %llu: the stream has too many rows",
					batchno, (unsigned long long) dec->offset);

	walk_init(w, buf, len, dec->max_message_len, batch_min_len(dec, n));
	if (w->min_len > w->limit)
		return fail(dec, err,
					"batch %llu at byte offset %llu has %llu rows, which take at least %llu bytes, more than the limit of %llu bytes per message",
					batchno, (unsigned long long) dec->offset,
					(unsigned long long) n, (unsigned long long) w->min_len,
					(unsigned long long) w->limit);
	return ZC_OK;
}

/*
 * Decode a batch message whose fixed part is at buf[0 .. 16).  First walk
 * the length prefixes of all buffers (O(columns)); only when the whole batch
 * is there, check offsets and dictionary codes (O(rows)).  The views are
 * filled in as the walk goes, so they are meaningful only after ZC_OK.
 */
static ZcStatus
decode_batch(ZcDecoder *dec, const uint8_t *buf, size_t len, size_t *used,
			 ZcEvent *event, ZcError *err)
{
	uint64_t	n = read_u64(buf + 8);
	Walk		w;
	uint32_t	c;
	ZcStatus	st;

	st = start_batch(dec, buf, len, n, &w, err);
	for (c = 0; st == ZC_OK && c < dec->ncolumns; c++)
		st = walk_column(dec, &w, c, n, used, err);

	/* the whole batch is here: check offsets and codes, O(rows) */
	for (c = 0; st == ZC_OK && c < dec->ncolumns; c++)
	{
		if (is_varlen(&dec->columns[c]))
			st = check_offsets(dec, buf, c, n, err);
		else if (dec->columns[c].type == ZC_T_DICTIONARY)
			st = check_codes(dec, c, n, err);
	}
	if (st != ZC_OK)
		return st;

	dec->batch_rows = n;
	dec->batches++;
	dec->total_rows += n;
	dec->offset += w.pos;
	*used = (size_t) w.pos;
	*event = ZC_EV_BATCH;
	return ZC_OK;
}

/* Decode a dictionary message whose fixed part is at buf[0 .. 16). */
static ZcStatus
decode_dictionary(ZcDecoder *dec, const uint8_t *buf, size_t len,
				  size_t *used, ZcEvent *event, ZcError *err)
{
	uint32_t	col = read_u32(buf + 4);
	uint64_t	m = read_u64(buf + 8);
	const ZcColumnDesc *desc;
	Walk		w;
	WalkResult	r;
	const int64_t *offsets;
	uint64_t	offsets_at;
	const char *what;
	uint64_t	expected;
	char		label[ZC_LABEL_LEN];
	char		where[ZC_LABEL_LEN + 64];
	char		why[64];

	if (col >= dec->ncolumns)
		return fail(dec, err,
					"dictionary message at byte offset %llu is for column index %lu, but the stream has %lu columns (indexes 0 to %lu)",
					(unsigned long long) dec->offset, (unsigned long) col,
					(unsigned long) dec->ncolumns,
					(unsigned long) dec->ncolumns - 1);
	desc = &dec->columns[col];
	decoded_column_label(dec, label, col);
	if (desc->type != ZC_T_DICTIONARY)
		return fail(dec, err,
					"dictionary message at byte offset %llu is for %s, which is of type %s, not dictionary",
					(unsigned long long) dec->offset, label,
					zc_wire_type_name(desc->type));
	if (m > ZC_MAX_COUNT)
		return fail(dec, err,
					"dictionary message at byte offset %llu for %s has %llu entries, more than the limit of %d",
					(unsigned long long) dec->offset, label,
					(unsigned long long) m, ZC_MAX_COUNT);

	walk_init(&w, buf, len, dec->max_message_len,
			  ZC_MESSAGE_FIXED_LEN + 8 + (m + 1) * 8 + 8);
	if (w.min_len > w.limit)
		return fail(dec, err,
					"dictionary message at byte offset %llu for %s has %llu entries, which take at least %llu bytes, more than the limit of %llu bytes per message",
					(unsigned long long) dec->offset, label,
					(unsigned long long) m, (unsigned long long) w.min_len,
					(unsigned long long) w.limit);

	expected = (m + 1) * 8;
	what = "offsets";
	r = walk_buffer(&w, expected);
	offsets = (const int64_t *) w.data;
	offsets_at = w.last_at;
	if (r == WALK_OK)
	{
		expected = ANY_LENGTH;
		what = "data";
		r = walk_buffer(&w, expected);
	}
	if (r != WALK_OK)
	{
		snprintf(where, sizeof(where),
				 "dictionary message at byte offset %llu for %s",
				 (unsigned long long) dec->offset, label);
		snprintf(why, sizeof(why), "%llu entries need %llu offsets of 8 bytes",
				 (unsigned long long) m, (unsigned long long) m + 1);
		return walk_failure(dec, &w, r, where, what, expected, why, used,
							err);
	}

	if (!offsets_valid(offsets, m, w.last_len, false))
	{
		snprintf(where, sizeof(where), "dictionary message for %s", label);
		return offsets_failure(dec, offsets, NULL, m, w.last_len, false, where,
							   dec->offset + offsets_at, err);
	}

	dec->dict.column = col;
	dec->dict.count = m;
	dec->dict.offsets = offsets;
	dec->dict.data = w.data;
	dec->dict.data_len = w.last_len;
	dec->dict_sizes[col] = (int64_t) m;
	dec->offset += w.pos;
	*used = (size_t) w.pos;
	*event = ZC_EV_DICTIONARY;
	return ZC_OK;
}

/* Decode the end marker at buf[0 .. 16). */
static ZcStatus
decode_end(ZcDecoder *dec, const uint8_t *buf, size_t *used, ZcEvent *event,
		   ZcError *err)
{
	uint64_t	total = read_u64(buf + 8);

	if (read_u32(buf + 4) != 0)
		return fail(dec, err,
					"end marker at byte offset %llu: non-zero reserved field in the message",
					(unsigned long long) dec->offset);
	if (total != dec->total_rows)
		return fail(dec, err,
					"end marker at byte offset %llu says the stream has %llu rows, but its %llu batches held %llu",
					(unsigned long long) dec->offset,
					(unsigned long long) total,
					(unsigned long long) dec->batches,
					(unsigned long long) dec->total_rows);

	dec->state = ZC_STATE_DONE;
	dec->offset += ZC_MESSAGE_FIXED_LEN;
	*used = ZC_MESSAGE_FIXED_LEN;
	*event = ZC_EV_END;
	return ZC_OK;
}

/*
 * Decode the next unit of the stream from buf[0 .. len); see stream.h.
 *
 * On a decoder that has decoded the end marker, len == 0 gives ZC_NEED_MORE
 * (with *used = 1, since nothing more can make progress) and any byte is an
 * error.
 */
ZcStatus
zc_decoder_next(ZcDecoder *dec, const uint8_t *buf, size_t len,
				size_t *used, ZcEvent *event, ZcError *err)
{
	uint32_t	kind;

	*used = 0;
	*event = ZC_EV_NONE;
	if (err != NULL)
		err->message[0] = '\0';

	if (len > 0 && ((uintptr_t) buf & 7) != 0)
		return fail(dec, err,
					"internal error: the stream buffer is not 8-byte aligned");

	switch (dec->state)
	{
		case ZC_STATE_HEADER:
			return decode_header(dec, buf, len, used, event, err);

		case ZC_STATE_MESSAGES:
			/* the header fit, so max_message_len >= 40 >= 16 */
			if (len < ZC_MESSAGE_FIXED_LEN)
			{
				*used = ZC_MESSAGE_FIXED_LEN;
				return ZC_NEED_MORE;
			}
			kind = read_u32(buf);
			switch (kind)
			{
				case ZC_MSG_BATCH:
					return decode_batch(dec, buf, len, used, event, err);
				case ZC_MSG_DICTIONARY:
					return decode_dictionary(dec, buf, len, used, event, err);
				case ZC_MSG_END:
					return decode_end(dec, buf, used, event, err);
			}
			return fail(dec, err,
						"unrecognized message kind %lu at byte offset %llu (after %llu batches)",
						(unsigned long) kind,
						(unsigned long long) dec->offset,
						(unsigned long long) dec->batches);

		case ZC_STATE_DONE:
			if (len == 0)
			{
				*used = 1;
				return ZC_NEED_MORE;
			}
			return fail(dec, err,
						"unexpected data after the end marker at byte offset %llu",
						(unsigned long long) dec->offset);

		case ZC_STATE_FAILED:
			break;
	}
	return fail(dec, err, "the stream decoder has already failed");
}

/*
 * Call when the input ends, with the number of bytes given to the decoder
 * and not consumed.  ZC_OK only if the end marker was decoded and nothing
 * follows it.
 */
ZcStatus
zc_decoder_finish(const ZcDecoder *dec, size_t pending, ZcError *err)
{
	switch (dec->state)
	{
		case ZC_STATE_DONE:
			if (pending == 0)
				return ZC_OK;
			set_message(err,
						"unexpected data after the end marker at byte offset %llu",
						(unsigned long long) dec->offset);
			return ZC_ERROR;

		case ZC_STATE_HEADER:
			if (pending == 0)
				set_message(err, "the stream is empty: no zcimport header");
			else
				set_message(err,
							"stream ended inside the header, after %llu bytes",
							(unsigned long long) pending);
			return ZC_ERROR;

		case ZC_STATE_MESSAGES:
			if (pending == 0)
				set_message(err,
							"stream ended after %llu batches (%llu rows) without an end marker",
							(unsigned long long) dec->batches,
							(unsigned long long) dec->total_rows);
			else
				set_message(err,
							"stream ended inside a message at byte offset %llu, after %llu batches",
							(unsigned long long) dec->offset,
							(unsigned long long) dec->batches);
			return ZC_ERROR;

		case ZC_STATE_FAILED:
			break;
	}
	set_message(err, "the stream decoder has already failed");
	return ZC_ERROR;
}
