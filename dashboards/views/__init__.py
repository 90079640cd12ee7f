"""The dashboard's pages, one module each, each a ``render(ctx)`` function that ``dashboards/app.py``
wraps in a Streamlit page. They are imported as modules, never run as scripts, so Streamlit's
"magic" never rewrites them: a bare string in one of them is a string, not text on the page.

The folder is not called ``pages``: Streamlit takes a ``pages/`` folder beside the script it runs
for an old-style multipage app, and a first visit straight to ``/capability`` then ran
``pages/capability.py`` as a script (a blank page) instead of the app's own navigation.
"""
