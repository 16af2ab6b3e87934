"""One module per REST resource under ``/api/v2/``; each exposes ``router`` or an ``add_*`` function."""
