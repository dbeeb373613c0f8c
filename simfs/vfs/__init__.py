"""The VFS: the generic half of Linux's filesystem code (``fs/*.c``), one module each.

``namei`` (path walk), ``permission`` (``generic_permission`` and the may_* rules),
``dcache`` (dentries and inode eviction), ``ops`` (the ``vfs_*`` operations), ``file``,
``locks``, ``pipe``, ``mount``, ``fsnotify``, ``inode`` and ``cred``.
"""
