/*
 * _pack.c
 *	  Packing of object columns into zcimport stream buffers.
 *
 * The zcimport._pack module.  A pandas column of Python objects
 * (str, bytes, datetime.date) has no buffer the stream can use as it is: its
 * values must be packed into the stream's layout (docs/FORMAT.md), batch by
 * batch.  The functions here do that in C, in two passes over the object
 * pointers of rows [start, stop): the first checks every value's type, marks
 * NULLs and computes the offsets (so the data buffer is allocated exactly),
 * the second copies the bytes.  No Python object is created per value, and
 * no Python code runs between the passes, so the objects cannot change under
 * them.
 *
 * Text: an ASCII str is copied straight from its data (PyUnicode_DATA).  Any
 * other str is encoded to UTF-8 here, from its PEP 393 representation (1, 2
 * or 4 bytes per code point, PyUnicode_KIND).  Only CPython's public C API is
 * used (the PEP 393 macros are public, though not in the limited API): the
 * UTF-8 form CPython may cache in a string object is not read, and nothing is
 * added to that cache (PyUnicode_AsUTF8AndSize would keep a UTF-8 copy of
 * every non-ASCII string alive as long as the string, and on 1M short
 * non-ASCII strings not cached yet it made scan_objects 2.5 times and
 * pack_utf8 1.5 times slower; copying the cached form when there is one
 * saved a quarter on strings already cached, which are rare).  Lone
 * surrogates cannot be encoded and raise UnicodeEncodeError naming the
 * column and the row.
 *
 * Type names in error messages are the types' fully qualified names
 * (__module__ and __qualname__, without "builtins." or "__main__."), which
 * zcimport._pack_py, the Python version of this module, gives too.
 *
 * The GIL is held throughout: the values are Python objects that another
 * thread could otherwise replace (and free) in the array while we read them.
 * A call packs one batch (a few MiB), which takes a few milliseconds.
 *
 * Missing values (NULL): None, a float NaN (float and its subclasses, such as
 * numpy.float64), a NULL pointer in the array, and the objects of the
 * `missing` tuple given by the caller (pandas.NA and pandas.NaT).
 *
 * python/zcimport/_pack.c
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Bytes of a single buffer of a batch: a batch message must stay < 1 GiB. */
#define ZP_MAX_DATA			((Py_ssize_t) 0x3FFFFFFF)
#define ZP_MAX_MISSING		8

/* The values of a column: object pointers, with a stride in bytes. */
typedef struct
{
	char	   *base;
	Py_ssize_t	stride;
	Py_ssize_t	n;
	Py_buffer	view;
	int			has_view;
	PyObject   *seq;			/* a list or tuple, when not a buffer */
} Items;

typedef struct
{
	PyObject   *objs[ZP_MAX_MISSING];
	int			n;
} Missing;

/* ---------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------- */

/*
 * The fully qualified name of an object's type, for error messages:
 * "module.qualname", or the bare qualname for builtins and __main__ (as
 * PEP 737's %T).  Read through type attributes, not tp_name.  NULL with an
 * exception set.
 */
static PyObject *
type_name(PyObject *o)
{
	PyObject   *type = (PyObject *) Py_TYPE(o);
	PyObject   *module;
	PyObject   *qualname;
	PyObject   *result = NULL;

	qualname = PyObject_GetAttrString(type, "__qualname__");
	if (qualname == NULL)
		return NULL;
	module = PyObject_GetAttrString(type, "__module__");
	if (module == NULL)
		PyErr_Clear();
	if (module == NULL || !PyUnicode_Check(module) ||
		PyUnicode_CompareWithASCIIString(module, "builtins") == 0 ||
		PyUnicode_CompareWithASCIIString(module, "__main__") == 0)
	{
		result = qualname;
		qualname = NULL;
	}
	else
		result = PyUnicode_FromFormat("%U.%S", module, qualname);
	Py_XDECREF(module);
	Py_XDECREF(qualname);
	return result;
}

