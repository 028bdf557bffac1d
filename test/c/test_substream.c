/*-------------------------------------------------------------------------
 *
 * test_substream.c
 *	  Unit tests of the sub-stream encoder (src/substream.c).
 *
 * A seeded generator builds random valid streams with streambuild.c: every
 * wire type under every null encoding, sentinel and based-offsets flags,
 * every time unit, decimal precisions and scales, dictionaries of every
 * index type (replaced between batches, or never sent), batches of 0 to a
 * few thousand rows, garbage in NULL slots and in the bits past a batch's
 * last row.  The stream is decoded with src/stream.c and, for each batch:
 *
 *	- subsets of its rows (all, the first, the last, first and last, random
 *	  sparse and dense ones, a run, a stride, and none: a zero-row batch)
 *	  are encoded as sub-batches, each in a sub-stream of the header and the
 *	  dictionary messages so far (verbatim), the sub-batch and an end
 *	  marker;
 *	- its rows are dealt to 1 to 5 "shards", each of which accumulates a
 *	  whole sub-stream over all the batches, as the Citus coordinator does.
 *
 * Every sub-stream is decoded with src/stream.c, which must accept it, and
 * every selected row must come out equal to the original: the validity bit
 * or mask byte, the value's bytes for fixed-width types and dictionary
 * codes, the bit of a bitbool, the bytes of a varlen value.  The lengths
 * must agree exactly: zc_substream_batch_len() == the bytes the encoder
 * writes (all of them, and none past them) == the bytes the decoder
 * consumes for the message.
 *
 * Built and run under AddressSanitizer and UBSan by `make check-c`.  The
 * seed is ZC_TEST_SEED (default fixed), the number of random streams
 * ZC_TEST_STREAMS; both are printed in the summary line.
 *
 * test/c/test_substream.c
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "stream.h"
#include "streambuild.h"
#include "substream.h"

#define DEFAULT_SEED			0x5eed5ab5u
#define DEFAULT_STREAMS			1000
#define MAX_COLUMNS				40
#define MAX_SHARDS				5

static uint64_t rng_state;
static uint64_t rows_checked;
static uint64_t subbatches;


/* ---------------------------------------------------------------------------
 * Plumbing
 * ---------------------------------------------------------------------------
 */

/* xorshift64*: the next pseudo-random number. */
static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Du;
}

/* A pseudo-random number in [0, n), n > 0. */
static uint32_t
rnd_below(uint32_t n)
{
	return (uint32_t) ((rnd() >> 16) % n);
}

/* malloc that aborts on failure; malloc aligns to at least 8. */
static void *
xmalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

/* An exactly-sized heap copy of p[0 .. n), so that ASan sees over-reads. */
static uint8_t *
exact_copy(const uint8_t *p, size_t n)
{
	uint8_t    *c = xmalloc(n);

	if (n > 0)
		memcpy(c, p, n);
	return c;
}


/* ---------------------------------------------------------------------------
 * Random streams
 * ---------------------------------------------------------------------------
 */

static const char *const names[] = {"a", "b\xc3\xa9", "col", "", "x_y_z"};

/* Entries of dictionaries. */
static char entry_text[64][16];
static const char *entries[64];

/* Does the wire type take the sentinel-is-NULL flag? */
static bool
takes_sentinel(int type)
{
	return type == ZC_T_FLOAT32 || type == ZC_T_FLOAT64 ||
		type == ZC_T_TIMESTAMP || type == ZC_T_TIMESTAMPTZ ||
		type == ZC_T_DURATION;
}

/* A random valid descriptor of a column of a type and null encoding. */
static void
random_column(SbColumn *col, int type, int nulls)
{
	memset(col, 0, sizeof(*col));
	col->type = (uint8_t) type;
	col->nulls = (uint8_t) nulls;
	col->name = names[rnd_below(5)];
	if (takes_sentinel(type) && rnd_below(2))
		col->flags = ZC_FLAG_SENTINEL_NULL;
	if (zc_wire_type_is_varlen(type) && rnd_below(2))
		col->flags = ZC_FLAG_BASED_OFFSETS;
	switch (type)
	{
		case ZC_T_TIMESTAMP:
		case ZC_T_DURATION:
			col->unit = (uint8_t) rnd_below(4);
			break;
		case ZC_T_TIMESTAMPTZ:
			col->unit = (uint8_t) rnd_below(4);
			col->tz = rnd_below(2) ? "UTC" : NULL;
			break;
		case ZC_T_TIME32:
			col->unit = (uint8_t) rnd_below(2);
			break;
		case ZC_T_TIME64:
			col->unit = (uint8_t) (2 + rnd_below(2));
			break;
		case ZC_T_DECIMAL128:
			col->index_type = (uint8_t) (1 + rnd_below(38));
			col->value_type = (uint8_t) rnd();
			break;
		case ZC_T_DECIMAL256:
			col->index_type = (uint8_t) (1 + rnd_below(76));
			col->value_type = (uint8_t) rnd();
			break;
		case ZC_T_DICTIONARY:
			col->index_type = (uint8_t) (ZC_T_INT8 + rnd_below(8));
			col->value_type = ZC_T_UTF8;
			break;
		default:
			break;
	}
}

