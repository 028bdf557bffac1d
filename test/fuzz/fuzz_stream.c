/*-------------------------------------------------------------------------
 *
 * fuzz_stream.c
 *	  libFuzzer harness for the zcimport stream decoder (src/stream.c).
 *
 * An input is a mode byte, then the stream.  Each input is decoded twice,
 * and the two runs must produce the same events and the same error message:
 * once whole (every byte appended before the first call), and once in
 * pieces, as the mode byte's low three bits choose:
 *
 *	0-4  demand: feed the decoder what it asks for.  On ZC_NEED_MORE, *used
 *		 says how many bytes from the unit's start it needs; append exactly
 *		 up to that, or to the end of the input.  The main mode: a unit
 *		 costs a few calls, so the time goes to decoding, not to
 *		 re-decoding the same prefix.
 *	5	 short: as demand, but meet each request with 1 to 8 bytes too few
 *		 first, so that the decoder also sees each unit cut just short.
 *	6	 split: cut the stream at 1 to 8 points drawn from the mode byte.
 *	7	 bytes: a stream of at most 512 bytes arrives 1 to 16 bytes at a
 *		 time; a longer one is split as in mode 6.
 *
 * Modes 5 to 7 keep chunk-boundary bugs in sight at a small cost each.  The
 * mode byte's two high bits choose the message limit: the server's
 * (MaxAllocSize, 2^30 - 1), the decoder's default (2^30), 4095 or 4096.
 *
 * The harness feeds the decoder as the server does (src/input.c): an 8-byte
 * aligned buffer that grows (and so moves) as bytes are appended, whose
 * unconsumed bytes start at a unit boundary and move to the front only when
 * room is needed.  The bytes before the unit and past those handed in are
 * poisoned, so ASan catches a read outside [buf, buf + len), and every view
 * of every decoded unit is read in full and checked against the rules the
 * decoder promises to enforce.
 *
 * The whole run also checks the sub-stream encoder (src/substream.c), as
 * the Citus coordinator uses it: the rows of every batch the decoder
 * accepts are dealt to two sub-streams (a pseudo-random subset drawn from
 * the input's bytes, and the rest), each of which gets the header and every
 * dictionary message verbatim, its rows' sub-batch, and at the end (also
 * when the input stream fails or stops short) an end marker with its
 * total.  A second decoder per sub-stream, under the same message limit,
 * must accept every unit, consume exactly zc_substream_batch_len() bytes for
 * each sub-batch, and show each selected row's validity and value bytes as
 * the original batch holds them.
 *
 * Only src/stream.c gets libFuzzer's coverage instrumentation (the Makefile
 * passes test/fuzz/instrument.txt): the edges counted are the decoder's,
 * and the harness's own loops are not slowed down by it.
 *
 * With ZC_FUZZ_WRITE_SEEDS=dir in the environment, the harness writes the
 * seed corpus into dir and exits: the sample and block streams of
 * streambuild.c, each checked to decode cleanly, under several modes.
 *
 * test/fuzz/fuzz_stream.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "stream.h"
#include "streambuild.h"
#include "substream.h"

/* Longest input, mode byte included; run.sh passes the same -max_len. */
#define FUZZ_MAX_LEN			8192

/* Message limits chosen by the mode byte's two high bits (0: default). */
static const uint64_t fuzz_limits[4] = {0x3fffffff, 0, 4095, 4096};

/* Longest stream of the bytes mode; longer ones are split instead. */
#define FUZZ_BYTES_MAX_LEN		512

/* Most cut points of the split mode. */
#define FUZZ_MAX_SPLITS			8

/*
 * Largest batch whose rows are all dealt to the two sub-streams; of a larger
 * one (only a column of type null without a null encoding makes one from a
 * few bytes) a few hundred rows go to the first.
 */
#define FUZZ_SUB_MAX_ROWS		65536

/* Most rows taken from a larger batch. */
#define FUZZ_SUB_FEW_ROWS		256

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int			LLVMFuzzerInitialize(int *argc, char ***argv);

/* Fail loudly: libFuzzer reports the crash and saves the input. */
#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "fuzz_stream: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

/* How a run hands the stream to the decoder. */
typedef enum Feed
{
	FEED_WHOLE,					/* all at once */
	FEED_DEMAND,				/* exactly what the decoder asks for */
	FEED_SHORT,					/* each request first answered short */
	FEED_SPLIT,					/* cut at a few points */
	FEED_BYTES					/* 1 to 16 bytes at a time */
} Feed;