/* Open values: a 1-D NumPy object array (any stride), a list or a tuple. */
static int
items_open(PyObject *values, Items *it)
{
	const char *fmt;

	memset(it, 0, sizeof(*it));
	if (PyList_Check(values) || PyTuple_Check(values))
	{
		Py_INCREF(values);
		it->seq = values;
		it->base = (char *) PySequence_Fast_ITEMS(values);
		it->stride = (Py_ssize_t) sizeof(PyObject *);
		it->n = PySequence_Fast_GET_SIZE(values);
		return 0;
	}
	if (PyObject_GetBuffer(values, &it->view, PyBUF_STRIDES | PyBUF_FORMAT) < 0)
	{
		PyObject   *tname;

		PyErr_Clear();
		tname = type_name(values);
		if (tname != NULL)
		{
			PyErr_Format(PyExc_TypeError,
						 "expected a 1-D NumPy array of objects, a list or a tuple, not %U",
						 tname);
			Py_DECREF(tname);
		}
		return -1;
	}
	it->has_view = 1;
	fmt = it->view.format ? it->view.format : "B";
	if (*fmt == '|' || *fmt == '=' || *fmt == '@' || *fmt == '<' || *fmt == '>')
		fmt++;
	if (strcmp(fmt, "O") != 0 || it->view.ndim != 1 ||
		it->view.itemsize != (Py_ssize_t) sizeof(PyObject *))
	{
		PyErr_Format(PyExc_TypeError,
					 "expected a 1-D array of Python objects (format 'O'), not format '%s' with %d dimensions",
					 it->view.format ? it->view.format : "B", it->view.ndim);
		PyBuffer_Release(&it->view);
		it->has_view = 0;
		return -1;
	}
	it->base = (char *) it->view.buf;
	it->stride = it->view.strides[0];
	it->n = it->view.shape[0];
	return 0;
}

/* Release what items_open() holds. */
static void
items_close(Items *it)
{
	if (it->has_view)
		PyBuffer_Release(&it->view);
	it->has_view = 0;
	Py_CLEAR(it->seq);
}

/* The object pointer of value i (NULL is possible in an object array). */
static inline PyObject *
item_at(const Items *it, Py_ssize_t i)
{
	return *(PyObject **) (it->base + i * it->stride);
}

/* Read the missing tuple (None: no extra missing values) into *ms. */
static int
missing_parse(PyObject *tuple, Missing *ms)
{
	Py_ssize_t	k;

	ms->n = 0;
	if (tuple == NULL || tuple == Py_None)
		return 0;
	if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) > ZP_MAX_MISSING)
	{
		PyErr_Format(PyExc_TypeError,
					 "missing must be a tuple of at most %d objects",
					 ZP_MAX_MISSING);
		return -1;
	}
	for (k = 0; k < PyTuple_GET_SIZE(tuple); k++)
		ms->objs[ms->n++] = PyTuple_GET_ITEM(tuple, k);
	return 0;
}

/* Is o a missing value (see the file's comment)? */
static inline int
is_missing(PyObject *o, const Missing *ms)
{
	int			k;

	if (o == NULL || o == Py_None)
		return 1;
	if (PyFloat_Check(o))
		return isnan(PyFloat_AS_DOUBLE(o)) ? 1 : 0;
	for (k = 0; k < ms->n; k++)
		if (o == ms->objs[k])
			return 1;
	return 0;
}

/* Little-endian stores and loads of the offsets and date32 values. */
static inline void
put_le64(char *p, int64_t v)
{
#if PY_LITTLE_ENDIAN
	memcpy(p, &v, 8);
#else
	uint64_t	u = (uint64_t) v;
	int			k;

	for (k = 0; k < 8; k++)
		p[k] = (char) (u >> (8 * k));
#endif
}

static inline int64_t
get_le64(const char *p)
{
#if PY_LITTLE_ENDIAN
	int64_t		v;

	memcpy(&v, p, 8);
	return v;
#else
	uint64_t	u = 0;
	int			k;

	for (k = 0; k < 8; k++)
		u |= (uint64_t) (unsigned char) p[k] << (8 * k);
	return (int64_t) u;
#endif
}

static inline void
put_le32(char *p, int32_t v)
{
#if PY_LITTLE_ENDIAN
	memcpy(p, &v, 4);
#else
	uint32_t	u = (uint32_t) v;
	int			k;

	for (k = 0; k < 4; k++)
		p[k] = (char) (u >> (8 * k));
#endif
}

