"""Outputs from the candidate's child to the reference's child, without pickle.

The reference child never unpickles what the candidate's child sends: a pickle can run any code on load,
so a hostile candidate could replace the checks. What crosses instead:
- a JSON header (bounded size, fixed schema) describing every output and every input after forward;
- the tensor data itself, either written by the candidate into buffers the *reference* allocated and handed
  over beforehand (shared memory on CPU, CUDA IPC on a GPU: the reference is the trusted sender, so that
  direction may use torch's tensor sharing), or, when no buffer fits (more passes than buffers, a shape the
  reference did not expect), as raw bytes frames of a CPU tensor with the dtype and shape in the header.
Anything outside the schema raises WireError, which the judge turns into a CRASH of the candidate.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import torch

WIRE_VERSION = 1  # bumped when the header's schema changes
MAX_HEADER_BYTES = 1 << 20  # a header lists a handful of outputs; a megabyte means a hostile sender
MAX_ITEMS = 4096  # outputs + inputs of one forward; far above any task, low enough to bound the work
MAX_RANK = 16  # PyTorch tensors have at most 25 dims in theory; real outputs a handful
WAIT_S = 120.0  # a message announced by the candidate's reply arrives within this, or the candidate is at fault
MAX_BYTES_FRAME = 1 << 34  # raw frames are CPU tensors of the interpreter's small sizes; 16 GiB bounds a lie

DTYPES: dict[str, torch.dtype] = {str(d).removeprefix("torch."): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.complex64, torch.complex128,
    torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
    getattr(torch, "float8_e4m3fn", torch.float32), getattr(torch, "float8_e5m2", torch.float32))}


class WireError(Exception):
    """What the candidate's child sent is not a well-formed message: the candidate's CRASH."""


@dataclass(frozen=True)
class NotATensor:
    """An output that is not a plain tensor (an odd object, a tensor subclass, a tensor whose shape or dtype the
    reference did not expect and whose data therefore did not travel). The checks report it as a mismatch."""

    what: str  # "a dict", "a tensor subclass MyTensor", ...
    shape: tuple[int, ...] | None = None
    dtype: str | None = None

    def describe(self, index: int) -> str:
        return f"output {index} is {self.what}, the reference returns a tensor"


def _fits(t: torch.Tensor, buf: torch.Tensor | None) -> bool:
    return buf is not None and t.shape == buf.shape and t.dtype == buf.dtype


def _entry(value: Any, buf: torch.Tensor | None, frames: list[torch.Tensor]) -> dict[str, Any]:
    """Describe one value; copy its data into `buf` or queue it as a raw frame."""
    if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor and \
            type(value) is not torch.nn.Parameter:
        return {"kind": "object", "what": f"a tensor subclass {type(value).__name__}"}
    if not isinstance(value, torch.Tensor):
        return {"kind": "object", "what": f"a {type(value).__name__}"}
    meta = {"dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape)}
    if _fits(value, buf):
        assert buf is not None
        buf.copy_(value.detach())  # on the current stream, as a consumer would read it
        return {"kind": "buffer", **meta}
    if value.device.type == "cpu" and meta["dtype"] in DTYPES:
        frames.append(value.detach().clone(memory_format=torch.contiguous_format))  # its own copy: the
        # candidate may overwrite the tensor before the sending thread has written it
        return {"kind": "bytes", "nbytes": value.numel() * value.element_size(), **meta}
    return {"kind": "meta", **meta}  # its shape or dtype is already the mismatch: no data needed


def pack(index: int, config: str | None, outs: list[Any], ins: list[Any], out_bufs: list[torch.Tensor],
         in_bufs: list[torch.Tensor]) -> tuple[bytes, list[torch.Tensor]]:
    """Candidate side: copy what fits into the reference's buffers; the header and the raw frames to send."""
    frames: list[torch.Tensor] = []
    header = {"v": WIRE_VERSION, "index": index, "config": config,
              "outs": [_entry(o, out_bufs[i] if i < len(out_bufs) else None, frames) for i, o in enumerate(outs)],
              "ins": [_entry(x, in_bufs[i] if i < len(in_bufs) else None, frames) for i, x in enumerate(ins)]}
    return json.dumps(header).encode(), frames


def _write(conn: Connection, header: bytes, frames: list[torch.Tensor]) -> None:
    conn.send_bytes(header)
    for f in frames:
        if f.numel():
            conn.send_bytes(f.reshape(-1).view(torch.uint8).numpy().tobytes())


def send(conn: Connection, index: int, config: str | None, outs: list[Any], ins: list[Any],
         out_bufs: list[torch.Tensor], in_bufs: list[torch.Tensor]) -> None:
    """One message, written now (the reader must be reading: tests; the judge uses Sender)."""
    _write(conn, *pack(index, config, outs, ins, out_bufs, in_bufs))


