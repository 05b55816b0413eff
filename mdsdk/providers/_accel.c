/* mdsdk.providers._accel: the clean-row path of a field table, and the
 * whole-text-frame path of the WebSocket deframer, compiled.
 *
 * Optional. mdsdk/providers/fields.py and mdsdk/transport.py use it when it
 * was built and MDSDK_PURE_PYTHON is not set, and work in pure Python
 * otherwise.
 *
 * text_frames() cuts whole, unmasked, unfragmented text frames (RFC 6455
 * section 5.2) off a bytearray and decodes them as the Python deframer does
 * (UTF-8, errors replaced). It stops at the first frame that is incomplete,
 * over the size limit or of any other kind, and leaves that one to Python,
 * which judges it: the same results, faster.
 *
 * plain_rows() takes a flat array of already-parsed JSON values (a DXLink
 * COMPACT array, or the rows a DictDecoder gathered) and builds one event per
 * row. It accepts only what the pure-Python fast paths accept unchanged:
 *   - the symbol is a non-empty str;
 *   - every time is an exact int in [0, max_ms), and the sub-millisecond part
 *     an exact int in [0, 1e6);
 *   - every number is a float, an int or a str that float() reads, and none
 *     is infinite.
 * Anything else (a bool, None, a bad symbol, a time out of range...) makes it
 * return None before any event escapes. The Python decoder then reads the
 * whole frame and judges it. So this path changes speed, never results, and
 * tests/providers/test_accel.py checks that on mutated frames.
 *
 * It works on Python objects only. It never touches raw bytes, reads the list
 * with bounds checked once per call, and holds its own reference to every
 * value it keeps, so a hostile frame can send it down no path that the Python
 * code does not also take.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>

#define NS_PER_MS 1000000LL
#define MAX_FIELDS 64  /* fields.py passes no more (_ACCEL_MAX_FIELDS) */

/* v as a float object (new reference), or NULL with no exception set when
 * it is not a clean finite number. */
static PyObject *
clean_float(PyObject *v)
{
    PyObject *f;
    if (PyFloat_CheckExact(v)) {
        Py_INCREF(v);
        f = v;
    }
    else if (PyLong_CheckExact(v)) {
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return NULL;
        }
        f = PyFloat_FromDouble(d);
        if (f == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
    else if (PyUnicode_CheckExact(v)) {
        /* DXLink sends "NaN" (and "Infinity") as strings; float() reads them. */
        f = PyFloat_FromString(v);
        if (f == NULL) {
            PyErr_Clear();
            return NULL;
        }
    }
    else {
        return NULL;
    }
    if (isinf(PyFloat_AS_DOUBLE(f))) {
        Py_DECREF(f);
        return NULL;
    }
    return f;
}

/* An exact int in [0, limit) as a C value; -1 when it is anything else. */
static long long
clean_int(PyObject *v, long long limit)
{
    int overflow = 0;
    long long x;
    if (!PyLong_CheckExact(v)) {
        return -1;
    }
    x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (x == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    return (x >= 0 && x < limit) ? x : -1;
}

static int
read_indices(PyObject *tuple, Py_ssize_t stride, Py_ssize_t *out, Py_ssize_t *count)
{
    Py_ssize_t i, n;
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "indices must be a tuple");
        return -1;
    }
    n = PyTuple_GET_SIZE(tuple);
    if (n > MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "too many fields");
        return -1;
    }
    for (i = 0; i < n; i++) {
        Py_ssize_t x = PyLong_AsSsize_t(PyTuple_GET_ITEM(tuple, i));
        if (x == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (x < 0 || x >= stride) {
            PyErr_SetString(PyExc_ValueError, "an index outside the row");
            return -1;
        }
        out[i] = x;
    }
    *count = n;
    return 0;
}

/* One row's event time in ns: the largest time field (epoch ms) plus the
 * sub-millisecond part; 0 when every time is 0; -1 when the row is not clean. */