/* Random bytes. */
static void
random_bytes(SbBuf *b, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		sb_u8(b, (uint8_t) rnd());
}

/*
 * The validity buffer of n rows, with random NULLs (density chosen per
 * column) and random bits past n; sets valid[i].
 */
static void
random_validity(SbBuf *b, const SbColumn *col, uint32_t n, bool *valid)
{
	uint32_t	nullish = rnd_below(4);	/* 0: none, 3: mostly NULL */
	uint32_t	i;

	for (i = 0; i < n; i++)
		valid[i] = col->nulls == ZC_NULLS_NONE || nullish == 0 ||
			rnd_below(4) >= nullish;
	if (col->nulls == ZC_NULLS_BITMAP)
	{
		uint32_t	nbytes = (n + 7) / 8;

		sb_u64(b, nbytes);
		for (i = 0; i < nbytes; i++)
		{
			uint8_t		byte = (uint8_t) rnd();	/* bits past n: garbage */
			uint32_t	j;

			for (j = 0; j < 8 && i * 8 + j < n; j++)
				byte = (uint8_t) ((byte & ~(1u << j)) |
								  ((unsigned) valid[i * 8 + j] << j));
			sb_u8(b, byte);
		}
		sb_pad8(b);
	}
	else if (col->nulls == ZC_NULLS_BYTEMASK)
	{
		sb_u64(b, n);
		for (i = 0; i < n; i++)
			sb_u8(b, valid[i] ? 0 : (uint8_t) (1 + rnd_below(255)));
		sb_pad8(b);
	}
}

/*
 * Offsets (of owidth bytes) and data of n random byte strings, starting at a
 * random first offset, with filler before (absolute offsets) and junk after
 * the values.
 */
static void
random_varlen(SbBuf *b, const SbColumn *col, uint32_t n)
{
	int			ow = (col->type == ZC_T_UTF8_32 || col->type == ZC_T_BINARY_32) ? 4 : 8;
	bool		based = (col->flags & ZC_FLAG_BASED_OFFSETS) != 0;
	uint32_t	maxlen = rnd_below(4) == 0 ? 0 : rnd_below(3) == 0 ? 100 : 12;
	uint32_t   *lens = xmalloc(sizeof(uint32_t) * (n + 1));
	uint64_t	total = 0;
	uint64_t	first;
	uint64_t	junk = rnd_below(3) == 0 ? rnd_below(12) : 0;
	int64_t		off;
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		lens[i] = maxlen ? rnd_below(maxlen + 1) : 0;
		total += lens[i];
	}
	/* a based column may start far into an Arrow array */
	if (based && rnd_below(4) == 0)
		first = ow == 4 ? (uint64_t) INT32_MAX - total - rnd_below(4) :
			((uint64_t) 1 << 40) + rnd_below(1000);
	else
		first = rnd_below(3) == 0 ? 0 : rnd_below(20);

	sb_u64(b, (uint64_t) (n + 1) * (uint64_t) ow);
	off = (int64_t) first;
	for (i = 0; i <= n; i++)
	{
		if (ow == 4)
			sb_u32(b, (uint32_t) off);
		else
			sb_u64(b, (uint64_t) off);
		if (i < n)
			off += lens[i];
	}
	sb_pad8(b);
	sb_u64(b, (based ? 0 : first) + total + junk);
	if (!based)
		for (i = 0; i < first; i++)
			sb_u8(b, 0xee);
	random_bytes(b, (size_t) total);
	for (i = 0; i < junk; i++)
		sb_u8(b, 0xdd);
	sb_pad8(b);
	free(lens);
}

/*
 * One column's buffers of n random rows.  dict_size is the column's current
 * dictionary size (-1: none): valid rows of a dictionary column hold codes
 * in range (or -1 with a signed index type), NULL rows hold garbage.
 */