class Sender:
    """Candidate side: messages are written by a thread of the judge, in order, so a frame larger than the
    pipe's buffer does not block the candidate's step while the reference is not reading yet (it reads when
    the parent asks it to check, after the candidate's reply)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.queue: queue.SimpleQueue[tuple[bytes, list[torch.Tensor]]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="tritonwright-wire", daemon=True)
        self.thread.start()

    def send(self, index: int, config: str | None, outs: list[Any], ins: list[Any], out_bufs: list[torch.Tensor],
             in_bufs: list[torch.Tensor]) -> None:
        self.queue.put(pack(index, config, outs, ins, out_bufs, in_bufs))

    def _run(self) -> None:
        while True:
            header, frames = self.queue.get()
            try:
                _write(self.conn, header, frames)
            except OSError:  # the reference is gone: the session is over
                return


def _int_list(value: Any, what: str) -> list[int]:
    if not isinstance(value, list) or len(value) > MAX_RANK or \
            not all(type(v) is int and 0 <= v < 1 << 40 for v in value):
        raise WireError(f"{what}: a shape must be a list of at most {MAX_RANK} non-negative integers")
    return value


def _read(conn: Connection, entry: Any, buf: torch.Tensor | None, what: str) -> torch.Tensor | NotATensor:
    if not isinstance(entry, dict):
        raise WireError(f"{what}: not an object")
    kind = entry.get("kind")
    if kind == "object":
        text = entry.get("what")
        if not isinstance(text, str):
            raise WireError(f"{what}: 'what' must be a string")
        return NotATensor(text[:200])
    dtype_name, shape = entry.get("dtype"), _int_list(entry.get("shape"), what)
    if not isinstance(dtype_name, str) or len(dtype_name) > 40:
        raise WireError(f"{what}: bad dtype")
    if kind == "meta" or dtype_name not in DTYPES:
        return NotATensor(f"a {dtype_name} tensor of shape {shape}", tuple(shape), dtype_name)
    dtype = DTYPES[dtype_name]
    if kind == "buffer":
        if buf is None or list(buf.shape) != shape or buf.dtype != dtype:
            raise WireError(f"{what}: claims a buffer that does not exist or does not match")
        return buf
    if kind != "bytes":
        raise WireError(f"{what}: unknown kind {str(kind)[:40]!r}")
    nbytes = entry.get("nbytes")
    numel = 1
    for s in shape:
        numel *= s
    size = numel * torch.empty((), dtype=dtype).element_size()
    if type(nbytes) is not int or nbytes != size or size > MAX_BYTES_FRAME:
        raise WireError(f"{what}: {nbytes!r} bytes announced for a {dtype_name} tensor of shape {shape}")
    if size == 0:
        return torch.empty(shape, dtype=dtype)
    if not conn.poll(WAIT_S):
        raise WireError(f"{what}: the announced {size} bytes did not arrive within {WAIT_S:g} s")
    raw = conn.recv_bytes(size)  # longer than announced raises OSError: the frame is refused unread
    if len(raw) != size:
        raise WireError(f"{what}: {len(raw)} bytes received, {size} announced")
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape)


@dataclass(frozen=True)
class Received:
    index: int
    config: str | None
    outs: list[torch.Tensor | NotATensor]
    ins: list[torch.Tensor | NotATensor]


def recv(conn: Connection, out_bufs: list[torch.Tensor], in_bufs: list[torch.Tensor]) -> Received:
    """Reference side: read one message of `send`, checking everything against the schema."""
    if not conn.poll(WAIT_S):
        raise WireError(f"no outputs arrived within {WAIT_S:g} s of the candidate's reply")
    try:
        head = json.loads(conn.recv_bytes(MAX_HEADER_BYTES))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"the header is not a JSON message of at most {MAX_HEADER_BYTES} bytes ({exc})") from None
    if not isinstance(head, dict) or head.get("v") != WIRE_VERSION:
        raise WireError("the header is not a version-1 object")
    index, config, outs, ins = head.get("index"), head.get("config"), head.get("outs"), head.get("ins")
    if type(index) is not int or not (config is None or isinstance(config, str)):
        raise WireError("bad index or config")
    if not isinstance(outs, list) or not isinstance(ins, list) or len(outs) + len(ins) > MAX_ITEMS:
        raise WireError("outs and ins must be lists of entries")
    try:
        got_outs = [_read(conn, e, out_bufs[i] if i < len(out_bufs) else None, f"output {i}")
                    for i, e in enumerate(outs)]
        got_ins = [_read(conn, e, in_bufs[i] if i < len(in_bufs) else None, f"input {i}") for i, e in enumerate(ins)]
    except OSError as exc:
        raise WireError(f"a data frame could not be read ({exc})") from None
    return Received(index, config, got_outs, got_ins)
