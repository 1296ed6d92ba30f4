"""Ready-made scenarios that show Loopwright at work (``loopwright demo``).

Each scenario is plain Python over the SDK: it takes a :class:`~loopwright.client.Client`, reports
progress through a callback and returns what it recorded, leaving all printing to the CLI.
"""