static void
random_column_data(SbBuf *b, const SbColumn *col, uint32_t n,
				   int64_t dict_size)
{
	bool	   *valid = xmalloc(sizeof(bool) * (n + 1));
	SbBuf		v;
	uint32_t	i;

	random_validity(b, col, n, valid);
	sb_init(&v);
	if (zc_wire_type_is_varlen(col->type))
		random_varlen(b, col, n);
	else if (col->type == ZC_T_BITBOOL)
	{
		random_bytes(&v, (n + 7) / 8);
		sb_buffer(b, v.data, v.len);
	}
	else if (col->type == ZC_T_DICTIONARY)
	{
		int			w = zc_wire_type_width(col->index_type);
		bool		is_unsigned = col->index_type >= ZC_T_UINT8;

		for (i = 0; i < n; i++)
		{
			uint64_t	code;

			if (!valid[i])
				code = rnd();	/* not inspected */
			else if (!is_unsigned && (dict_size <= 0 || rnd_below(4) == 0))
				code = UINT64_MAX;	/* -1 */
			else
				code = rnd_below((uint32_t) dict_size);
			sb_put(&v, &code, (size_t) w);
		}
		sb_buffer(b, v.data, v.len);
	}
	else
	{
		int			w = zc_wire_type_width(col->type);

		for (i = 0; i < n; i++)
		{
			/* sentinels now and then, whatever the flag says */
			if (col->type == ZC_T_FLOAT64 && rnd_below(5) == 0)
			{
				double		d = NAN;

				sb_put(&v, &d, 8);
			}
			else if (col->type == ZC_T_FLOAT32 && rnd_below(5) == 0)
			{
				float		f = NAN;

				sb_put(&v, &f, 4);
			}
			else if (w == 8 && rnd_below(5) == 0)
				sb_u64(&v, (uint64_t) 1 << 63);
			else
				random_bytes(&v, (size_t) w);
		}
		sb_buffer(b, v.data, v.len);
	}
	sb_free(&v);
	free(valid);
}

/* A random batch size, biased to the edges of bytes and 16-row blocks. */
static uint32_t
random_rows(void)
{
	static const uint32_t edges[] = {
		1, 1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65
	};

	switch (rnd_below(10))
	{
		case 0:
			return rnd_below(8) == 0 ? 0 : 1;
		case 1:
		case 2:
		case 3:
		case 4:
			return edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
		case 5:
			return rnd_below(8) == 0 ? 1000 + rnd_below(3000) : 1 + rnd_below(300);
		default:
			return 1 + rnd_below(100);
	}
}

/*
 * A random stream of ncols columns (descriptors already in cols) and
 * nbatches batches, with dictionary messages before batches.  Returns the
 * total number of rows.
 */
static uint64_t
random_stream(SbBuf *b, uint32_t ncols, const SbColumn *cols, int nbatches)
{
	int64_t		dict_size[MAX_COLUMNS];
	uint64_t	total = 0;
	uint32_t	c;
	int			k;

	sb_header(b, ncols, cols);
	for (c = 0; c < ncols; c++)
		dict_size[c] = -1;
	for (k = 0; k < nbatches; k++)
	{
		uint32_t	n = random_rows();

		for (c = 0; c < ncols; c++)
		{
			bool		is_unsigned;

			if (cols[c].type != ZC_T_DICTIONARY)
				continue;
			is_unsigned = cols[c].index_type >= ZC_T_UINT8;
			/* a signed column may go without a dictionary */
			if (dict_size[c] < 0 && !is_unsigned && rnd_below(5) == 0)
				continue;
			if (dict_size[c] < 0 || rnd_below(3) == 0)
			{
				dict_size[c] = is_unsigned ? 1 + rnd_below(63) : rnd_below(64);
				sb_dictionary_from(b, c, entries, (size_t) dict_size[c],
								   rnd_below(4));
			}
		}
		sb_batch(b, n);
		for (c = 0; c < ncols; c++)
			random_column_data(b, &cols[c], n, dict_size[c]);
		total += n;
	}
	sb_end(b, total);
	return total;
}


/* ---------------------------------------------------------------------------
 * Encoding and checking sub-streams
 * ---------------------------------------------------------------------------
 */

/* A sub-batch expected in a sub-stream: which rows of which batch. */
typedef struct Expect
{
	const ZcColumnView *views;	/* the original batch's views (saved) */
	uint64_t	orig_rows;
	uint32_t   *rows;
	uint32_t	n;
	uint64_t	len;			/* zc_substream_batch_len() */
} Expect;

