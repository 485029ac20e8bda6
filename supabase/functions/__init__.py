"""The thinbase edge handler: one ASGI app (Starlette), one package per function, shared code in _shared/.

Imported as `thinbase.functions`. It stays thin: it verifies, calls providers, and hands state to SQL
through the database port.
"""
