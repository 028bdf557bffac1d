/*-------------------------------------------------------------------------
 *
 * copyin.c
 *	  The COPY FROM STDIN side of the frontend/backend protocol.
 *
 * This does what ReceiveCopyBegin() and CopyGetData() do in PostgreSQL's
 * copyfromparse.c, with one difference: the payload of each CopyData
 * message is read straight into the load's input buffer, at its end, so
 * the stream is copied once from the connection's receive buffer and never
 * again.  Cancel interrupts are held while a message is read, so that a
 * cancel cannot leave the protocol out of step; CopyFail and a lost
 * connection are errors, and Flush and Sync are ignored, as COPY does.
 *
 * src/copyin.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "compat.h"
#include "copyin.h"

/* Send CopyInResponse: binary format for the whole stream, and flush. */
void
zc_copyin_begin(int natts)
{
	StringInfoData buf;

	pq_beginmessage(&buf, 'G');
	pq_sendbyte(&buf, 1);		/* overall format: binary */
	pq_sendint16(&buf, natts);
	for (int i = 0; i < natts; i++)
		pq_sendint16(&buf, 1);	/* per-column formats */
	pq_endmessage(&buf);
	/* the client may only send once it has this */
	pq_flush();
}

/* Report a connection that went away in the middle of COPY. */
pg_noreturn static void
report_lost_connection(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("unexpected EOF on client connection with an open transaction")));
}

/*
 * Read a message body of len bytes into dst, or, if dst is NULL, discard
 * it.  Used when making room for a message failed, to keep in step.
 */
static void
read_body(char *dst, size_t len)
{
	char		scratch[8192];

	while (len > 0)
	{
		size_t		n = Min(len, sizeof(scratch));

		if (pq_getbytes(dst ? dst : scratch, n) == EOF)
			report_lost_connection();
		if (dst)
			dst += n;
		len -= n;
	}
}

/*
 * Read client messages until a CopyData message has been appended to the
 * input (true), or CopyDone arrives (false).
 */
static bool
copyin_read(ZcInput *input)
{
	for (;;)
	{
		int			mtype;
		int32		len;
		int			maxlen;

		HOLD_CANCEL_INTERRUPTS();
		pq_startmsgread();
		mtype = pq_getbyte();
		if (mtype == EOF)
			report_lost_connection();

		switch (mtype)
		{
			case 'd':			/* CopyData */
				maxlen = PQ_LARGE_MESSAGE_LIMIT;
				break;
			case 'c':			/* CopyDone */
			case 'f':			/* CopyFail */
			case 'H':			/* Flush */
			case 'S':			/* Sync */
				maxlen = PQ_SMALL_MESSAGE_LIMIT;
				break;
			default:
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("unexpected message type 0x%02X during COPY from stdin",
								mtype)));
				maxlen = 0;		/* keep compiler quiet */
				break;
		}

		if (pq_getbytes((char *) &len, 4) == EOF)
			report_lost_connection();
		len = pg_ntoh32(len);
		if (len < 4 || len > maxlen)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("invalid message length")));
		len -= 4;

		if (mtype == 'd')
		{
			/* on failure to make room, read past the body to stay in step */
			PG_TRY();
			{
				zc_input_reserve(input, len);
			}
			PG_CATCH();
			{
				read_body(NULL, len);
				pq_endmsgread();
				PG_RE_THROW();
			}
			PG_END_TRY();

			read_body(input->buf + input->end, len);
			pq_endmsgread();
			RESUME_CANCEL_INTERRUPTS();

			input->end += len;
			input->bytes_read += len;
			return true;
		}
		else
		{
			StringInfoData msg;

			initStringInfo(&msg);
			enlargeStringInfo(&msg, len);
			read_body(msg.data, len);
			msg.len = len;
			msg.data[len] = '\0';
			pq_endmsgread();
			RESUME_CANCEL_INTERRUPTS();

			switch (mtype)
			{
				case 'c':
					pfree(msg.data);
					return false;
				case 'f':
					ereport(ERROR,
							(errcode(ERRCODE_QUERY_CANCELED),
							 errmsg("COPY from stdin failed: %s",
									pq_getmsgstring(&msg))));
					break;
				default:
					/* Flush and Sync: ignored, as COPY does */
					pfree(msg.data);
					break;
			}
		}
	}
}

/* An input that reads the stream from the client's CopyData messages. */
void
zc_input_init_copyin(ZcInput *input)
{
	memset(input, 0, sizeof(*input));
	input->read = copyin_read;
}