/* State of a feeding strategy. */
typedef struct Feeder
{
	Feed		feed;
	uint64_t	rng;
	bool		shorted;		/* FEED_SHORT: the last append was short */
	int			nsplits;		/* FEED_SPLIT: cut points, ascending */
	size_t		splits[FUZZ_MAX_SPLITS];
	int			next_split;
} Feeder;

/* The stream bytes handed to the decoder, like the server's ZcInput. */
typedef struct Input
{
	uint8_t    *buf;			/* 8-byte aligned */
	size_t		cap;
	size_t		start;			/* first unconsumed byte, a unit boundary */
	size_t		end;			/* end of the bytes appended */
} Input;

/* A bump arena for the decoder's allocations, reset per run. */
typedef struct Arena
{
	void	   *blocks[8];
	int			n;
} Arena;

/* What a run saw: a hash of its events, and how it ended. */
typedef struct Outcome
{
	uint64_t	hash;
	int			events;
	ZcStatus	status;
	char		message[ZC_ERROR_LEN];
} Outcome;

/* One sub-stream of the sub-stream check: its decoder and row count. */
typedef struct SubStream
{
	ZcDecoder	dec;
	Arena		arena;
	uint64_t	total;
} SubStream;

/* The sub-stream check of a whole run (see the file's comment). */
typedef struct SubCheck
{
	bool		active;			/* the header was decoded */
	SubStream	sub[2];
	uint32_t   *rows[2];
	size_t		cap;			/* entries of rows[0] and rows[1] */
} SubCheck;

static volatile uint64_t sink;

/* ZcAllocFn of the harness. */
static void *
arena_alloc(void *arg, size_t size)
{
	Arena	   *a = arg;
	void	   *p;

	REQUIRE(a->n < 8);
	p = malloc(size ? size : 1);
	REQUIRE(p != NULL);
	a->blocks[a->n++] = p;
	return p;
}

/* Free the arena's blocks. */
static void
arena_free(Arena *a)
{
	while (a->n > 0)
		free(a->blocks[--a->n]);
}

/* Fold v into the hash h. */
static inline uint64_t
mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x100000001b3u;
	return h ^ (h >> 29);
}

/* Sum the bytes of a range (reads every byte, for ASan). */
static uint64_t
touch(const uint8_t *p, uint64_t n)
{
	uint64_t	s = 0;
	uint64_t	i;

	for (i = 0; i < n; i++)
		s = s * 31 + p[i];
	return s;
}

/* Is [p, p + n) within [base, base + len)? */
static bool
within(const void *p, uint64_t n, const uint8_t *base, size_t len)
{
	const uint8_t *q = p;

	return q != NULL && q >= base && q <= base + len &&
		n <= (uint64_t) (base + len - q);
}

/* xorshift64: the next pseudo-random number. */
static uint64_t
next_random(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return *rng;
}


/* ---------------------------------------------------------------------------
 * Checking what the decoder hands out
 * ---------------------------------------------------------------------------
 */

/* Check and read the offsets + data of count strings. */
static uint64_t
touch_strings(const int64_t *offsets, const uint8_t *data, uint64_t data_len,
			  uint64_t count, const uint8_t *base, size_t len)
{
	uint64_t	h = 0;
	uint64_t	i;

	REQUIRE(((uintptr_t) offsets & 7) == 0);
	REQUIRE(within(offsets, (count + 1) * 8, base, len));
	REQUIRE(data_len == 0 || within(data, data_len, base, len));
	REQUIRE(offsets[0] >= 0 && offsets[count] <= (int64_t) data_len);
	for (i = 0; i < count; i++)
		REQUIRE(offsets[i] <= offsets[i + 1]);
	for (i = 0; i < count; i++)
		h = mix(h, touch(data + offsets[i],
						 (uint64_t) (offsets[i + 1] - offsets[i])));
	return h;
}

/*
 * Check and read the values of a varlen column of a batch (utf8, binary,
 * utf8_32, binary_32; 64- or 32-bit offsets, based or not) through
 * zc_varlen_value(), as the server's converters read them.
 */
