"""The dashboard's pages: a module per page on one blueprint (blueprint.py), one CSS file served by the app."""