/* ---------------------------------------------------------------------------
 * UTF-8
 * ------------------------------------------------------------------------- */

/*
 * The UTF-8 length of a ready str; -1 if it holds a surrogate code point,
 * whose index is stored in *bad.
 */
static Py_ssize_t
utf8_length(PyObject *o, Py_ssize_t *bad)
{
	Py_ssize_t	len = PyUnicode_GET_LENGTH(o);
	Py_ssize_t	size = len;
	Py_ssize_t	i;

	if (PyUnicode_IS_ASCII(o))
		return len;
	switch (PyUnicode_KIND(o))
	{
		case PyUnicode_1BYTE_KIND:
			{
				const Py_UCS1 *p = PyUnicode_1BYTE_DATA(o);

				for (i = 0; i < len; i++)
					size += p[i] >> 7;
				return size;
			}
		case PyUnicode_2BYTE_KIND:
			{
				const Py_UCS2 *p = PyUnicode_2BYTE_DATA(o);

				for (i = 0; i < len; i++)
				{
					Py_UCS2		c = p[i];

					if (c < 0x80)
						continue;
					if (c < 0x800)
						size += 1;
					else if (c >= 0xD800 && c <= 0xDFFF)
					{
						*bad = i;
						return -1;
					}
					else
						size += 2;
				}
				return size;
			}
		default:
			{
				const Py_UCS4 *p = PyUnicode_4BYTE_DATA(o);

				for (i = 0; i < len; i++)
				{
					Py_UCS4		c = p[i];

					if (c < 0x80)
						continue;
					if (c < 0x800)
						size += 1;
					else if (c < 0x10000)
					{
						if (c >= 0xD800 && c <= 0xDFFF)
						{
							*bad = i;
							return -1;
						}
						size += 2;
					}
					else
						size += 3;
				}
				return size;
			}
	}
}

/* Write the UTF-8 form of a ready str whose utf8_length() was >= 0. */
static void
utf8_write(PyObject *o, char *out)
{
	Py_ssize_t	len = PyUnicode_GET_LENGTH(o);
	Py_ssize_t	i;
	unsigned char *q = (unsigned char *) out;

	if (PyUnicode_IS_ASCII(o))
	{
		memcpy(out, PyUnicode_DATA(o), (size_t) len);
		return;
	}
	switch (PyUnicode_KIND(o))
	{
		case PyUnicode_1BYTE_KIND:
			{
				const Py_UCS1 *p = PyUnicode_1BYTE_DATA(o);

				for (i = 0; i < len; i++)
				{
					Py_UCS1		c = p[i];

					if (c < 0x80)
						*q++ = c;
					else
					{
						*q++ = (unsigned char) (0xC0 | (c >> 6));
						*q++ = (unsigned char) (0x80 | (c & 0x3F));
					}
				}
				break;
			}
		case PyUnicode_2BYTE_KIND:
			{
				const Py_UCS2 *p = PyUnicode_2BYTE_DATA(o);

				for (i = 0; i < len; i++)
				{
					Py_UCS2		c = p[i];

					if (c < 0x80)
						*q++ = (unsigned char) c;
					else if (c < 0x800)
					{
						*q++ = (unsigned char) (0xC0 | (c >> 6));
						*q++ = (unsigned char) (0x80 | (c & 0x3F));
					}
					else
					{
						*q++ = (unsigned char) (0xE0 | (c >> 12));
						*q++ = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
						*q++ = (unsigned char) (0x80 | (c & 0x3F));
					}
				}
				break;
			}
		default:
			{
				const Py_UCS4 *p = PyUnicode_4BYTE_DATA(o);

				for (i = 0; i < len; i++)
				{
					Py_UCS4		c = p[i];

					if (c < 0x80)
						*q++ = (unsigned char) c;
					else if (c < 0x800)
					{
						*q++ = (unsigned char) (0xC0 | (c >> 6));
						*q++ = (unsigned char) (0x80 | (c & 0x3F));
					}
					else if (c < 0x10000)
					{
						*q++ = (unsigned char) (0xE0 | (c >> 12));
						*q++ = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
						*q++ = (unsigned char) (0x80 | (c & 0x3F));
					}
					else
					{
						*q++ = (unsigned char) (0xF0 | (c >> 18));
						*q++ = (unsigned char) (0x80 | ((c >> 12) & 0x3F));
						*q++ = (unsigned char) (0x80 | ((c >> 6) & 0x3F));
						*q++ = (unsigned char) (0x80 | (c & 0x3F));
					}
				}
				break;
			}
	}
}