static uint64_t
touch_varlen(const ZcColumnDesc *d, const ZcColumnView *v, uint64_t n,
			 const uint8_t *base, size_t len)
{
	bool		o32 = d->type == ZC_T_UTF8_32 || d->type == ZC_T_BINARY_32;
	bool		based = (d->flags & ZC_FLAG_BASED_OFFSETS) != 0;
	const void *offs = o32 ? (const void *) v->offsets32 : (const void *) v->offsets;
	uint64_t	h = 0;
	uint64_t	i;

	REQUIRE(o32 ? v->offsets == NULL : v->offsets32 == NULL);
	REQUIRE(((uintptr_t) offs & 7) == 0);
	REQUIRE(within(offs, (n + 1) * (o32 ? 4 : 8), base, len));
	REQUIRE(v->data_len == 0 || within(v->data, v->data_len, base, len));
	REQUIRE(v->data_base == (based ? (o32 ? v->offsets32[0] : v->offsets[0]) : 0));
	for (i = 0; i < n; i++)
	{
		int64_t		l;
		const uint8_t *p = zc_varlen_value(v, i, &l);

		REQUIRE(l >= 0);
		REQUIRE(l == 0 || (p >= v->data && (uint64_t) (p - v->data) <= v->data_len &&
						   (uint64_t) l <= v->data_len - (uint64_t) (p - v->data)));
		h = mix(h, touch(p, (uint64_t) l));
	}
	return h;
}

/* Read every value, validity bit, offset and string of a batch. */
static uint64_t
touch_batch(const ZcDecoder *dec, const uint8_t *buf, size_t used)
{
	uint64_t	n = dec->batch_rows;
	uint64_t	h = mix(0, n);
	uint32_t	c;

	REQUIRE(n <= ZC_MAX_COUNT);
	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *d = &dec->columns[c];
		const ZcColumnView *v = &dec->views[c];
		uint64_t	i;

		if (d->nulls != ZC_NULLS_NONE)
		{
			uint64_t	vlen = d->nulls == ZC_NULLS_BITMAP ? (n + 7) / 8 : n;

			REQUIRE(vlen == 0 || within(v->validity, vlen, buf, used));
			REQUIRE(((uintptr_t) v->validity & 7) == 0);
			h = mix(h, (uint64_t) (v->validity - buf));
			for (i = 0; i < n; i++)
				h = mix(h, zc_row_valid(d, v, i));
		}
		else
			REQUIRE(v->validity == NULL);

		if (zc_wire_type_is_varlen(d->type))
		{
			REQUIRE(v->values == NULL);
			h = mix(h, touch_varlen(d, v, n, buf, used));
			continue;
		}

		REQUIRE(v->offsets == NULL && v->offsets32 == NULL &&
				v->data == NULL && v->data_len == 0 && v->data_base == 0);
		if (d->type == ZC_T_DICTIONARY)
		{
			int			w = zc_wire_type_width(d->index_type);
			bool		is_unsigned = d->index_type >= ZC_T_UINT8;

			REQUIRE(d->index_type >= ZC_T_INT8 && d->index_type <= ZC_T_UINT64);
			REQUIRE(w == 1 || w == 2 || w == 4 || w == 8);
			REQUIRE(n == 0 || within(v->values, n * w, buf, used));
			REQUIRE(((uintptr_t) v->values & 7) == 0);
			for (i = 0; i < n; i++)
			{
				int64_t		code;

				if (is_unsigned)
				{
					uint64_t	u = w == 1 ? ((const uint8_t *) v->values)[i] :
						w == 2 ? ((const uint16_t *) v->values)[i] :
						w == 4 ? ((const uint32_t *) v->values)[i] :
						((const uint64_t *) v->values)[i];

					h = mix(h, u);
					if (zc_row_valid(d, v, i))
						REQUIRE(dec->dict_sizes[c] >= 0 &&
								u < (uint64_t) dec->dict_sizes[c]);
					continue;
				}
				code = w == 1 ? ((const int8_t *) v->values)[i] :
					w == 2 ? ((const int16_t *) v->values)[i] :
					w == 4 ? ((const int32_t *) v->values)[i] :
					((const int64_t *) v->values)[i];

				h = mix(h, (uint64_t) code);
				if (zc_row_valid(d, v, i) && code != -1)
					REQUIRE(code >= 0 && code < dec->dict_sizes[c]);
			}
		}
		else if (d->type == ZC_T_BITBOOL)
		{
			uint64_t	len = (n + 7) / 8;

			REQUIRE(n == 0 || within(v->values, len, buf, used));
			REQUIRE(((uintptr_t) v->values & 7) == 0);
			for (i = 0; i < n; i++)
				h = mix(h, zc_bitbool_value(v, i));
		}
		else if (d->type == ZC_T_NULL)
		{
			/* an empty values buffer: nothing to read, every row is NULL */
			REQUIRE(zc_wire_type_width(d->type) == 0);
			h = mix(h, n);
		}
		else
		{
			int			w = zc_wire_type_width(d->type);

			REQUIRE(w > 0);
			REQUIRE(n == 0 || within(v->values, n * w, buf, used));
			REQUIRE(((uintptr_t) v->values & 7) == 0);
			h = mix(h, (uint64_t) (v->values - buf));
			h = mix(h, touch(v->values, n * w));
		}
	}
	return h;
}

