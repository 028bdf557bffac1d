/*
 * _wire.c
 *	  Zero-copy sending of COPY data on a PostgreSQL connection's socket.
 *
 * send_copy_data() frames the concatenation of a list of buffers as
 * CopyData protocol messages ('d', int32 length, payload) and writes them to
 * the socket with sendmsg(): the iovec array points at a 5-byte frame header
 * and straight into the callers' buffers, so the payload is never copied in
 * user space.  The GIL is released around all socket I/O.
 *
 * The caller (zcimport/_copy.py) owns the protocol state: libpq knows nothing
 * about the bytes written here, so it must have an empty output buffer before
 * the first call, and the caller must never abandon a CopyData message half
 * sent.  This module therefore only stops at message boundaries, except when
 * it cannot write and the server has something to say (the caller must then
 * read it, to avoid a deadlock, and resume the same message).
 *
 * python/zcimport/_wire.c
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* The largest CopyData payload: its int32 length (payload + 4) must fit. */
#define ZW_MAX_MESSAGE		((Py_ssize_t) 0x3FFFFFFF)	/* 1 GiB - 1 */
#define ZW_FRAME_LEN		5	/* 'd' + int32 */
#define ZW_POLL_SLICE_MS	100 /* check for Python signals this often */
#define ZW_IOV_LEN			(IOV_MAX < 1024 ? IOV_MAX : 1024)

/* Why run_send() returned. */
typedef enum
{
	ZW_DONE,					/* every byte was sent */
	ZW_READABLE,				/* at a message boundary, the peer has data */
	ZW_BLOCKED_READABLE,		/* mid-message, cannot write, peer has data */
	ZW_SLICE,					/* a poll slice elapsed: check signals */
	ZW_ERROR					/* st->err holds errno */
} ZwStatus;

typedef struct
{
	int			fd;
	Py_buffer  *views;
	Py_ssize_t	nviews;
	Py_ssize_t	max_message;
	int			watch_input;	/* check for, and stop on, server data */

	Py_ssize_t	part;			/* current part */
	Py_ssize_t	part_off;		/* offset in the current part */
	Py_ssize_t	total;			/* payload bytes of all parts */
	Py_ssize_t	sent;			/* payload bytes sent */
	Py_ssize_t	owed;			/* payload bytes the current message lacks */
	unsigned char frame[ZW_FRAME_LEN];
	int			frame_left;		/* frame bytes not sent yet (the tail) */
	int			err;
	struct timespec slice_start;	/* when run_send() was entered */
	struct iovec iov[ZW_IOV_LEN];
} SendState;

/*
 * Whether ZW_POLL_SLICE_MS have passed since run_send() was entered: even
 * while every sendmsg() succeeds (small messages, a fast peer), the caller
 * must get to check for Python signals (Ctrl-C) that often.
 */
static bool
slice_elapsed(const SendState *st)
{
	struct timespec now;
	long long	ms;

	if (clock_gettime(CLOCK_MONOTONIC, &now) != 0)
		return true;
	ms = (long long) (now.tv_sec - st->slice_start.tv_sec) * 1000 +
		(now.tv_nsec - st->slice_start.tv_nsec) / 1000000;
	return ms >= ZW_POLL_SLICE_MS;
}

/* Store v big-endian (the CopyData length). */
static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

/* poll() one fd, retrying on EINTR only when timeout is 0. */
static int
poll_fd(int fd, short events, int timeout_ms, short *revents)
{
	struct pollfd pfd;
	int			rc;

	for (;;)
	{
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR && timeout_ms == 0)
			continue;
		break;
	}
	*revents = rc > 0 ? pfd.revents : 0;
	return rc;
}

/* Skip over parts that are fully consumed (and empty ones). */
static void
skip_empty(SendState *st)
{
	while (st->part < st->nviews && st->part_off >= st->views[st->part].len)
	{
		st->part++;
		st->part_off = 0;
	}
}

/* Account for n bytes written by sendmsg(). */
static void
advance(SendState *st, size_t n)
{
	if (st->frame_left > 0)
	{
		size_t		k = n < (size_t) st->frame_left ? n : (size_t) st->frame_left;

		st->frame_left -= (int) k;
		n -= k;
	}
	while (n > 0)
	{
		Py_ssize_t	avail;
		size_t		k;

		skip_empty(st);
		avail = st->views[st->part].len - st->part_off;
		k = n < (size_t) avail ? n : (size_t) avail;
		st->part_off += (Py_ssize_t) k;
		st->sent += (Py_ssize_t) k;
		st->owed -= (Py_ssize_t) k;
		n -= k;
	}
	skip_empty(st);
}

