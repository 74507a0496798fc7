# SMALL one-shot: a small class hierarchy, f-strings/format/%-formatting, a few dicts, dataclasses.
from dataclasses import dataclass, field
class Shape:
    def __init__(self, name): self.name = name
    def area(self): return 0.0
    def __repr__(self): return f"{type(self).__name__}({self.name!r}, area={self.area():.3f})"
class Rect(Shape):
    def __init__(self, name, w, h): super().__init__(name); self.w, self.h = w, h
    def area(self): return self.w * self.h
class Square(Rect):
    def __init__(self, name, s): super().__init__(name, s, s)
class Circle(Shape):
    __slots__ = ("r",)
    def __init__(self, name, r): super().__init__(name); self.r = r
    def area(self): return 3.14159 * self.r ** 2
@dataclass
class Inventory:
    owner: str
    items: dict = field(default_factory=dict)
shapes = []
for i in range(600):
    k = i % 3
    shapes.append(Rect("r%d" % i, i, i + 1) if k == 0 else Square("s{}".format(i), i) if k == 1 else Circle(f"c{i}", i / 7))
inv = Inventory("me")
for s in shapes:
    inv.items.setdefault(type(s).__name__, []).append(repr(s))
report = "\n".join("%-8s %5d %12.2f" % (k, len(v), sum(len(x) for x in v)) for k, v in sorted(inv.items.items()))
lookup = {s.name: s for s in shapes}
tot = sum(lookup["r%d" % i].area() for i in range(0, 600, 3))
print(report, "{:,.1f}".format(tot), len(lookup))
