# MEDIUM: dataclasses (frozen, ordered, slots), enum/IntFlag, asdict/replace, dict-of-lists indexes (~10-20 MiB live).
from dataclasses import dataclass, field, asdict, replace
from enum import Enum, IntFlag, auto
import random
random.seed(22)
class Color(Enum):
    RED = auto(); GREEN = auto(); BLUE = auto()
class Perm(IntFlag):
    R = 4; W = 2; X = 1
@dataclass(frozen=True, order=True)
class Point:
    x: int
    y: int
@dataclass
class Item:
    name: str
    color: Color
    perm: Perm
    pos: Point
    tags: list = field(default_factory=list)
items = [Item(f"item{i}", random.choice(list(Color)), Perm(random.randrange(8)), Point(random.randrange(1000), random.randrange(1000)),
              [f"t{j}" for j in range(i % 5)]) for i in range(60000)]
by_color = {}
for it in items: by_color.setdefault(it.color, []).append(it)
moved = [replace(it, pos=Point(it.pos.x + 1, it.pos.y)) for it in items[::3]]
dicts = [asdict(it) for it in items[:15000]]
w = sum(1 for it in items if Perm.W in it.perm)
pts = sorted({it.pos for it in items})
names = ",".join(c.name for c in by_color)
del dicts
print(len(items), len(moved), w, len(pts), names)
