# MEDIUM: decimal (high precision) and fractions arithmetic.
from decimal import Decimal, getcontext
from fractions import Fraction
import math
getcontext().prec = 200
acc = Decimal(0)
vals = []
for k in range(1, 40000):
    d = Decimal(1) / Decimal(k * k)
    acc += d
    vals.append(d.sqrt())
pi_est = (acc * 6).sqrt()
h = Fraction(0)
hs = []
for k in range(1, 1500):
    h += Fraction(1, k)
    hs.append(h)
e = sum(Fraction(1, math.factorial(k)) for k in range(120))
print(str(pi_est)[:30], len(str(hs[-1].denominator)), float(e), len(vals))
