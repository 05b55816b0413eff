"""Build hook for the optional compiled decoder; everything else is in setup.cfg.

``mdsdk.providers._accel`` is optional: when it cannot be built (no compiler,
an unusual platform) the install goes on and mdsdk decodes in pure Python with
the same results. ``MDSDK_NO_EXTENSIONS=1`` skips it on purpose."""

import os

from setuptools import Extension, setup

extensions = []
if not os.environ.get("MDSDK_NO_EXTENSIONS"):
    extensions.append(Extension("mdsdk.providers._accel", ["mdsdk/providers/_accel.c"], optional=True))

setup(ext_modules=extensions)
