# HUGE BLOCKS: a few single blocks of 100-320 MiB (bytearray, bytes, list), grown and freed,
# with small objects around them (~700 MiB live at the peak).
import sys
MiB = 1 << 20
scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
a = bytearray(int(300 * MiB * scale))          # PyObject_Calloc
b = b"a" * int(100 * MiB * scale)              # PyObject_Malloc
small = [str(i) for i in range(200000)]
c = [None] * int(40 * MiB * scale)             # 320 MiB of pointers
a.extend(b"x" * int(20 * MiB * scale))         # realloc of the 300 MiB block
del b
c.extend(range(1000))                          # realloc of the list's array
del a
d = [bytes(1000) for _ in range(20000)]
print(len(c), len(small), len(d))