/* A sub-stream being built, with what it should decode to. */
typedef struct Sub
{
	SbBuf		bytes;
	Expect	   *expects;
	int			nexpects;
	int			cap;
	int			ndicts;
	uint64_t	total;
} Sub;

/* Start a sub-stream with the original header. */
static void
sub_init(Sub *s, const uint8_t *header, size_t header_len)
{
	memset(s, 0, sizeof(*s));
	sb_init(&s->bytes);
	sb_put(&s->bytes, header, header_len);
}

/* Release a sub-stream and the row lists of its expectations. */
static void
sub_free(Sub *s)
{
	int			i;

	for (i = 0; i < s->nexpects; i++)
		free(s->expects[i].rows);
	free(s->expects);
	sb_free(&s->bytes);
}

/*
 * Encode rows[0 .. n) of dec's current batch (whose message took orig_len
 * bytes) and append the sub-batch to s, expecting it back.  The encoder
 * writes three times: into an exactly-sized buffer (ASan sees any write past
 * it), and into buffers pre-filled with 0x00 and 0xff followed by guard
 * bytes, which must come out equal (every byte written) with the guards
 * intact (nothing written past the length).  Takes ownership of rows.
 */
static void
encode_into(Sub *s, const ZcDecoder *dec, const ZcColumnView *saved,
			uint32_t *rows, uint32_t n, uint64_t orig_len)
{
	uint64_t	len = zc_substream_batch_len(dec, rows, n);
	uint8_t    *exact,
			   *zeros,
			   *ones;
	size_t		i;
	bool		guards = true;
	Expect	   *e;

	CHECKF(len % 8 == 0 && len >= ZC_MESSAGE_FIXED_LEN,
		   "sub-batch length %llu", (unsigned long long) len);
	CHECKF(len <= orig_len, "sub-batch of %lu rows takes %llu bytes, the original batch %llu",
		   (unsigned long) n, (unsigned long long) len,
		   (unsigned long long) orig_len);
	CHECK_EQ(zc_substream_batch_len(dec, rows, n), len);

	exact = xmalloc((size_t) len);
	zeros = xmalloc((size_t) len + 64);
	ones = xmalloc((size_t) len + 64);
	memset(zeros, 0, (size_t) len + 64);
	memset(ones, 0xff, (size_t) len + 64);
	zc_substream_write_batch(dec, rows, n, exact);
	zc_substream_write_batch(dec, rows, n, zeros);
	zc_substream_write_batch(dec, rows, n, ones);
	CHECKF(memcmp(zeros, ones, (size_t) len) == 0,
		   "the encoder left bytes of its %llu unwritten",
		   (unsigned long long) len);
	CHECKF(memcmp(exact, zeros, (size_t) len) == 0,
		   "the encoder wrote different bytes into different buffers");
	for (i = 0; i < 64; i++)
		guards &= zeros[len + i] == 0 && ones[len + i] == 0xff;
	CHECKF(guards, "the encoder wrote past the %llu bytes it announced",
		   (unsigned long long) len);
	sb_put(&s->bytes, exact, (size_t) len);
	free(exact);
	free(zeros);
	free(ones);

	if (s->nexpects == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 8;
		s->expects = realloc(s->expects, sizeof(Expect) * (size_t) s->cap);
		if (s->expects == NULL)
			abort();
	}
	e = &s->expects[s->nexpects++];
	e->views = saved;
	e->orig_rows = dec->batch_rows;
	e->rows = rows;
	e->n = n;
	e->len = len;
	s->total += n;
	subbatches++;
}

/* Get bit i of a bit buffer. */
static inline bool
bit_at(const uint8_t *p, uint64_t i)
{
	return (p[i >> 3] >> (i & 7)) & 1;
}

/*
 * Compare row e->rows[j] of the original batch with row j of the decoded
 * sub-batch, for every selected row and column; returns the mismatches
 * (reporting the first).
 */
