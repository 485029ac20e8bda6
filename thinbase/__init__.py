"""thinbase: a Supabase-native SaaS backend.

This package holds what the edge handler and the operator CLI share: settings, the database port and the
error tree. The edge handler lives in ``thinbase.functions`` (``supabase/functions/``) and the CLI in
``thinbase.cli`` (``cli/``); both directories are linked into this package so one distribution keeps the
layout DESIGN.md describes.
"""

__version__ = "0.1.0"
