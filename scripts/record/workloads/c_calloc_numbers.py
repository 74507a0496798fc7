# CALLOC-heavy: bytes(n) / bytearray(n) zero blocks of many sizes, array.array from zero bytes,
# int/float-heavy big lists (numbers), sums.
import array, random
random.seed(13)
zs = [bytes(random.randint(1, 2000)) for _ in range(60000)]           # PyObject_Calloc
bas = [bytearray(random.randint(1, 600)) for _ in range(40000)]
arrs = [array.array("d", bytes(8 * random.randint(1, 300))) for _ in range(8000)]
nums = [random.random() * i for i in range(300000)]
ints = [i * 7919 % 1000003 for i in range(300000)]
big = [bytes(1 << 16) for _ in range(200)]                            # 64 KiB zero blocks
del zs[::2]; del bas[1::3]
more = [bytes(n) for n in range(0, 4096, 3)]
print(sum(map(len, zs)), sum(map(len, bas)), sum(len(a) for a in arrs), sum(nums) > 0, sum(ints), len(big), len(more))
