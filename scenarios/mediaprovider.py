"""An Android MediaProvider-style policy: BPF decides the easy cases by uid, the daemon the rest.

Android's MediaProvider serves shared storage through FUSE.  With FUSE-BPF its LOOKUP
program (``fuseMedia.c``) lets the kernel answer the common cases itself and asks the
daemon only when it cannot tell.  This scenario models that split:

- ``LOOKUP|PREFILTER`` → ``BACKING|POST_FILTER``: look the name up in the lower directory,
  then run the postfilter with the lower attributes in ``fuse_entry_out.attr``;
- ``LOOKUP|POSTFILTER``: if the lower lookup failed, or the file is world-readable, or
  the caller's uid (``bpf.get_current_uid_gid()``) owns it → ``0``: done in the kernel.
  Otherwise → ``USER_FILTER``: the daemon receives ``LOOKUP|POSTFILTER`` with the caller's
  uid in the request header and decides; here it lets a "gallery" app (uid 10030, which
  holds the media permission) see ``*.jpg`` files and answers ``-ENOENT`` to anyone else;
- every other operation → ``BACKING``.

What to look for (``simfs run mediaprovider``): the camera app (uid 10010) stats its own
photo with BPF runs only; another app (uid 10020) asking for a photo it does not own causes
a ``⇢ daemon LOOKUP|POSTFILTER ... uid=10020`` answered ``-ENOENT``; the gallery's
question is answered by echoing the entry.  ``--view table`` shows the uid column.

Two things the trace makes visible:

- nothing is cached between calls: a fuse-bpf dentry has no expiry and is dropped as soon
  as it is unused (spec §8.2), so every path walk runs the LOOKUP filters again for the
  calling uid.  That is what makes a per-uid answer safe — after the other app was told
  ``ENOENT`` for ``IMG_2``, the camera app still finds it — and also why the gallery's
  ``open`` right after its ``stat`` asks the daemon a second time;
- the daemon's "yes" only makes the *name* visible; the open then runs on the lower file
  with the caller's own credentials (fuse-bpf has no ``override_creds``), so the gallery's
  ``open`` of a 0600 photo still fails ``EACCES``.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import simfs
from simfs import Kernel, bpf, uapi
from simfs.scenarios import LOWER, ScenarioResult, attempt

TITLE = "MediaProvider-style policy: uid decided in BPF, the rest by the daemon"
ORDER = 50

CAMERA, OTHER_APP, GALLERY = 10010, 10020, 10030
MEDIA_READERS = {GALLERY}


@bpf.program("media_lookup")
def media_lookup(fa: bpf.FuseBpfArgs) -> int:
    """fuseMedia.c's LOOKUP split: owner or world-readable in BPF, else ask the daemon."""
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_PREFILTER:
        return uapi.FUSE_BPF_BACKING | uapi.FUSE_BPF_POST_FILTER
    if fa.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
        if fa.error_in != 0:
            return 0  # a missing name stays missing
        attr = fa.out_args[0].value.attr
        uid = bpf.get_current_uid_gid() & 0xFFFFFFFF
        if attr.mode & stat.S_IROTH or attr.uid == uid:
            return 0
        return uapi.FUSE_BPF_USER_FILTER
    return uapi.FUSE_BPF_BACKING


class MediaProvider(simfs.Daemon):
    """Decides the lookups BPF deferred: media readers may see ``*.jpg``, others nothing."""

    def handle(self, req: simfs.Request) -> simfs.Reply | None:
        if req.opcode == uapi.FUSE_LOOKUP | uapi.FUSE_POSTFILTER:
            name, entry_out, bpf_out = req.args
            assert isinstance(name, str)
            assert isinstance(entry_out, uapi.FuseEntryOut)
            assert isinstance(bpf_out, uapi.FuseEntryBpfOut)
            if req.uid in MEDIA_READERS and name.endswith(".jpg"):
                return simfs.Reply(entry_out, bpf_out)  # echo: let it through unchanged
            return simfs.Reply.error(errno.ENOENT)
        if req.opcode in (uapi.FUSE_FORGET, uapi.FUSE_BATCH_FORGET):
            return None  # FORGET is never answered
        return simfs.Reply.error(errno.ENOSYS)


def setup(k: Kernel) -> None:
    root = k.spawn()
    for name in ("IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"):
        k.lower.create_file(f"{LOWER}/DCIM/{name}", contents=f"jpeg {name}")
        root.chown(f"{LOWER}/DCIM/{name}", CAMERA, CAMERA)
        root.chmod(f"{LOWER}/DCIM/{name}", 0o600)
    root.chmod(f"{LOWER}/DCIM", 0o775)
    k.lower.create_file(f"{LOWER}/Download/manual.pdf", contents="%PDF")
    root.chmod(f"{LOWER}/Download/manual.pdf", 0o644)
    root.chmod(f"{LOWER}/Download", 0o755)


def mount(k: Kernel, target: str) -> Any:
    return k.mount_fuse(
        target, daemon=MediaProvider(), root_dir=LOWER, root_bpf=media_lookup, allow_other=True
    )


def workload(k: Kernel, target: str) -> dict[str, Any]:
    camera = k.spawn(uid=CAMERA, gid=CAMERA)
    other = k.spawn(uid=OTHER_APP, gid=OTHER_APP)
    gallery = k.spawn(uid=GALLERY, gid=GALLERY)
    dcim = f"{target}/DCIM"
    return {
        "camera stat IMG_1": attempt(lambda: camera.stat(f"{dcim}/IMG_1.jpg").st_size),
        "other stat IMG_2": attempt(lambda: other.stat(f"{dcim}/IMG_2.jpg").st_size),
        "gallery stat IMG_3": attempt(lambda: gallery.stat(f"{dcim}/IMG_3.jpg").st_size),
        "gallery open IMG_3": attempt(gallery.open, f"{dcim}/IMG_3.jpg", os.O_RDONLY),
        "camera stat IMG_2": attempt(lambda: camera.stat(f"{dcim}/IMG_2.jpg").st_size),
        "other stat manual": attempt(lambda: other.stat(f"{target}/Download/manual.pdf").st_size),
    }


def check(result: ScenarioResult) -> None:
    seen = result.seen
    assert seen["camera stat IMG_1"] == len("jpeg IMG_1.jpg")
    assert seen["other stat IMG_2"] == "ENOENT"
    assert seen["gallery stat IMG_3"] == len("jpeg IMG_3.jpg")
    assert seen["gallery open IMG_3"] == "EACCES", "lower ops use the caller's credentials"
    assert seen["other stat manual"] == len("%PDF")
    assert seen["camera stat IMG_2"] == len("jpeg IMG_2.jpg"), "decided per lookup, per uid"
    # the daemon was asked only where BPF could not decide: the other app's photo lookup
    # and the gallery's two (stat, then open); the owner's and world-readable lookups, never
    asked = [(r["opcode"], r["uid"]) for r in result.trace.requests() if r["opcode"] != "FORGET"]
    assert asked == [
        ("LOOKUP|POSTFILTER", OTHER_APP),
        ("LOOKUP|POSTFILTER", GALLERY),
        ("LOOKUP|POSTFILTER", GALLERY),
    ], asked
    assert result.trace.of("bpf"), "the easy cases were decided in BPF"