/* Fill st->iov with the rest of the current message; return the count. */
static int
build_iov(SendState *st)
{
	int			niov = 0;
	Py_ssize_t	want = st->owed;
	Py_ssize_t	part = st->part;
	Py_ssize_t	off = st->part_off;

	if (st->frame_left > 0)
	{
		st->iov[niov].iov_base = st->frame + (ZW_FRAME_LEN - st->frame_left);
		st->iov[niov].iov_len = (size_t) st->frame_left;
		niov++;
	}
	while (want > 0 && niov < ZW_IOV_LEN && part < st->nviews)
	{
		Py_ssize_t	avail = st->views[part].len - off;

		if (avail > 0)
		{
			Py_ssize_t	k = avail < want ? avail : want;

			st->iov[niov].iov_base = (char *) st->views[part].buf + off;
			st->iov[niov].iov_len = (size_t) k;
			niov++;
			want -= k;
		}
		part++;
		off = 0;
	}
	return niov;
}

/*
 * Send until done, or until the caller has to act (see ZwStatus).  Runs
 * without the GIL: touches nothing but st and the buffers it points to.
 */
static ZwStatus
run_send(SendState *st)
{
	if (clock_gettime(CLOCK_MONOTONIC, &st->slice_start) != 0)
		memset(&st->slice_start, 0, sizeof(st->slice_start));
	for (;;)
	{
		struct msghdr msg;
		ssize_t		n;
		short		revents;
		int			rc;

		if (st->owed == 0 && st->frame_left == 0)
		{
			Py_ssize_t	len;

			/* At a message boundary. */
			if (st->sent == st->total)
				return ZW_DONE;
			if (st->watch_input)
			{
				rc = poll_fd(st->fd, POLLIN, 0, &revents);
				if (rc < 0)
				{
					st->err = errno;
					return ZW_ERROR;
				}
				if (revents & (POLLIN | POLLHUP | POLLERR))
					return ZW_READABLE;
			}

			/* Start a message; it counts as started once a byte is out. */
			len = st->total - st->sent;
			if (len > st->max_message)
				len = st->max_message;
			st->frame[0] = 'd';
			put_be32(st->frame + 1, (uint32_t) len + 4);
			st->frame_left = ZW_FRAME_LEN;
			st->owed = len;
		}

		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = st->iov;
		msg.msg_iovlen = (size_t) build_iov(st);
		n = sendmsg(st->fd, &msg, MSG_NOSIGNAL);
		if (n >= 0)
		{
			size_t		want = 0;
			size_t		i;

			for (i = 0; i < msg.msg_iovlen; i++)
				want += st->iov[i].iov_len;
			advance(st, (size_t) n);
			/*
			 * A short write on a blocking socket may be a signal's doing
			 * (the interrupted call reports what it sent, not EINTR): let
			 * Python check.  On a non-blocking socket it is cheap.  So is
			 * a check every ZW_POLL_SLICE_MS when all writes succeed.
			 */
			if ((size_t) n < want || slice_elapsed(st))
				return ZW_SLICE;
			continue;
		}
		if (errno == EINTR)
			return ZW_SLICE;	/* a signal: let Python run its handler */
		if (errno != EAGAIN && errno != EWOULDBLOCK)
		{
			st->err = errno;
			return ZW_ERROR;
		}

		/* The socket buffer is full: wait for room, or for the server. */
		rc = poll_fd(st->fd, st->watch_input ? POLLOUT | POLLIN : POLLOUT,
					 ZW_POLL_SLICE_MS, &revents);
		if (rc < 0)
		{
			if (errno == EINTR)
				return ZW_SLICE;
			st->err = errno;
			return ZW_ERROR;
		}
		if (rc == 0)
			return ZW_SLICE;
		if (revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))
		{
			if (slice_elapsed(st))
				return ZW_SLICE;
			continue;			/* sendmsg() tells what happened */
		}
		if (revents & POLLIN)
		{
			if (st->frame_left == ZW_FRAME_LEN)
			{
				/* Nothing of this message went out: not started after all. */
				st->frame_left = 0;
				st->owed = 0;
				return ZW_READABLE;
			}
			return ZW_BLOCKED_READABLE;
		}
	}
}

