"""Wire formats <-> DataFrames, one module per format (request side and response side).

Adding a format is adding a module and one line in ``codecs.request``'s dispatch table.
"""