static long
compare_batch(const ZcDecoder *sub, const Expect *e)
{
	long		bad = 0;
	uint32_t	c;

	for (c = 0; c < sub->ncolumns; c++)
	{
		const ZcColumnDesc *d = &sub->columns[c];
		const ZcColumnView *o = &e->views[c];
		const ZcColumnView *v = &sub->views[c];
		int			w = d->type == ZC_T_DICTIONARY ?
			zc_wire_type_width(d->index_type) : zc_wire_type_width(d->type);
		bool		varlen = zc_wire_type_is_varlen(d->type);
		uint32_t	j;

		if (varlen)
		{
			int64_t		first = v->offsets32 ? v->offsets32[0] : v->offsets[0];

			/* the encoder rebuilds offsets from 0 */
			if (first != 0 || v->data_base != 0)
				bad++;
		}
		for (j = 0; j < e->n; j++)
		{
			uint64_t	r = e->rows[j];
			bool		same = true;

			/* the validity: the same bit, or the same mask byte */
			if (d->nulls == ZC_NULLS_BITMAP)
				same &= bit_at(o->validity, r) == bit_at(v->validity, j);
			else if (d->nulls == ZC_NULLS_BYTEMASK)
				same &= o->validity[r] == v->validity[j];
			same &= zc_row_valid(d, o, r) == zc_row_valid(d, v, j);

			/* the value, NULL or not: copied as it is */
			if (varlen)
			{
				int64_t		ol,
							vl;
				const uint8_t *op = zc_varlen_value(o, r, &ol);
				const uint8_t *vp = zc_varlen_value(v, j, &vl);

				same &= ol == vl && (ol == 0 || memcmp(op, vp, (size_t) ol) == 0);
			}
			else if (d->type == ZC_T_BITBOOL)
				same &= zc_bitbool_value(o, r) == zc_bitbool_value(v, j);
			else if (w > 0)
				same &= memcmp(o->values + r * w, v->values + (uint64_t) j * w,
							   (size_t) w) == 0;
			rows_checked++;
			if (!same && bad++ == 0)
				fprintf(stderr, "column %lu (%s, %s): row %llu of the batch differs from row %lu of the sub-batch\n",
						(unsigned long) c + 1, zc_wire_type_name(d->type),
						zc_null_encoding_name(d->nulls),
						(unsigned long long) r, (unsigned long) j);
		}
		/* the bits past the last row of a bit buffer are zero */
		if (e->n % 8 != 0)
		{
			if (d->nulls == ZC_NULLS_BITMAP &&
				(v->validity[e->n / 8] >> (e->n % 8)) != 0)
				bad++;
			if (d->type == ZC_T_BITBOOL &&
				(v->values[e->n / 8] >> (e->n % 8)) != 0)
				bad++;
		}
	}
	return bad;
}

/*
 * Decode a finished sub-stream (ended with its end marker) from an exact
 * copy: it must be accepted, hold ndicts dictionaries and the expected
 * sub-batches, each as long as announced, with the selected rows' values.
 */
static void
check_sub(const Sub *s, const char *what)
{
	uint8_t    *buf = exact_copy(s->bytes.data, s->bytes.len);
	ZcDecoder	dec;
	Arena		arena = {0};
	ZcError		err;
	size_t		pos = 0;
	int			batches = 0;
	int			dicts = 0;
	bool		ended = false;

	zc_decoder_init(&dec, arena_alloc, &arena, 0);
	while (!ended)
	{
		size_t		used = 0;
		ZcEvent		event = ZC_EV_NONE;
		ZcStatus	st;

		st = zc_decoder_next(&dec, buf + pos, s->bytes.len - pos, &used,
							 &event, &err);
		if (!CHECKF(st == ZC_OK, "%s: the decoder rejects the sub-stream at byte %zu: status %d, %s",
					what, pos, (int) st, st == ZC_ERROR ? err.message : ""))
			break;
		switch (event)
		{
			case ZC_EV_HEADER:
				break;
			case ZC_EV_DICTIONARY:
				dicts++;
				break;
			case ZC_EV_BATCH:
				{
					const Expect *e;

					if (!CHECKF(batches < s->nexpects, "%s: more batches than encoded", what))
						goto out;
					e = &s->expects[batches++];
					CHECK_EQ(used, e->len);
					CHECK_EQ(dec.batch_rows, e->n);
					if (dec.batch_rows == e->n)
						CHECKF(compare_batch(&dec, e) == 0,
							   "%s: sub-batch %d (%lu of %llu rows) differs",
							   what, batches, (unsigned long) e->n,
							   (unsigned long long) e->orig_rows);
				}
				break;
			case ZC_EV_END:
				ended = true;
				break;
			default:
				CHECKF(false, "%s: unexpected event %d", what, (int) event);
				goto out;
		}
		pos += used;
	}
	if (ended)
	{
		CHECK_EQ(pos, s->bytes.len);
		CHECK(zc_decoder_finish(&dec, s->bytes.len - pos, &err) == ZC_OK);
		CHECK_EQ(batches, s->nexpects);
		CHECK_EQ(dicts, s->ndicts);
		CHECK_EQ(dec.total_rows, s->total);
	}
out:
	arena_free(&arena);
	free(buf);
}

