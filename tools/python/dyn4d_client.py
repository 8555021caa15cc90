"""Minimal reference client for the dyn4d wire protocol (docs/PROTOCOL.md).

Needs pyzmq, msgpack and numpy (Debian: python3-zmq python3-msgpack
python3-numpy). Example:

    from dyn4d_client import Subscriber
    sub = Subscriber(["tcp://127.0.0.1:5601"])
    for topic, msg in sub:
        if msg["type"] == "RgbdFrame":
            print(msg["seq"], msg["images"]["color"].shape)
"""
import msgpack
import numpy as np
import zmq

PROTOCOL_VERSION = 1

_DTYPES = {"uint8": np.uint8, "float32": np.float32}
_ENCODINGS = {  # encoding -> (numpy dtype, channels)
    "bgr8": (np.uint8, 3), "rgb8": (np.uint8, 3), "mono8": (np.uint8, 1),
    "mono16": (np.uint16, 1), "32FC1": (np.float32, 1),
}


class ProtocolError(ValueError):
    pass


def decode(frames):
    """Decodes one multipart message [topic, header, payload...] into
    (topic, dict). Images become numpy arrays under "images" (by part name),
    arrays under "arrays"; the header fields are kept as they are."""
    if len(frames) < 2:
        raise ProtocolError(f"expected >= 2 frames, got {len(frames)}")
    topic = bytes(frames[0]).decode()
    header = msgpack.unpackb(bytes(frames[1]), raw=False)
    if header.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {header.get('v')}, client speaks {PROTOCOL_VERSION}")
    parts = header["parts"]
    if len(parts) != len(frames) - 2:
        raise ProtocolError(f"header declares {len(parts)} parts, got {len(frames) - 2}")
    images, arrays = {}, {}
    for desc, frame in zip(parts, frames[2:]):
        buf = memoryview(frame)
        if len(buf) != desc["size"]:
            raise ProtocolError(f"part {desc['name']}: {len(buf)} bytes, declared {desc['size']}")
        if desc["kind"] == "image":
            dtype, ch = _ENCODINGS[desc["encoding"]]
            shape = (desc["height"], desc["width"]) + ((ch,) if ch > 1 else ())
            images[desc["name"]] = np.frombuffer(buf, dtype=dtype).reshape(shape)
        else:
            arrays[desc["name"]] = np.frombuffer(buf, dtype=_DTYPES[desc["dtype"]]).reshape(desc["shape"])
    msg = dict(header)
    msg["images"], msg["arrays"] = images, arrays
    return topic, msg


class Subscriber:
    """Subscribes to one or more dyn4d topic endpoints; iterates (topic, msg)
    until every endpoint has sent EndOfStream (or `timeout_ms` passes)."""

    def __init__(self, endpoints, timeout_ms=30000):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
        for ep in endpoints:
            self.sock.connect(ep)
        self.remaining = len(endpoints)

    def __iter__(self):
        while self.remaining > 0:
            frames = self.sock.recv_multipart(copy=False)
            topic, msg = decode([f.buffer for f in frames])
            if msg["type"] == "EndOfStream":
                self.remaining -= 1
            yield topic, msg

    def close(self):
        self.sock.close(linger=0)