/*
 * Before an interrupted call returns: a message whose frame header has not
 * started going out was not started at all; one whose header went out in
 * part gets the rest of its header now (a few bytes, signals ignored), so
 * that the caller owes only payload bytes, which it sends with in_message.
 * Returns false with st->err set if the socket failed.
 */
static bool
settle_frame_header(SendState *st)
{
	if (st->frame_left == ZW_FRAME_LEN)
	{
		st->frame_left = 0;
		st->owed = 0;
		return true;
	}
	while (st->frame_left > 0)
	{
		ssize_t		n = send(st->fd, st->frame + (ZW_FRAME_LEN - st->frame_left),
							 (size_t) st->frame_left, MSG_NOSIGNAL);
		short		revents;

		if (n > 0)
		{
			st->frame_left -= (int) n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			if (poll_fd(st->fd, POLLOUT, ZW_POLL_SLICE_MS, &revents) >= 0 ||
				errno == EINTR)
				continue;
		}
		st->err = n < 0 ? errno : EPIPE;
		return false;
	}
	return true;
}

/* Release the first n views of views, and the array. */
static void
release_views(Py_buffer *views, Py_ssize_t n)
{
	Py_ssize_t	i;

	for (i = 0; i < n; i++)
		PyBuffer_Release(&views[i]);
	PyMem_Free(views);
}

/* Store (sent, owed) into the progress list. */
static int
set_progress(PyObject *progress, Py_ssize_t sent, Py_ssize_t owed)
{
	PyObject   *v;

	if (progress == NULL || progress == Py_None)
		return 0;
	/* PyList_SetItem steals the reference, even when it fails. */
	v = PyLong_FromSsize_t(sent);
	if (v == NULL || PyList_SetItem(progress, 0, v) < 0)
		return -1;
	v = PyLong_FromSsize_t(owed);
	if (v == NULL || PyList_SetItem(progress, 1, v) < 0)
		return -1;
	return 0;
}

PyDoc_STRVAR(send_copy_data_doc,
"send_copy_data(fd, parts, *, max_message=1073741823, in_message=0,\n"
"               progress=None, watch_input=True)\n"
"    -> (sent, server_has_data, owed)\n"
"\n"
"Send the concatenation of parts (C-contiguous buffers) on socket fd as\n"
"CopyData messages ('d', int32 big-endian length including itself,\n"
"payload) of at most max_message payload bytes each, with sendmsg() and\n"
"no copy of the parts.  Works with blocking and non-blocking sockets.\n"
"\n"
"Before each message the socket is polled for readability; if the peer has\n"
"sent something (or hung up), the call returns at that message boundary\n"
"with server_has_data True and owed 0.  A message that has started is\n"
"never abandoned, with one exception: when the socket is not writable and\n"
"the peer has data, the call returns with server_has_data True and owed > 0\n"
"(payload bytes the current message still needs).  The caller must then\n"
"read the peer's data (a server blocked writing to us would never read\n"
"the rest of the message) and call again with the parts not yet sent and\n"
"in_message=owed, which sends those bytes first, without a new frame\n"
"header.\n"
"\n"
"With watch_input=False the socket is not watched for input: the call only\n"
"returns when everything was sent (or on an error).  Use it once the\n"
"server has reported an error, to finish a message without spinning.\n"
"\n"
"sent counts the payload bytes of parts that were written; it equals their\n"
"total length (and server_has_data is False) when everything was sent.\n"
"\n"
"progress, if given, is a list of at least two items; on return and also\n"
"when an exception is raised (socket error, or a signal handler raising\n"
"KeyboardInterrupt while blocked), items 0 and 1 are set to sent and owed,\n"
"so that the caller knows whether it stopped inside a message.\n"
"\n"
"Raises OSError with errno on socket errors (EPIPE, ECONNRESET, ...); the\n"
"process never gets SIGPIPE (MSG_NOSIGNAL).\n");

/*
 * Check send_copy_data()'s arguments other than parts; -1 with an exception
 * set if one is out of range.
 */