/* Read every entry of a dictionary message. */
static uint64_t
touch_dict(const ZcDecoder *dec, const uint8_t *buf, size_t used)
{
	const ZcDictionaryView *dv = &dec->dict;

	REQUIRE(dv->column < dec->ncolumns);
	REQUIRE(dec->columns[dv->column].type == ZC_T_DICTIONARY);
	REQUIRE(dv->count <= ZC_MAX_COUNT);
	REQUIRE(dec->dict_sizes[dv->column] == (int64_t) dv->count);
	return mix(dv->column,
			   touch_strings(dv->offsets, dv->data, dv->data_len, dv->count,
							 buf, used));
}

/* Read the column descriptors. */
static uint64_t
touch_header(const ZcDecoder *dec)
{
	uint64_t	h = mix(0, dec->ncolumns);
	uint32_t	c;

	REQUIRE(dec->ncolumns >= 1 && dec->ncolumns <= ZC_MAX_COLUMNS);
	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *d = &dec->columns[c];

		REQUIRE(zc_wire_type_name(d->type) != NULL);
		REQUIRE(zc_null_encoding_name(d->nulls) != NULL);
		REQUIRE(strlen(d->name) == d->name_len);
		REQUIRE(strlen(d->tz) == d->tz_len);
		REQUIRE(dec->dict_sizes[c] == -1);
		if (d->type == ZC_T_DECIMAL128)
			REQUIRE(d->precision >= 1 && d->precision <= 38);
		else if (d->type == ZC_T_DECIMAL256)
			REQUIRE(d->precision >= 1 && d->precision <= 76);
		else
			REQUIRE(d->precision == 0 && d->scale == 0);
		if (d->type == ZC_T_TIME32)
			REQUIRE(d->unit == ZC_UNIT_S || d->unit == ZC_UNIT_MS);
		if (d->type == ZC_T_TIME64)
			REQUIRE(d->unit == ZC_UNIT_US || d->unit == ZC_UNIT_NS);
		if (d->flags & ZC_FLAG_BASED_OFFSETS)
			REQUIRE(zc_wire_type_is_varlen(d->type));
		h = mix(h, d->type | d->nulls << 8 | d->flags << 16 | d->unit << 24);
		h = mix(h, touch((const uint8_t *) d->name, d->name_len));
	}
	return h;
}


/* ---------------------------------------------------------------------------
 * The sub-stream check
 * ---------------------------------------------------------------------------
 */

/*
 * Hand one unit of a sub-stream, buf[0 .. len) (an exactly-sized heap
 * block, so ASan sees any read past it), to the sub-stream's decoder, which
 * must decode all of it as one event of the expected kind.
 */
static void
sub_feed(SubStream *s, const uint8_t *buf, size_t len, ZcEvent expected)
{
	ZcError		err;
	ZcEvent		event = ZC_EV_NONE;
	size_t		used = 0;
	ZcStatus	st;

	REQUIRE(((uintptr_t) buf & 7) == 0);
	st = zc_decoder_next(&s->dec, buf, len, &used, &event, &err);
	if (st != ZC_OK)
	{
		fprintf(stderr, "fuzz_stream: a sub-stream's decoder returns %d on a unit of %zu bytes (event %d expected): %s\n",
				(int) st, len, (int) expected,
				st == ZC_ERROR ? err.message : "");
		abort();
	}
	REQUIRE(event == expected);
	REQUIRE(used == len);
}

/* Hand a verbatim copy of a unit of the input stream to a sub-stream. */
static void
sub_forward(SubStream *s, const uint8_t *unit, size_t len, ZcEvent expected)
{
	uint8_t    *copy = malloc(len);

	REQUIRE(copy != NULL);
	memcpy(copy, unit, len);
	sub_feed(s, copy, len, expected);
	free(copy);
}

/* Start the sub-streams with the header the input stream's decoder read. */
static void
sub_start(SubCheck *sc, const uint8_t *unit, size_t len, uint64_t limit)
{
	int			k;

	memset(sc, 0, sizeof(*sc));
	sc->active = true;
	for (k = 0; k < 2; k++)
	{
		zc_decoder_init(&sc->sub[k].dec, arena_alloc, &sc->sub[k].arena,
						limit);
		sub_forward(&sc->sub[k], unit, len, ZC_EV_HEADER);
	}
}