/* Finish a sub-stream with its end marker, then check it. */
static void
end_and_check(Sub *s, const char *what)
{
	uint8_t		end[ZC_SUBSTREAM_END_LEN];

	zc_substream_write_end(s->total, end);
	sb_put(&s->bytes, end, sizeof(end));
	check_sub(s, what);
}

/* Kinds of row subsets of a batch tried on their own. */
typedef enum Subset
{
	SUB_ALL,
	SUB_FIRST,
	SUB_LAST,
	SUB_FIRST_LAST,
	SUB_HALF,
	SUB_SPARSE,
	SUB_DENSE,
	SUB_RUN,
	SUB_STRIDE,
	SUB_NONE,					/* a zero-row sub-batch, which is valid too */
	SUB_COUNT
} Subset;

/* Fill rows with a subset of [0, n) of a kind; returns its size. */
static uint32_t
make_subset(Subset kind, uint32_t n, uint32_t *rows)
{
	uint32_t	m = 0;
	uint32_t	i;
	uint32_t	a,
				z,
				stride;

	switch (kind)
	{
		case SUB_ALL:
			for (i = 0; i < n; i++)
				rows[m++] = i;
			break;
		case SUB_FIRST:
			rows[m++] = 0;
			break;
		case SUB_LAST:
			rows[m++] = n - 1;
			break;
		case SUB_FIRST_LAST:
			rows[m++] = 0;
			if (n > 1)
				rows[m++] = n - 1;
			break;
		case SUB_HALF:
		case SUB_SPARSE:
		case SUB_DENSE:
			for (i = 0; i < n; i++)
			{
				uint32_t	x = rnd_below(10);

				if (kind == SUB_HALF ? x < 5 : kind == SUB_SPARSE ? x < 1 : x < 9)
					rows[m++] = i;
			}
			if (m == 0)
				rows[m++] = rnd_below(n);
			break;
		case SUB_RUN:
			a = rnd_below(n);
			z = a + 1 + rnd_below(n - a);
			for (i = a; i < z; i++)
				rows[m++] = i;
			break;
		case SUB_STRIDE:
			stride = 1 + rnd_below(9);
			for (i = rnd_below(stride < n ? stride : n); i < n; i += stride)
				rows[m++] = i;
			break;
		case SUB_NONE:
		case SUB_COUNT:
			break;
	}
	return m;
}

/*
 * Decode a whole stream; for each batch, check subsets of it on their own,
 * and deal its rows to nshards sub-streams, checked at the end.
 */
