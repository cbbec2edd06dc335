"""Reading the ``.npz`` archives of saved models: member headers checked before any array is read.

Shared by :func:`sklrp.load_model` and the importers of published models
(:func:`sklrp.load_lrp_for_lstm`): every member's ``.npy`` header (shape and
dtype) is checked against its uncompressed size in the zip directory before
the member is read, so that a crafted file (a zip bomb, a huge declared
shape, a pickle) is refused with :class:`~sklrp.exceptions.ModelFileError`
before anything is allocated.
"""

import io
import math
import os
import stat
import zipfile
import zlib

from numpy.lib import format as npy_format

from .exceptions import ModelFileError

__all__ = ["MAX_CONFIG_CHARS", "MAX_LABEL_BYTES", "MAX_MODEL_BYTES"]  # and the helpers below, for sklrp's loaders

#: Largest total size, in bytes, of the arrays a model file may declare
#: (:func:`load_model` refuses larger files before reading any array).
MAX_MODEL_BYTES = 4 * 2**30
#: Largest size, in bytes, of one array of labels (``classes_``,
#: ``feature_names_in_``) or of another non-parameter state array.
MAX_LABEL_BYTES = 64 * 2**20
#: Largest length, in characters, of the JSON configuration of a model file
#: (about a hundred thousand epochs of training history).
MAX_CONFIG_CHARS = 8 * 2**20
#: Largest .npy header read (numpy's own default ``max_header_size``).
_MAX_NPY_HEADER = 10_000
#: what reading a zip member may raise on a corrupt archive
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, RuntimeError)


# ------------------------------------------------------------------ archive members
#: the most dimensions of a saved array (NumPy's own limit is 64)
_MAX_NDIM = 8


def regular_file(path):
    """Whether ``path`` (symbolic links followed) is a regular file: not a directory, a device (``/dev/zero`` reads
    forever) or a pipe (reading blocks); False when it does not exist."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _member_header(zf, info, path, *, where=None, error=ModelFileError):
    """The checked ``.npy`` header of the zip member ``info``: ``(shape, dtype, nbytes)``.

    Only the first few kilobytes of the member are decompressed.  Refused: a
    member that is not a ``.npy`` array, a header over ``_MAX_NPY_HEADER``
    bytes, an object dtype (a pickle), and a member whose uncompressed size
    (from the zip directory, which bounds what reading it can produce)
    differs from its header plus the data the header declares: a zip bomb,
    or a truncated array.

    The messages start with ``where`` (default: ``"<path>: member '<name>'"``)
    and are raised as ``error`` (default :class:`ModelFileError`).
    """
    name = info.filename
    where = f"{path}: member {name!r}" if where is None else where
    try:
        with zf.open(info) as fh:
            head = fh.read(12 + _MAX_NPY_HEADER)
    except _ZIP_ERRORS as exc:
        raise error(f"{where} cannot be read: {exc}") from exc
    if len(head) < 10 or not head.startswith(npy_format.MAGIC_PREFIX):
        raise error(f"{where} is not a .npy array (it lacks the .npy magic string).")
    version = (head[6], head[7])
    if version == (1, 0):
        length_size, read_header = 2, npy_format.read_array_header_1_0
    elif version == (2, 0):
        length_size, read_header = 4, npy_format.read_array_header_2_0
    else:
        raise error(
            f"{where} is a .npy array of format version {version[0]}.{version[1]}; "
            "expected 1.0 or 2.0."
        )
    header_length = int.from_bytes(head[8 : 8 + length_size], "little")
    if header_length > _MAX_NPY_HEADER:
        raise error(
            f"{where} has a .npy header of {header_length} bytes; at most {_MAX_NPY_HEADER} "
            "are read."
        )
    fp = io.BytesIO(head)
    try:
        npy_format.read_magic(fp)
        shape, _, dtype = read_header(fp, max_header_size=_MAX_NPY_HEADER)
    except Exception as exc:  # noqa: BLE001 - numpy parses the header text (literal_eval, dtype descriptions)
        raise error(f"{where} has an invalid .npy header: {exc}") from exc
    if dtype.hasobject:
        raise error(
            f"{where} holds Python objects (dtype {dtype}), which are never unpickled."
        )
    if dtype.itemsize == 0:  # zero bytes whatever the shape: no size bound would hold, and reading allocates
        raise error(f"{where} has the dtype {dtype}, of zero bytes per element; no saved array has one.")
    if len(shape) > _MAX_NDIM:
        raise error(f"{where} declares {len(shape)} dimensions; saved arrays have at most {_MAX_NDIM}.")
    if any(d < 0 for d in shape):
        raise error(f"{where} declares the shape {shape}, with a negative dimension.")
    nbytes = math.prod(shape) * dtype.itemsize
    data_size = info.file_size - fp.tell()
    if data_size != nbytes:
        raise error(
            f"{where} holds {data_size} bytes of array data once decompressed, but its header "
            f"declares shape {shape} of dtype {dtype}, {nbytes} bytes; the member is corrupt or crafted (a zip "
            "bomb, or a truncated array)."
        )
    return shape, dtype, nbytes


def _read_member(zf, info, path):
    """The array of the zip member ``info``, whose header :func:`_member_header` checked."""
    try:
        with zf.open(info) as fh:
            return npy_format.read_array(fh, allow_pickle=False, max_header_size=_MAX_NPY_HEADER)
    except (ValueError,) + _ZIP_ERRORS as exc:
        raise ModelFileError(f"{path}: member {info.filename!r} cannot be read: {exc}") from exc


def _archive_members(zf, path):
    """``{array name: ZipInfo}`` as ``np.load`` names the ``.npy`` members, and the names of the other members."""
    members, others = {}, []
    for info in zf.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            others.append(name)
            continue
        if name[: -len(".npy")] in members:
            raise ModelFileError(f"{path}: the archive holds the member {name!r} twice.")
        members[name[: -len(".npy")]] = info
    return members, others