/*
 * Deal the rows of a batch of n rows to the sub-streams: rows[0] gets a
 * subset (all rows, one, the first and last, a prefix, or each row with a
 * probability of 1/5 to 4/5), rows[1] the rest.  Of a batch of more than
 * FUZZ_SUB_MAX_ROWS rows, rows[0] gets a few spread over it.
 */
static void
sub_deal(SubCheck *sc, uint64_t *rng, uint64_t n, uint32_t *m)
{
	uint64_t	kind = next_random(rng) % 8;
	uint64_t	pick = next_random(rng) % n;
	uint64_t	i;

	m[0] = m[1] = 0;
	if (n > FUZZ_SUB_MAX_ROWS)
	{
		i = next_random(rng) % 1024;
		while (i < n && m[0] < FUZZ_SUB_FEW_ROWS)
		{
			sc->rows[0][m[0]++] = (uint32_t) i;
			i += 1 + next_random(rng) % (n / 128 + 1);
		}
		return;
	}
	for (i = 0; i < n; i++)
	{
		bool		first;

		switch (kind)
		{
			case 0:
				first = true;
				break;
			case 1:
				first = i == pick;
				break;
			case 2:
				first = i == 0 || i == n - 1;
				break;
			case 3:
				first = i <= pick;
				break;
			default:
				first = next_random(rng) % 5 < kind - 3;
				break;
		}
		sc->rows[first ? 0 : 1][m[first ? 0 : 1]++] = (uint32_t) i;
	}
}

/*
 * Compare row rows[j] of the input's batch (views of dec) with row j of the
 * sub-batch a sub-stream's decoder just decoded: the same validity bit or
 * mask byte, and the same value bytes, NULL or not (they are copied as they
 * are); varlen offsets start at 0.
 */
static void
sub_compare(const ZcDecoder *dec, const ZcDecoder *sub, const uint32_t *rows,
			uint32_t m)
{
	uint32_t	c;

	REQUIRE(sub->ncolumns == dec->ncolumns);
	for (c = 0; c < dec->ncolumns; c++)
	{
		const ZcColumnDesc *d = &dec->columns[c];
		const ZcColumnView *o = &dec->views[c];
		const ZcColumnView *v = &sub->views[c];
		bool		varlen = zc_wire_type_is_varlen(d->type);
		int			w = d->type == ZC_T_DICTIONARY ?
			zc_wire_type_width(d->index_type) : zc_wire_type_width(d->type);
		uint32_t	j;

		if (varlen)
		{
			REQUIRE((v->offsets32 ? v->offsets32[0] : v->offsets[0]) == 0);
			REQUIRE(v->data_base == 0);
		}
		for (j = 0; j < m; j++)
		{
			uint64_t	r = rows[j];

			if (d->nulls == ZC_NULLS_BITMAP)
				REQUIRE(((o->validity[r >> 3] >> (r & 7)) & 1) ==
						((v->validity[j >> 3] >> (j & 7)) & 1));
			else if (d->nulls == ZC_NULLS_BYTEMASK)
				REQUIRE(o->validity[r] == v->validity[j]);
			if (varlen)
			{
				int64_t		ol,
							vl;
				const uint8_t *op = zc_varlen_value(o, r, &ol);
				const uint8_t *vp = zc_varlen_value(v, j, &vl);

				REQUIRE(ol == vl);
				REQUIRE(ol == 0 || memcmp(op, vp, (size_t) ol) == 0);
			}
			else if (d->type == ZC_T_BITBOOL)
				REQUIRE(zc_bitbool_value(o, r) == zc_bitbool_value(v, j));
			else if (w > 0)
				REQUIRE(memcmp(o->values + r * w, v->values + (uint64_t) j * w,
							   (size_t) w) == 0);
		}
	}
}

/*
 * Re-encode the batch dec just decoded (its message took used bytes) as two
 * sub-batches, the rows chosen by rng, and check each through its
 * sub-stream's decoder.  The encoder writes twice, over zeros and over
 * 0xff bytes, and must write the same: every byte of the length it gave.
 */