static int
check_send_args(int fd, Py_ssize_t max_message, Py_ssize_t in_message,
				PyObject *progress)
{
	if (fd < 0)
	{
		PyErr_SetString(PyExc_ValueError, "fd must be a non-negative integer");
		return -1;
	}
	if (max_message < 1 || max_message > ZW_MAX_MESSAGE)
	{
		PyErr_Format(PyExc_ValueError,
					 "max_message must be between 1 and %zd", ZW_MAX_MESSAGE);
		return -1;
	}
	if (in_message < 0)
	{
		PyErr_SetString(PyExc_ValueError, "in_message must not be negative");
		return -1;
	}
	if (progress != Py_None &&
		(!PyList_Check(progress) || PyList_GET_SIZE(progress) < 2))
	{
		PyErr_SetString(PyExc_TypeError,
						"progress must be None or a list of two items");
		return -1;
	}
	return 0;
}

/*
 * Get a C-contiguous buffer view of each item of seq (a PySequence_Fast)
 * into a new array *views, and their total length into *total.  *nviews
 * counts the views acquired, which the caller releases (release_views())
 * even on failure (-1, with an exception set).
 */
static int
get_part_views(PyObject *seq, Py_buffer **views, Py_ssize_t *nviews,
			   Py_ssize_t *total)
{
	Py_ssize_t	nparts = PySequence_Fast_GET_SIZE(seq);
	Py_ssize_t	i;

	*nviews = 0;
	*total = 0;
	*views = PyMem_Calloc(nparts > 0 ? (size_t) nparts : 1, sizeof(Py_buffer));
	if (*views == NULL)
	{
		PyErr_NoMemory();
		return -1;
	}
	for (i = 0; i < nparts; i++)
	{
		Py_buffer  *view = &(*views)[i];

		if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), view,
							   PyBUF_C_CONTIGUOUS) < 0)
			return -1;
		(*nviews)++;
		if (view->len > PY_SSIZE_T_MAX - *total)
		{
			PyErr_SetString(PyExc_OverflowError, "parts are too large");
			return -1;
		}
		*total += view->len;
	}
	return 0;
}

/*
 * Run run_send() without the GIL until it is done or needs the caller,
 * checking for Python signals after every slice.  When a signal handler
 * raises, the frame header is settled (settle_frame_header()) and the
 * handler's exception is returned, or OSError if the socket failed too.
 * Returns the final status, or ZW_SLICE with an exception set.
 */
static ZwStatus
send_with_signals(SendState *st)
{
	ZwStatus	status;
	bool		ok;

	for (;;)
	{
		Py_BEGIN_ALLOW_THREADS
		status = run_send(st);
		Py_END_ALLOW_THREADS

		if (status != ZW_SLICE)
			return status;
		if (PyErr_CheckSignals() < 0)
			break;
	}
	Py_BEGIN_ALLOW_THREADS
	ok = settle_frame_header(st);
	Py_END_ALLOW_THREADS
	if (!ok)
	{
		/* the socket failed too: that is what the caller must know */
		PyErr_Clear();
		errno = st->err;
		PyErr_SetFromErrno(PyExc_OSError);
	}
	return ZW_SLICE;
}

/*
 * Store st's progress into the progress list, whether or not an exception
 * is being raised (which stays the one raised).  Returns result, or NULL
 * if storing failed.
 */
static PyObject *
report_progress(const SendState *st, PyObject *progress, PyObject *result)
{
	PyObject   *et,
			   *ev,
			   *etb;

	PyErr_Fetch(&et, &ev, &etb);
	if (set_progress(progress, st->sent, st->owed) < 0)
	{
		Py_CLEAR(result);
		if (et != NULL)
			PyErr_Clear();		/* the earlier exception wins */
	}
	if (et != NULL)
		PyErr_Restore(et, ev, etb);
	return result;
}

