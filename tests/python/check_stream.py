"""Reads frames and tracks from a running dyn4d pipeline with pyzmq, checks them
against the protocol, and saves the track states received (argv[4])."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools", "python"))
from dyn4d_client import Subscriber  # noqa: E402

frames_ep, tracks_ep, n_frames = sys.argv[1], sys.argv[2], int(sys.argv[3])
frames, tracks, eos = [], [], 0
sub = Subscriber([frames_ep, tracks_ep])
for topic, msg in sub:
    if msg["type"] == "EndOfStream":
        eos += 1
    elif topic == "frames":
        assert msg["type"] == "RgbdFrame", msg["type"]
        frames.append(msg)
    elif topic == "tracks":
        assert msg["type"] == "Tracks", msg["type"]
        tracks.append(msg)
sub.close()

assert eos == 2, f"expected EndOfStream on both topics, got {eos}"
assert [f["seq"] for f in frames] == list(range(n_frames)), [f["seq"] for f in frames]
for f in frames:
    color, depth = f["images"]["color"], f["images"]["depth"]
    assert color.shape == (240, 320, 3) and color.dtype.name == "uint8", color.shape
    assert depth.shape == (240, 320) and depth.dtype.name == "uint16", depth.shape
    body = f["body"]
    assert body["depth_scale"] == 5000.0 and body["intrinsics"]["fx"] == 262.5, body
    metres = depth[depth > 0] / body["depth_scale"]
    assert (depth > 0).mean() > 0.9 and 0.3 < metres.min() and metres.max() < 7.5
    assert color.std() > 10, "colour image has no texture"
assert len(tracks) == n_frames

received = [(t["seq"], item["track_id"], item["box"], item["class_name"])
            for t in tracks for item in t["body"]["items"]]
assert received, "no track states received"
# Masks travel as raw parts with the box's size.
t0 = tracks[0]
item = t0["body"]["items"][0]
mask = t0["images"][f"mask/0"]
assert mask.shape == (int(item["box"][3]), int(item["box"][2])) and mask.max() == 255
# Kept for comparison with what the pipeline wrote once it has finished.
json.dump(received, open(sys.argv[4], "w"))
print(f"pyzmq client: {len(frames)} frames, {len(received)} track states, masks OK")