static long long
row_time(PyObject **row, const Py_ssize_t *times, Py_ssize_t ntimes, Py_ssize_t nanos, long long max_ms)
{
    long long ms = 0, x;
    Py_ssize_t j;
    for (j = 0; j < ntimes; j++) {
        x = clean_int(row[times[j]], max_ms);
        if (x < 0) {
            return -1;
        }
        if (x > ms) {
            ms = x;
        }
    }
    x = 0;
    if (nanos >= 0) {
        x = clean_int(row[nanos], NS_PER_MS);
        if (x < 0) {
            return -1;
        }
    }
    return ms ? ms * NS_PER_MS + x : 0;
}

/* One row as an event (new reference); NULL with no exception set when the
 * row is not clean, NULL with an exception when building it failed. */
static PyObject *
row_event(PyObject **row, Py_ssize_t symbol, const Py_ssize_t *times, Py_ssize_t ntimes, Py_ssize_t nanos,
          const Py_ssize_t *numbers, Py_ssize_t nnumbers, PyObject *cls, PyObject *provider,
          PyObject *received, long long max_ms)
{
    PyObject *args[3 + MAX_FIELDS];
    PyObject *sym = row[symbol], *event = NULL;
    Py_ssize_t j, made = 0;
    long long t;

    if (!PyUnicode_CheckExact(sym) || PyUnicode_GET_LENGTH(sym) == 0) {
        return NULL;
    }
    t = row_time(row, times, ntimes, nanos, max_ms);
    if (t < 0) {
        return NULL;
    }
    for (j = 0; j < nnumbers; j++) {
        args[3 + j] = clean_float(row[numbers[j]]);
        if (args[3 + j] == NULL) {
            goto done;
        }
        made++;
    }
    args[0] = sym;
    args[2] = provider;
    if (t) {
        args[1] = PyLong_FromLongLong(t);
        if (args[1] == NULL) {
            goto done;
        }
    }
    else {
        Py_INCREF(received);
        args[1] = received;
    }
    Py_INCREF(sym);  /* held across the call, as everything else in args is */
    event = PyObject_Vectorcall(cls, args, 3 + nnumbers, NULL);
    Py_DECREF(sym);
    Py_DECREF(args[1]);
done:
    for (j = 0; j < made; j++) {
        Py_DECREF(args[3 + j]);
    }
    return event;
}

PyDoc_STRVAR(plain_rows_doc,
"plain_rows(stride, symbol, times, nanos, numbers, cls, provider, max_ms, values, received_ns)\n"
"--\n\n"
"One ``cls(symbol, time, provider, *numbers)`` per row of the flat list\n"
"``values`` (``stride`` values per row; ``symbol``, ``nanos`` (-1: none) and\n"
"the ``times`` and ``numbers`` tuples are indices within a row; a row without\n"
"a time gets ``received_ns``), or None when any row is not clean: the caller\n"
"then decodes the frame itself. The layout comes first so that a\n"
"functools.partial can hold it.");