static void
sub_batch(SubCheck *sc, const ZcDecoder *dec, size_t used, uint64_t rng)
{
	uint64_t	n = dec->batch_rows;
	size_t		want = n > FUZZ_SUB_MAX_ROWS ? FUZZ_SUB_FEW_ROWS : (size_t) n;
	uint32_t	m[2];
	int			k;

	if (n == 0)
		return;
	if (want > sc->cap)
	{
		for (k = 0; k < 2; k++)
		{
			free(sc->rows[k]);
			sc->rows[k] = malloc(want * sizeof(uint32_t));
			REQUIRE(sc->rows[k] != NULL);
		}
		sc->cap = want;
	}
	sub_deal(sc, &rng, n, m);
	for (k = 0; k < 2; k++)
	{
		uint64_t	len;
		uint8_t    *a,
				   *b;

		if (m[k] == 0)
			continue;
		len = zc_substream_batch_len(dec, sc->rows[k], m[k]);
		REQUIRE(len % 8 == 0 && len >= ZC_MESSAGE_FIXED_LEN && len <= used);
		a = malloc((size_t) len);
		b = malloc((size_t) len);
		REQUIRE(a != NULL && b != NULL);
		memset(a, 0, (size_t) len);
		memset(b, 0xff, (size_t) len);
		zc_substream_write_batch(dec, sc->rows[k], m[k], a);
		zc_substream_write_batch(dec, sc->rows[k], m[k], b);
		REQUIRE(memcmp(a, b, (size_t) len) == 0);
		free(b);
		sub_feed(&sc->sub[k], a, (size_t) len, ZC_EV_BATCH);
		REQUIRE(sc->sub[k].dec.batch_rows == m[k]);
		sub_compare(dec, &sc->sub[k].dec, sc->rows[k], m[k]);
		free(a);
		sc->sub[k].total += m[k];
	}
}

/* End the sub-streams: their end markers must be accepted as complete. */
static void
sub_end(SubCheck *sc)
{
	ZcError		err;
	int			k;

	if (!sc->active)
		return;
	for (k = 0; k < 2; k++)
	{
		uint8_t    *end = malloc(ZC_SUBSTREAM_END_LEN);

		REQUIRE(end != NULL);
		zc_substream_write_end(sc->sub[k].total, end);
		sub_feed(&sc->sub[k], end, ZC_SUBSTREAM_END_LEN, ZC_EV_END);
		free(end);
		REQUIRE(sc->sub[k].dec.total_rows == sc->sub[k].total);
		REQUIRE(zc_decoder_finish(&sc->sub[k].dec, 0, &err) == ZC_OK);
		arena_free(&sc->sub[k].arena);
		free(sc->rows[k]);
	}
	sc->active = false;
}


/* ---------------------------------------------------------------------------
 * Feeding the decoder
 * ---------------------------------------------------------------------------
 */

/* Set up the strategy for a mode byte and a stream of len bytes. */
static void
feeder_init(Feeder *f, Feed feed, uint8_t mode, size_t len)
{
	int			i;

	memset(f, 0, sizeof(*f));
	f->rng = (uint64_t) mode * 0x9E3779B97F4A7C15u + len + 0x1234567;
	if (feed == FEED_BYTES && len > FUZZ_BYTES_MAX_LEN)
		feed = FEED_SPLIT;
	f->feed = feed;
	if (feed == FEED_SPLIT && len > 1)
	{
		f->nsplits = 1 + (int) (next_random(&f->rng) % FUZZ_MAX_SPLITS);
		for (i = 0; i < f->nsplits; i++)
		{
			size_t		at = 1 + (size_t) (next_random(&f->rng) % (len - 1));
			int			j = i;

			/* insertion sort, ascending */
			while (j > 0 && f->splits[j - 1] > at)
			{
				f->splits[j] = f->splits[j - 1];
				j--;
			}
			f->splits[j] = at;
		}
	}
}

/*
 * Where the next append ends, in stream bytes: fed bytes are in, the stream
 * has len, and the decoder asked for the stream's first want bytes.
 */
static size_t
feeder_next(Feeder *f, size_t fed, size_t len, uint64_t want)
{
	size_t		target = want < len ? (size_t) want : len;

	switch (f->feed)
	{
		case FEED_WHOLE:
			return len;
		case FEED_DEMAND:
			return target;
		case FEED_SHORT:
			if (!f->shorted && target - fed >= 2)
			{
				size_t		room = target - fed - 1;
				size_t		k = 1 + (size_t) (next_random(&f->rng) %
											  (room < 8 ? room : 8));

				f->shorted = true;
				return target - k;
			}
			f->shorted = false;
			return target;
		case FEED_SPLIT:
			while (f->next_split < f->nsplits &&
				   f->splits[f->next_split] <= fed)
				f->next_split++;
			if (f->next_split < f->nsplits)
				return f->splits[f->next_split++];
			return len;
		case FEED_BYTES:
			target = fed + 1 + (size_t) (next_random(&f->rng) % 16);
			return target < len ? target : len;
	}
	return len;
}

