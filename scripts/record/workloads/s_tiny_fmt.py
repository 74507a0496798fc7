# SMALL one-shot (no imports): small class hierarchy, %/format/f-string formatting, a few dicts.
class Animal:
    kind = "animal"
    def __init__(self, name, age): self.name, self.age = name, age
    def describe(self): return "%s the %s (%d)" % (self.name, self.kind, self.age)
class Dog(Animal):
    kind = "dog"
    def describe(self): return super().describe() + " says {}".format("woof")
class Cat(Animal):
    kind = "cat"
    def describe(self): return f"{super().describe()} purrs x{self.age % 3 + 1}"
zoo = [(Dog if i % 2 else Cat)("pet%d" % i, i % 15) for i in range(300)]
by_kind = {}
ages = {}
for a in zoo:
    by_kind.setdefault(a.kind, []).append(a.describe())
    ages[a.name] = a.age
table = "\n".join("{:<6}|{:>4}|{:>8.2f}".format(k, len(v), sum(map(len, v)) / len(v)) for k, v in by_kind.items())
print(table, max(ages.values()), len(ages))
