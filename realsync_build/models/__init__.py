"""Models behind small interfaces (see :mod:`realsync_build.models.base`) and their registry."""
