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

#include "commands/progress.h"
#include "pgstat.h"

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
					 errmsg("could not read file \"%s\": %m", input->path)));
		return false;
	}
	input->end += n;
	input->bytes_read += n;
	return true;
}

/* An input reading file to its end. */
void
zc_input_init_file(ZcInput *input, FILE *file, const char *path)
{
	memset(input, 0, sizeof(*input));
	input->file = file;
	input->path = path;
	input->read = file_read;
}

/* Report a decoder error; see input.h. */
void
zc_report_stream_error(const ZcError *err)
{
	/* the decoder's own words, which are not sentences: not for translation */
	ereport(ERROR,
			(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
			 errmsg("invalid zcimport stream"),
			 errdetail_internal("%s", err->message)));
}

/*
 * Decode the next unit of the stream: returns its event, with *used its
 * length, which the caller consumes once it has handled the event.
 */
static ZcEvent
next_event(ZcInput *input, ZcDecoder *dec, size_t *used)
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

/* Decode the whole stream, handing each unit to handler; see input.h. */
void
zc_input_drive(ZcInput *input, ZcDecoder *dec, const ZcStreamHandler *handler)
{
	bool		done = false;
	ZcError		err;

	while (!done)
	{
		size_t		used;
		ZcEvent		event = next_event(input, dec, &used);
		const uint8 *msg = (const uint8 *) input->buf + input->start;

		if (handler->report_progress)
			pgstat_progress_update_param(PROGRESS_COPY_BYTES_PROCESSED,
										 input->bytes_read);
		switch (event)
		{
			case ZC_EV_HEADER:
				if (handler->header)
					handler->header(handler->arg, msg, used);
				break;
			case ZC_EV_DICTIONARY:
				if (handler->dictionary)
					handler->dictionary(handler->arg, msg, used);
				break;
			case ZC_EV_BATCH:
				if (handler->batch)
					handler->batch(handler->arg, msg, used);
				break;
			case ZC_EV_END:
				done = true;
				break;
			case ZC_EV_NONE:
				elog(ERROR, "zcimport decoder returned no event");
				break;
		}
		input->start += used;
	}

	/* the input must end with the stream (a COPY's CopyDone is read here) */
	while (input->end == input->start && input->read(input))
		;
	if (zc_decoder_finish(dec, input->end - input->start, &err) != ZC_OK)
		zc_report_stream_error(&err);
}