/* Raise UnicodeEncodeError for the surrogate at index pos of str o. */
static void
surrogate_error(PyObject *o, Py_ssize_t pos, PyObject *name, Py_ssize_t row)
{
	PyObject   *reason;
	PyObject   *exc;

	reason = PyUnicode_FromFormat(
		"lone surrogate in column %R, row %zd, which UTF-8 cannot encode",
		name, row);
	if (reason == NULL)
		return;
	exc = PyObject_CallFunction(PyExc_UnicodeEncodeError, "sOnnO",
								"utf-8", o, pos, pos + 1, reason);
	Py_DECREF(reason);
	if (exc != NULL)
	{
		PyErr_SetObject(PyExc_UnicodeEncodeError, exc);
		Py_DECREF(exc);
	}
}

/* ---------------------------------------------------------------------------
 * Bytes
 * ------------------------------------------------------------------------- */

/* Is o a value of a binary column (bytes, bytearray, memoryview)? */
static inline int
is_bytes_like(PyObject *o)
{
	return PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o);
}

/*
 * The bytes of a bytes, bytearray or memoryview.  A memoryview is read
 * through the buffer protocol (C-contiguous, not released); *view is then
 * filled and must be released.  Returns -1 with an exception set.
 */
static int
bytes_get(PyObject *o, const char **p, Py_ssize_t *len, Py_buffer *view,
		  int *has_view)
{
	*has_view = 0;
	if (PyBytes_Check(o))
	{
		*p = PyBytes_AS_STRING(o);
		*len = PyBytes_GET_SIZE(o);
		return 0;
	}
	if (PyByteArray_Check(o))
	{
		*p = PyByteArray_AS_STRING(o);
		*len = PyByteArray_GET_SIZE(o);
		return 0;
	}
	if (PyObject_GetBuffer(o, view, PyBUF_SIMPLE) < 0)
		return -1;
	*has_view = 1;
	*p = (const char *) view->buf;
	*len = view->len;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Dates
 * ------------------------------------------------------------------------- */

/* Is o a datetime.date, and not a datetime.datetime? */
static inline int
is_date(PyObject *o)
{
	return PyDate_Check(o) && !PyDateTime_Check(o);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int32_t
days_from_civil(int y, int m, int d)
{
	int			era;
	unsigned	yoe,
				doy,
				doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned) (y - era * 400);
	doy = (unsigned) ((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1);
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t) (era * 146097 + (int) doe - 719468);
}

/* ---------------------------------------------------------------------------
 * scan_objects()
 * ------------------------------------------------------------------------- */

typedef struct
{
	PyTypeObject *type;
	Py_ssize_t	first;
	Py_ssize_t	count;
} TypeCount;

PyDoc_STRVAR(zp_scan_objects_doc,
"scan_objects(values, missing=()) -> dict\n"
"\n"
"One pass over values (a 1-D NumPy object array, a list or a tuple).\n"
"Returns a dict:\n"
"\n"
"- nulls: the number of missing values (None, float NaN, NULL pointers and\n"
"  the objects of the missing tuple), first_null: the row of the first\n"
"  (-1 if none);\n"
"- types: [(type, first row, count), ...] of the other values, in order of\n"
"  first appearance;\n"
"- utf8_bytes, utf8_max: total and largest UTF-8 length of the str values;\n"
"  utf8_bad: the first row of a str with a lone surrogate, or -1;\n"
"- binary_bytes, binary_max: the same for bytes, bytearray and memoryview\n"
"  values; binary_bad: the first row of a memoryview that cannot be read as\n"
"  C-contiguous bytes, or -1.\n"
"\n"
"No Python object is created per value.\n");

/* scan_objects(): see its docstring. */
static PyObject *
zp_scan_objects(PyObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"values", "missing", NULL};
	PyObject   *values;
	PyObject   *missing_obj = NULL;
	Missing		ms;
	Items		it;
	TypeCount  *types = NULL;
	Py_ssize_t	ntypes = 0,
				cap = 0,
				last = -1;
	Py_ssize_t	nulls = 0,
				first_null = -1;
	Py_ssize_t	utf8_bytes = 0,
				utf8_max = 0,
				utf8_bad = -1;
	Py_ssize_t	bin_bytes = 0,
				bin_max = 0,
				bin_bad = -1;
	Py_ssize_t	i,
				k;
	PyObject   *list = NULL;
	PyObject   *result = NULL;

	(void) self;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O", kwlist,
									 &values, &missing_obj))
		return NULL;
	if (missing_parse(missing_obj, &ms) < 0)
		return NULL;
	if (items_open(values, &it) < 0)
		return NULL;

	for (i = 0; i < it.n; i++)
	{
		PyObject   *o = item_at(&it, i);
		PyTypeObject *t;

		if (is_missing(o, &ms))
		{
			if (nulls++ == 0)
				first_null = i;
			continue;
		}
		t = Py_TYPE(o);
		if (last < 0 || types[last].type != t)
		{
			for (k = 0; k < ntypes && types[k].type != t; k++)
				;
			if (k == ntypes)
			{
				if (ntypes == cap)
				{
					Py_ssize_t	ncap = cap ? cap * 2 : 8;
					TypeCount  *nt = PyMem_Realloc(types, (size_t) ncap * sizeof(TypeCount));

					if (nt == NULL)
					{
						PyErr_NoMemory();
						goto done;
					}
					types = nt;
					cap = ncap;
				}
				types[k].type = t;
				types[k].first = i;
				types[k].count = 0;
				ntypes++;
			}
			last = k;
		}
		types[last].count++;

		if (PyUnicode_Check(o))
		{
			Py_ssize_t	bad = 0,
						n;

			if (PyUnicode_READY(o) < 0)
				goto done;
			n = utf8_length(o, &bad);
			if (n < 0)
			{
				if (utf8_bad < 0)
					utf8_bad = i;
				continue;
			}
			utf8_bytes += n;
			if (n > utf8_max)
				utf8_max = n;
		}
		else if (is_bytes_like(o))
		{
			const char *p;
			Py_ssize_t	n;
			Py_buffer	view;
			int			has_view;

			if (bytes_get(o, &p, &n, &view, &has_view) < 0)
			{
				PyErr_Clear();
				if (bin_bad < 0)
					bin_bad = i;
				continue;
			}
			if (has_view)
				PyBuffer_Release(&view);
			bin_bytes += n;
			if (n > bin_max)
				bin_max = n;
		}
	}

	list = PyList_New(ntypes);
	if (list == NULL)
		goto done;
	for (k = 0; k < ntypes; k++)
	{
		PyObject   *tup = Py_BuildValue("(Onn)", (PyObject *) types[k].type,
										types[k].first, types[k].count);

		if (tup == NULL)
			goto done;
		PyList_SET_ITEM(list, k, tup);
	}
	result = Py_BuildValue("{s:n,s:n,s:O,s:n,s:n,s:n,s:n,s:n,s:n}",
						   "nulls", nulls, "first_null", first_null,
						   "types", list,
						   "utf8_bytes", utf8_bytes, "utf8_max", utf8_max,
						   "utf8_bad", utf8_bad,
						   "binary_bytes", bin_bytes, "binary_max", bin_max,
						   "binary_bad", bin_bad);