/* send_copy_data(): see its docstring. */
static PyObject *
wire_send_copy_data(PyObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"fd", "parts", "max_message", "in_message",
	"progress", "watch_input", NULL};
	int			fd;
	PyObject   *parts;
	Py_ssize_t	max_message = ZW_MAX_MESSAGE;
	Py_ssize_t	in_message = 0;
	PyObject   *progress = Py_None;
	int			watch_input = 1;
	PyObject   *seq;
	SendState  *st = NULL;
	Py_buffer  *views = NULL;
	Py_ssize_t	nviews = 0;
	Py_ssize_t	total = 0;
	ZwStatus	status;
	PyObject   *result = NULL;

	(void) self;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iO|$nnOp", kwlist,
									 &fd, &parts, &max_message, &in_message,
									 &progress, &watch_input))
		return NULL;
	if (check_send_args(fd, max_message, in_message, progress) < 0)
		return NULL;
	seq = PySequence_Fast(parts, "parts must be a sequence of buffers");
	if (seq == NULL)
		return NULL;
	if (get_part_views(seq, &views, &nviews, &total) < 0)
		goto done;
	if (in_message > total)
	{
		PyErr_SetString(PyExc_ValueError,
						"in_message exceeds the length of parts");
		goto done;
	}

	st = PyMem_Calloc(1, sizeof(SendState));
	if (st == NULL)
	{
		PyErr_NoMemory();
		goto done;
	}
	st->fd = fd;
	st->views = views;
	st->nviews = nviews;
	st->max_message = max_message;
	st->watch_input = watch_input;
	st->total = total;
	st->owed = in_message;
	skip_empty(st);

	status = send_with_signals(st);
	if (status == ZW_ERROR)
	{
		errno = st->err;
		PyErr_SetFromErrno(PyExc_OSError);
	}
	else if (status != ZW_SLICE)
		result = Py_BuildValue("(nOn)", st->sent,
							   status == ZW_DONE ? Py_False : Py_True,
							   st->owed);
	result = report_progress(st, progress, result);

done:
	PyMem_Free(st);
	if (views != NULL)
		release_views(views, nviews);
	Py_DECREF(seq);
	return result;
}

PyDoc_STRVAR(peek_doc,
"peek(fd, size) -> bytes or None\n"
"\n"
"Return up to size bytes that are waiting to be read on socket fd, without\n"
"consuming them (recv with MSG_PEEK | MSG_DONTWAIT).  Returns None when\n"
"nothing is waiting and b\"\" when the peer has closed the connection.\n"
"Raises OSError on other errors.\n");

/* peek(): see its docstring. */
static PyObject *
wire_peek(PyObject *self, PyObject *args)
{
	int			fd;
	Py_ssize_t	size;
	PyObject   *out;
	ssize_t		n;
	int			saved_errno = 0;

	(void) self;
	if (!PyArg_ParseTuple(args, "in", &fd, &size))
		return NULL;
	if (fd < 0 || size < 0)
	{
		PyErr_SetString(PyExc_ValueError, "fd and size must not be negative");
		return NULL;
	}
	out = PyBytes_FromStringAndSize(NULL, size);
	if (out == NULL)
		return NULL;
	for (;;)
	{
		Py_BEGIN_ALLOW_THREADS
		n = recv(fd, PyBytes_AS_STRING(out), (size_t) size,
				 MSG_PEEK | MSG_DONTWAIT);
		if (n < 0)
			saved_errno = errno;
		Py_END_ALLOW_THREADS
		if (n >= 0 || saved_errno != EINTR)
			break;
		if (PyErr_CheckSignals() < 0)
		{
			Py_DECREF(out);
			return NULL;
		}
	}
	if (n < 0)
	{
		Py_DECREF(out);
		if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)
			Py_RETURN_NONE;
		errno = saved_errno;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	if (n < size && _PyBytes_Resize(&out, (Py_ssize_t) n) < 0)
		return NULL;
	return out;
}

static PyMethodDef wire_methods[] = {
	{"send_copy_data", (PyCFunction) (void (*) (void)) wire_send_copy_data,
	METH_VARARGS | METH_KEYWORDS, send_copy_data_doc},
	{"peek", wire_peek, METH_VARARGS, peek_doc},
	{NULL, NULL, 0, NULL}
};

PyDoc_STRVAR(module_doc,
"Zero-copy sending of COPY data on a PostgreSQL connection's socket:\n"
"send_copy_data and peek.  (Object columns are packed by zcimport._pack.)");

static struct PyModuleDef wire_module = {
	PyModuleDef_HEAD_INIT,
	"zcimport._wire",
	module_doc,
	-1,
	wire_methods,
	NULL,
	NULL,
	NULL,
	NULL
};

/* The module's init function. */
PyMODINIT_FUNC
PyInit__wire(void)
{
	PyObject   *m = PyModule_Create(&wire_module);

	if (m == NULL)
		return NULL;
	if (PyModule_AddIntConstant(m, "MAX_MESSAGE", (long) ZW_MAX_MESSAGE) < 0 ||
		PyModule_AddIntConstant(m, "IOV_MAX", (long) ZW_IOV_LEN) < 0)
	{
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
