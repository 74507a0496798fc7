# SMALL: a unittest suite (setUp, subTest, assertRaises, a failure captured) and a doctest run, results to StringIO.
import unittest, doctest, io
def fib(n):
    """
    >>> [fib(i) for i in range(10)]
    [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
    >>> fib(-1)
    Traceback (most recent call last):
    ValueError: negative
    """
    if n < 0: raise ValueError("negative")
    a, b = 0, 1
    for _ in range(n): a, b = b, a + b
    return a
class T(unittest.TestCase):
    def setUp(self): self.d = {str(i): i for i in range(200)}
    def test_sum(self): self.assertEqual(sum(self.d.values()), 19900)
    def test_sub(self):
        for i in range(60):
            with self.subTest(i=i): self.assertIn(str(i), self.d)
    def test_raises(self):
        with self.assertRaises(KeyError): self.d["x"]
    def test_fail(self): self.assertEqual([1, 2, 3], [1, 2, 4])
    def test_strs(self): self.assertTrue(all(isinstance(k, str) for k in self.d))
def load():
    s = unittest.TestSuite()
    for _ in range(15): s.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(T))
    return s
buf = io.StringIO()
r = unittest.TextTestRunner(stream=buf, verbosity=2).run(load())
f, t = doctest.testmod(verbose=False, report=False)
print(r.testsRun, len(r.failures), f, t, len(buf.getvalue()))