done:
	Py_XDECREF(list);
	PyMem_Free(types);
	items_close(&it);
	return result;
}

/* ---------------------------------------------------------------------------
 * pack_utf8(), pack_binary()
 * ------------------------------------------------------------------------- */

typedef struct
{
	Items		it;
	Missing		ms;
	Py_ssize_t	start;
	Py_ssize_t	stop;
	int			with_mask;
	PyObject   *name;
	Py_ssize_t	base_row;
} PackArgs;

/* Parse the arguments shared by the pack_*() functions; opens pa->it. */
static int
pack_args(PyObject *args, PyObject *kwargs, PackArgs *pa)
{
	static char *kwlist[] = {"values", "start", "stop", "missing", "with_mask",
	"name", "base_row", NULL};
	PyObject   *values;
	PyObject   *missing_obj = NULL;

	memset(pa, 0, sizeof(*pa));
	pa->name = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Onn|OpOn", kwlist,
									 &values, &pa->start, &pa->stop,
									 &missing_obj, &pa->with_mask,
									 &pa->name, &pa->base_row))
		return -1;
	if (missing_parse(missing_obj, &pa->ms) < 0)
		return -1;
	if (items_open(values, &pa->it) < 0)
		return -1;
	if (pa->start < 0 || pa->stop < pa->start || pa->stop > pa->it.n)
	{
		PyErr_Format(PyExc_IndexError,
					 "rows [%zd, %zd) are not within the %zd values",
					 pa->start, pa->stop, pa->it.n);
		items_close(&pa->it);
		return -1;
	}
	return 0;
}