static PyObject *
plain_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *values, *cls, *provider, *received, *out, *event;
    Py_ssize_t stride, symbol, nanos, ntimes, nnumbers, n, o;
    Py_ssize_t times[MAX_FIELDS], numbers[MAX_FIELDS];
    long long max_ms;

    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "plain_rows takes 10 arguments");
        return NULL;
    }
    values = args[8];
    if (!PyList_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "values must be a list");
        return NULL;
    }
    /* One at a time: a conversion must not run with the last one's exception pending. */
    if ((stride = PyLong_AsSsize_t(args[0])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if ((symbol = PyLong_AsSsize_t(args[1])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if ((nanos = PyLong_AsSsize_t(args[3])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if ((max_ms = PyLong_AsLongLong(args[7])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (stride <= 0 || symbol < 0 || symbol >= stride || nanos < -1 || nanos >= stride
        || max_ms <= 0 || max_ms > LLONG_MAX / NS_PER_MS) {
        PyErr_SetString(PyExc_ValueError, "a layout outside the row");
        return NULL;
    }
    if (read_indices(args[2], stride, times, &ntimes) < 0 || read_indices(args[4], stride, numbers, &nnumbers) < 0) {
        return NULL;
    }
    cls = args[5];
    provider = args[6];
    received = args[9];
    n = PyList_GET_SIZE(values);
    if (n % stride) {
        PyErr_SetString(PyExc_ValueError, "the values are not whole rows");
        return NULL;
    }
    out = PyList_New(n / stride);
    if (out == NULL) {
        return NULL;
    }
    for (o = 0; o < n; o += stride) {
        /* Only cls runs Python code, and it never sees this list; the check
         * keeps a class that somehow did from sending us past its end. */
        if (PyList_GET_SIZE(values) != n) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        event = row_event(&PyList_GET_ITEM(values, o), symbol, times, ntimes, nanos, numbers, nnumbers, cls,
                          provider, received, max_ms);
        if (event == NULL) {
            Py_DECREF(out);
            if (PyErr_Occurred()) {
                PyErr_Clear();  /* the Python decoder meets the same failure and reports it */
            }
            Py_RETURN_NONE;
        }
        PyList_SET_ITEM(out, o / stride, event);
    }
    return out;
}

PyDoc_STRVAR(text_frames_doc,
"text_frames(buf, pos, limit, out) -> int\n\n"
"Append to the list ``out`` the text of each whole unmasked unfragmented text\n"
"frame in the bytearray ``buf`` from offset ``pos`` on, and return the offset\n"
"of the first frame it left: incomplete, longer than ``limit`` bytes, or of\n"
"another kind (the caller reads that one).");

static PyObject *
text_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *buf, *out, *text;
    Py_ssize_t pos, n, head;
    unsigned long long length, limit;
    const unsigned char *p;
    int i;

    if (nargs != 4 || !PyByteArray_CheckExact(args[0]) || !PyList_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "text_frames takes a bytearray, two ints and a list");
        return NULL;
    }
    buf = args[0];
    out = args[3];
    if ((pos = PyLong_AsSsize_t(args[1])) == -1 && PyErr_Occurred()) {
        return NULL;
    }
    limit = PyLong_AsUnsignedLongLong(args[2]);
    if (limit == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    if (pos < 0) {
        PyErr_SetString(PyExc_ValueError, "a negative offset");
        return NULL;
    }
    for (;;) {
        /* Read afresh each time: appending to out allocates, and nothing may be assumed across that. */
        n = PyByteArray_GET_SIZE(buf);
        p = (const unsigned char *)PyByteArray_AS_STRING(buf);
        if (n - pos < 2 || p[pos] != 0x81 || (p[pos + 1] & 0x80)) {
            break;  /* short, or not a whole unmasked text frame */
        }
        length = p[pos + 1] & 0x7F;
        head = 2;
        if (length == 126) {
            if (n - pos < 4) {
                break;
            }
            length = ((unsigned long long)p[pos + 2] << 8) | p[pos + 3];
            head = 4;
        } else if (length == 127) {
            if (n - pos < 10) {
                break;
            }
            length = 0;
            for (i = 0; i < 8; i++) {
                length = (length << 8) | p[pos + 2 + i];
            }
            head = 10;
        }
        if (length > limit || length > (unsigned long long)(n - pos - head)) {
            break;  /* over the limit (the caller reports it) or not all here yet */
        }
        text = PyUnicode_DecodeUTF8((const char *)p + pos + head, (Py_ssize_t)length, "replace");
        if (text == NULL) {
            return NULL;
        }
        if (PyList_Append(out, text) < 0) {
            Py_DECREF(text);
            return NULL;
        }
        Py_DECREF(text);
        pos += head + (Py_ssize_t)length;
    }
    return PyLong_FromSsize_t(pos);
}

static PyMethodDef accel_methods[] = {
    {"plain_rows", (PyCFunction)(void (*)(void))plain_rows, METH_FASTCALL, plain_rows_doc},
    {"text_frames", (PyCFunction)(void (*)(void))text_frames, METH_FASTCALL, text_frames_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef accel_module = {
    PyModuleDef_HEAD_INIT, "_accel", "mdsdk's compiled hot paths: clean rows of a field table, whole text frames.", 0, accel_methods,
};

PyMODINIT_FUNC
PyInit__accel(void)
{
    PyObject *m = PyModule_Create(&accel_module);
    /* fields.py uses the module only when this matches: a stale build is left unused, not called wrongly. */
    if (m != NULL && PyModule_AddIntConstant(m, "API", 2) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
