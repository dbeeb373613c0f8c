"""FUSE, as ``fs/fuse/`` implements it: the device and connection (:mod:`simfs.fuse.dev`),
inodes, directory and file operations, readdir, xattrs, and fuse-bpf's backing machinery."""