/* Raise TypeError for value o at row i, which is not of the expected type. */
static void
type_error(const PackArgs *pa, Py_ssize_t i, const char *expected, PyObject *o)
{
	PyObject   *tname = type_name(o);

	if (tname == NULL)
		return;
	PyErr_Format(PyExc_TypeError,
				 "column %R, row %zd: expected %s or a missing value (None, NaN, pd.NA), not %U",
				 pa->name, pa->base_row + i, expected, tname);
	Py_DECREF(tname);
}

/* Raise ValueError for a missing value in a column planned without NULLs. */
static void
null_error(const PackArgs *pa, Py_ssize_t i)
{
	PyErr_Format(PyExc_ValueError,
				 "column %R, row %zd: a missing value in a column that was planned without NULLs (was the frame changed after planning?)",
				 pa->name, pa->base_row + i);
}

/* Raise ValueError for a batch whose data would not fit in a message. */
static void
too_large_error(const PackArgs *pa, Py_ssize_t need)
{
	PyErr_Format(PyExc_ValueError,
				 "column %R: the values of rows %zd to %zd take more than %zd bytes (at least %zd), more than a batch message can hold (1 GiB); use a smaller batch_rows",
				 pa->name, pa->base_row + pa->start, pa->base_row + pa->stop - 1,
				 ZP_MAX_DATA, need);
}

