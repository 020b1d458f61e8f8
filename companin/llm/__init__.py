"""Language-model providers: the only place that imports litellm.

Everything else talks to providers through this package, so that litellm (slow to import,
and with settings of its own) stays behind one door.
"""