static void
check_stream(const SbBuf *stream, int nshards, const char *what)
{
	uint8_t    *buf = exact_copy(stream->data, stream->len);
	ZcDecoder	dec;
	Arena		arena = {0};
	ZcError		err;
	size_t		pos = 0;
	SbBuf		header,
				dicts;
	int			ndicts = 0;
	Sub			shards[MAX_SHARDS];
	ZcColumnView **saved = NULL;
	int			nsaved = 0;
	bool		ended = false;
	int			i;

	memset(shards, 0, sizeof(shards));
	sb_init(&header);
	sb_init(&dicts);
	zc_decoder_init(&dec, arena_alloc, &arena, 0);
	while (!ended)
	{
		size_t		used = 0;
		ZcEvent		event = ZC_EV_NONE;
		ZcStatus	st;
		const uint8_t *unit = buf + pos;

		st = zc_decoder_next(&dec, unit, stream->len - pos, &used, &event,
							 &err);
		if (!CHECKF(st == ZC_OK, "%s: the generated stream is rejected: %s",
					what, st == ZC_ERROR ? err.message : "incomplete"))
			break;
		switch (event)
		{
			case ZC_EV_HEADER:
				sb_put(&header, unit, used);
				for (i = 0; i < nshards; i++)
					sub_init(&shards[i], unit, used);
				break;
			case ZC_EV_DICTIONARY:
				sb_put(&dicts, unit, used);
				ndicts++;
				for (i = 0; i < nshards; i++)
				{
					sb_put(&shards[i].bytes, unit, used);
					shards[i].ndicts++;
				}
				break;
			case ZC_EV_BATCH:
				{
					uint32_t	n = (uint32_t) dec.batch_rows;
					ZcColumnView *views;
					uint32_t   *shard_rows[MAX_SHARDS];
					uint32_t	shard_n[MAX_SHARDS];
					int			kind;
					uint32_t	r;

					if (n == 0)
						break;
					views = xmalloc(sizeof(ZcColumnView) * dec.ncolumns);
					memcpy(views, dec.views, sizeof(ZcColumnView) * dec.ncolumns);
					saved = realloc(saved, sizeof(*saved) * (size_t) (nsaved + 1));
					if (saved == NULL)
						abort();
					saved[nsaved++] = views;

					/* subsets on their own: header, dictionaries, sub-batch */
					for (kind = 0; kind < SUB_COUNT; kind++)
					{
						Sub			one;
						uint32_t   *rows = xmalloc(sizeof(uint32_t) * n);
						uint32_t	m = make_subset((Subset) kind, n, rows);
						char		label[128];

						sub_init(&one, header.data, header.len);
						sb_put(&one.bytes, dicts.data, dicts.len);
						one.ndicts = ndicts;
						encode_into(&one, &dec, views, rows, m, used);
						snprintf(label, sizeof(label), "%s, subset %d of %lu rows",
								 what, kind, (unsigned long) n);
						end_and_check(&one, label);
						sub_free(&one);
					}

					/* deal the rows to the shards */
					for (i = 0; i < nshards; i++)
					{
						shard_rows[i] = xmalloc(sizeof(uint32_t) * n);
						shard_n[i] = 0;
					}
					for (r = 0; r < n; r++)
					{
						int			s = (int) rnd_below((uint32_t) nshards);

						shard_rows[s][shard_n[s]++] = r;
					}
					for (i = 0; i < nshards; i++)
					{
						if (shard_n[i] > 0)
							encode_into(&shards[i], &dec, views, shard_rows[i],
										shard_n[i], used);
						else
							free(shard_rows[i]);
					}
				}
				break;
			case ZC_EV_END:
				ended = true;
				break;
			default:
				CHECKF(false, "%s: unexpected event %d", what, (int) event);
				break;
		}
		pos += used;
	}

	for (i = 0; i < nshards; i++)
	{
		char		label[128];

		snprintf(label, sizeof(label), "%s, shard %d of %d", what, i + 1,
				 nshards);
		if (ended)
			end_and_check(&shards[i], label);
		sub_free(&shards[i]);
	}
	for (i = 0; i < nsaved; i++)
		free(saved[i]);
	free(saved);
	sb_free(&header);
	sb_free(&dicts);
	arena_free(&arena);
	free(buf);
}


/* ---------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------------
 */

/* The end marker is the format's: kind 3, reserved 0, the total. */
static void
test_end_marker(void)
{
	uint8_t		out[ZC_SUBSTREAM_END_LEN];
	SbBuf		b;

	CHECK_EQ(ZC_SUBSTREAM_END_LEN, 16);
	sb_init(&b);
	sb_end(&b, 0x123456789abcdefull);
	memset(out, 0xaa, sizeof(out));
	zc_substream_write_end(0x123456789abcdefull, out);
	CHECK(b.len == sizeof(out) && memcmp(out, b.data, sizeof(out)) == 0);
	sb_free(&b);
}

/*
 * A known batch, re-encoded by hand: one int16 column with a bitmap and one
 * based utf8 column with a byte mask, rows 1 and 3 of 4.
 */