/* The shared body of pack_utf8 and pack_binary. */
static PyObject *
pack_var(PyObject *args, PyObject *kwargs, int binary)
{
	PackArgs	pa;
	Py_ssize_t	nrows,
				i,
				nulls = 0;
	int64_t		off = 0;
	PyObject   *mask = NULL;
	PyObject   *offsets = NULL;
	PyObject   *data = NULL;
	PyObject   *result = NULL;
	char	   *mp = NULL;
	char	   *op;
	char	   *dp;
	const char *expected = binary ? "bytes, bytearray or memoryview" : "str";

	if (pack_args(args, kwargs, &pa) < 0)
		return NULL;
	nrows = pa.stop - pa.start;
	offsets = PyBytes_FromStringAndSize(NULL, (nrows + 1) * 8);
	if (offsets == NULL)
		goto done;
	op = PyBytes_AS_STRING(offsets);
	if (pa.with_mask)
	{
		mask = PyBytes_FromStringAndSize(NULL, nrows);
		if (mask == NULL)
			goto done;
		mp = PyBytes_AS_STRING(mask);
	}

	/* Pass 1: types, NULLs and offsets. */
	for (i = 0; i < nrows; i++)
	{
		PyObject   *o = item_at(&pa.it, pa.start + i);
		Py_ssize_t	n;

		put_le64(op + 8 * i, off);
		if (!binary && o != NULL && PyUnicode_Check(o))
		{
			Py_ssize_t	bad = 0;

			if (PyUnicode_READY(o) < 0)
				goto done;
			n = utf8_length(o, &bad);
			if (n < 0)
			{
				surrogate_error(o, bad, pa.name, pa.base_row + pa.start + i);
				goto done;
			}
		}
		else if (binary && o != NULL && is_bytes_like(o))
		{
			const char *p;
			Py_buffer	view;
			int			has_view;

			if (bytes_get(o, &p, &n, &view, &has_view) < 0)
			{
				PyObject   *et,
						   *ev,
						   *etb;

				PyErr_Fetch(&et, &ev, &etb);
				PyErr_NormalizeException(&et, &ev, &etb);
				PyErr_Format(PyExc_ValueError,
							 "column %R, row %zd: cannot read the memoryview as contiguous bytes: %S",
							 pa.name, pa.base_row + pa.start + i,
							 ev ? ev : Py_None);
				Py_XDECREF(et);
				Py_XDECREF(ev);
				Py_XDECREF(etb);
				goto done;
			}
			if (has_view)
				PyBuffer_Release(&view);
		}
		else if (is_missing(o, &pa.ms))
		{
			if (mp == NULL)
			{
				null_error(&pa, pa.start + i);
				goto done;
			}
			mp[i] = 1;
			nulls++;
			continue;
		}
		else
		{
			type_error(&pa, pa.start + i, expected, o);
			goto done;
		}
		if (mp != NULL)
			mp[i] = 0;
		off += n;
		if (off > ZP_MAX_DATA)
		{
			too_large_error(&pa, (Py_ssize_t) off);
			goto done;
		}
	}
	put_le64(op + 8 * nrows, off);

	/* Pass 2: the bytes.  Nothing ran in between: the objects are the same. */
	data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t) off);
	if (data == NULL)
		goto done;
	dp = PyBytes_AS_STRING(data);
	for (i = 0; i < nrows; i++)
	{
		PyObject   *o;
		int64_t		at = get_le64(op + 8 * i);
		Py_ssize_t	n = (Py_ssize_t) (get_le64(op + 8 * (i + 1)) - at);

		if (n == 0)
			continue;			/* NULL or empty */
		o = item_at(&pa.it, pa.start + i);
		if (!binary)
			utf8_write(o, dp + at);
		else
		{
			const char *p;
			Py_ssize_t	len;
			Py_buffer	view;
			int			has_view;

			if (bytes_get(o, &p, &len, &view, &has_view) < 0)
				goto done;
			if (len == n)
				memcpy(dp + at, p, (size_t) n);
			if (has_view)
				PyBuffer_Release(&view);
			if (len != n)
			{
				PyErr_SetString(PyExc_SystemError,
								"pack_binary: a value changed size while it was packed");
				goto done;
			}
		}
	}

	result = Py_BuildValue("(OOOn)", mask ? mask : Py_None, offsets, data, nulls);

done:
	Py_XDECREF(mask);
	Py_XDECREF(offsets);
	Py_XDECREF(data);
	items_close(&pa.it);
	return result;
}

PyDoc_STRVAR(zp_pack_utf8_doc,
"pack_utf8(values, start, stop, missing=(), with_mask=False, name=None,\n"
"          base_row=0) -> (mask, offsets, data, nulls)\n"
"\n"
"Pack rows [start, stop) of values (a 1-D NumPy object array, a list or a\n"
"tuple) of str as a utf8 column's buffers for one batch: mask (bytes, 1 =\n"
"NULL; None unless with_mask), offsets ((n + 1) little-endian int64,\n"
"starting at 0) and data (the UTF-8 bytes), all bytes objects; nulls is the\n"
"number of NULLs.  Missing values: None, float NaN and the objects of the\n"
"missing tuple; they are an error (ValueError) without with_mask.  Other\n"
"values raise TypeError, strings with lone surrogates UnicodeEncodeError,\n"
"naming the column (name) and the row (base_row + index).\n");

/* pack_utf8(): see its docstring. */
static PyObject *
zp_pack_utf8(PyObject *self, PyObject *args, PyObject *kwargs)
{
	(void) self;
	return pack_var(args, kwargs, 0);
}

PyDoc_STRVAR(zp_pack_binary_doc,
"pack_binary(values, start, stop, missing=(), with_mask=False, name=None,\n"
"            base_row=0) -> (mask, offsets, data, nulls)\n"
"\n"
"As pack_utf8, for bytes, bytearray and (C-contiguous) memoryview values.\n");

/* pack_binary(): see its docstring. */
static PyObject *
zp_pack_binary(PyObject *self, PyObject *args, PyObject *kwargs)
{
	(void) self;
	return pack_var(args, kwargs, 1);
}

/* ---------------------------------------------------------------------------
 * pack_date32()
 * ------------------------------------------------------------------------- */

