# Starts the allocation trace recorder when PYMTRACE_OUT (or PYTRACE_OUT) names the output file.
# The variable is removed from os.environ so that child Python processes do not record too.
import os as _os

_out = _os.environ.pop("PYMTRACE_OUT", None) or _os.environ.pop("PYTRACE_OUT", None)
if _out:
    import _pymtrace

    _pymtrace.start(_os.path.abspath(_out), int(_os.environ.pop("PYMTRACE_MAX_EVENTS", "20000000")))
del _os, _out