static void
test_known_bytes(void)
{
	static const char *const words[] = {"ab", "cde", "", "fghij"};
	SbColumn	cols[2];
	SbBuf		b,
				want;
	ZcDecoder	dec;
	Arena		arena = {0};
	ZcError		err;
	size_t		used = 0,
				pos;
	ZcEvent		event;
	uint8_t    *buf;
	uint8_t    *out;
	uint64_t	len;
	static const uint32_t rows[] = {1, 3};
	bool		valid[4] = {true, false, true, true};
	int16_t		vals[4] = {10, -20, 30, -40};
	int16_t		vals2[2] = {-20, -40};
	const void *ptrs[4];
	size_t		lens[4];
	int			i;

	memset(cols, 0, sizeof(cols));
	cols[0].type = ZC_T_INT16;
	cols[0].nulls = ZC_NULLS_BITMAP;
	cols[0].name = "i";
	cols[1].type = ZC_T_UTF8;
	cols[1].nulls = ZC_NULLS_BYTEMASK;
	cols[1].flags = ZC_FLAG_BASED_OFFSETS;
	cols[1].name = "s";
	for (i = 0; i < 4; i++)
	{
		ptrs[i] = words[i];
		lens[i] = strlen(words[i]);
	}

	sb_init(&b);
	sb_header(&b, 2, cols);
	pos = b.len;
	sb_batch(&b, 4);
	sb_validity(&b, ZC_NULLS_BITMAP, valid, 4);
	sb_buffer(&b, vals, sizeof(vals));
	sb_validity(&b, ZC_NULLS_BYTEMASK, valid, 4);
	sb_varlen_from(&b, 8, true, ptrs, lens, 4, 1000);
	sb_end(&b, 4);

	/* what the sub-batch must be, byte for byte */
	sb_init(&want);
	sb_batch(&want, 2);
	sb_u64(&want, 1);
	sb_u8(&want, 0x02);			/* row 1 NULL, row 3 valid; no bits past */
	sb_pad8(&want);
	sb_buffer(&want, vals2, sizeof(vals2));
	sb_u64(&want, 2);
	sb_u8(&want, 2);			/* sb_validity's mask byte of row 1 */
	sb_u8(&want, 0);
	sb_pad8(&want);
	ptrs[0] = words[1];
	lens[0] = strlen(words[1]);
	ptrs[1] = words[3];
	lens[1] = strlen(words[3]);
	sb_varlen_from(&want, 8, true, ptrs, lens, 2, 0);

	buf = exact_copy(b.data, b.len);
	zc_decoder_init(&dec, arena_alloc, &arena, 0);
	CHECK(zc_decoder_next(&dec, buf, b.len, &used, &event, &err) == ZC_OK);
	CHECK(zc_decoder_next(&dec, buf + pos, b.len - pos, &used, &event, &err) == ZC_OK &&
		  event == ZC_EV_BATCH);
	len = zc_substream_batch_len(&dec, rows, 2);
	CHECK_EQ(len, want.len);
	out = xmalloc((size_t) len);
	zc_substream_write_batch(&dec, rows, 2, out);
	CHECK(len == want.len && memcmp(out, want.data, want.len) == 0);
	free(out);
	free(buf);
	arena_free(&arena);
	sb_free(&b);
	sb_free(&want);
}

/* Every wire type under each null encoding, then random mixes. */
static void
test_random_streams(int nstreams)
{
	SbColumn	cols[MAX_COLUMNS];
	SbBuf		b;
	char		what[64];
	int			k;

	sb_init(&b);

	/* all 27 wire types in one stream, under each null encoding */
	for (k = 0; k < 3 * 4; k++)
	{
		int			t;

		for (t = 1; t <= ZC_T_MAX; t++)
			random_column(&cols[t - 1], t, k % 3);
		sb_reset(&b);
		random_stream(&b, ZC_T_MAX, cols, 1 + (int) rnd_below(4));
		snprintf(what, sizeof(what), "every type, %s, #%d",
				 zc_null_encoding_name(k % 3), k / 3);
		check_stream(&b, 1 + (int) rnd_below(MAX_SHARDS), what);
	}

	/* random columns: each type with each null encoding many times */
	for (k = 0; k < nstreams; k++)
	{
		uint32_t	ncols = 1 + rnd_below(rnd_below(4) == 0 ? MAX_COLUMNS : 6);
		uint32_t	c;

		for (c = 0; c < ncols; c++)
			random_column(&cols[c], 1 + (int) rnd_below(ZC_T_MAX),
						  (int) rnd_below(3));
		sb_reset(&b);
		random_stream(&b, ncols, cols, 1 + (int) rnd_below(5));
		snprintf(what, sizeof(what), "random stream %d", k);
		check_stream(&b, 1 + (int) rnd_below(MAX_SHARDS), what);
	}
	sb_free(&b);
}

int
main(void)
{
	const char *s = getenv("ZC_TEST_SEED");
	const char *n = getenv("ZC_TEST_STREAMS");
	uint64_t	seed = s ? strtoull(s, NULL, 0) : DEFAULT_SEED;
	int			nstreams = n ? atoi(n) : DEFAULT_STREAMS;
	int			i;

	for (i = 0; i < 64; i++)
	{
		snprintf(entry_text[i], sizeof(entry_text[i]), "e%d", i);
		entries[i] = entry_text[i];
	}
	rng_state = seed ? seed : 1;

	test_end_marker();
	test_known_bytes();
	test_random_streams(nstreams);

	if (n_failed > 0)
	{
		printf("test_substream: %d of %d checks FAILED (seed %#llx, %d streams)\n",
			   n_failed, n_checks, (unsigned long long) seed, nstreams);
		return 1;
	}
	printf("test_substream: %d checks passed (seed %#llx, %d random streams, %llu sub-batches, %llu rows compared)\n",
		   n_checks, (unsigned long long) seed, nstreams,
		   (unsigned long long) subbatches, (unsigned long long) rows_checked);
	return 0;
}