PyDoc_STRVAR(zp_pack_date32_doc,
"pack_date32(values, start, stop, missing=(), with_mask=False, name=None,\n"
"            base_row=0) -> (mask, values, nulls)\n"
"\n"
"Pack rows [start, stop) of datetime.date values (not datetime.datetime) as\n"
"a date32 column's buffers: mask (bytes, 1 = NULL; None unless with_mask)\n"
"and values (little-endian int32 days since 1970-01-01; 0 for NULLs).\n");

/* pack_date32(): see its docstring. */
static PyObject *
zp_pack_date32(PyObject *self, PyObject *args, PyObject *kwargs)
{
	PackArgs	pa;
	Py_ssize_t	nrows,
				i,
				nulls = 0;
	PyObject   *mask = NULL;
	PyObject   *vals = NULL;
	PyObject   *result = NULL;
	char	   *mp = NULL;
	char	   *vp;

	(void) self;
	if (pack_args(args, kwargs, &pa) < 0)
		return NULL;
	nrows = pa.stop - pa.start;
	vals = PyBytes_FromStringAndSize(NULL, nrows * 4);
	if (vals == NULL)
		goto done;
	vp = PyBytes_AS_STRING(vals);
	if (pa.with_mask)
	{
		mask = PyBytes_FromStringAndSize(NULL, nrows);
		if (mask == NULL)
			goto done;
		mp = PyBytes_AS_STRING(mask);
	}
	for (i = 0; i < nrows; i++)
	{
		PyObject   *o = item_at(&pa.it, pa.start + i);

		if (o != NULL && is_date(o))
		{
			put_le32(vp + 4 * i,
					 days_from_civil(PyDateTime_GET_YEAR(o),
									 PyDateTime_GET_MONTH(o),
									 PyDateTime_GET_DAY(o)));
			if (mp != NULL)
				mp[i] = 0;
		}
		else if (is_missing(o, &pa.ms))
		{
			if (mp == NULL)
			{
				null_error(&pa, pa.start + i);
				goto done;
			}
			put_le32(vp + 4 * i, 0);
			mp[i] = 1;
			nulls++;
		}
		else
		{
			type_error(&pa, pa.start + i, "datetime.date", o);
			goto done;
		}
	}
	result = Py_BuildValue("(OOn)", mask ? mask : Py_None, vals, nulls);

done:
	Py_XDECREF(mask);
	Py_XDECREF(vals);
	items_close(&pa.it);
	return result;
}

/* ---------------------------------------------------------------------------
 * The module
 * ------------------------------------------------------------------------- */

static PyMethodDef pack_methods[] = {
	{"scan_objects", (PyCFunction) (void (*) (void)) zp_scan_objects,
	METH_VARARGS | METH_KEYWORDS, zp_scan_objects_doc},
	{"pack_utf8", (PyCFunction) (void (*) (void)) zp_pack_utf8,
	METH_VARARGS | METH_KEYWORDS, zp_pack_utf8_doc},
	{"pack_binary", (PyCFunction) (void (*) (void)) zp_pack_binary,
	METH_VARARGS | METH_KEYWORDS, zp_pack_binary_doc},
	{"pack_date32", (PyCFunction) (void (*) (void)) zp_pack_date32,
	METH_VARARGS | METH_KEYWORDS, zp_pack_date32_doc},
	{NULL, NULL, 0, NULL}
};

PyDoc_STRVAR(module_doc,
"Packing of object columns (str, bytes, datetime.date) into zcimport stream\n"
"buffers, batch by batch: scan_objects, pack_utf8, pack_binary, pack_date32.\n"
"zcimport._pack_py implements the same functions in Python; zcimport._packers\n"
"chooses between the two (ZCIMPORT_IMPL).");

static struct PyModuleDef pack_module = {
	PyModuleDef_HEAD_INIT,
	"zcimport._pack",
	module_doc,
	-1,
	pack_methods,
	NULL,
	NULL,
	NULL,
	NULL
};

/* The module's init function: the datetime C API is needed by pack_date32. */
PyMODINIT_FUNC
PyInit__pack(void)
{
	PyObject   *m;

	PyDateTime_IMPORT;
	if (PyDateTimeAPI == NULL)
		return NULL;
	m = PyModule_Create(&pack_module);
	return m;
}