/*
 * Make room for extra more bytes, as zc_input_reserve() does: move the
 * unconsumed bytes to the front, or else grow the buffer, which then moves.
 */
static void
input_reserve(Input *in, size_t extra)
{
	size_t		pending = in->end - in->start;
	size_t		need;
	size_t		cap;

	if (in->end + extra <= in->cap)
		return;
	if (in->start > 0)
	{
		memmove(in->buf, in->buf + in->start, pending);
		in->start = 0;
		in->end = pending;
		if (in->end + extra <= in->cap)
			return;
	}
	need = pending + extra;
	cap = in->cap * 2 > need ? in->cap * 2 : need;
	in->buf = realloc(in->buf, cap);
	REQUIRE(in->buf != NULL && ((uintptr_t) in->buf & 7) == 0);
	in->cap = cap;
}

/*
 * Decode stream[0 .. len) as the server does, fed as feed says, with the
 * message limit the mode byte chooses; record what happened in out.
 */
static void
decode(const uint8_t *stream, size_t len, uint8_t mode, Feed feed,
	   Outcome *out)
{
	ZcDecoder	dec;
	Arena		arena = {{0}, 0};
	ZcError		err;
	Feeder		feeder;
	Input		in = {NULL, 0, 0, 0};
	size_t		fed = 0;		/* stream bytes appended so far */
	uint64_t	consumed = 0;	/* stream bytes of the units decoded */
	uint64_t	rows = 0;		/* rows of the batches decoded */
	size_t		hint = 0;		/* the largest request for this unit */
	SubCheck	sc;

	memset(&sc, 0, sizeof(sc));
	memset(out, 0, sizeof(*out));
	out->hash = 14695981039346656037u;
	feeder_init(&feeder, feed, mode, len);
	input_reserve(&in, feed == FEED_WHOLE ? (len > 0 ? len : 1) : 64);
	zc_decoder_init(&dec, arena_alloc, &arena, fuzz_limits[mode >> 6]);

	for (;;)
	{
		size_t		target;

		/* decode units until the decoder needs more */
		for (;;)
		{
			const uint8_t *unit = in.buf + in.start;
			size_t		have = in.end - in.start;
			size_t		used = 0;
			ZcEvent		event = ZC_EV_NONE;
			ZcStatus	st;

			ASAN_POISON_MEMORY_REGION(in.buf, in.start);
			ASAN_POISON_MEMORY_REGION(in.buf + in.end, in.cap - in.end);
			st = zc_decoder_next(&dec, unit, have, &used, &event, &err);
			if (st == ZC_OK)
			{
				REQUIRE(used > 0 && used <= have && used % 8 == 0);
				REQUIRE(used >= hint);
				REQUIRE(dec.offset == consumed + used);
				out->hash = mix(out->hash, (uint64_t) event);
				out->hash = mix(out->hash, used);
				switch (event)
				{
					case ZC_EV_HEADER:
						out->hash = mix(out->hash, touch_header(&dec));
						if (feed == FEED_WHOLE)
							sub_start(&sc, unit, used, fuzz_limits[mode >> 6]);
						break;
					case ZC_EV_BATCH:
						rows += dec.batch_rows;
						REQUIRE(dec.total_rows == rows);
						out->hash = mix(out->hash, touch_batch(&dec, unit, used));
						if (sc.active)
							sub_batch(&sc, &dec, used, out->hash | 1);
						break;
					case ZC_EV_DICTIONARY:
						out->hash = mix(out->hash, touch_dict(&dec, unit, used));
						if (sc.active)
						{
							sub_forward(&sc.sub[0], unit, used, ZC_EV_DICTIONARY);
							sub_forward(&sc.sub[1], unit, used, ZC_EV_DICTIONARY);
						}
						break;
					case ZC_EV_END:
						REQUIRE(dec.state == ZC_STATE_DONE);
						REQUIRE(dec.total_rows == rows);
						break;
					default:
						REQUIRE(!"unexpected event");
				}
				out->events++;
				ASAN_UNPOISON_MEMORY_REGION(in.buf, in.cap);
				in.start += used;
				consumed += used;
				hint = 0;
				continue;
			}
			ASAN_UNPOISON_MEMORY_REGION(in.buf, in.cap);
			if (st == ZC_NEED_MORE)
			{
				REQUIRE(used > have);
				if (used > hint)
					hint = used;
				break;
			}
			REQUIRE(st == ZC_ERROR);
			REQUIRE(err.message[0] != '\0');
			REQUIRE(dec.state == ZC_STATE_FAILED);
			out->status = ZC_ERROR;
			memcpy(out->message, err.message, sizeof(out->message));
			goto done;
		}
		if (fed == len)
			break;

		/* append the next piece */
		target = feeder_next(&feeder, fed, len, consumed + hint);
		REQUIRE(target > fed && target <= len);
		input_reserve(&in, target - fed);
		memcpy(in.buf + in.end, stream + fed, target - fed);
		in.end += target - fed;
		fed = target;
	}
	out->status = zc_decoder_finish(&dec, in.end - in.start, &err);
	if (out->status != ZC_OK)
	{
		REQUIRE(err.message[0] != '\0');
		memcpy(out->message, err.message, sizeof(out->message));
	}
	else
		REQUIRE(dec.state == ZC_STATE_DONE && in.end == in.start);

done:
	sub_end(&sc);
	sink += out->hash;
	free(in.buf);
	arena_free(&arena);
}

