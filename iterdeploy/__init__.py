"""iterdeploy: simulate and audit iterative deployment of language models.

The toolkit is one package, ``iterdeploy``, so that installing it claims one name in a user's
environment. Its three layers are subpackages: ``iterdeploy.simulator`` (the loop, the store, the
domains), ``iterdeploy.auditors`` (read a run, infer its implicit reward, write findings) and
``iterdeploy.dashboards`` (the Streamlit app and the report). In a clone they live in the
repository's top-level folders ``simulator/``, ``auditors/`` and ``dashboards/``, reached through
the links in this folder; a built wheel copies them in here.
"""
