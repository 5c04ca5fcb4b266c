/* fastcrc._fastcrc: Python bindings for libcrcutil (a shared library in its own store path,
 * found through this module's RUNPATH). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <crcutil.h>

static PyObject *fastcrc_crc32(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    unsigned int start = 0;
    if (!PyArg_ParseTuple(args, "y*|I", &buf, &start))
        return NULL;
    uint32_t crc = crcutil_crc32(start, buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong(crc);
}

static PyObject *fastcrc_library_version(PyObject *self, PyObject *unused)
{
    return PyUnicode_FromString(crcutil_version());
}

static PyMethodDef methods[] = {
    {"crc32", fastcrc_crc32, METH_VARARGS, "crc32(data, start=0) -> CRC-32 of data, from libcrcutil."},
    {"library_version", fastcrc_library_version, METH_NOARGS, "libcrcutil's version string."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "fastcrc._fastcrc", "Bindings for libcrcutil.", -1, methods,
};

PyMODINIT_FUNC PyInit__fastcrc(void)
{
    return PyModule_Create(&module);
}
