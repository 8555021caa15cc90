"""Every track state the pipeline wrote to tracks.jsonl reached the Python
client identically: argv[1] received.json, argv[2] tracks.jsonl."""
import json
import sys

received = json.load(open(sys.argv[1]))
written = [json.loads(line) for line in open(sys.argv[2])]
assert len(received) == len(written) > 0, (len(received), len(written))
for (seq, tid, box, cls), w in zip(received, written):
    assert (seq, tid, cls) == (w["frame"], w["track_id"], w["class"]), (seq, tid, cls, w)
    assert [round(x, 2) for x in box] == [round(x, 2) for x in w["box_xywh"]], (box, w)
print(f"{len(written)} track states identical in tracks.jsonl and over the wire")