/* The chunked strategy of a mode byte. */
static Feed
mode_feed(uint8_t mode)
{
	switch (mode & 7)
	{
		case 5:
			return FEED_SHORT;
		case 6:
			return FEED_SPLIT;
		case 7:
			return FEED_BYTES;
	}
	return FEED_DEMAND;
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Outcome		whole,
				pieces;
	uint8_t		mode;

	if (size < 1)
		return 0;
	mode = data[0];
	decode(data + 1, size - 1, mode, FEED_WHOLE, &whole);
	decode(data + 1, size - 1, mode, mode_feed(mode), &pieces);
	if (whole.hash != pieces.hash || whole.events != pieces.events ||
		whole.status != pieces.status ||
		strcmp(whole.message, pieces.message) != 0)
	{
		fprintf(stderr, "fuzz_stream: whole and chunked (mode 0x%02x) runs differ:\n"
				"  whole:   %d events, status %d, \"%s\"\n"
				"  chunked: %d events, status %d, \"%s\"\n",
				mode, whole.events, whole.status, whole.message,
				pieces.events, pieces.status, pieces.message);
		abort();
	}
	return 0;
}


/* ---------------------------------------------------------------------------
 * The seed corpus
 * ---------------------------------------------------------------------------
 */

/* Where seeds go, and under which mode bytes. */
typedef struct SeedWriter
{
	const char *dir;
	const uint8_t *modes;
	int			nmodes;
	int			files;
} SeedWriter;

/* Check that a seed decodes cleanly, then write it under each mode. */
static void
write_seed(void *arg, const char *name, const uint8_t *data, size_t len)
{
	SeedWriter *w = arg;
	Outcome		out;
	int			m;

	decode(data, len, 0, FEED_WHOLE, &out);
	if (out.status != ZC_OK || len + 1 > FUZZ_MAX_LEN)
	{
		fprintf(stderr, "fuzz_stream: seed %s (%zu bytes) is not a valid stream of at most %d bytes: %s\n",
				name, len, FUZZ_MAX_LEN - 1, out.message);
		exit(1);
	}
	for (m = 0; m < w->nmodes; m++)
	{
		char		path[4096];
		FILE	   *f;

		snprintf(path, sizeof(path), "%s/%s-%02x.zci", w->dir, name,
				 w->modes[m]);
		f = fopen(path, "wb");
		if (f == NULL)
		{
			perror(path);
			exit(1);
		}
		fputc(w->modes[m], f);
		if ((len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
		{
			perror(path);
			exit(1);
		}
		w->files++;
	}
}

/* With ZC_FUZZ_WRITE_SEEDS=dir, write the seed corpus and exit. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* small samples under every feed and limit, block streams under two */
	static const uint8_t sample_modes[] = {0x00, 0x45, 0x86, 0xc7, 0x80};
	static const uint8_t block_modes[] = {0x00, 0x06};
	const char *dir = getenv("ZC_FUZZ_WRITE_SEEDS");
	SeedWriter	w;
	int			streams;

	(void) argc;
	(void) argv;
	if (dir == NULL || dir[0] == '\0')
		return 0;

	w.dir = dir;
	w.files = 0;
	w.modes = sample_modes;
	w.nmodes = sizeof(sample_modes);
	streams = sb_sample_streams(write_seed, &w);
	w.modes = block_modes;
	w.nmodes = sizeof(block_modes);
	streams += sb_block_streams(write_seed, &w);
	printf("fuzz_stream: wrote %d seeds (%d streams) to %s\n", w.files,
		   streams, dir);
	exit(0);
}
