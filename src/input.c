/*-------------------------------------------------------------------------
 *
 * input.c
 *	  Where a load's stream bytes come from: buffering, memory and files.
 *
 * The memory and file sources hand the decoder ZC_INPUT_SLICE bytes at a
 * time, so a load from a large bytea or file holds one batch plus one slice
 * in its buffer, never the whole stream twice.
 *
 * src/input.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "input.h"

/* Bytes a memory or file source adds per read. */
#define ZC_INPUT_SLICE			(1024 * 1024)

/* Make room for extra more bytes after input->end. */
void
zc_input_reserve(ZcInput *input, size_t extra)
{
	size_t		pending = input->end - input->start;
	size_t		need;

	if (input->end + extra <= input->cap)
		return;

	/* move the unconsumed bytes to the front; they start at a unit */
	if (input->start > 0)
	{
		memmove(input->buf, input->buf + input->start, pending);
		input->start = 0;
		input->end = pending;
		if (input->end + extra <= input->cap)
			return;
	}

	need = pending + extra;
	if (input->buf == NULL)
	{
		input->cap = Max(need, 64 * 1024);
		input->buf = MemoryContextAllocHuge(CurrentMemoryContext, input->cap);
	}
	else
	{
		input->cap = Max(need, input->cap * 2);
		input->buf = repalloc_huge(input->buf, input->cap);
	}
}

/* Append the next slice of the memory source. */
static bool
memory_read(ZcInput *input)
{
	size_t		n = Min(input->src_len, (size_t) ZC_INPUT_SLICE);

	if (n == 0)
		return false;
	zc_input_reserve(input, n);
	memcpy(input->buf + input->end, input->src, n);
	input->src += n;
	input->src_len -= n;
	input->end += n;
	input->bytes_read += n;
	return true;
}

/* An input over len bytes at data. */
void
zc_input_init_memory(ZcInput *input, const char *data, size_t len)
{
	memset(input, 0, sizeof(*input));
	input->src = data;
	input->src_len = len;
	input->read = memory_read;
}

/* Append the next slice of the file source. */
static bool
file_read(ZcInput *input)
{
	size_t		n;

	zc_input_reserve(input, ZC_INPUT_SLICE);
	n = fread(input->buf + input->end, 1, ZC_INPUT_SLICE, input->file);
	if (n == 0)
	{
		if (ferror(input->file))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read from zcimport file: %m")));
		return false;
	}
	input->end += n;
	input->bytes_read += n;
	return true;
}

/* An input reading file to its end. */
void
zc_input_init_file(ZcInput *input, FILE *file)
{
	memset(input, 0, sizeof(*input));
	input->file = file;
	input->read = file_read;
}

/* Report a decoder error; see input.h. */
void
zc_report_stream_error(const ZcError *err)
{
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("invalid zcimport stream"),
			 errdetail("%c%s.", pg_toupper((unsigned char) err->message[0]),
					   err->message + 1)));
}

/* Decode the next unit of the stream; see input.h. */
ZcEvent
zc_input_next_event(ZcInput *input, ZcDecoder *dec, size_t *used)
{
	for (;;)
	{
		ZcError		err;
		ZcEvent		event = ZC_EV_NONE;
		ZcStatus	status;

		status = zc_decoder_next(dec, (const uint8 *) input->buf + input->start,
								 input->end - input->start, used, &event, &err);
		if (status == ZC_OK)
			return event;
		if (status == ZC_ERROR)
			zc_report_stream_error(&err);
		if (!input->read(input))
		{
			if (zc_decoder_finish(dec, input->end - input->start, &err) != ZC_OK)
				zc_report_stream_error(&err);
			elog(ERROR, "zcimport decoder wants more input after the end of the stream");
		}
	}
}

/* After the end marker: the input must end too; see input.h. */
void
zc_input_finish(ZcInput *input, ZcDecoder *dec)
{
	ZcError		err;

	while (input->end == input->start && input->read(input))
		;
	if (zc_decoder_finish(dec, input->end - input->start, &err) != ZC_OK)
		zc_report_stream_error(&err);
}
