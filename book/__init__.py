"""The course as a static book (``make book``): Sphinx + myst-nb, a student and an instructor edition.

``book/build.py`` is the command; ``execute.py`` runs each solution notebook once (cached),
``editions.py`` derives both editions from that one run, ``landing.py`` writes the landing page,
``conf.py`` is the Sphinx configuration both editions share.
"""
